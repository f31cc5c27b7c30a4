"""LabelMap guards and honest splits."""

from __future__ import annotations

import numpy as np
import pytest

from textclf.data import Examples, LabelMap
from textclf.data.splits import split_examples
from textclf.errors import DataError


def test_label_ids_do_not_depend_on_row_order():
    a = LabelMap.fit(Examples.from_lists(["1", "2", "3"], ["c", "a", "b"]))
    b = LabelMap.fit(Examples.from_lists(["1", "2", "3"], ["b", "c", "a"]))
    assert a == b and a.labels == ("a", "b", "c")


def test_unknown_label_is_refused_not_shifted():
    label_map = LabelMap.fit(Examples.from_lists(["1", "2", "3"], ["a", "b", "c"]))
    other = Examples(texts=["x", "y"], labels=["a", "d"], rows=[7, 8], source="eval.csv")
    with pytest.raises(DataError, match=r"eval\.csv, row 8: unknown label 'd'; the model knows \['a', 'b', 'c'\]"):
        label_map.encode(other)


def test_a_subset_of_known_labels_keeps_ids():
    label_map = LabelMap.fit(Examples.from_lists(["1", "2", "3"], ["a", "b", "c"]))
    assert label_map.encode(Examples.from_lists(["x"], ["c"])).tolist() == [2]


def test_fewer_than_two_classes_is_an_error():
    with pytest.raises(DataError, match="at least 2 classes, found 1"):
        LabelMap.fit(Examples(texts=["a", "b"], labels=["x", "x"], source="train.csv"))


def test_multi_hot_encoding():
    examples = Examples.from_lists(["1", "2"], [["b", "a"], []])
    label_map = LabelMap.fit(examples, multi_label=True)
    assert label_map.encode(examples).tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_label_map_json_round_trip():
    label_map = LabelMap(("neg", "pos"))
    assert LabelMap.from_json(label_map.to_json()) == label_map


def test_stratified_split_sizes_and_class_balance(rotten_tomatoes):
    splits = split_examples(rotten_tomatoes, "stratified", 0.1, 0.2, seed=0)
    n = len(rotten_tomatoes)
    assert len(splits.test) == round(0.2 * n) or abs(len(splits.test) - 0.2 * n) <= 1
    assert len(splits.train) + len(splits.validation) + len(splits.test) == n
    for part in (splits.train, splits.test):
        share = np.mean(np.array(part.labels) == "plot")
        assert abs(share - np.mean(np.array(rotten_tomatoes.labels) == "plot")) < 0.01
    texts = [set(p.texts) for p in (splits.train, splits.validation, splits.test)]
    assert not (texts[0] & texts[2]) and not (texts[0] & texts[1])


def test_split_is_seeded(rt_small):
    a = split_examples(rt_small, "stratified", 0.1, 0.2, seed=3)
    b = split_examples(rt_small, "stratified", 0.1, 0.2, seed=3)
    c = split_examples(rt_small, "stratified", 0.1, 0.2, seed=4)
    assert a.test.texts == b.test.texts and a.test.texts != c.test.texts


def test_group_split_never_shares_a_group(rotten_tomatoes):
    splits = split_examples(rotten_tomatoes, "group", 0.1, 0.2, seed=0)
    groups = [set(p.groups) for p in (splits.train, splits.validation, splits.test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert 0.15 < len(splits.test) / len(rotten_tomatoes) < 0.25


def test_time_split_is_strictly_ordered_even_with_ties():
    times = np.array([5, 1, 3, 3, 3, 2, 4, 4, 6, 7], dtype=float)
    examples = Examples(texts=[f"t{i}" for i in range(10)], labels=["a", "b"] * 5, times=times)
    splits = split_examples(examples, "time", 0.2, 0.2)
    assert splits.train.times.max() < splits.validation.times.min()
    assert splits.validation.times.max() < splits.test.times.min()
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 10


def test_group_and_time_splits_need_their_columns(rt_small):
    with pytest.raises(DataError, match="needs data.time_column"):
        split_examples(rt_small, "time")
    with pytest.raises(DataError, match="needs data.group_column"):
        split_examples(Examples.from_lists(["a", "b"], ["x", "y"]), "group")
