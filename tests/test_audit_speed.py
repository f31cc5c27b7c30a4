"""The audit inside its budget: near-duplicate recall on planted pairs at and above the threshold,
exact verification (no reported pair below it), and the label-noise check's sampling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from textclf.audit.duplicates import candidate_probability, lsh_bands, near_duplicates
from textclf.audit.label_noise import label_noise_suspects, out_of_fold_probabilities
from textclf.audit.normalize import shingles
from textclf.data import Examples

# (shingles per text m, words replaced at the end k): exact word-3-shingle Jaccard (m - k) / (m + k)
PLANTS = {0.8: (45, 5), 0.85: (37, 3), 0.9: (38, 2), 0.7778: (40, 5), 0.6: (32, 8)}


def planted(pairs_per_level: int = 150, seed: int = 0):
    """Train and test texts of unique words; pair i of a level shares all but its last k words."""
    rng = np.random.default_rng(seed)
    train, test, truth = [], [], {}
    counter = iter(range(10**9))

    def word():
        return f"w{next(counter)}x{int(rng.integers(0, 10**6))}"

    for level, (m, k) in PLANTS.items():
        for _ in range(pairs_per_level):
            words = [word() for _ in range(m + 2)]
            other = words[:-k] + [word() for _ in range(k)]
            truth[(len(train), len(test))] = level
            train.append(" ".join(words))
            test.append(" ".join(other))
    return Examples(texts=train), Examples(texts=test), truth


def test_planted_pairs_have_the_intended_jaccard():
    a, b, truth = planted(2)
    for (i, j), level in truth.items():
        sa, sb = shingles(a.texts[i]), shingles(b.texts[j])
        assert len(sa & sb) / len(sa | sb) == pytest.approx(level, abs=1e-3)


def test_bands_catch_pairs_at_the_threshold():
    for threshold in (0.5, 0.8, 0.9, 0.95):
        bands, rows = lsh_bands(threshold, 128)
        assert bands * rows <= 128 and candidate_probability(threshold, bands, rows) >= 0.99
    # the most rows per band that still does: one more row would fall below the recall goal
    bands, rows = lsh_bands(0.8, 128)
    assert candidate_probability(0.8, 128 // (rows + 1), rows + 1) < 0.99


def test_near_duplicate_recall_at_and_above_the_threshold_with_exact_verification():
    train, test, truth = planted()
    result = near_duplicates({"train": train, "test": test}, threshold=0.8)
    found = {(p.a.index, p.b.index): p.jaccard for p in result.pairs}
    for level in (0.8, 0.85, 0.9):
        wanted = [key for key, value in truth.items() if value == level]
        recall = np.mean([key in found for key in wanted])
        assert recall >= 0.95, (level, recall)
    # Exact verification: nothing below the threshold is reported, whatever the LSH proposed.
    assert all(j >= 0.8 for j in found.values())
    below = [key for key, value in truth.items() if value < 0.8]
    assert not any(key in found for key in below)
    assert result.candidates >= len(found)


def test_label_noise_samples_large_inputs_and_says_so(rt_small):
    rng = np.random.default_rng(0)
    labels = list(rt_small.labels)
    names = sorted(set(labels))
    flipped = rng.choice(len(labels), size=20, replace=False)
    for i in flipped:
        labels[i] = names[(names.index(labels[i]) + 1) % len(names)]
    noisy = dataclasses.replace(rt_small, labels=labels)
    full = label_noise_suspects({"train": noisy}, folds=3, top=600)
    sampled = label_noise_suspects({"train": noisy}, folds=3, top=600, max_rows=400, seed=1)
    assert "sample" not in full.method and "random sample of 400 of 600 rows" in sampled.method
    assert len(full.suspects) == 600 and len(sampled.suspects) == 400
    assert len({s.ref.index for s in sampled.suspects}) == 400
    # flipped rows rank low in label quality: most of them in the bottom fifth
    bottom = {s.ref.index for s in full.suspects[:120]}
    assert len(bottom & set(flipped.tolist())) >= 12


def test_out_of_fold_probabilities_are_distributions_from_other_folds(rt_small):
    names = sorted(set(rt_small.labels))
    targets = np.array([names.index(label) for label in rt_small.labels])
    probs = out_of_fold_probabilities(rt_small.texts, targets, folds=3)
    assert probs.shape == (600, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert 0.5 < (probs.argmax(axis=1) == targets).mean() < 0.99  # learned, but not memorised


def _brute_force_best(train: list[str], test: list[str], threshold: float, kind: str = "word") -> dict[int, float]:
    """Test row -> the highest exact Jaccard with a train row of another normalised text, if >= threshold."""
    from textclf.audit.normalize import normalize_text

    left, right = [shingles(t, kind) for t in train], [shingles(t, kind) for t in test]
    best = {}
    for j, b in enumerate(right):
        scores = [len(a & b) / len(a | b) for i, a in enumerate(left)
                  if a and b and normalize_text(train[i]) != normalize_text(test[j])]
        if scores and max(scores) >= threshold:
            best[j] = round(max(scores), 4)
    return best


@pytest.mark.parametrize("kind", ["word", "char"])
def test_near_duplicates_equal_the_exact_quadratic_answer(rt_small, kind):
    rng = np.random.default_rng(0)
    train, test = rt_small.texts[:250], []
    for text in train[:120]:  # light edits: one word replaced, or one dropped
        words = text.split()
        if len(words) > 8:
            words[int(rng.integers(len(words)))] = "zzq"
        test.append(" ".join(words[1:] if rng.random() < 0.3 else words))
    test += rt_small.texts[250:330] + [train[5]]  # unrelated rows, and one exact copy (not a near one)
    result = near_duplicates({"train": Examples(texts=train), "test": Examples(texts=test)}, threshold=0.7,
                             shingle=kind)
    truth = _brute_force_best(train, test, 0.7, kind)
    assert len(truth) >= 60
    assert {p.b.index: p.jaccard for p in result.pairs} == truth
    assert all(p.a.split == "train" and p.b.split == "test" for p in result.pairs)


def test_shingle_hashes_count_the_same_shingles_as_strings(rt_small):
    from textclf.audit.shingling import shingle_chunk

    texts = rt_small.texts[:200] + ["a b", "", "!!", "one two three"]
    for kind in ("word", "char"):
        chunk = shingle_chunk(texts, kind, 3)
        assert chunk.counts.tolist() == [len(shingles(t, kind)) for t in texts]


def test_templated_corpus_work_stays_linear():
    """Nearly every pair of these texts is a near copy: the buckets are huge, yet each row is
    compared with a bounded number of others, and each later row is reported once."""
    from textclf.audit.lsh import BUCKET_REPS

    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(["good", "bad", "film"], size=int(rng.integers(30, 40)))) for _ in range(3000)]
    train, test = Examples(texts=texts[:2400]), Examples(texts=texts[2400:])
    result = near_duplicates({"train": train, "test": test}, threshold=0.8, progress=False)
    bands, _ = lsh_bands(0.8, 128)
    assert result.candidates <= len(texts) * BUCKET_REPS * bands  # linear bound by construction
    assert result.candidates < 0.1 * len(train) * len(test)  # far from every cross pair (16 representatives: ~7%)
    assert 0.9 * len(test) <= len(result.pairs) <= len(test)  # nearly every test row, each once
    assert all(p.jaccard >= 0.8 for p in result.pairs)
