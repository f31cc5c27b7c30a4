"""The bundled multi-label set: kaomoji with curated emotion / intent / subject labels.

The package `kaomoji-dataset` (CC BY 4.0, see README 'Multi-label, thresholds and imbalance')
tags each kaomoji with keyword lists, and each list is a run of synonym groups written out one
after another, e.g. emotion ['happy', 'smile', 'glad', 'cheerful', 'joy', 'laugh', 'laughing', ...]
is the two concepts `happy` and `laugh`. Curation:

1. every keyword list is parsed back into concepts (a group's head word starts a concept, its
   synonyms are absorbed), so happy / smile / glad / cheerful / joy become one label `happy`;
2. labels on fewer than MIN_ROWS rows are dropped, then rows left without a label;
3. empty and exact-duplicate texts are dropped (first copy kept) when `clean=True`.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

from .examples import Examples

MIN_ROWS = 200

# Synonym groups per vocabulary: the first word names the label.
SYNONYMS: dict[str, list[tuple[str, ...]]] = {
    "emotion": [
        ("happy", "smile", "glad", "cheerful", "joy"),
        ("laugh", "laughing", "lol", "haha", "giggle"),
        ("angry", "mad", "rage", "furious", "annoyed"),
        ("surprised", "shocked", "shock", "wow", "startled"),
        ("sad", "unhappy", "down", "gloomy", "depressed"),
        ("shy", "blush", "bashful", "timid"),
        ("sleepy", "sleep", "drowsy", "nap", "zzz"),
        ("tired", "exhausted", "worn out", "fatigue", "done"),
        ("cool", "confident", "swag", "badass", "slick"),
        ("cute", "kawaii", "adorable", "sweet", "lovely"),
        ("doubt", "suspicious", "skeptical", "hmm", "side eye"),
        ("thinking", "think", "pondering", "hmm", "wondering"),
        ("excited", "hype", "thrilled", "pumped", "yay"),
        ("dissatisfied", "unimpressed", "meh", "grumpy", "sulk"),
        ("love", "heart", "in love", "affection", "romantic"),
        ("confused", "puzzled", "lost", "huh", "what"),
        ("scared", "afraid", "fear", "terrified", "nervous"),
        ("panic", "panicking", "flustered", "frantic", "freaking out"),
        ("crying", "cry", "tears", "sob", "weeping"),
        ("indifferent", "blank", "deadpan", "whatever", "expressionless"),
        ("hurt", "pain", "ouch", "injured", "aching"),
        ("drooling", "drool", "hungry", "want", "craving"),
        ("smug", "smirk", "proud", "gloating", "lenny"),
        ("disappointed", "let down", "dejected", "bummer", "aww"),
        ("disgusted", "gross", "ew", "yuck", "repulsed"),
        ("rude", "middle finger", "mocking", "insult", "flipping off"),
        ("lonely", "alone", "missing you", "solitude"),
        ("embarrassed", "awkward", "cringe", "ashamed"),
        ("sick", "ill", "unwell", "nauseous", "under the weather"),
        ("proud", "triumph", "victory", "accomplished"),
    ],
    "intent": [
        ("greeting", "hello", "hi", "wave", "welcome"),
        ("goodbye", "bye", "farewell", "see you"),
        ("thanks", "thank you", "grateful", "appreciate"),
        ("cheer up", "encourage", "support", "you got this", "fight"),
        ("pointing", "point", "this", "look at", "that's me"),
        ("celebrate", "congrats", "party", "cheers", "hooray"),
        ("apology", "sorry", "apologize", "my bad"),
        ("kiss", "kissing", "smooch", "blowing a kiss", "mwah"),
        ("table flip", "flip table", "rage quit", "throw table"),
        ("shrug", "idk", "whatever", "dunno", "who knows"),
        ("tease", "teasing", "joking", "tongue out", "playful"),
        ("wink", "winking", "playful", "flirty"),
        ("hug", "hugging", "embrace", "cuddle"),
        ("give up", "defeat", "surrender", "lose", "lost", "hopeless", "done"),
        ("refuse", "no", "reject", "nope", "decline"),
        ("question", "asking", "what", "why", "huh"),
    ],
    "subject": [
        ("sparkle", "shine", "glitter", "star"),
        ("device", "phone", "computer", "gadget"),
        ("food", "eating", "snack", "hungry"),
        ("drink", "coffee", "tea", "cheers"),
        ("animal", "creature", "pet"),
        ("cat", "kitty", "kitten", "meow"),
        ("bear", "teddy"),
        ("bunny", "rabbit", "hare"),
        ("pig", "piggy"),
        ("fish", "sea creature"),
        ("dog", "puppy", "doggo", "woof"),
        ("bird", "chick", "birdie"),
        ("spider", "bug"),
        ("writing", "note", "study", "pen", "taking notes"),
        ("heart", "love symbol"),
        ("dance", "dancing", "groove", "boogie"),
        ("weapon", "sword", "gun", "fight"),
        ("music", "song", "singing", "note"),
        ("magic", "spell", "wizard"),
        ("flower", "bloom", "blossom"),
    ],
}


def label_name(head: str) -> str:
    return head.replace(" ", "_")


def concepts(keywords: list[str], groups: list[tuple[str, ...]]) -> list[str]:
    """Parse one keyword list into label names: a head word opens a group, and the words after it
    that belong to that group are its synonyms ('proud' after 'smug' is smug's synonym, 'proud'
    after 'joy' opens the group `proud`). Unknown words are ignored."""
    heads = {group[0]: group for group in groups}
    found: list[str] = []
    current: tuple[str, ...] = ()
    for word in keywords:
        if word in current[1:]:
            continue
        if word in heads:
            current = heads[word]
            found.append(label_name(word))
        else:
            current = ()
    return found


def curated_labels(row: dict) -> tuple[str, ...]:
    names = {name for field, groups in SYNONYMS.items() for name in concepts(row.get(field) or [], groups)}
    return tuple(sorted(names))


def load_kaomoji(root: Path, clean: bool) -> Examples:
    with gzip.open(root / "data" / "kaomoji.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    labels = [curated_labels(row) for row in rows]
    counts = Counter(name for label in labels for name in label)
    kept = {name for name, n in counts.items() if n >= MIN_ROWS}
    texts, final, ids, line_numbers, seen = [], [], [], [], set()
    for line, (row, label) in enumerate(zip(rows, labels), start=1):
        label = tuple(name for name in label if name in kept)
        text = row["text"]
        if not label or not text.strip() or (clean and text in seen):
            continue
        seen.add(text)
        texts.append(text)
        final.append(label)
        ids.append(row["id"])
        line_numbers.append(line)
    return Examples(texts=texts, labels=final, ids=ids, rows=line_numbers, source="kaomoji")
