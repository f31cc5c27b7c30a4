"""The HTML report: every figure is an embedded, decodable PNG; sections (including extra ones
from other features) are present and user text is escaped; the CLI writes it; legends never cover
more than a fifth of a plot; and in a real headless Chromium (required under CI=true, which
.ci/run sets) both the single-label and the multi-label report load every figure and render."""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import os
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


BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
IMAGE_PROBE = (  # appended to a copy of the report: writes every <img>'s decoded size into the DOM
    "<script>window.addEventListener('load', function () {"
    "var out = document.createElement('pre'); out.id = 'textclf-image-check';"
    "out.textContent = JSON.stringify(Array.from(document.images).map(function (i) {"
    "return [i.alt, i.complete, i.naturalWidth, i.naturalHeight]; }));"
    "document.body.appendChild(out); });</script>")
BROKEN_IMAGE = '<img alt="broken control" src="data:image/png;base64,iVBORw0KGgoAAAA">'


def find_browser() -> str:
    """A headless-capable Chromium; under CI=true a missing browser fails the test (.ci/run
    installs one), elsewhere it skips."""
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but no browser found (looked for {', '.join(BROWSERS)}); .ci/run installs Chromium")
    pytest.skip("no Chromium/Chrome installed")


def run_browser(browser: str, profile, *arguments: str) -> str:
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", f"--user-data-dir={profile}", *arguments],
        check=True, capture_output=True, timeout=120, text=True)
    return done.stdout


def loaded_images(browser: str, html_path, tmp_path) -> list[list]:
    """[alt, complete, naturalWidth, naturalHeight] of every <img> as the browser decoded it, for a
    copy of the page with a control image that cannot decode appended last."""
    probe = tmp_path / f"{html_path.stem}-probe.html"
    probe.write_text(html_path.read_text(encoding="utf-8").replace(
        "</body>", BROKEN_IMAGE + IMAGE_PROBE + "</body>"), encoding="utf-8")
    dom = run_browser(browser, tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom",
                      probe.resolve().as_uri())
    found = re.search(r'<pre id="textclf-image-check">(.*?)</pre>', dom, re.S)
    assert found, "the image probe did not run"
    images = json.loads(html_lib.unescape(found.group(1)))
    control = images.pop()
    assert control[0] == "broken control" and control[2] == 0  # the check can tell a broken image
    return images


def screenshot(browser: str, html_path, tmp_path, height: int = 2400) -> np.ndarray:
    shot = tmp_path / f"{html_path.stem}-shot.png"
    run_browser(browser, tmp_path / "profile-shot", f"--screenshot={shot}", f"--window-size=1280,{height}",
                html_path.resolve().as_uri())
    return np.asarray(Image.open(shot).convert("RGB"), dtype=int)


@pytest.fixture(scope="module")
def multi_label_model(rt_small):
    labels = [(label,) + (("long",) if len(text) > 120 else ()) for text, label in zip(rt_small.texts, rt_small.labels)]
    order = np.random.default_rng(0).permutation(len(labels))
    multi = Examples.from_lists(rt_small.texts, labels).subset(order)
    train, validation, test = (multi.subset(range(0, 400)), multi.subset(range(400, 500)),
                               multi.subset(range(500, 600)))
    clf = TextClassifier(model={"type": "tfidf"}, task="multi_label").fit(train)
    clf.tune_thresholds(validation, scope="per_label", objective="f1")
    return clf, test


