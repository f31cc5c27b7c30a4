"""`model.type: auto`: a budgeted search over model families (see model.py for the whole story).

The parts, each importing only those listed before it: search.py (the candidate space),
config.py (AutoConfig), budget.py (the clock, cost estimates), protocol.py (folds, holdout,
scoring), leaderboard.py (leaderboard rows, progress lines, table, the one `leaderboard.json`
writer), trial.py (one trial's record, the ensemble pool), trials.py (Optuna studies, fold-by-fold
fits, pruning), choice.py (one trial or a mix), model.py (AutoModel).
"""

from .model import (LEADERBOARD_FILE, MIN_TRIALS, SELECTED_DIR, AutoConfig, AutoModel, CostModel, Trial,
                    ensemble_pool, greedy_ensemble, holdout_split, make_folds, parse_duration, score,
                    score_interval)

# Bumped whenever the search or the choice changes what auto may pick from the same data and budget,
# so that benchmarks redo their finished auto runs rather than mix two versions in one table.
# 2: a neural family whose k-fold repeat does not fit is scored on two folds, against the leader on
#    the same folds; the two best families' refits are reserved; a fine-tune's cost follows its tokens,
#    and it trains with its type's small-data recipe as it would alone.
SEARCH_REVISION = 2

__all__ = ["AutoConfig", "AutoModel", "CostModel", "LEADERBOARD_FILE", "MIN_TRIALS", "SEARCH_REVISION",
           "SELECTED_DIR", "Trial", "ensemble_pool", "greedy_ensemble", "holdout_split", "make_folds",
           "parse_duration", "score", "score_interval"]
