"""The settings of error analysis and shift checks: plain values with no heavy imports, so the
CLI can show their defaults without loading scipy (jobs/defaults.py reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from ..evaluation import RESAMPLES


@dataclass(frozen=True)
class ErrorSettings:
    confident: float = 0.8  # a mistake whose predicted probability is at least this is "confident"
    ambiguous_margin: float = 0.1  # top-1 minus top-2 probability below this is "uncertain"
    min_slice_size: int = 20  # smaller slices are too noisy to rank
    n_resamples: int = RESAMPLES
    seed: int = 0
    top: int = 10  # worst slices and examples shown
    examples_per_slice: int = 3


@dataclass(frozen=True)
class ShiftSettings:
    alpha: float = 0.01  # significance level of every test
    max_ks: float = 0.2  # length: KS statistic above this is a shift
    max_oov_increase: float = 0.05  # vocabulary: mean OOV rate may rise by this much
    max_prior_distance: float = 0.15  # label prior: total variation distance
    max_auroc: float = 0.7  # OOD score: AUROC above this is a shift
    flag_quantile: float = 0.99  # flag new examples beyond this quantile of the reference
    top_flagged: int = 20
    min_rows: int = 100  # fewer reference (or new) rows than this: the tests have little power
