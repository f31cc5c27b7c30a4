"""Each default that a CLI flag and a job option share, defined once: read here from the typed
config or settings class that owns it, then used by the jobs' option dataclasses and by the
argument parser (so `textclf --help`, the jobs and the library always agree)."""

from __future__ import annotations

from ..analysis.settings import ErrorSettings, ShiftSettings
from ..config import AuditConfig, CalibrationConfig, Config, SplitConfig, ThresholdsConfig
from ..serving.options import INT8_MIN_AGREEMENT, PredictOptions

SPLIT_METHOD: str = SplitConfig().method
VALIDATION_SIZE: float = SplitConfig().validation_size  # 0.1
TEST_SIZE: float = SplitConfig().test_size
SPLIT_SEED: int = Config.model_fields["seed"].default
NEAR_DUPLICATE_THRESHOLD: float = AuditConfig().near_threshold  # 0.8 (Jaccard)
CALIBRATION_METHOD: str = CalibrationConfig().method
THRESHOLD_OBJECTIVE: str = ThresholdsConfig().objective
THRESHOLD_BETA: float = ThresholdsConfig().beta
ERRORS = ErrorSettings()  # confident, ambiguous_margin, min_slice_size, top
BOOTSTRAP_RESAMPLES: int = ERRORS.n_resamples  # 1000
BOOTSTRAP_SEED: int = ERRORS.seed
SHIFT_QUANTILE: float = ShiftSettings().flag_quantile
PREDICT = PredictOptions()  # chunk_size, batch_size

__all__ = ["BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "CALIBRATION_METHOD", "ERRORS", "INT8_MIN_AGREEMENT",
           "NEAR_DUPLICATE_THRESHOLD", "PREDICT", "SHIFT_QUANTILE", "SPLIT_METHOD", "SPLIT_SEED", "TEST_SIZE",
           "THRESHOLD_BETA", "THRESHOLD_OBJECTIVE", "VALIDATION_SIZE"]
