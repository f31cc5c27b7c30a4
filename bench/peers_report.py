"""Turn per-(system, seed) runs into table rows, parity checks and markdown. Pure functions on dicts."""

from __future__ import annotations

import statistics

METRICS = ("accuracy", "macro_f1", "ece", "train_seconds", "rows_per_second", "peak_rss_mb")

TFIDF_TOLERANCE = 0.005  # accuracy: the same estimator twice must agree to half a point
FINETUNE_TOLERANCE = 0.02  # macro-F1: same encoder, data, optimisation; different head init and data order


def summarise(values: list[float]) -> dict:
    """Mean and sample standard deviation (ddof 1; 0 for a single seed)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def build_rows(systems: list[dict], runs: list[dict]) -> list[dict]:
    """One row per system: metric mean/std over its successful seeds, or why it has no numbers."""
    rows = []
    for system in systems:
        mine = [r for r in runs if r["system"] == system["system"]]
        ok = [r for r in mine if r["status"] == "ok"]
        row = {**system, "seeds": [r["seed"] for r in ok], "notes": list(system.get("notes", []))}
        if system["status"] == "skipped":
            rows.append(row)
            continue
        failed = [r for r in mine if r["status"] != "ok"]
        for r in failed:
            row["notes"].append(f"seed {r['seed']} {r['status']}: {r.get('error', '')}")
        if not ok:
            row["status"] = "failed"
            rows.append(row)
            continue
        row["status"] = "ok"
        row["n_train"], row["n_test"] = ok[0]["n_train"], ok[0]["n_test"]
        for metric in METRICS:
            row[metric] = summarise([float(r[metric]) for r in ok])
        for note in ok[0].get("notes", []):
            if note not in row["notes"]:
                row["notes"].append(note)
        row["settings"] = ok[0].get("settings", {})
        rows.append(row)
    return rows


def _parity(name: str, rows: dict[str, dict], a: str | None, b: str, metric: str, tolerance: float,
            what: str) -> dict:
    check = {"check": name, "what": what, "a": a, "b": b, "metric": metric, "tolerance": tolerance}
    missing = [s for s in (a, b) if s is None or rows.get(s, {}).get("status") != "ok"]
    if missing:
        check.update(passed=None, note=f"not checked: {', '.join(str(m) for m in missing)} did not run")
        return check
    va, vb = rows[a][metric]["mean"], rows[b][metric]["mean"]
    check.update(a_value=va, b_value=vb, difference=va - vb, passed=abs(va - vb) <= tolerance)
    return check


def parity_checks(rows: list[dict], tfidf_system: str | None, finetune_system: str | None) -> list[dict]:
    by_name = {r["system"]: r for r in rows}
    tfidf = _parity("tfidf_vs_sklearn", by_name, tfidf_system, "sklearn", "accuracy", TFIDF_TOLERANCE,
                    "textclf TF-IDF baseline vs the same TF-IDF + LogisticRegression written directly in scikit-learn")
    finetune = _parity("finetune_vs_hf_trainer", by_name, finetune_system, "hf_trainer", "macro_f1",
                       FINETUNE_TOLERANCE, "textclf MiniLM fine-tune vs HF Trainer on the same MiniLM: same rows, "
                                           "epochs, batch size, max length, frozen layers, one learning rate for "
                                           "all parameters, warmup, linear schedule, weight decay, clipping; "
                                           "CLS pooling, no class weights, shuffled batches on both sides")
    return [tfidf, finetune]


def format_check(check: dict) -> str:
    if check["passed"] is None:
        return f"parity {check['check']}: {check['note']}"
    verdict = "PASS" if check["passed"] else "FAIL"
    return (f"parity {check['check']}: {check['metric']} {check['a_value']:.4f} vs {check['b_value']:.4f} "
            f"(difference {100 * check['difference']:+.2f} points, tolerance {100 * check['tolerance']:.1f}) "
            f"{verdict}")


def _cell(row: dict, metric: str, fmt: str) -> str:
    if row["status"] != "ok":
        return "–"
    value = row[metric]
    text = format(value["mean"], fmt)
    return f"{text} ± {format(value['std'], fmt)}" if len(value["values"]) > 1 else text


def markdown_table(rows: list[dict]) -> str:
    head = ("| system | accuracy | macro-F1 | ECE | train s | infer rows/s | peak RSS MB | train rows | notes |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    lines = [head]
    for row in rows:
        notes = "; ".join(row["notes"]) if row["status"] == "ok" else f"**{row['status']}**: " + "; ".join(row["notes"])
        cells = [row["label"], _cell(row, "accuracy", ".3f"), _cell(row, "macro_f1", ".3f"), _cell(row, "ece", ".3f"),
                 _cell(row, "train_seconds", ".1f"), _cell(row, "rows_per_second", ",.0f"),
                 _cell(row, "peak_rss_mb", ",.0f"), str(row.get("n_train", "–")), notes.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(result: dict) -> str:
    seeds = result["seeds"]
    lines = [
        f"# Peer benchmark ({result['mode']} mode)",
        "",
        f"Bundled rotten-tomatoes, {result['split']['classes']} classes; split of configs/default.yaml "
        f"(stratified, split seed 0): train {result['split']['train']}, validation {result['split']['validation']}, "
        f"test {result['split']['test']}. Every row is scored on the same full test split. "
        + (f"Mean ± std over seeds {', '.join(map(str, seeds))}." if len(seeds) > 1 else f"One seed ({seeds[0]}).")
        + f" Run: {result['created']}.",
        "",
        markdown_table(result["rows"]),
        "",
    ]
    lines += [f"- {format_check(c)}" for c in result["parity"]]
    lines += ["", COLUMNS, "", reductions(result["plan"]), ""]
    loads = result.get("load_average")
    if loads:
        lines.append(f"Load average (1 min) at start / end: {loads[0][0]:.1f} / {loads[-1][0]:.1f}: on a shared "
                     "machine the time columns are comparable within this run only.")
    if result.get("limit"):
        lines.append(f"SMOKE RUN ({result['limit']} rows per split): numbers are meaningless.")
    return "\n".join(lines) + "\n"


COLUMNS = """Columns: **accuracy** and **macro-F1** (unweighted mean of per-class F1) on the test split;
**ECE**, expected calibration error of the top-class probability (15 equal-width bins; lower is
better); **train s**, wall seconds of the training call (model loading, tokenization and, where
the config early-stops, validation included; fastText's grid search is reported in its note);
**infer rows/s**, test rows divided by the wall seconds of one call that returns probabilities for
the whole test split; **peak RSS MB**, the peak resident memory of the worker process that loaded the
data, trained and predicted (imports included: importing torch alone takes ~220 MB); **train rows**, rows the
model was trained on."""


def reductions(plan: dict) -> str:
    def text(r: dict) -> str:
        parts = [f"{r['train_rows']} training rows" if r.get("train_rows") else "",
                 f"at most {r['epochs']} epoch(s)" if r.get("epochs") else "",
                 f"max_length {r['max_length']}" if r.get("max_length") else "",
                 f"batch size {r['batch_size']}" if r.get("batch_size") else ""]
        return ", ".join(p for p in parts if p) or "nothing"

    setfit = f"; {plan['setfit_applies_to']}: {text(plan['setfit'])}" if "setfit" in plan else ""
    return (f"Reduced in this mode: {plan['neural_applies_to']}: {text(plan['neural'])}; "
            f"{plan['pretrained_applies_to']}: {text(plan['pretrained'])}{setfit}. The TF-IDF, scikit-learn and "
            "fastText rows always train on the full training split.")
