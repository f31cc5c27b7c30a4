"""One trial of `model.type: auto`'s search, as the search records it (settings, scores fold by
fold and repeat by repeat, its out-of-fold probabilities), and the pool an ensemble draws from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel

from ...config import TrainingConfig
from .protocol import corrected_std_error
from .search import Family


@dataclass
class Trial:
    index: int  # 1-based, in launch order
    family: Family
    params: dict[str, Any]
    config: BaseModel | None = None
    training: TrainingConfig | None = None
    status: str = "running"  # complete | pruned | failed | stopped
    score: float | None = None
    interval: list[float] | None = None
    fit_seconds: float = 0.0
    probs: np.ndarray | None = None  # aligned with Protocol.eval_targets (complete trials only)
    repeat_probs: list[np.ndarray] = field(default_factory=list)  # cv: `probs` of each repeat (mean: `probs`)
    model: Any = None  # kept for the leaders when the protocol needs no refit
    error: str | None = None
    fold_scores: list[float] = field(default_factory=list)  # per fold, repeat after repeat
    repeat_scores: list[float] = field(default_factory=list)  # out-of-fold score of each whole cv repeat
    folds_per_repeat: int = 0
    folds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # cv: the folds it is scored on
    coarse: bool = False  # scored on the protocol's 2-fold split: its k-fold repeat did not fit
    coarse_score: float | None = None  # a coarse trial's own 2-fold score (`score`: on the search's scale)
    compared_with: tuple[int, float] | None = None  # a coarse trial's leader: (its index, its 2-fold score)
    split_scores: dict[int, list[float]] = field(default_factory=dict)  # per-fold scores on other splits, by k
    cap_seconds: float | None = None  # the trial's time cap (None: forced, the search's first model)
    epochs_cut: tuple[int, int] | None = None  # (planned, used) when the cap cut a neural trial's epochs
    started: float = 0.0  # seconds into the search when it was launched

    @property
    def spread(self) -> float | None:
        """Standard deviation of the per-fold scores (over every repeat)."""
        return float(np.std(self.fold_scores, ddof=1)) if len(self.fold_scores) > 1 else None

    @property
    def std_error(self) -> float | None:
        return corrected_std_error(self.fold_scores, self.folds_per_repeat)

    def paired_scores(self) -> dict[int, list[float]]:
        """Per-fold scores by split (k folds per repeat -> scores, repeat after repeat): its own, and
        those of other splits it was also scored on (a leader compared with a coarse trial)."""
        return {**self.split_scores, self.folds_per_repeat: list(self.fold_scores)}


def ensemble_pool(ranked: list[Trial], size: int) -> list[Trial]:
    """What an ensemble may draw from: the best trial of each family (diversity first), then the
    next best trials overall, `size` in all, best first."""
    pool: list[Trial] = []
    for trial in ranked:
        if len(pool) < size and all(t.family.name != trial.family.name for t in pool):
            pool.append(trial)
    for trial in ranked:
        if len(pool) < size and trial not in pool:
            pool.append(trial)
    return sorted(pool, key=lambda t: -t.score)
