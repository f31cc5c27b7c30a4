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
