"""The shape of the code: layers only look down, no import cycles, small files and functions,
a saved model's policy written atomically, format-1 models still load, third-party model types."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

import textclf
from textclf.cli import main
from textclf.config import Section
from textclf.models import MODEL_TYPES, register_model_type
from textclf.models.base import ModelBase

SRC = Path(textclf.__file__).parent
FIXTURES = Path(__file__).parent / "fixtures"

# Lower number = lower layer. A module may import its own layer or below, never above.
LAYERS = {
    "cli": 5, "jobs": 4, "labelling": 4,
    "classifier": 3, "artifacts": 3, "models": 3, "evaluation": 3, "analysis": 3, "audit": 3, "serving": 3,
    "policy": 3, "plan": 3, "estimator_params": 3, "imbalance": 2, "objectives": 2, "card": 1,
    "data": 2, "text": 2, "training": 2,
    "config": 1, "errors": 0, "fileio": 0, "version": 0, "__init__": 6, "__main__": 6,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """textclf modules `path` imports, at module level or inside functions (lazily)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("textclf"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("textclf"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {name: {t for t in _imports(path) if t in modules and t != name} for name, path in modules.items()}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return LAYERS[top]


def test_no_module_imports_a_layer_above_it():
    upward = [f"{m} -> {t}" for m, targets in _graph().items() for t in targets
              if _layer(t) > _layer(m) and not t.endswith("textclf")]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if nxt == "textclf" or nxt.startswith(node + "."):
                continue  # a package's __init__ re-exporting its own modules is not a cycle
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]) if nxt in stack else f"{node}->{nxt}")
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_files_and_functions_stay_small():
    big_files, big_functions = [], []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 420:
            big_files.append(f"{path.name}: {len(text.splitlines())}")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 80:
                big_functions.append(f"{path.name}:{node.name}: {node.end_lineno - node.lineno + 1}")
    assert big_files == [] and big_functions == []


# -- the saved format ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tfidf", "cnn"])
def test_format_1_directories_load_and_predict_as_they_did(name, tmp_path):
    expected = json.loads((FIXTURES / "v1_expected.json").read_text())
    clf = textclf.load(FIXTURES / f"v1_{name}")
    np.testing.assert_allclose(clf.predict_proba(expected["texts"]), expected[name], atol=1e-5)
    if name == "cnn":  # training.max_length moved into the model config on load
        assert clf.model_config().max_length == 24 and clf.model_.max_tokens() == 24
    else:  # calibration.json became the policy's calibration
        assert clf.policy.calibration["method"] == "temperature"
    resaved = clf.save(tmp_path / "v2")
    config = json.loads((resaved / "config.json").read_text())
    assert config["format_version"] == 2 and not (resaved / "calibration.json").exists()
    np.testing.assert_allclose(textclf.load(resaved).predict_proba(expected["texts"]), expected[name], atol=1e-5)


def test_policy_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch, rt_small):
    clf = textclf.TextClassifier(model={"type": "tfidf", "C": 100.0}).fit(rt_small.subset(range(0, 600, 2)))
    model = clf.save(tmp_path / "model")
    validation = rt_small.subset(range(1, 600, 2))
    clf.calibrate(validation, "temperature")
    clf.save_policy(model)
    before = (model / "policy.json").read_bytes()

    clf.calibrate(validation, "isotonic")
    import os

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        clf.save_policy(model)
    monkeypatch.undo()
    assert (model / "policy.json").read_bytes() == before
    assert textclf.load(model).policy.calibration["method"] == "temperature"
    assert [p.name for p in model.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_evaluate_keeps_the_training_metrics(tmp_path, rt_small):
    data = tmp_path / "rt.csv"
    from textclf.data.io import examples_frame, write_frame

    write_frame(examples_frame(rt_small.subset(range(400))), data)
    assert main(["train", f"data.train={data}", "audit=false", f"output_dir={tmp_path / 'run'}"]) == 0
    model = tmp_path / "run" / "model"
    before = (model / "metrics.json").read_bytes()
    assert main(["evaluate", str(model), "--data", str(data)]) == 0
    assert (model / "metrics.json").read_bytes() == before
    assert main(["evaluate", str(model), "--data", str(data), "-o", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 400


# -- a third-party model type ----------------------------------------------------------------------
class KeywordConfig(Section):
    type: Literal["keyword"] = "keyword"
    keyword: str = "good"


class KeywordModel(ModelBase):
    """Scores the first label up when the keyword appears: the smallest complete model type."""

    config_class = KeywordConfig

    def __init__(self, config, label_map, training, seed):
        self.config, self.label_map = config, label_map

    def fit(self, train, train_targets, validation=None, validation_targets=None, workdir=None, resume=False):
        return {"keyword": self.config.keyword}

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.label_map)), dtype=np.float32)
        out[:, 0] = [2.0 if self.config.keyword in t.lower() else -2.0 for t in texts]
        return out

    def save(self, directory: Path) -> None:
        (directory / "keyword.txt").write_text(self.config.keyword)

    @classmethod
    def load(cls, directory, config, label_map, training, seed):
        return cls(config, label_map, training, seed)


