"""Distillation: a strong teacher against fast students trained on its probabilities (textclf distill).

Per data set (Rotten Tomatoes 3 classes, Rotten Tomatoes fresh/rotten, BBC News): a stratified
test split (20%, seed 0), a small labelled set for the teacher (train + validation), and the rest
of the data, labels dropped, as the unlabelled pool. Teachers: MiniLM fine-tuned as in
configs/minilm.yaml, and `auto` with a short time budget. Students: bag and TF-IDF, distilled from
each teacher over the pool (`textclf distill`). Reported per system: test macro-F1 and texts/s
through `textclf predict` as whole processes, measured as the marginal rate between a small and a
large input file (startup, imports and model loading cancel out; the whole-process rate of the large
input is kept too). The summary keeps the best student per set (test macro-F1 among students at
>= 20x their teacher's throughput, else the fastest) against the better teacher.

    python -m bench distill --mode smoke     # one set, tiny sizes: every code path in a few minutes
    python -m bench distill --mode full      # ~24 minutes on 2 idle cores; writes bench/results/distill.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Benchmark, register
from bench.protocol import markdown_table

ROOT = Path(__file__).resolve().parents[2]  # the repository: configs/ and src/
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SETS = ("rotten-tomatoes", "rotten-tomatoes-binary", "bbc-news")
# labelled: teacher rows (train + 20% validation); pool: unlabelled rows (None: all the rest);
# speed: rows of the small and large predict inputs per system kind (fewer for BBC News's long
# articles), large enough that the work, not the process start, decides the difference;
# minilm: fine-tuning settings.
SIZES = {
    "smoke": {"sets": ["rotten-tomatoes-binary"], "labelled": 60, "pool": 80, "test": 40, "auto_budget": 8,
              "speed": {"teacher": (20, 60), "student": (20, 200)},
              "minilm": {"epochs": 1, "max_length": 16, "long_max_length": 16}, "bootstrap": 0, "copies": 2},
    "quick": {"sets": list(SETS), "labelled": 400, "pool": 2000, "test": 600, "auto_budget": 30,
              "speed": {"teacher": (100, 400), "student": (200, 20000)},
              "minilm": {"epochs": 2, "max_length": 64, "long_max_length": 128}, "bootstrap": 0, "copies": 2},
    "full": {"sets": list(SETS), "labelled": 1000, "pool": 5000, "test": None, "auto_budget": 30,
             "speed": {"teacher": (100, 1100), "student": (1000, 100000)},
             "minilm": {"epochs": 2, "max_length": 64, "long_max_length": 128}, "bootstrap": 0, "copies": 2},
}
# Seconds on 2 cores for the full run, per set (teacher fits and pool predictions dominate).
# MiniLM fit ~100 s (BBC ~150 s), its pool ~25 s, auto ~55 s and its pool, 4 students ~45 s each, 12 predict
# processes ~120 s: about 8 minutes a set on an otherwise idle machine.
FULL_ESTIMATE_S = {"rotten-tomatoes": 480, "rotten-tomatoes-binary": 470, "bbc-news": 460}


def _examples(name: str):
    from textclf.data.bundled import load_bundled

    if name == "rotten-tomatoes-binary":
        rt = load_bundled("rotten-tomatoes")
        return rt.subset([i for i, label in enumerate(rt.labels) if label != "plot"])
    return load_bundled(name)


def _stratified_take(labels: list, indices: list[int], count: int | None, seed: int) -> tuple[list[int], list[int]]:
    """(taken, rest) of `indices`: `count` of them in class proportion (all when None)."""
    from sklearn.model_selection import train_test_split

    if count is None or count >= len(indices):
        return list(indices), []
    taken, rest = train_test_split(indices, train_size=count, random_state=seed,
                                   stratify=[labels[i] for i in indices])
    return sorted(taken), sorted(rest)


def prepare(name: str, size: dict, folder: Path) -> dict:
    """labelled.csv (teacher train + validation), test.csv, pool.csv (text only) and speed files."""
    import pandas as pd

    ex = _examples(name)
    everything = list(range(len(ex)))
    test_count = size["test"] or round(0.2 * len(ex))
    test, rest = _stratified_take(ex.labels, everything, test_count, seed=0)
    labelled, rest = _stratified_take(ex.labels, rest, size["labelled"], seed=0)
    pool = rest[: size["pool"]] if size["pool"] is not None else rest
    folder.mkdir(parents=True, exist_ok=True)
    frame = lambda rows: pd.DataFrame({"text": [ex.texts[i] for i in rows], "label": [ex.labels[i] for i in rows]})  # noqa: E731
    frame(labelled).to_csv(folder / "labelled.csv", index=False)
    frame(test).to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"text": [ex.texts[i] for i in pool]}).to_csv(folder / "pool.csv", index=False)
    source = [ex.texts[i] for i in test + pool]
    for kind, counts in speed_counts(name, size).items():
        for count in counts:
            texts = (source * (count // max(1, len(source)) + 1))[:count]
            pd.DataFrame({"text": texts}).to_csv(folder / f"speed_{kind}_{count}.csv", index=False)
    return {"rows": len(ex), "labelled": len(labelled), "test": len(test), "pool": len(pool)}


def speed_counts(name: str, size: dict) -> dict[str, tuple[int, int]]:
    # BBC News articles are ~2,000 characters against ~150 for reviews; the teacher reads 128 tokens of them.
    scale = {"teacher": 2, "student": 10} if name == "bbc-news" else {"teacher": 1, "student": 1}
    return {kind: tuple(max(10, count // scale[kind]) for count in counts) for kind, counts in size["speed"].items()}


def _textclf(args: list[str], cwd: Path) -> float:
    """Run `textclf ARGS` as a whole process; its wall seconds. A failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "textclf", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if done.returncode != 0:
        raise RuntimeError(f"textclf {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return time.perf_counter() - started


def teacher_configs(name: str, size: dict, folder: Path) -> dict[str, list[str]]:
    """`textclf train` arguments per teacher: MiniLM (configs/minilm.yaml's settings) and auto."""
    minilm = size["minilm"]
    length = minilm["long_max_length"] if name == "bbc-news" else minilm["max_length"]
    data = [f"data.train={folder / 'labelled.csv'}", f"data.test={folder / 'test.csv'}",
            "data.split.method=stratified", "data.split.validation_size=0.2", "data.split.test_size=0.0"]
    return {
        "minilm": [str(ROOT / "configs" / "minilm.yaml"), "data.dataset=null", *data,
                   f"training.epochs={minilm['epochs']}", f"model.max_length={length}", "training.progress=false"],
        "auto": [str(folder / "labelled.csv"), *data[1:], "--time-budget", str(size["auto_budget"])],
    }


def throughput(model: Path, folder: Path, counts: tuple[int, int], kind: str) -> dict:
    """texts/s of `textclf predict` as whole processes: marginal between two input sizes, and whole."""
    seconds = {}
    for count in counts:
        out = folder / f"pred_{model.parent.name}_{count}.jsonl"
        seconds[count] = _textclf(["predict", str(model), str(folder / f"speed_{kind}_{count}.csv"),
                                   "-o", str(out), "--overwrite", "--no-progress"], folder)
    small, large = counts
    extra = seconds[large] - seconds[small]
    # Under 0.5 s of difference the start-up noise decides it: report the whole-process rate instead.
    marginal = round((large - small) / extra, 1) if extra >= 0.5 else None
    whole = round(large / seconds[large], 1)
    return {"texts_per_s": marginal if marginal is not None else whole, "marginal_texts_per_s": marginal,
            "whole_process_texts_per_s": whole, "seconds": {str(k): round(v, 2) for k, v in seconds.items()}}


def _test_f1(model_dir: Path) -> float:
    return float(json.loads((model_dir / "metrics.json").read_text())["test"]["macro_f1"])


def run_set(name: str, size: dict, folder: Path) -> dict:
    """Teachers, their students, F1 and speed for one data set."""
    data = prepare(name, size, folder)
    rows = []
    for teacher, args in teacher_configs(name, size, folder).items():
        run_dir = folder / f"teacher_{teacher}"
        started = time.perf_counter()
        _textclf(["train", *args, "-o", str(run_dir)], folder)
        model = run_dir / "model"
        rows.append({"system": teacher, "role": "teacher", "test_macro_f1": _test_f1(model),
                     "fit_seconds": round(time.perf_counter() - started, 1),
                     **throughput(model, folder, speed_counts(name, size)["teacher"], "teacher")})
        for student in ("bag", "tfidf"):
            out = folder / f"student_{teacher}_{student}" / "model"
            started = time.perf_counter()
            _textclf(["distill", str(model), "--data", str(folder / "pool.csv"), "--student", student, "-o", str(out),
                      "--copies", str(size["copies"]), "--bootstrap", str(size["bootstrap"])], folder)
            rows.append({"system": f"{student}<-{teacher}", "role": "student", "teacher": teacher,
                         "test_macro_f1": _test_f1(out), "fit_seconds": round(time.perf_counter() - started, 1),
                         **throughput(out, folder, speed_counts(name, size)["student"], "student")})
    return {"data": data, "rows": rows, "best": best_pair(rows)}


def best_pair(rows: list[dict]) -> dict:
    """The better teacher, and its best student: highest test macro-F1 among students at >= 20x the
    teacher's texts/s (else the fastest of them)."""
    teachers = {r["system"]: r for r in rows if r["role"] == "teacher"}
    teacher = max(teachers.values(), key=lambda r: r["test_macro_f1"])
    students = [r for r in rows if r["role"] == "student" and r["teacher"] == teacher["system"]]
    fast = [r for r in students if r["texts_per_s"] >= 20 * teacher["texts_per_s"]]
    student = max(fast, key=lambda r: r["test_macro_f1"]) if fast else max(students, key=lambda r: r["texts_per_s"])
    return {"teacher": teacher["system"], "student": student["system"], "teacher_f1": teacher["test_macro_f1"],
            "student_f1": student["test_macro_f1"],
            "speedup": round(student["texts_per_s"] / max(teacher["texts_per_s"], 1e-9), 1)}


def summarise(per_set: dict[str, dict]) -> dict:
    sets = {name: {k: result["best"][k] for k in ("teacher_f1", "student_f1", "speedup")}
            for name, result in per_set.items()}
    mean = {k: round(sum(s[k] for s in sets.values()) / len(sets), 4) for k in ("teacher_f1", "student_f1", "speedup")}
    goal = mean["student_f1"] >= 0.97 * mean["teacher_f1"] and mean["speedup"] >= 20
    return {"sets": sets, "mean": mean, "student_share_of_teacher_f1": round(mean["student_f1"] / mean["teacher_f1"], 4),
            "goal_met": goal, "goal": ">= 97% of the teacher's macro-F1 at >= 20x its texts/s, mean over sets"}


def docs_table(per_set: dict[str, dict], summary: dict) -> str:
    """The docs table (docs/distillation.md): the better teacher and its best student per set."""
    rows = [[name, r["best"]["teacher"], f"{r['best']['teacher_f1']:.3f}", r["best"]["student"].split("<-")[0],
             f"{r['best']['student_f1']:.3f}", f"{r['best']['speedup']:.1f}x"] for name, r in per_set.items()]
    mean = summary["mean"]
    rows.append(["mean", "", f"{mean['teacher_f1']:.3f}", "",
                 f"{mean['student_f1']:.3f} ({summary['student_share_of_teacher_f1']:.1%})", f"{mean['speedup']:.1f}x"])
    return markdown_table(["set", "teacher", "teacher macro-F1", "best student", "student macro-F1",
                           "student texts/s over teacher's"], rows)


@register
class Distill(Benchmark):
    name = "distill"
    summary = "teacher (MiniLM, auto) vs bag / TF-IDF students distilled over the unlabelled rest: F1, texts/s"
    sizes = {mode: {k: v for k, v in size.items() if k != "speed"} for mode, size in SIZES.items()}

    def run(self) -> dict:
        size = SIZES[self.proto.mode]
        if self.proto.mode == "full":
            print(f"bench distill: expected ~{sum(FULL_ESTIMATE_S[s] for s in size['sets']) / 60:.0f} minutes "
                  "on 2 idle cores", flush=True)
        per_set = {}
        with tempfile.TemporaryDirectory(prefix="textclf-distill-") as work:
            for name in size["sets"]:
                per_set[name] = run_set(name, size, Path(work) / name)
                print(f"bench distill: {name}: {per_set[name]['best']}", flush=True)
        summary = summarise(per_set)
        return {"per_set": per_set, "summary": summary, "table": docs_table(per_set, summary)}
