"""The small-data benchmark end to end on one tiny cut: the results JSON's shape, and a rerun that
takes finished (set, seed, system) runs from the partial-results file instead of fitting again."""

import json

import pytest

from bench.benchmarks import small_data
from bench.protocol import Protocol


def tiny_run(tmp_path):
    proto = Protocol("small_data", mode="smoke", results=tmp_path)
    bench = small_data.SmallData(proto)
    # debates reads one small file of a bundled package; TF-IDF systems only, so it takes seconds
    bench.size.sets, bench.size.train_rows, bench.size.test_rows = ["debates"], 60, 40
    bench.size.systems = ["auto", "candidate:tfidf_word", "sklearn"]
    bench.size.candidates, bench.size.time_budget = ["tfidf_word"], 2.0
    return proto, bench


def finished_tiny_run(tmp_path):
    """A complete tiny run: its protocol, benchmark, results path and results document."""
    from bench import small_data_sets
    from textclf.errors import DataError

    try:
        small_data_sets.load("debates")
    except DataError as err:
        pytest.skip(str(err))
    proto, bench = tiny_run(tmp_path)
    payload = bench.run()
    path = proto.finish({k: v for k, v in payload.items() if k != "table"}, payload["table"])
    return proto, bench, path, json.loads(path.read_text())


def test_smoke_run_writes_the_summary_and_resumes(tmp_path):
    proto, bench, path, document = finished_tiny_run(tmp_path)
    assert path.name == "small_data.smoke.json"
    summary = document["summary"]
    assert set(summary["sets"]["debates"]) == {"auto", "candidate:tfidf_word", "sklearn"}
    assert all(0.0 <= v <= 1.0 for v in summary["mean"].values())
    assert summary["auto_choice"]["debates"] == ["tfidf"]
    assert set(summary["fit_seconds"]) == {"auto", "candidate:tfidf_word", "sklearn"}
    goals = summary["goals"]
    assert goals["auto_vs_peers"]["peers"] == ["sklearn"]
    assert isinstance(goals["auto_vs_best_candidate"]["passed"], bool)
    assert document["budgets"]["auto_time_budget_s"] == 2.0
    assert document["data_sets"]["debates"]["smallest_share"] < 0.10
    assert "load_average" in document and "environment" in document and "publishable" in document
    # Records of a run over several sittings may come from several commits: each names its own.
    assert {r["commit"] for r in document["runs"]} == {document["environment"]["git_commit"]}
    partial = small_data.partial_path(tmp_path, "smoke")
    assert not partial.exists()  # a complete run leaves no partial file

    # An interrupted run left two finished records: a rerun takes them and fits only the third.
    runs = {r["system"]: r for r in document["runs"]}
    for system in ("auto", "sklearn"):
        fingerprint = small_data.run_fingerprint(vars(bench.size), system)
        small_data.append_partial(partial, {**runs[system], "fingerprint": fingerprint, "macro_f1": 0.5})
    proto, bench = tiny_run(tmp_path)
    again = bench.run()["summary"]["sets"]["debates"]
    assert again["auto"] == again["sklearn"] == 0.5
    assert again["candidate:tfidf_word"] == summary["sets"]["debates"]["candidate:tfidf_word"]

    # A longer auto budget makes auto's record stale, not the peers' (their settings did not change).
    small_data.append_partial(partial, {**runs["auto"], "fingerprint": small_data.run_fingerprint(
        vars(bench.size), "auto"), "macro_f1": 0.5})
    small_data.append_partial(partial, {**runs["sklearn"], "fingerprint": small_data.run_fingerprint(
        vars(bench.size), "sklearn"), "macro_f1": 0.5})
    longer = dict(vars(bench.size), time_budget=4.0)
    done = small_data.read_partial(partial, longer)
    assert set(done) == {("debates", 0, "sklearn")}


def test_more_seeds_are_asked_by_environment_and_a_bad_list_stops_in_one_line(monkeypatch):
    monkeypatch.delenv(small_data.SEEDS_ENV, raising=False)
    assert small_data.seeds_wanted([0]) == [0]
    monkeypatch.setenv(small_data.SEEDS_ENV, "0, 1,2")
    assert small_data.seeds_wanted([0]) == [0, 1, 2]
    monkeypatch.setenv(small_data.SEEDS_ENV, "0,one")
    with pytest.raises(SystemExit) as stop:
        small_data.seeds_wanted([0])
    assert small_data.SEEDS_ENV in str(stop.value) and "\n" not in str(stop.value)