def test_a_third_party_model_type_plugs_in(tmp_path):
    register_model_type("keyword", KeywordModel, replace=True)
    try:
        clf = textclf.TextClassifier(model={"type": "keyword", "keyword": "great"}).fit(
            ["a great film", "dull", "great fun", "boring"], ["fresh", "rotten", "fresh", "rotten"])
        assert clf.predict(["great acting", "meh"]) == ["fresh", "rotten"]
        loaded = textclf.load(clf.save(tmp_path / "keyword"))
        assert loaded.predict(["great acting", "meh"]) == ["fresh", "rotten"]
        assert loaded.model_.max_tokens() is None and loaded.model_.vocabulary() is None
        with pytest.raises(textclf.ConfigError, match="already registered"):
            register_model_type("keyword", KeywordModel)
    finally:
        MODEL_TYPES.pop("keyword", None)


# -- one flag vocabulary ---------------------------------------------------------------------------
SHARED = ["--data", "--text-column", "--label-column", "--group-column", "--time-column", "--id-column"]


@pytest.mark.parametrize("verb", ["train", "evaluate", "calibrate", "report", "tune-thresholds", "errors",
                                  "shift", "predict", "audit", "split"])
def test_every_verb_accepts_the_shared_flags(verb, capsys):
    assert main([verb, "--help"]) == 0
    shown = capsys.readouterr().out
    for flag in SHARED:
        if verb in ("predict", "shift") and flag == "--label-column":
            continue  # unlabelled input
        if verb == "predict" and flag == "--data":
            continue  # INPUT is positional
        assert flag in shown, f"{verb} lacks {flag}"


def test_old_flag_spellings_still_work(tmp_path, rt_small):
    from textclf.cli.parser import build_parser

    args = build_parser().parse_args(["audit", "rt.csv", "--group-col", "movie", "--method", "group"])
    assert args.group_column == "movie" and args.split == "group"
    args = build_parser().parse_args(["tune-thresholds", "m", "--method", "recall"])
    assert args.objective == "recall"


def test_copy_of_fixture_is_not_modified_by_loading(tmp_path):
    target = shutil.copytree(FIXTURES / "v1_tfidf", tmp_path / "v1")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    textclf.load(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before


# -- models declare, callers ask -------------------------------------------------------------------
# Outside models/, nothing probes a model object: a hasattr/getattr whose first argument mentions
# one of these names is taken for a probe of a model, or of the net/tokenizer reached through it.
MODEL_WORDS = ("model", "net", "tokenizer", "encoder", "clf", "vectorizer")


def _probes(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("hasattr", "getattr") and node.args):
            continue
        names = [n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node.args[0])
                 if isinstance(n, ast.Name | ast.Attribute)]
        if any(word in name.lower() for name in names for word in MODEL_WORDS):
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_nothing_outside_models_probes_a_model_with_hasattr_or_getattr():
    outside = [p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] != "models"]
    assert [probe for path in sorted(outside)
            for probe in _probes(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))] == []


def test_the_probe_check_sees_a_probe():
    source = "def f(clf, args):\n    return getattr(clf.model_, 'net', None), getattr(args, 'verb')\n"
    assert _probes(source, "sample.py") == ["sample.py:2: getattr(clf.model_, 'net', None)"]


@pytest.mark.parametrize("name", sorted(MODEL_TYPES))
def test_every_model_type_declares_its_capabilities(name):
    from textclf.models import model_class
    from textclf.models.base import Capabilities

    cls = model_class(name)
    assert isinstance(cls.declared_capabilities, Capabilities)
    assert callable(cls.capabilities) and callable(cls.attribution_view) and callable(cls.export_view)
    assert isinstance(cls.training_defaults(None), dict) and isinstance(cls.training_defaults(500), dict)
    declared = cls.declared_capabilities
    assert declared.explain in (None, "linear", "gradient") and declared.export_formats <= {"onnx", "hf"}


def test_capabilities_follow_the_config(rt_small):
    from textclf.data import LabelMap
    from textclf.config import TrainingConfig
    from textclf.models.neural import BagConfig, BagModel

    label_map = LabelMap.fit(rt_small, multi_label=False)
    windowed = BagModel(BagConfig(long_text={"strategy": "sliding_window"}), label_map, TrainingConfig(), 0)
    assert windowed.capabilities().explain is None and windowed.capabilities().export_formats == frozenset()
    assert windowed.capabilities().long_text == "sliding_window" and windowed.capabilities().checkpointing
    assert windowed.attribution_view() is None and windowed.export_view() is None  # not fitted either
    plain = KeywordModel(KeywordConfig(), label_map, None, 0)
    assert plain.capabilities() == ModelBase.declared_capabilities and plain.selected() is None
    assert plain.attribution_view() is None and plain.export_view() is None and plain.training_settings() is None
    assert KeywordModel.training_defaults(100) == {} and plain.type_name() == "keyword"
