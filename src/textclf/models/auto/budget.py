"""The time budget of `model.type: auto`: the clock, what a fit will cost, and how fits are kept
at the speed the estimates assume.

Work is counted in units (rows x epochs trained plus rows scored; see `Budget.units`), and a
CostModel turns units into seconds. Row ids: training rows are 0..n-1, validation rows n..n+m-1."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import numpy as np

from ...config import TrainingConfig
from .search import EMBEDDING_TOKENS, WORD_PIECES, Family


class CostModel:
    """Seconds a fit will take: slowness x (prior overhead + prior rate x units).

    A family's slowness is its last measured seconds over its prior; a family not measured yet
    borrows the median slowness of the measured families of its own type (frozen mpnet from frozen
    MiniLM), else of all measured so far (how busy the machine is; not for a frozen encoder, see
    `factor`), never less than 1. Units: see `Budget.units`."""

    def __init__(self, gpu: bool) -> None:
        self.gpu = gpu
        self.slowness: dict[str, float] = {}
        self.types: dict[str, str] = {}  # family name -> model type, of the measured families

    def prior(self, family: Family, units: float, overhead: float = 1.0) -> float:
        """`overhead`: the share of the family's per-fit overhead this fit pays (see Budget.overhead)."""
        seconds = family.prior_overhead * overhead + family.prior_seconds_per_unit * units
        return seconds / family.gpu_speedup if self.gpu else seconds

    def factor(self, family: Family) -> float:
        if family.name in self.slowness:
            return self.slowness[family.name]
        kin = [v for name, v in self.slowness.items() if self.types.get(name) == family.type]
        if not kin and family.type == "embedding":
            # An encoder's work per text is capped by its window (units count the windows); TF-IDF's
            # grows with every word: on BBC articles TF-IDF ran 5-6x its prior, and a MiniLM fit
            # estimated at that slowness (274 s) was skipped that then took 94 s and won.
            return 1.0
        if not kin and family.type == "pretrained":  # the same encoder's passes, not TF-IDF's words
            kin = [v for name, v in self.slowness.items() if self.types.get(name) == "embedding"]
            if not kin:
                return 1.0
        measured = kin or list(self.slowness.values())
        return max(1.0, float(np.median(measured))) if measured else 1.0

    def estimate(self, family: Family, units: float, overhead: float = 1.0) -> float:
        return 1.1 * self.factor(family) * self.prior(family, units, overhead)

    def observe(self, family: Family, units: float, seconds: float, overhead: float = 1.0) -> None:
        self.slowness[family.name] = max(seconds, 1e-3) / max(self.prior(family, units, overhead), 1e-3)
        self.types[family.name] = family.type


class BudgetStop(Exception):
    """A fold that would overrun the budget was not started."""


class TrialCapStop(BudgetStop):
    """A fold that would take its trial past the trial's time cap was not started, or a running
    neural fit reached the cap (see `hard_stop`)."""


class _CapReached(BaseException):
    """Raised inside a fit by `hard_stop`'s timer; a BaseException so that no `except Exception`
    in a model's own code can swallow it."""


@contextlib.contextmanager
def hard_stop(seconds: float | None):
    """Stops the code inside after `seconds` (TrialCapStop): a neural fit's cost is known only once
    it runs, and a prior 3-6x too low let one bag trial take 245 s of a 300 s budget. A SIGALRM
    timer, so only where one can be set: the main thread of a POSIX process whose real-time timer
    is free (elsewhere, and with `seconds` None, it does nothing; the fold-by-fold checks remain).
    The interrupted model is thrown away, never used."""
    import signal
    import threading

    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))
    if not usable:
        yield
        return

    armed = [True]

    def reached(signum, frame):
        if armed[0]:
            raise _CapReached()

    def disarm() -> None:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)

    previous = signal.signal(signal.SIGALRM, reached)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 0.01))
    try:
        try:
            yield
        finally:
            disarm()
    except _CapReached:  # also when the timer fired while disarming: the work was at its cap anyway
        disarm()
        raise TrialCapStop() from None


def is_neural(family: Family) -> bool:
    return family.type in ("bag", "rnn", "cnn", "transformer", "pretrained")


def shares_time(family: Family) -> bool:
    """Whether a family's first trial shares the time left with the others still waiting: the
    neural families and costly ones (a large frozen encoder), not TF-IDF or MiniLM embeddings."""
    return is_neural(family) or family.costly