def test_a_later_run_takes_finished_runs_from_the_published_results_when_their_settings_match(tmp_path):
    _, _, path, document = finished_tiny_run(tmp_path)
    for run in document["runs"]:
        run["macro_f1"] = 0.25  # a value no fit gives: it shows which records were reused
    path.write_text(json.dumps(document))

    proto, bench = tiny_run(tmp_path)
    assert set(bench.run()["summary"]["sets"]["debates"].values()) == {0.25}  # nothing fitted again

    proto, bench = tiny_run(tmp_path)
    bench.size.time_budget = 3.0  # auto's settings changed: auto alone runs again
    again = bench.run()["summary"]["sets"]["debates"]
    assert again["sklearn"] == again["candidate:tfidf_word"] == 0.25 and again["auto"] != 0.25


def test_another_modes_results_lend_the_runs_whose_settings_match(tmp_path):
    """The full protocol takes from the quick one's JSON the systems both run alike; a system whose
    settings differ (here auto's budget) is fitted again."""
    _, _, path, document = finished_tiny_run(tmp_path)
    for run in document["runs"]:
        run["macro_f1"] = 0.25
    path.unlink()
    (tmp_path / "small_data.quick.json").write_text(json.dumps(document))

    proto, bench = tiny_run(tmp_path)
    bench.size.time_budget = 3.0
    again = bench.run()["summary"]["sets"]["debates"]
    assert again["sklearn"] == again["candidate:tfidf_word"] == 0.25 and again["auto"] != 0.25


def test_autos_fingerprint_names_the_candidates_its_defaults_resolve_to():
    sizes = {"train_rows": None, "test_rows": None, "time_budget": 600.0, "candidates": None}
    named = dict(sizes, candidates=small_data.candidate_names(None))
    assert small_data.run_fingerprint(sizes, "auto") == small_data.run_fingerprint(named, "auto")
    assert small_data.run_fingerprint(dict(sizes, candidates=["tfidf_word"]), "auto") != \
        small_data.run_fingerprint(sizes, "auto")


def test_a_sitting_may_leave_a_system_for_later_and_writes_no_results(tmp_path, monkeypatch):
    from bench import small_data_sets
    from bench.protocol import SittingOver
    from textclf.errors import DataError

    try:
        small_data_sets.load("debates")
    except DataError as err:
        pytest.skip(str(err))
    monkeypatch.setenv(small_data.LATER_ENV, "auto")
    proto, bench = tiny_run(tmp_path)
    with pytest.raises(SittingOver, match="1 run of auto left for a later sitting"):
        bench.run()
    partial = small_data.partial_path(tmp_path, "smoke")
    finished = [json.loads(line)["system"] for line in partial.read_text().splitlines()]
    assert finished == ["candidate:tfidf_word", "sklearn"]  # auto never ran
    assert not list(tmp_path.glob("small_data*.json"))
    monkeypatch.setenv(small_data.LATER_ENV, "autoo")
    with pytest.raises(SystemExit, match="autoo is not a system of this run"):
        tiny_run(tmp_path)[1].run()
    monkeypatch.delenv(small_data.LATER_ENV)  # the next sitting fits auto alone and writes the summary
    proto, bench = tiny_run(tmp_path)
    payload = bench.run()
    assert set(payload["summary"]["sets"]["debates"]) == {"auto", "candidate:tfidf_word", "sklearn"}
    assert [r["system"] for r in payload["runs"] if "wall_seconds" in r] == ["auto"]

def test_autos_fingerprint_changes_with_its_search_revision(monkeypatch):
    import textclf.models.auto as auto

    sizes = {"train_rows": None, "test_rows": None, "time_budget": 600.0, "candidates": ["tfidf_word"]}
    now = small_data.run_fingerprint(sizes, "auto")
    assert json.loads(now)["sizes"]["search_revision"] == auto.SEARCH_REVISION
    monkeypatch.setattr(auto, "SEARCH_REVISION", 1)  # the first revision's records carry no key
    assert "search_revision" not in json.loads(small_data.run_fingerprint(sizes, "auto"))["sizes"]
    assert small_data.run_fingerprint(sizes, "auto") != now
    assert small_data.run_fingerprint(sizes, "candidate:tfidf_word") == \
        small_data.run_fingerprint(dict(sizes, candidates=None), "candidate:tfidf_word")
