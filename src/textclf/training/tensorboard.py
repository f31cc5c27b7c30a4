"""TensorBoard scalars beside the JSON-lines log, when TensorBoard is installed.

    pip install 'textclf-toolkit[tensorboard]'
    tensorboard --logdir runs/minilm/tensorboard

The JSON lines (`train_log.jsonl`) are always written by the trainer; this mirrors every numeric
field of each record (loss, lr, validation metrics) as a scalar at the record's optimizer step.
Without the `tensorboard` package it does nothing, silently: logging must never break training.
"""

from __future__ import annotations

from pathlib import Path

TENSORBOARD_DIR = "tensorboard"


class TensorBoardLog:
    """Lazily opens a SummaryWriter under `workdir/tensorboard` on the first record."""

    def __init__(self, workdir: Path) -> None:
        self.directory = Path(workdir) / TENSORBOARD_DIR
        self._writer = None
        self._available: bool | None = None

    def _open(self):
        if self._available is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the optional extra is not installed
                self._available = False
                return None
            self._writer = SummaryWriter(log_dir=str(self.directory))
            self._available = True
        return self._writer

    def write(self, record: dict) -> None:
        """Scalars named `<event>/<field>` (e.g. step/loss, epoch/validation_macro_f1)."""
        writer = self._open()
        if writer is None:
            return
        step = int(record.get("step", 0))
        event = record.get("event", "log")
        for key, value in record.items():
            if key not in {"step", "event"} and isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(f"{event}/{key}", float(value), step)
        writer.flush()
