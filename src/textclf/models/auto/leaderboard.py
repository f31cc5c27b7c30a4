"""What `model.type: auto` reports: the leaderboard's rows and their order, the table printed at
the end of a search, and the `leaderboard.json` document (`leaderboard_json`, its one shape)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from .search import Family, describe

LEADERBOARD_FILE = "leaderboard.json"
METRIC_NAMES = {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "accuracy": "accuracy"}
SHOWN_ROWS = 15  # rows printed; the file has them all


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def trial_row(trial) -> dict[str, Any]:
    """One trials.Trial's leaderboard row (`leaderboard.json` keeps every row in this shape)."""
    row = {"candidate": trial.family.name, "type": trial.family.type, "trial": trial.index,
           "settings": jsonable(trial.params if trial.family.fixed is None else trial.family.fixed),
           "score": None if trial.score is None or trial.status != "complete" else round(trial.score, 6),
           "interval": trial.interval,
           "fit_seconds": round(trial.fit_seconds, 3), "status": trial.status}
    if trial.fold_scores:
        row["fold_scores"] = [round(s, 6) for s in trial.fold_scores]
    if trial.repeat_scores and trial.status == "complete":  # `score` is their mean
        row["repeats"] = len(trial.repeat_scores)
        row["repeat_scores"] = [round(s, 6) for s in trial.repeat_scores]
        row["spread"] = None if trial.spread is None else round(trial.spread, 6)
        row["std_error"] = None if trial.std_error is None else round(trial.std_error, 6)
    if trial.coarse:  # not on the search's own folds: its k-fold repeat did not fit
        row["scored_on"] = f"{trial.folds_per_repeat}-fold cv"
        if trial.coarse_score is not None:
            row["two_fold_score"] = round(trial.coarse_score, 6)
        if trial.compared_with is not None:  # `score`: the leader's k-fold score + their paired difference
            row["compared_with"] = {"trial": trial.compared_with[0], "two_fold_score": round(trial.compared_with[1], 6)}
    if trial.cap_seconds is not None:
        row["time_cap"] = round(trial.cap_seconds, 1)
    if trial.epochs_cut:
        row["epochs"] = {"planned": trial.epochs_cut[0], "used": trial.epochs_cut[1]}
    if trial.error:
        row["error"] = trial.error
    return row


def progress_line(trial, max_trials: int, score_name: str, metric: str, seconds_left: float,
                  repeats: int = 1) -> str:
    """The line a finished (or skipped, pruned, stopped) trial prints; a complete trial that ran
    less than the protocol (`repeats` cv repeats, its planned epochs, its k folds) says so."""
    head = f"[{trial.index}/{max_trials}] {trial.family.label}"
    settings = describe(trial.params) if trial.family.fixed is None else ""
    if settings:
        head += f" {settings}"
    if trial.status == "complete":
        body = f"{score_name} {trial.score:.3f}"
        fewer = [f"{trial.folds_per_repeat}-fold cv, moved to this scale"] if trial.coarse else []
        if trial.repeat_scores and len(trial.repeat_scores) < repeats and not trial.coarse:
            fewer.append(f"{len(trial.repeat_scores)} repeat{'s' if len(trial.repeat_scores) > 1 else ''}")
        if trial.epochs_cut:
            fewer.append(f"{trial.epochs_cut[1]} of {trial.epochs_cut[0]} epochs")
        body += f" [{', '.join(fewer)}]" if fewer else ""
    elif trial.status == "pruned":
        body = f"pruned after fold {len(trial.fold_scores)} ({METRIC_NAMES[metric]} {trial.score:.3f})"
    else:
        body = trial.status + (f" ({trial.error})" if trial.error else "")
    return f"{head}: {body} ({trial.fit_seconds:.1f} s, {max(seconds_left, 0):.0f} s left)"


def unavailable_row(family: Family) -> dict[str, Any]:
    """The row of a candidate whose model type is not registered: it never runs."""
    return {"candidate": family.name, "type": family.type, "settings": {}, "score": None, "interval": None,
            "fit_seconds": 0.0, "status": f"skipped: model type {family.type!r} is not available"}


def leaderboard_rows(trial_rows: list[dict], chosen: list[int], mix_rows: list[dict],
                     refit_seconds: float, skipped_rows: list[dict], notes: dict[int, str] | None = None
                     ) -> list[dict]:
    """Every row, the chosen one(s) marked `selected`: scored rows best first, then pruned, then
    the rest; candidates that never ran last. `chosen`: the trial numbers of the choice (several
    when it is an ensemble); `mix_rows`: the ensembles tried (at most one has status "kept");
    `notes`: trial number -> why the choice passed over the best score or took a cheaper
    candidate (row key `why`)."""
    rows = list(trial_rows)
    for row in rows:
        row["selected"] = len(chosen) == 1 and row["trial"] in set(chosen)
        if notes and row["trial"] in notes:
            row["why"] = notes[row["trial"]]
    for mix_row in mix_rows:
        kept = len(chosen) > 1 and mix_row["status"] == "kept"
        mix_row["selected"] = kept
        mix_row["fit_seconds"] = round(refit_seconds, 3) if kept else 0.0
        rows.append(mix_row)
    rows.sort(key=lambda r: (0 if r["score"] is not None else 1 if r["status"] == "pruned" else 2,
                             -(r["score"] or 0.0)))
    return rows + skipped_rows


def leaderboard_json(summary: dict | None) -> dict | None:
    """The one shape of `leaderboard.json`, from the summary `auto`'s fit returns: the summary's
    keys (protocol, metric, budget, selected, ...) with its rows under `candidates`, best first.
    None when the summary has no leaderboard (every model type but `auto`)."""
    if not summary or not summary.get("leaderboard"):
        return None
    document = {k: v for k, v in summary.items() if k != "leaderboard"}
    document["candidates"] = summary["leaderboard"]
    return document


def print_leaderboard(rows: list[dict], protocol: str, metric: str, elapsed: float, budget: float,
                      out: TextIO) -> None:
    print(f"textclf: auto leaderboard ({protocol}, {METRIC_NAMES[metric]}; "
          f"{elapsed:.0f} s of {budget:.0f} s):", file=out)
    for rank, row in enumerate(rows[:SHOWN_ROWS], 1):
        score_text = "-" if row["score"] is None else f"{row['score']:.4f}"
        if row.get("spread") is not None:  # mean over cv repeats +- the per-fold standard deviation
            score_text += f" ±{row['spread']:.3f} x{row.get('repeats', 1)}"
        if row.get("scored_on"):  # not the search's own folds
            score_text += f" ({row['scored_on']})"
        interval = row.get("interval")
        interval_text = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""
        mark = "*" if row.get("selected") else " "
        settings = row["settings"]
        settings_text = describe(settings) if row["candidate"] != "ensemble" else (
            " + ".join(f"{w:g}x{m}" for m, w in zip(settings["members"], settings["weights"])))
        print(f"  {mark}{rank:>2} {row['candidate']:<12} {score_text:>17} {interval_text:<17} "
              f"{row['fit_seconds']:>7.1f} s  {row['status']:<10} {settings_text}", file=out)
    if len(rows) > SHOWN_ROWS:
        print(f"     ... {len(rows) - SHOWN_ROWS} more in {LEADERBOARD_FILE}", file=out)
    out.flush()
