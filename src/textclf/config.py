"""Typed configuration. YAML (plus dotted overrides) in, validated dataclass-like models out.

Every section forbids unknown keys, so a misspelled option is an error that names it instead of a
silently ignored default.
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from .errors import ConfigError

Task = Literal["single_label", "multi_label"]


def _scalar_kinds(annotation: Any) -> tuple[set[type], set[Any]]:
    """The plain scalar types (bool, int, float, str) a field's annotation accepts, and the values
    of its Literals, looking through unions, Optional and Annotated."""
    origin = get_origin(annotation)
    if origin is Literal:
        return set(), set(get_args(annotation))
    if origin in (Union, types.UnionType, Annotated):
        kinds: set[type] = set()
        literals: set[Any] = set()
        for arg in get_args(annotation)[: 1 if origin is Annotated else None]:
            more, values = _scalar_kinds(arg)
            kinds |= more
            literals |= values
        return kinds, literals
    return ({annotation} & {bool, int, float, str}), set()


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    @field_validator("*", mode="before")
    @classmethod
    def _no_lax_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        """Pydantic would read `C: yes` (YAML's true) as 1.0 and `sublinear_tf: "false"` as False: a
        config that says something else than was meant would run. Those two coercions are refused."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        kinds, literals = _scalar_kinds(field.annotation)
        if isinstance(value, bool) and bool not in kinds and kinds & {int, float} and value not in literals:
            raise ValueError(f"expected a number, got the boolean {str(value).lower()} (YAML reads yes/no/on/off "
                             "as booleans)")
        if isinstance(value, str) and bool in kinds and str not in kinds and value not in literals:
            raise ValueError(f"expected true or false, got the string {value!r}")
        return value


class SplitConfig(Section):
    """How one labelled file becomes train / validation / test."""

    method: Literal["stratified", "random", "group", "time"] = "stratified"
    validation_size: float = Field(0.1, ge=0.0, lt=1.0)
    test_size: float = Field(0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _sizes_leave_training_data(self) -> SplitConfig:
        if self.validation_size + self.test_size >= 1.0:
            raise ValueError("validation_size + test_size must be below 1")
        return self


class DataConfig(Section):
    """Where the labelled text comes from and which columns mean what."""

    dataset: str | None = None  # a bundled data set name (see `textclf data list`)
    train: str | None = None  # a file; split into train/validation/test unless those are given
    validation: str | None = None
    test: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    group_column: str | None = None
    time_column: str | None = None
    id_column: str | None = None
    label_delimiter: str | None = None  # multi-label strings such as "a|b"; JSON lists always work
    bad_rows: Literal["error", "skip"] = "error"
    split: SplitConfig = SplitConfig()

    @field_validator("label_delimiter")
    @classmethod
    def _delimiter_not_empty(cls, value: str | None) -> str | None:
        if value == "":  # an empty delimiter splits nothing: "a|b" would train as one compound class
            raise ValueError("must not be empty (use null for no delimiter; quote a YAML '|' or '>')")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.dataset is None) == (self.train is None):
            raise ValueError("give exactly one of data.dataset (bundled) or data.train (a file)")
        return self


class ResampleConfig(Section):
    """Over- or under-sampling of the TRAINING split only (see textclf.imbalance.resample)."""

    method: Literal["over", "under"] = "over"
    ratio: float = Field(1.0, gt=0, le=1)  # minority size as a fraction of the majority after resampling
    seed: int | None = None  # default: the run's seed


class TrainingConfig(Section):
    """Optimisation settings shared by every neural model (the TF-IDF baseline ignores them)."""

    epochs: int = Field(5, ge=1)
    max_steps: int | None = Field(None, ge=1)  # stop after this many optimizer steps (caps the schedule)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    head_learning_rate: float | None = Field(None, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    schedule: Literal["constant", "linear", "cosine"] = "linear"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    gradient_accumulation_steps: int = Field(1, ge=1)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    device: str = "auto"  # cpu, cuda, cuda:1, auto
    compile: bool = False  # torch.compile the network for training (training/setup.py compile_module)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    class_weight: Literal["balanced"] | dict[str, float] | None = None
    pos_weight: Literal["balanced"] | dict[str, float] | None = None
    sampler: Literal["length_bucketed", "random", "weighted"] = "length_bucketed"
    resample: ResampleConfig | None = None  # e.g. {method: over}; applied to the training split only
    early_stopping_metric: str = "macro_f1"
    early_stopping_patience: int | None = Field(2, ge=1)
    checkpoint_every_steps: int | None = Field(None, ge=1)
    log_every_steps: int = Field(50, ge=1)
    progress: bool = True


class CalibrationConfig(Section):
    """Post-hoc calibration fitted on the validation split at the end of training."""

    method: Literal["temperature", "platt", "isotonic"] = "temperature"


class AuditConfig(Section):
    """The fast data audit `train` runs first (duplicates and near duplicates across splits, group
    and time leakage, label names in the text). `audit: false` turns it off."""

    enabled: bool = True
    near_duplicates: bool = True
    near_threshold: float = Field(0.8, gt=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


class ThresholdsConfig(Section):
    """Decision thresholds tuned on the validation split at the end of training (binary or
    multi-label tasks), and the multi-label fallback to the top label."""

    tune: Literal["per_label", "global", "none"] = "none"
    objective: Literal["f1", "fbeta", "precision", "recall"] = "f1"
    beta: float = Field(1.0, gt=0)
    target: float | None = Field(None, gt=0, le=1)  # for objective precision / recall
    min_labels: int = Field(0, ge=0, le=1)  # 1: a multi-label row with no label above threshold gets its top one

    @model_validator(mode="after")
    def _target_when_needed(self) -> ThresholdsConfig:
        if self.tune != "none" and self.objective in ("precision", "recall") and self.target is None:
            raise ValueError(f"objective {self.objective} needs a target, e.g. target: 0.9")
        return self


def migrate_max_length(model: dict[str, Any], training: dict[str, Any]) -> tuple[dict, dict]:
    """Format-1 configs kept `max_length` under training; it sizes the model, so it lives in the
    model config now. Returns copies with the key moved (the model's own value wins)."""
    training = dict(training or {})
    model = dict(model or {})
    if "max_length" in training:
        value = training.pop("max_length")
        if model.get("type", "tfidf") != "tfidf":
            model.setdefault("max_length", value)
    return model, training


class Config(Section):
    seed: int = 0
    task: Task = "single_label"
    data: DataConfig
    model: dict[str, Any] = Field(default_factory=lambda: {"type": "tfidf"})
    training: TrainingConfig = TrainingConfig()
    calibration: CalibrationConfig | None = CalibrationConfig()  # fitted on validation; null for none
    thresholds: ThresholdsConfig = ThresholdsConfig()
    output_dir: str = "runs/default"
    audit: AuditConfig = AuditConfig()  # or `audit: false`
    # After evaluation, retrain the resolved model on every labelled row and save that one (the
    # reported scores stay those of the evaluated model); auto: only for model.type auto.
    refit_full: bool | Literal["auto"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _legacy_max_length(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("training"), dict) and isinstance(
                values.get("model", {}), dict):
            values = dict(values)
            values["model"], values["training"] = migrate_max_length(values.get("model", {"type": "tfidf"}),
                                                                     values["training"])
        return values

    @model_validator(mode="after")
    def _model_has_type(self) -> Config:
        if "type" not in self.model:
            raise ValueError("model.type is required (e.g. tfidf, bag, rnn, cnn, transformer, pretrained)")
        return self


def problems(section: type[BaseModel], values: Any, prefix: str = "") -> list[str]:
    """Every way `values` fails `section`, as 'dotted.key: message' strings (empty when valid)."""
    try:
        section.model_validate(values)
    except ValidationError as err:
        out = []
        for item in err.errors():
            loc = ".".join(str(p) for p in (prefix, *item["loc"]) if p != "")
            msg = item["msg"].removeprefix("Value error, ")  # pydantic's wrapper adds nothing for a reader
            out.append(f"{loc}: {msg}" if loc else msg)
        return out
    return []


def validate(section: type[BaseModel], values: dict[str, Any], source: str, prefix: str = "") -> Any:
    """Validate `values` against `section`, turning pydantic's report into one ConfigError line."""
    found = problems(section, values, prefix)
    if found:
        raise ConfigError(f"{source}: " + "; ".join(found))
    return section.model_validate(values)


# Values an override spells as "nothing" on purpose; any other text YAML reads as empty or null
# (`|` and `>` start block scalars, `#` a comment) is kept as the literal string.
EXPLICIT_EMPTY = frozenset({"null", "Null", "NULL", "~", "''", '""'})


def override_value(raw: str) -> Any:
    """The value of one `key=value` override: YAML (`3` is an int, `[1, 2]` a list, `null` None),
    except where YAML would silently lose text the user typed: `|` or `>` (block scalars, read as
    "") and anything after a ` #` (a comment) stay the literal string. An empty value is ""."""
    if not raw:
        return ""
    try:
        value = yaml.safe_load(raw)
        tokens = [t for t in yaml.scan(raw) if not isinstance(t, (yaml.StreamStartToken, yaml.StreamEndToken))]
    except yaml.YAMLError:
        return raw
    end = max((t.end_mark.index for t in tokens), default=0)
    if raw[end:].strip():  # a comment YAML dropped: `a #b` would be "a"
        return raw
    if (value is None or value == "") and raw.strip() not in EXPLICIT_EMPTY:
        return raw
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """'training.epochs=3' -> (['training', 'epochs'], 3); the value as `override_value` reads it."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected key.path=value")
    return key.split("."), override_value(raw)


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for override in overrides:
        path, value = parse_override(override)
        node = values
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {override!r}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return values


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error: YAML itself keeps the
    last one, so a second `data:` block would silently replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` keys may be overridden: YAML's rule
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, line, seen[key])
            except TypeError:  # an unhashable key: the base class reports it
                break
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


def read_yaml(path: str | os.PathLike, text: str) -> Any:
    """The file's YAML, every problem as one ConfigError naming the file and line."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as dup:
        raise ConfigError(f"{path}, line {dup.line}: duplicate key {dup.key!r} (first given on line {dup.first}); "
                          "YAML would silently keep only the last one") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML") from None


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None,
                check_model: Callable[[dict[str, Any]], list[str]] | None = None) -> Config:
    """Read a YAML config (or start empty), apply `key=value` overrides, validate. Every problem
    of the file is reported at once, in one ConfigError naming it; `check_model` adds those of the
    model section (the registry of model types lives above this module)."""
    values: dict[str, Any] = {}
    source = "overrides"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: cannot read config ({err})") from None
        values = read_yaml(path, text) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    values = apply_overrides(values, overrides or [])
    found = problems(Config, values)
    if check_model is not None and isinstance(values.get("model"), dict) and "type" in values["model"]:
        found += check_model(values["model"])
    if found:
        raise ConfigError(f"{source}: " + "; ".join(found))
    return Config.model_validate(values)