def first_pass_waiting(family: Family, waiting: list[Family]) -> int:
    """How many ways the time left is split for `family`'s first trial (`waiting`: it and those after
    it). TF-IDF and MiniLM embeddings may use all of it; a costly frozen encoder half (the strongest
    candidate on four of six small sets, yet ~7x MiniLM's cost, it must not crowd out every neural
    family, nor wait behind them); a neural family an even share among those still waiting."""
    if is_neural(family):
        return len(waiting)
    return min(2, len(waiting)) if family.costly else 1


def fewest_epochs(epochs: int) -> int:
    """The fewest epochs a time cap may cut a neural trial to: a quarter of those planned (fewer
    would score a different model than the family's settings describe)."""
    return max(1, -(-epochs // 4))


def cheap_first(families: list[Family]) -> list[Family]:
    """The order of the first pass: the cheap families (TF-IDF, frozen MiniLM embeddings, fixed
    candidates), then the costly ones, then the neural ones, each group in the given order. On
    540 rows a bag trial of 50 epochs took 245 s of a 300 s budget and the embedding candidate
    after it, best on test, never ran."""
    return ([f for f in families if not shares_time(f)] + [f for f in families if f.costly and not is_neural(f)]
            + [f for f in families if is_neural(f)])


def quiet_blas(family: Family):
    """One BLAS thread while a TF-IDF candidate fits: L-BFGS on sparse features gains nothing
    from BLAS threads, and on busy shared cores their spinning made a 2,000-row fit 10x slower
    (0.7 s vs 4.6-7.9 s measured), which would wreck the budget's estimates."""
    if family.type != "tfidf":
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


WINDOW_TOKENS = EMBEDDING_TOKENS - 2  # an auto encoder window's content tokens (less [CLS] and [SEP])


def word_pieces(texts: Sequence[str]) -> np.ndarray:
    """Each text's estimated length in word pieces (content tokens, no [CLS]/[SEP])."""
    return np.array([len(text.split()) for text in texts], dtype=float) * WORD_PIECES


def windows_per_text(texts: Sequence[str]) -> float:
    """Mean encoder windows per text when whole documents are read: windows of WINDOW_TOKENS, half
    overlapping, at most LongTextConfig's max_windows (its defaults at auto's 128 tokens)."""
    from ...text.long import LongTextConfig

    if not texts:
        return 1.0
    tokens = word_pieces(texts)
    most = float(LongTextConfig().max_windows)
    windows = np.where(tokens <= WINDOW_TOKENS, 1.0,
                       np.minimum(most, 1.0 + np.ceil((tokens - WINDOW_TOKENS) / (WINDOW_TOKENS // 2))))
    return float(windows.mean())


FIXED_TOKENS = 12  # a fine-tune step's per-row costs that do not grow with length, in tokens' worth


def token_share(texts: Sequence[str]) -> float:
    """A fine-tune's cost per row relative to a full EMBEDDING_TOKENS window (its prior's unit),
    from the texts' mean length in word pieces plus [CLS] and [SEP]: (FIXED_TOKENS + tokens) /
    (FIXED_TOKENS + EMBEDDING_TOKENS). Fitted on MiniLM fold fits of five small-data sets (1 and 3
    epochs, 2 CPU cores): 5.8 ms per row and epoch at 11 tokens (questions), 13.9 at 23 (tweets),
    17.5 at 32 (rt3), 15.7 at 40 (debates), 47.8 at 128 (BBC): 4.2 ms + 0.34 ms per token, within
    35% of each. Padding to a batch's longest text is in those figures."""
    if not texts:
        return 1.0
    tokens = np.minimum(word_pieces(texts) + 2, EMBEDDING_TOKENS)
    return float((FIXED_TOKENS + tokens.mean()) / (FIXED_TOKENS + EMBEDDING_TOKENS))


class Budget:
    """The clock of one search (`seconds` from `started`) and the cost of its fits."""

    def __init__(self, seconds: float, started: float, gpu: bool, n_train: int, n_validation: int | None,
                 texts: Sequence[str] = ()) -> None:
        self.seconds = seconds
        self.deadline = started + seconds
        self.cost = CostModel(gpu)
        self.n_train = n_train
        self.n_validation = n_validation  # None: no validation split
        self.encoded: dict[str, set[int]] = {}  # per encode-once family (and reading): row ids already embedded
        # Whole-document embeddings cost a pass per window: counted in units, so that the slowness
        # measured on them stays a measure of the machine (mpnet borrows it), not of the texts.
        self.windows = windows_per_text(texts)
        self.tokens = token_share(texts)  # a fine-tune's rows cost this share of a full window's
        self.windowed = False  # whether the fits now estimated read every window (see `reading`)

    def reading(self, windowed: bool) -> None:
        """How the trial about to run reads long texts: every encoder window, or the first only."""
        self.windowed = windowed

    def _encoded_key(self, family: Family) -> str:
        return f"{family.name}/windows" if self.windowed else family.name

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def units(self, family: Family, fit_ids: np.ndarray, scored_ids: np.ndarray, epochs: int,
              remember: bool = False) -> float:
        """Work of one fit: rows x epochs trained plus rows scored. An encode-once family (the
        frozen-embedding model caches each text's vector) pays mostly for rows it has not embedded
        yet, plus a little per row for its classifier. `remember` marks the rows as embedded."""
        if family.type != "embedding":
            rows = float(len(fit_ids) * max(1, epochs) + len(scored_ids))
            return rows * self.tokens if family.type == "pretrained" else rows
        seen = self.encoded.setdefault(self._encoded_key(family), set())
        rows = set(np.asarray(fit_ids).tolist()) | set(np.asarray(scored_ids).tolist())
        passes = self.windows if self.windowed else 1.0
        units = len(rows - seen) * passes + 0.05 * (len(fit_ids) + len(scored_ids))
        if remember:
            seen |= rows
        return float(units)

    def overhead(self, family: Family) -> float:
        """The share of its per-fit overhead a fit pays: an encode-once family that has run in this
        process has its encoder loaded and pays only for its classifier's own search of C
        (measured: a first 180-row fit 20.9 s, the next two 0.6 s each)."""
        return 0.15 if family.type == "embedding" and self.encoded.get(self._encoded_key(family)) else 1.0

    def observe(self, family: Family, fit_ids, scored_ids, epochs: int, seconds: float) -> None:
        """Records a finished fit: its rows as embedded, and the family's measured slowness."""
        overhead = self.overhead(family)
        self.cost.observe(family, self.units(family, fit_ids, scored_ids, epochs, remember=True), seconds, overhead)

    def fold_ids(self, family: Family, fit_rows, held, epochs: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ids a fit trains on and scores. On the validation protocol (`fit_rows` None) a
        neural model scores validation after every epoch (early stopping) and once more for the
        leaderboard."""
        if fit_rows is not None:
            return np.asarray(fit_rows), np.asarray(held)
        validation_ids = self.n_train + np.arange(self.n_validation)
        return np.arange(self.n_train), np.tile(validation_ids, (epochs + 1) if is_neural(family) else 1)

    def fold_estimate(self, family: Family, fit_rows, held, epochs: int) -> float:
        fit_ids, scored_ids = self.fold_ids(family, fit_rows, held, epochs)
        return self.cost.estimate(family, self.units(family, fit_ids, scored_ids, epochs), self.overhead(family))

    def trial_estimates(self, family: Family, epochs: int, folds: list[tuple[np.ndarray, np.ndarray]]
                        ) -> list[float]:
        """Seconds per fit of one trial (one per fold), rows embedded by earlier folds counted once."""
        key = self._encoded_key(family)
        saved = set(self.encoded.get(key, set()))
        estimates = []
        for fit_rows, held in folds or [(None, None)]:
            fit_ids, scored_ids = self.fold_ids(family, fit_rows, held, epochs)
            overhead = self.overhead(family)
            estimates.append(self.cost.estimate(family, self.units(family, fit_ids, scored_ids, epochs,
                                                                   remember=True), overhead))
        self.encoded[key] = saved
        return estimates

    def epochs_within(self, family: Family, epochs: int, folds: list[tuple[np.ndarray, np.ndarray]],
                      cap: float) -> int:
        """The most epochs, at most `epochs`, whose trial estimate fits in `cap` seconds (0: not
        even a quarter of `epochs`, the fewest a neural trial is cut to, fits)."""
        if not is_neural(family) or sum(self.trial_estimates(family, epochs, folds)) <= cap:
            return epochs
        fewest = fewest_epochs(epochs)
        for candidate in range(epochs - 1, fewest - 1, -1):
            if sum(self.trial_estimates(family, candidate, folds)) <= cap:
                return candidate
        return 0

    def refit_estimate(self, family: Family, training: TrainingConfig) -> float:
        """Seconds to refit a candidate on the whole training split (validation for early stopping)."""
        n = self.n_train
        epochs = training.epochs if is_neural(family) else 1
        scored = np.arange(0)
        if self.n_validation is not None and is_neural(family):  # early stopping scores it every epoch
            scored = np.tile(n + np.arange(self.n_validation), epochs)
        return self.cost.estimate(family, self.units(family, np.arange(n), scored, epochs), self.overhead(family))
