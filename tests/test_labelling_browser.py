"""`textclf label` in a real browser (the system Chromium driven by Playwright; nothing is
downloaded): 30 texts labelled by keyboard, one undone, one edited in the history, the server
killed with SIGKILL and restarted, every answer found in the output; a second tab never gets the
same item; a screenshot of the page is checked (non-blank, the key regions in their colours) and
can be saved as docs/img/label-app.png (TEXTCLF_SAVE_SCREENSHOT=1)."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")  # as .ci/run looks
DOCS_IMAGE = Path(__file__).resolve().parents[1] / "docs" / "img" / "label-app.png"
LABELS = ("fresh", "plot", "rotten")


def _chromium() -> str | None:
    if os.environ.get("TEXTCLF_CHROMIUM"):
        return os.environ["TEXTCLF_CHROMIUM"]
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


CHROMIUM = _chromium() or "/usr/bin/chromium"


def _browser_or_skip():
    """Playwright driving the system Chromium (never `playwright install`); under CI=true a
    missing package or browser fails instead of skipping."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install playwright; never `playwright install`)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no Chromium found (looked for {', '.join(BROWSERS)}; .ci/run installs one)"
    if missing is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


class Server:
    """`textclf label` as a subprocess; `url` is read from the line it prints once bound."""

    def __init__(self, data: Path, output: Path) -> None:
        command = [sys.executable, "-m", "textclf", "label", str(data), "--labels", ",".join(LABELS), "-o", str(output),
                   "--features", "tfidf", "--port", "0", "--clusters", "8", "--refit-every", "5", "--annotator", "tester"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()
        seen = []
        while True:
            line = lines.get(timeout=120)
            seen.append(line)
            if "open http://" in line:
                self.url = line.split("open ", 1)[1].split()[0]
                return
            assert self.process.poll() is None, "".join(seen)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def data(tmp_path_factory, rt_small):
    picked = list(range(0, 600, 10))  # 60 texts, the three classes mixed
    frame = pd.DataFrame({"text": [rt_small.texts[i] for i in picked]})
    path = tmp_path_factory.mktemp("label") / "texts.csv"
    frame.to_csv(path, index=False)
    return path, {rt_small.texts[i]: rt_small.labels[i] for i in picked}


def _current(page) -> tuple[str, str]:
    node = page.locator("#text")
    return node.get_attribute("data-item"), node.inner_text()


def _press_and_wait(page, key: str) -> None:
    before = _current(page)[0]
    page.keyboard.press(key)
    page.wait_for_function("(before) => document.getElementById('text').dataset.item !== before", arg=before,
                           timeout=15_000)


def test_label_30_by_keyboard_undo_edit_kill_and_resume(tmp_path, data):
    sync_playwright = _browser_or_skip()
    path, gold = data
    output = tmp_path / "labelled.csv"
    server = Server(path, output)
    answers: dict[str, str] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server.url)
            page.wait_for_function("document.getElementById('text').dataset.item")
            used_enter = 0
            while len(answers) < 30:
                item, text = _current(page)
                truth = gold[text]
                suggested = page.locator("#buttons button.suggested").all_inner_texts()
                if suggested and suggested[0].endswith(truth) and used_enter < 3:
                    _press_and_wait(page, "Enter")  # accept the model's suggestion
                    used_enter += 1
                else:
                    _press_and_wait(page, str(LABELS.index(truth) + 1))
                answers[item] = truth
            # Z takes back the last answer: its item is shown again
            last = page.locator("#history tr").first.get_attribute("data-item")
            _press_and_wait(page, "z")
            assert _current(page)[0] == last
            del answers[last]
            item, text = _current(page)
            _press_and_wait(page, str(LABELS.index(gold[text]) + 1))
            answers[item] = gold[text]
            # S skips (not an answer in the output)
            skipped = _current(page)[0]
            _press_and_wait(page, "s")
            # edit an answer in the history
            row = page.locator("#history tr").nth(3)
            edited = row.get_attribute("data-item")
            new_label = next(x for x in LABELS if x != answers[edited])
            row.locator("select").select_option(new_label)
            page.wait_for_function("(item) => Array.from(document.querySelectorAll('#history tr')).some("
                                   "(r) => r.dataset.item === item && r.querySelector('select').value === "
                                   f"'{new_label}' && r === document.querySelector('#history tr'))", arg=edited)
            answers[edited] = new_label
            browser.close()
        server.kill()  # no shutdown hook runs: only the journal holds the answers
        server = Server(path, output)  # resumes, rewrites the output from the journal at start
        frame = pd.read_csv(output)
        assert dict(zip(frame["id"], frame["label"])) == answers and len(frame) == 30
        assert skipped not in set(frame["id"]) and set(frame["annotator"]) == {"tester"}
        assert frame["labelled_at"].str.match(r"\d{4}-\d\d-\d\dT").all()
        _two_tabs_and_screenshot(sync_playwright, server, tmp_path, len(answers))  # 30 labels + 1 skip
    finally:
        server.kill()


def _two_tabs_and_screenshot(sync_playwright, server: Server, tmp_path: Path, answered: int) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        first, second = context.new_page(), context.new_page()
        for page in (first, second):
            page.goto(server.url)
            page.wait_for_function("document.getElementById('text').dataset.item")
        assert _current(first)[0] != _current(second)[0]  # each tab holds its own item
        # the resumed session's live panel: cross-validated F1 with its interval, the curve
        first.wait_for_function("document.getElementById('f1').textContent !== '–'", timeout=30_000)
        assert f"{answered + 1} answered" in first.locator("#progress").inner_text()  # the skip counts
        shot = tmp_path / "label-app.png"
        first.screenshot(path=str(shot))
        _check_screenshot(first, shot)
        if os.environ.get("TEXTCLF_SAVE_SCREENSHOT") == "1":
            shutil.copyfile(shot, DOCS_IMAGE)
        browser.close()


def _check_screenshot(page, shot: Path) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (800, 1280) and pixels.std() > 20  # not blank

    def colour_at(selector: str, dx: float = 0.5, dy: float = 0.5) -> np.ndarray:
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, selector
        return pixels[int(box["y"] + box["height"] * dy), int(box["x"] + box["width"] * dx)]

    def close(found, expected, tolerance=12) -> bool:
        return bool(np.abs(np.asarray(found) - np.asarray(expected)).max() <= tolerance)

    assert close(colour_at("header", 0.9, 0.5), (31, 41, 55))  # the dark bar
    assert close(colour_at("#card", 0.98, 0.97), (255, 255, 255))  # the white text card
    assert close(colour_at("#buttons button.suggested", 0.05, 0.5), (37, 99, 235))  # the suggestion, blue
    curve = page.locator("#curve").bounding_box()
    region = pixels[int(curve["y"]):int(curve["y"] + curve["height"]), int(curve["x"]):int(curve["x"] + curve["width"])]
    assert (np.abs(region - np.array([37, 99, 235])).max(axis=2) < 40).sum() > 50  # the learning curve drawn
    assert page.locator("#counts .count").count() == 3
