"""The model card (README.md) of a Hugging Face export: data, metrics with their intervals,
calibration and thresholds, intended use and limits, from what the saved model records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADLINE = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "ece", "log_loss", "brier")


def read_metrics(model_dir: str | Path | None) -> dict | None:
    """The saved model's metrics.json (written by `textclf train`), or None."""
    if model_dir is None:
        return None
    path = Path(model_dir) / "metrics.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


def metric_lines(metrics: dict | None) -> list[str]:
    """One line per headline metric of the test split (else validation), interval included."""
    if not metrics:
        return ["- Not recorded: the model was saved without metrics.json (train it with `textclf train` "
                "to get held-out metrics with bootstrap intervals)."]
    for split in ("test", "validation"):
        part = metrics.get(split)
        if isinstance(part, dict):
            intervals = part.get("intervals") or {}
            lines = []
            for name in HEADLINE:
                value = part.get(name)
                if isinstance(value, (int, float)):
                    bounds = intervals.get(name)
                    shown = f" (95% interval {bounds[0]:.3f}-{bounds[1]:.3f})" if bounds else ""
                    lines.append(f"- {split} {name}: {value:.3f}{shown}")
            if lines:
                return lines
    return ["- metrics.json holds no test or validation metrics."]


def card_text(clf, metrics: dict | None, max_length: int) -> str:
    card, policy, labels = clf.card, clf.policy, [str(name) for name in clf.label_map.labels]
    data: dict[str, Any] = card.data or {}
    source = data.get("dataset") or data.get("path") or "data given in Python (not recorded)"
    calibration = policy.calibration.get("method") if policy.calibration else None
    thresholds = None if policy.thresholds is None else [round(float(t), 4) for t in policy.thresholds]
    task = "multi-label (sigmoid per label)" if clf.multi_label else "single-label (softmax)"
    return "\n".join([
        "---", "library_name: transformers", "pipeline_tag: text-classification", "---", "",
        f"# Text classifier exported by textclf ({clf.model_.type_name()})", "",
        "## Data",
        f"- Trained on: {source}; {card.train_size or 'unknown number of'} training texts.",
        f"- Labels ({task}): {', '.join(f'`{name}`' for name in labels)} (`config.id2label`).", "",
        "## Metrics", *metric_lines(metrics),
        *([f"- Note: {card.refit_note()}."] if card.refit_note() else []), "",
        "## Calibration and decision policy",
        f"- Calibration: {calibration or 'none'}; thresholds: {thresholds or 'none (argmax / 0.5)'}; "
        f"min_labels: {policy.min_labels}.",
        "- `transformers` gives the raw softmax/sigmoid of the logits; the calibration and thresholds above are "
        "applied by textclf (`textclf export --format onnx` carries them, and `textclf predict` on the source "
        "model applies them).", "",
        "## Intended use",
        "- Classifying texts like the training data into the labels above; check the metrics on your own data "
        "before relying on it.",
        "- `pipeline(\"text-classification\", model=DIR, truncation=True)`.", "",
        "## Limits",
        f"- The model read the first {max_length} tokens of each text in training; the tokenizer files cut "
        f"there (`model_max_length` {max_length}, truncation in tokenizer.json). transformers turns truncation "
        "off unless the caller asks for it: pass `truncation=True` to the tokenizer or pipeline, or texts "
        "longer than the encoder's positions fail.",
        "- Predictions on texts unlike the training data (another domain, language or era) are less reliable "
        "than the metrics say.", ""])


def write_model_card(directory: Path, clf, metrics: dict | None, max_length: int) -> None:
    (Path(directory) / "README.md").write_text(card_text(clf, metrics, max_length), encoding="utf-8")
