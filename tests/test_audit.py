"""The audit finds each kind of planted leakage in small real data, and nothing on a clean split."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from textclf.audit import AuditOptions, audit, audit_dict, audit_html, failed_checks, format_summary, honest_split, warnings
from textclf.audit.duplicates import exact_duplicates, near_duplicates
from textclf.audit.normalize import normalize_text, shingles
from textclf.audit.shortcuts import label_variants, shortcut_tokens
from textclf.audit.stats import resolve_tokenizer, split_stats
from textclf.data import Examples
from textclf.data.splits import split_examples
from textclf.errors import ConfigError

QUICK = AuditOptions(label_noise=False, stats=False)


def with_rows(examples: Examples, texts: list[str], labels: list, **columns) -> Examples:
    """`examples` plus extra rows (rows numbered after the existing ones)."""
    start = max(examples.rows) + 1
    extra = {name: (list(getattr(examples, name)) + values) for name, values in columns.items()}
    return dataclasses.replace(
        examples, texts=examples.texts + texts, labels=examples.labels + labels,
        rows=examples.rows + list(range(start, start + len(texts))), **extra,
    )


@pytest.fixture(scope="module")
def clean(rt_small):
    """A group split of 600 real reviews: no movie on two sides, no duplicate texts."""
    return split_examples(rt_small, "group", 0.1, 0.2, seed=0)


def test_normalisation_ignores_case_space_punctuation_and_entities():
    assert normalize_text("  A  Tender,&nbsp;FUNNY film!! ") == "a tender funny film"
    assert normalize_text("Rock &amp; roll") == normalize_text("rock roll")
    assert shingles("one two three four", "word", 3) == {"one two three", "two three four"}
    assert shingles("Hi!", "char", 5) == {"hi"}


def test_clean_split_has_no_findings(clean):
    result = audit(clean, QUICK)
    problems = result.problems()
    for check in ("duplicates", "within_duplicates", "conflicts", "near_duplicates", "group", "artifacts"):
        assert problems[check] == 0, (check, format_summary(result))
    assert failed_checks(result, ["duplicates", "near_duplicates", "group", "artifacts"]) == []


def test_exact_duplicates_across_splits_and_conflicting_labels(clean):
    train, test = clean.train, clean.test
    # a copy that differs only in case, spacing, punctuation and an HTML entity
    source = train.texts[3]
    disguised = "  " + source.upper().replace(" ", "   ").replace("'", "&#39;") + " !!"
    flipped = "rotten" if train.labels[5] != "rotten" else "fresh"
    leaky_test = with_rows(test, [disguised, train.texts[5]], [train.labels[3], flipped],
                           groups=["g-new-1", "g-new-2"])
    result = exact_duplicates({"train": train, "test": leaky_test})
    assert result.leaked_rows == {"test": 2}
    pairs = {(g.members[0].index, g.members[1].index) for g in result.cross_split}
    assert pairs == {(3, len(test)), (5, len(test) + 1)}
    assert len(result.conflicts) == 1
    assert result.conflicts[0].labels == sorted([train.labels[5], flipped])


def test_near_duplicates_found_with_exact_jaccard(clean):
    train, test = clean.train, clean.test
    long_rows = [i for i, t in enumerate(train.texts) if len(t.split()) >= 40]
    source = train.texts[long_rows[0]]
    words = source.split()
    edited = " ".join(words[:10] + words[11:])  # one word deleted
    leaky_test = with_rows(test, [edited], [train.labels[long_rows[0]]], groups=["g-near"])
    found = near_duplicates({"train": train, "test": leaky_test}, threshold=0.7)
    assert len(found.pairs) == 1
    pair = found.pairs[0]
    assert (pair.a.split, pair.a.index, pair.b.split, pair.b.index) == ("train", long_rows[0], "test", len(test))
    a, b = shingles(source), shingles(edited)
    assert pair.jaccard == pytest.approx(len(a & b) / len(a | b), abs=1e-4)
    assert abs(pair.estimate - pair.jaccard) < 0.15  # MinHash estimate close to the truth
    # the same pair is not reported when the threshold is above its similarity
    assert near_duplicates({"train": train, "test": leaky_test}, threshold=0.99).pairs == []


def test_group_leakage_of_a_random_split(rt_small):
    leaky = audit(split_examples(rt_small, "random", 0.1, 0.2, seed=0), QUICK)
    assert leaky.group is not None and len(leaky.group.leaked) > 0
    movies = {g.group for g in leaky.group.leaked}
    groups_by_split = {name: set(part.groups) for name, part in
                       (("train", leaky_split(rt_small).train), ("test", leaky_split(rt_small).test))}
    assert movies >= groups_by_split["train"] & groups_by_split["test"]
    assert "group" in failed_checks(leaky, ["group"])


def leaky_split(examples):
    return split_examples(examples, "random", 0.1, 0.2, seed=0)


def test_time_leakage_and_time_split(rt_small):
    days = np.datetime64("2020-01-01") + np.arange(len(rt_small)).astype("timedelta64[D]")
    dated = dataclasses.replace(rt_small, times=days)
    leaky = audit(split_examples(dated, "random", 0.1, 0.2, seed=0), QUICK)
    assert leaky.time is not None
    assert leaky.time.early["test"] > 100 and "time" in leaky.time.suggestion
    honest = audit(split_examples(dated, "time", 0.1, 0.2, seed=0), QUICK)
    assert honest.time.early == {"validation": 0, "test": 0}


def test_label_name_artifact(clean):
    train = clean.train
    planted = [f"{t} Rotten." if label == "rotten" and i % 3 == 0 else t
               for i, (t, label) in enumerate(zip(train.texts, train.labels))]
    result = audit({"train": dataclasses.replace(train, texts=planted), "test": clean.test}, QUICK)
    flagged = [(a.label, a.variant) for a in result.artifacts if a.flagged]
    assert flagged == [("rotten", "rotten")]
    assert "rotten" in label_variants("Rotten") and "rottens" in label_variants("rotten")
    assert {"sci fi", "scifi", "sci fis", "scifis"} <= set(label_variants("Sci_Fi"))


def test_shortcut_token(rt_binary):
    splits = split_examples(rt_binary, "stratified", 0.0, 0.2, seed=0)
    train = splits.train
    assert shortcut_tokens(train) == []  # fresh vs rotten has no token that gives the label away
    planted = [f"{t} zqxv" if label == "fresh" and i % 4 == 0 else t
               for i, (t, label) in enumerate(zip(train.texts, train.labels))]
    found = shortcut_tokens(dataclasses.replace(train, texts=planted))
    assert [(s.token, s.label, s.precision) for s in found] == [("zqxv", "fresh", 1.0)]
    assert found[0].support == sum(1 for t in planted if t.endswith("zqxv"))
    assert all(planted[ref.index].endswith("zqxv") for ref in found[0].examples)


def test_stats_class_balance_length_and_truncation():
    examples = Examples.from_lists(["a b c", "a b c d e f", "x"], ["p", "q", "p"])
    name, count = resolve_tokenizer(None)
    stats = split_stats(examples, count, max_length=4)
    assert name == "whitespace"
    assert stats.class_counts == {"p": 2, "q": 1}
    assert (stats.length.max, stats.length.median, stats.length.truncated) == (6, 3.0, round(1 / 3, 4))


def test_minilm_tokenizer_counts_special_tokens():
    name, count = resolve_tokenizer("minilm")
    assert count(["hello world"]).tolist() == [4]  # [CLS] hello world [SEP]
    with pytest.raises(ConfigError):
        resolve_tokenizer("/no/such/tokenizer")


def test_honest_split_removes_cross_split_duplicates(rt_small):
    doubled = with_rows(rt_small, rt_small.texts[:40], rt_small.labels[:40], groups=rt_small.groups[:40])
    assert audit(split_examples(doubled, "stratified", 0.1, 0.2, 0), QUICK).problems()["duplicates"] > 0
    result = honest_split(doubled, "stratified", 0.1, 0.2, seed=0)
    assert sum(result.removed.values()) > 0
    after = audit(result.splits, QUICK).problems()
    assert after["duplicates"] == 0 and after["near_duplicates"] == 0


def test_report_json_and_html(clean):
    result = audit(split_examples(clean.train, "random", 0.2, 0.2, seed=0), AuditOptions(label_noise=False))
    data = json.loads(json.dumps(dataclasses.asdict(result)))
    assert data["sizes"]["train"] == len(clean.train) - data["sizes"]["validation"] - data["sizes"]["test"]
    fragment = audit_html(result)
    assert fragment.startswith('<section class="textclf-audit">') and fragment.endswith("</section>")
    assert "<html" not in fragment and "Leaked groups" in fragment
    with pytest.raises(ConfigError, match="unknown audit check"):
        failed_checks(result, ["duplicate"])


@pytest.fixture(scope="module")
def kaomoji_slice():
    from textclf.data.bundled import load_bundled

    return load_bundled("kaomoji").subset(range(1500))


def test_multi_label_audit_runs_every_check(kaomoji_slice):
    splits = split_examples(kaomoji_slice, "random", 0.1, 0.2, seed=0)
    train = splits.train
    extra = {"ids": ["copy-1", "copy-2"]} if train.ids is not None else {}
    copied = with_rows(train, train.texts[:2], [("zz-only-here",), train.labels[1]], **extra)
    result = audit({"train": splits.train, "validation": splits.validation, "test": copied},
                   AuditOptions(noise_folds=3, shortcut_min_count=5))
    problems = result.problems()
    assert {"duplicates", "conflicts", "near_duplicates", "artifacts", "shortcuts"} <= set(problems)
    assert problems["conflicts"] >= 1  # the same text under two label sets
    conflict = next(g for g in result.duplicates.conflicts if ["zz-only-here"] in g.labels)
    assert all(isinstance(label, list) for label in conflict.labels)
    assert result.unseen_labels["test"] == ["zz-only-here"]
    assert result.label_noise.skipped and result.stats["train"].class_counts
    json.dumps(audit_dict(result))
    assert "training never sees: zz-only-here" in format_summary(result) + "".join(warnings(result))


def test_train_audit_samples_large_data_and_says_so(rt_small, monkeypatch):
    import io

    from textclf.audit import core
    from textclf.data.splits import Splits

    monkeypatch.setattr(core, "TRAIN_AUDIT_ROWS", 300)
    splits = split_examples(rt_small, "stratified", 0.1, 0.2, seed=0)
    leaky = dataclasses.replace(splits.test, texts=splits.train.texts[:40] + splits.test.texts[40:])
    log = io.StringIO()
    summary = core.train_audit(Splits(splits.train, splits.validation, leaky), log=log)
    assert summary["sample"] == {"rows": 600, "audited": 300, "seed": 0}
    assert sum(summary["sizes"].values()) == 300
    assert "audited a seeded random sample of 300" in log.getvalue()
    assert any("sample" in note for note in summary["notes"])
    assert 0 < summary["problems"]["duplicates"] < 40  # the sample sees some of the leaked rows
    again = core.train_audit(Splits(splits.train, splits.validation, leaky))
    assert again["problems"] == summary["problems"]  # seeded: the same sample every time


def test_shortcut_chi2_is_the_2x2_statistic_not_sklearns(rt_binary):
    """sklearn's chi2 counts only the token-present cells: it equals the 2x2 statistic times
    (n - support) / n, so it ranks tokens of different support differently; we keep the 2x2 one."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.feature_selection import chi2

    texts, labels = rt_binary.texts[:400], np.array([label == "fresh" for label in rt_binary.labels[:400]])
    presence = CountVectorizer(binary=True, min_df=5).fit_transform(texts)
    n, support = len(texts), np.asarray(presence.sum(axis=0)).ravel().astype(float)
    a = np.asarray(presence[labels].sum(axis=0)).ravel().astype(float)
    b, c = support - a, labels.sum() - a
    d = n - a - b - c
    two_by_two = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    sklearn_scores, _ = chi2(presence, labels)
    np.testing.assert_allclose(sklearn_scores, two_by_two * (n - support) / n, rtol=1e-6)
    assert not np.array_equal(np.argsort(-sklearn_scores, kind="stable"), np.argsort(-two_by_two, kind="stable"))
