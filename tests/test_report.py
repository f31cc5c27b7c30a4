"""The HTML report: every figure is an embedded, decodable PNG; sections (including extra ones
from other features) are present and user text is escaped; the CLI writes it; and, where
Chromium is installed, it renders in a real headless browser."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from textclf import TextClassifier
from textclf.cli import main
from textclf.data import Examples
from textclf.data.io import examples_frame, write_frame
from textclf.data.splits import split_examples
from textclf.evaluation.report import Section, build_report, write_report

IMG = re.compile(r"<img\b[^>]*>")
SRC = re.compile(r'src="([^"]*)"')


def embedded_images(html: str) -> list[Image.Image]:
    """Decode every <img>; fail if one is not a data: URI holding a valid PNG."""
    images = []
    for tag in IMG.findall(html):
        src = SRC.search(tag).group(1)
        assert src.startswith("data:image/png;base64,"), f"not an embedded PNG: {src[:60]}"
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        images.append(image)
    return images


@pytest.fixture(scope="module")
def splits(rt_small):
    return split_examples(rt_small, "stratified", validation_size=0.25, test_size=0.3, seed=0)


@pytest.fixture(scope="module")
def calibrated(splits):
    clf = TextClassifier(model={"type": "tfidf", "C": 20.0}).fit(splits.train)
    clf.calibrate(splits.validation, "temperature")
    return clf


def test_single_label_report_sections_and_images(calibrated, splits, tmp_path):
    extra = Section("Data audit", '<section class="textclf-audit"><p>3 near duplicates</p></section>')
    report = build_report(calibrated, splits.test, extra_sections=[extra], n_resamples=100)
    html = report.html
    for title in ("Metrics", "Calibration", "Per class", "Confusion matrix", "ROC and precision-recall curves",
                  "F1 vs threshold", "Most confident mistakes", "Data audit"):
        assert f">{title}<" in html, title
    assert "3 near duplicates" in html and "temperature (saved)" in html and "uncalibrated" in html
    low, high = report.metrics["intervals"]["accuracy"]
    assert f"[{low:.4f}, {high:.4f}]" in html
    images = embedded_images(html)
    assert len(images) == len(report.figures) == 5  # reliability, confusion, roc, pr, threshold-F1
    written = write_report(report, tmp_path / "out" / "report.html")
    assert [p.name for p in written[1:]] == [f"report-{name}.png" for name in report.figures]
    for path in written[1:]:
        assert Image.open(path).format == "PNG"


def test_mistakes_are_most_confident_first_and_escaped(splits):
    hostile = Examples.from_lists(["<script>alert(1)</script> a dull, lifeless film"] * 4
                                  + list(splits.test.texts[:40]), ["fresh"] * 4 + list(splits.test.labels[:40]))
    clf = TextClassifier(model={"type": "tfidf"}).fit(splits.train)
    html = build_report(clf, hostile, n_resamples=20).html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    section = html.split(">Most confident mistakes<", 1)[1]
    confidences = [float(x) for x in re.findall(r'<td class="num">(0\.\d{3})</td><td class="num">0\.\d{3}</td>',
                                                 section)]
    assert confidences and confidences == sorted(confidences, reverse=True)


def test_binary_and_multi_label_reports(rt_binary, rt_small):
    parts = split_examples(rt_binary, "stratified", validation_size=0.2, test_size=0.3, seed=0)
    binary = TextClassifier(model={"type": "tfidf"}).fit(parts.train)
    report = build_report(binary, parts.test, validation=parts.validation, n_resamples=20)
    assert "temperature (preview, not saved)" in report.html  # no saved calibration: a preview
    assert len(embedded_images(report.html)) == 5

    labels = [(label,) + (("long",) if len(text) > 120 else ()) for text, label in zip(rt_small.texts, rt_small.labels)]
    multi = Examples.from_lists(rt_small.texts, labels)
    train, test = multi.subset(range(0, 450)), multi.subset(range(450, 600))
    clf = TextClassifier(model={"type": "tfidf"}, task="multi_label").fit(train)
    report = build_report(clf, test, n_resamples=20)
    assert "each label probability" in report.html and ">Confusion matrix<" not in report.html
    assert report.metrics["per_class"]["long"]["roc_auc"] is not None
    assert len(embedded_images(report.html)) == 4  # no confusion matrix for multi-label


def test_cli_report_on_a_trained_model(rt_small, tmp_path, capsys):
    data = tmp_path / "rt.csv"
    write_frame(examples_frame(rt_small), data)
    assert main(["train", f"data.train={data}", "model.type=tfidf", f"output_dir={tmp_path / 'run'}"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run" / "model"), "--bootstrap", "50"]) == 0
    assert "report written to" in capsys.readouterr().out
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert len(embedded_images(html)) == 5
    assert (tmp_path / "run" / "report-reliability.png").is_file()
    assert main(["report", str(tmp_path / "missing"), "-o", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "x.html").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(calibrated, splits, tmp_path):
    path = write_report(build_report(calibrated, splits.test, n_resamples=20), tmp_path / "report.html")[0]
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2400",
         path.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    rgb = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    assert rgb.shape == (2400, 1280, 3)
    # Text is black or grey and links are thin; only the rendered figures (the "Blues" heatmap,
    # the blue and orange curves) put many saturated pixels on the page.
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    assert (saturation > 60).mean() > 0.01
    orange = (abs(rgb[..., 0] - 255) < 40) & (abs(rgb[..., 1] - 127) < 40) & (rgb[..., 2] < 80)
    assert orange.sum() > 200  # the calibrated curve of the reliability diagram