@pytest.mark.slow
def test_reports_render_in_headless_chromium(calibrated, splits, multi_label_model, tmp_path):
    browser = find_browser()
    single = write_report(build_report(calibrated, splits.test, n_resamples=20), tmp_path / "single.html")[0]
    clf, test = multi_label_model
    multi_report = build_report(clf, test, n_resamples=20)
    multi = write_report(multi_report, tmp_path / "multi.html")[0]

    for path, count in ((single, 5), (multi, 4)):
        images = loaded_images(browser, path, tmp_path)
        assert len(images) == count, images
        for alt, complete, width, height in images:
            assert complete and width > 100 and height > 100, (path.name, alt, width, height)

    rgb = screenshot(browser, single, tmp_path)
    assert rgb.shape == (2400, 1280, 3)
    # Text is black or grey and links are thin; only the rendered figures (the "Blues" heatmap,
    # the blue and orange curves) put many saturated pixels on the page.
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    assert (saturation > 60).mean() > 0.01
    orange = (abs(rgb[..., 0] - 255) < 40) & (abs(rgb[..., 1] - 127) < 40) & (rgb[..., 2] < 80)
    assert orange.sum() > 200  # the calibrated curve of the reliability diagram

    rgb = screenshot(browser, multi, tmp_path, height=3200)
    assert rgb.shape == (3200, 1280, 3) and ((rgb.max(axis=2) - rgb.min(axis=2)) > 60).mean() > 0.003
    # the F1-vs-threshold figure the browser showed is the one whose legend sits beside the axes
    figure = Image.open(io.BytesIO(multi_report.figures["threshold_f1"]))
    assert figure.width > 1.4 * figure.height  # axes plus a legend column to their right


def test_figure_legends_cover_at_most_a_fifth_of_their_axes(multi_label_model):
    from textclf.evaluation import plots

    clf, test = multi_label_model
    y = np.asarray(clf.label_map.encode(test), dtype=float)
    probs = clf.predict_proba(test)
    names = list(clf.label_map.labels)
    figure = plots.threshold_f1_figure(y, probs, names, binary=False, multi_label=True, current=clf.policy.thresholds)
    ax = figure.axes[0]
    assert plots.legend_share(ax) == 0.0  # beside the axes, not over the curves
    # one threshold marker per plotted label, each at that label's own tuned threshold
    markers = {round(float(line.get_xdata()[0]), 6) for line in ax.get_lines() if line.get_marker() == "D"}
    assert markers == {round(float(t), 6) for t in clf.policy.thresholds}
    assert len(set(np.round(clf.policy.thresholds, 6))) > 1  # per-label cuts differ, so one line could not show them

    # ten classes: the ROC/PR legends would cover much of the plot inside the axes, so they move out
    rng = np.random.default_rng(0)
    k, n = 10, 400
    y10 = np.eye(k)[rng.integers(0, k, n)]
    p10 = rng.dirichlet(np.ones(k), n) * 0.5 + y10 * 0.5
    for fig in (*plots.roc_pr_figures(y10, p10, [f"class {j}" for j in range(k)], binary=False),
                plots.reliability_figure({"uncalibrated": {"confidence": [0.2, 0.8], "accuracy": [0.3, 0.7],
                                                           "count": [5, 5], "ece": 0.1}})):
        assert all(plots.legend_share(a) <= plots.MAX_LEGEND_SHARE for a in fig.axes)


@pytest.mark.slow
def test_highlighted_mistakes_render_in_headless_chromium(calibrated, splits, tmp_path):
    """The report's tokens-behind-mistakes section, as the browser draws it: shaded tokens toward
    (blue) and against (orange) the explained label."""
    from textclf.jobs.inspect import report_sections

    browser = find_browser()
    sections = [s for s in report_sections(calibrated, splits.test, None, tmp_path, io.StringIO())
                if s.title == "Tokens behind mistakes"]
    assert sections and "tx-tok" in sections[0].html
    from textclf.jobs.inspect import write_html_page

    page = tmp_path / "explained.html"  # the section's fragment alone, as the report embeds it
    write_html_page(page, "tokens behind mistakes", sections[0].html)
    rgb = screenshot(browser, page, tmp_path, height=1600).astype(int)
    blue = (rgb[..., 2] - rgb[..., 0] > 60) & (rgb[..., 2] > 150)
    orange = (rgb[..., 0] - rgb[..., 2] > 60) & (rgb[..., 1] > 100) & (rgb[..., 0] > 200)
    assert blue.sum() > 300 and orange.sum() > 300
