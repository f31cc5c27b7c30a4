"""Progress on stderr: one whole line per update in a log (no carriage-return soup), training's bar
spans every epoch (so its ETA is the run's), and predict's total counts CSV records, not lines."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pandas as pd

import textclf.serving.progress as predict_progress
from textclf.training import progress
from textclf.training.trainer import Trainer


def test_a_log_gets_one_line_per_update(monkeypatch):
    log = io.StringIO()  # not a terminal
    monkeypatch.setattr("sys.stderr", log)
    monkeypatch.setattr(progress, "LOG_INTERVAL_SECONDS", 0.0)
    with progress.progress_bar(True, total=3, desc="predict") as bar:
        for _ in range(3):
            bar.update(1)
        progress.write_above(bar, "epoch 1: done")
    text = log.getvalue()
    assert "\r" not in text and "epoch 1: done\n" in text
    assert len([line for line in text.splitlines() if "predict" in line]) >= 3
    assert "100%" in text


def test_training_bar_counts_every_epochs_batches():
    training = SimpleNamespace(epochs=4, max_steps=None, gradient_accumulation_steps=1)
    trainer = SimpleNamespace(training=training, _show_progress=False)
    run = SimpleNamespace(batches_per_epoch=25, state=SimpleNamespace(epoch=1, batch_in_epoch=5))
    bar = Trainer._progress(trainer, run)
    assert (bar.total, bar.n) == (100, 30)  # a resumed run starts where it stopped
    training.max_steps = 40
    assert Trainer._progress(trainer, run).total == 40


def test_predict_total_counts_csv_records_not_lines(tmp_path, monkeypatch):
    path = tmp_path / "multi.csv"
    pd.DataFrame({"text": ['one\ntwo "quoted"\nthree', "plain", 'x,"y"\nz', "last"]}).to_csv(path, index=False)
    monkeypatch.setattr(predict_progress, "BLOCK_BYTES", 3)  # quotes and newlines across block ends
    assert predict_progress.count_rows(path) == 4
    assert predict_progress.count_rows(tmp_path / "missing.csv") is None
