"""Metrics, calibration, thresholds and reports."""

RESAMPLES = 1000  # bootstrap resamples behind every interval textclf reports, unless told otherwise
