"""The label-efficiency benchmark's arithmetic: the schedule and the seed-by-seed comparison."""

from bench.benchmarks.active_learning import paired_difference, schedule, summarise


def _seed(textclf: int, random: int, least: int) -> dict:
    runs = {"textclf": textclf, "random": random, "small_text:LeastConfidence": least}
    return {"runs": {name: {"labels": n, "censored": False} for name, n in runs.items()}}


def test_schedule_grows_by_a_tenth_once_the_batch_is_smaller():
    assert schedule(20, 20, 300) == [20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 220, 242, 266, 292, 300]


def test_paired_difference_is_the_mean_of_per_seed_differences_with_an_interval_around_it():
    seeds = [_seed(100, 300, 90), _seed(120, 200, 130), _seed(80, 260, 50)]  # textclf - least: +10, -10, +30
    paired = paired_difference(seeds, "textclf", "small_text:LeastConfidence")
    assert paired["mean"] == 10.0 and paired["seeds"] == 3
    low, high = paired["interval95"]
    assert -10 <= low < 10 < high <= 30


def test_summary_names_the_best_peer_strategy_and_textclf_minus_each_peer():
    sets = summarise({"rt3": [_seed(100, 300, 90), _seed(120, 200, 130)]})["sets"]["rt3"]
    assert (sets["textclf"], sets["random"], sets["small_text"], sets["small_text_strategy"]) == (110, 250, 110, "LeastConfidence")
    assert sets["textclf_minus"]["random"]["mean"] == -140.0
    assert sets["textclf_minus"]["LeastConfidence"]["mean"] == 0.0
