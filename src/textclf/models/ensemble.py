"""A weighted mix of other models' probabilities, behind the same protocol as any single model.

    model: {type: ensemble, members: [{type: tfidf, C: 4.0}, {type: bag}], weights: [0.7, 0.3]}

`members` are ordinary model configs (any registered type, ensembles included); `weights` are
non-negative and normalised to sum to 1 (null: equal weights). `model.type: auto` builds one from
its best candidates with weights fitted on out-of-fold (or validation) probabilities.

The mix happens in probability space and comes back as logits, so calibration, thresholds and
every metric treat an ensemble like any model:

- single-label, `combine: probability` (default): p = sum_i w_i softmax(z_i); the logits are
  log(p), hence softmax(logits) == p exactly (up to float rounding).
- single-label, `combine: log_probability`: logits = sum_i w_i log_softmax(z_i), a weighted
  geometric mean of the members' distributions (renormalised by the softmax).
- multi-label: p = sum_i w_i sigmoid(z_i) per label; the logits are logit(p), p clipped to
  [1e-7, 1 - 1e-7] so they stay finite.

An ensemble of one member returns that member's logits unchanged.

Saved layout (inside the model directory): `members/0/`, `members/1/`, ... each written by its
member type's own `save()` (models/members.py, shared with `auto`), and `ensemble.json` (member
configs, the training settings each member was fitted with, and the weights). config.json's
`model` section holds the same member configs, training settings and weights, so nothing is
pickled, every member reloads through the registry, and a refit trains each member as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from ..config import Section, TrainingConfig, problems
from ..data import Examples, LabelMap
from ..errors import ConfigError, ModelError
from ..fileio import write_json
from .base import Capabilities, ModelBase
from .members import load_member, member_config, save_member

MEMBERS_DIR = "members"
STATE_FILE = "ensemble.json"
_PROB_FLOOR = 1e-12  # single-label: log(0) guard; a class no member gives any mass gets logit -27.6
_MULTI_CLIP = 1e-7  # multi-label: p clipped to [eps, 1 - eps] before logit(): |logit| <= 16.1


class EnsembleConfig(Section):
    type: Literal["ensemble"] = "ensemble"
    members: list[dict[str, Any]] = Field(min_length=1)  # model configs, each with its `type`
    weights: list[float] | None = None  # null: equal; normalised to sum to 1
    combine: Literal["probability", "log_probability"] = "probability"  # single-label mixing rule
    # Each member's own training settings (auto tunes learning rate and epochs per trial), so a refit
    # trains every member as it was evaluated; null: every member trains with the run's settings.
    member_training: list[dict[str, Any]] | None = None

    @field_validator("members")
    @classmethod
    def _members_valid(cls, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each member against its own type's config class, before any data is read."""
        from . import model_class

        for i, member in enumerate(members):
            if not isinstance(member.get("type"), str):
                raise ValueError(f"members[{i}] needs a `type` (e.g. tfidf)")
            try:
                member_class = model_class(member["type"])
            except ConfigError as err:
                raise ValueError(f"members[{i}]: {err}") from None
            found = problems(member_class.config_class, member, prefix=f"members[{i}]")
            if found:
                raise ValueError("; ".join(found))
        return members

    @model_validator(mode="after")
    def _check(self) -> EnsembleConfig:
        if self.weights is not None:
            if len(self.weights) != len(self.members):
                raise ValueError(f"{len(self.weights)} weights for {len(self.members)} members")
            if min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative with a positive sum")
        if self.member_training is not None:
            if len(self.member_training) != len(self.members):
                raise ValueError(f"{len(self.member_training)} member_training entries for {len(self.members)} members")
            for i, values in enumerate(self.member_training):
                found = problems(TrainingConfig, values, prefix=f"member_training[{i}]")
                if found:
                    raise ValueError("; ".join(found))
        return self

    def normalised_weights(self) -> np.ndarray:
        w = np.ones(len(self.members)) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        return w / w.sum()


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z.astype(np.float64)))


def mix_logits(member_logits: Sequence[np.ndarray], weights: np.ndarray, multi_label: bool,
               combine: str = "probability") -> np.ndarray:
    """Combine members' logits (each (n, k)) into the ensemble's logits (n, k), float32; see the
    module docstring for the rules."""
    weights = np.asarray(weights, dtype=np.float64)
    if len(member_logits) == 1:
        return np.asarray(member_logits[0], dtype=np.float32)
    if multi_label:
        p = sum(w * _sigmoid(z) for w, z in zip(weights, member_logits))
        p = np.clip(p, _MULTI_CLIP, 1.0 - _MULTI_CLIP)
        return (np.log(p) - np.log1p(-p)).astype(np.float32)
    if combine == "log_probability":
        return sum(w * _log_softmax(z) for w, z in zip(weights, member_logits)).astype(np.float32)
    p = sum(w * np.exp(_log_softmax(z)) for w, z in zip(weights, member_logits))
    return np.log(np.maximum(p, _PROB_FLOOR)).astype(np.float32)


def mix_probabilities(member_probs: Sequence[np.ndarray], weights: np.ndarray, multi_label: bool,
                      combine: str = "probability") -> np.ndarray:
    """The probabilities `mix_logits` stands for, from members' probabilities (for weight fitting)."""
    weights = np.asarray(weights, dtype=np.float64)
    if multi_label or combine == "probability":
        return sum(w * p for w, p in zip(weights, member_probs))
    log_mix = sum(w * np.log(np.maximum(p, _PROB_FLOOR)) for w, p in zip(weights, member_probs))
    log_mix -= log_mix.max(axis=1, keepdims=True)
    mix = np.exp(log_mix)
    return mix / mix.sum(axis=1, keepdims=True)


class EnsembleModel(ModelBase):
    """A ClassifierModel whose logits mix its members' (see the module docstring)."""

    config_class = EnsembleConfig
    # Members mix in probability space: no one network to export or to take gradients through, and
    # no linear form to read attributions from.
    declared_capabilities = Capabilities()

    def __init__(self, config: EnsembleConfig, label_map: LabelMap, training: TrainingConfig, seed: int) -> None:
        self.config = config
        self.label_map = label_map
        self.training = training
        self.seed = seed
        self.members: list = []  # fitted member models, in config order
        self.member_trainings: list[TrainingConfig] = []

    @classmethod
    def from_fitted(cls, members: Sequence[tuple[BaseModel, Any]], weights: Sequence[float], label_map: LabelMap,
                    training: TrainingConfig, seed: int, combine: str = "probability") -> EnsembleModel:
        """An ensemble of already fitted models: `members` are (config, model) pairs."""
        config = EnsembleConfig(members=[c.model_dump(mode="json") for c, _ in members],
                                weights=[float(w) for w in weights], combine=combine,
                                member_training=[(m.training_settings() or training).model_dump(mode="json")
                                                 for _, m in members])
        model = cls(config, label_map, training, seed)
        model.members = [m for _, m in members]
        model.member_trainings = [m.training_settings() or training for m in model.members]
        return model

    def member_configs(self) -> list[BaseModel]:
        return [member_config(values, f"model.members.{i}") for i, values in enumerate(self.config.members)]

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, train: Examples, train_targets: np.ndarray, validation: Examples | None = None,
            validation_targets: np.ndarray | None = None, workdir: Path | None = None,
            resume: bool = False) -> dict:
        """Fit every member on `train` (each with the same label map and seed, and its own training
        settings where `member_training` gives them); the weights are the configured ones (equal
        when unset)."""
        from . import model_class

        if resume:
            raise ConfigError("model.type 'ensemble' cannot resume: fit it again")
        summaries = []
        self.members, self.member_trainings = [], []
        for i, config in enumerate(self.member_configs()):
            training = self.training
            if self.config.member_training is not None:
                training = TrainingConfig.model_validate(self.config.member_training[i])
            model = model_class(config.type)(config, self.label_map, training, self.seed)
            member_dir = Path(workdir) / MEMBERS_DIR / str(i) if workdir is not None else None
            summaries.append(model.fit(train, train_targets, validation, validation_targets, member_dir))
            self.members.append(model)
            self.member_trainings.append(model.training_settings() or self.training)
        return {"members": summaries, "weights": self.config.normalised_weights().tolist()}

    # -- inference -----------------------------------------------------------------------------
    def _ready(self) -> list:
        if not self.members:
            raise ModelError("this ensemble is not fitted")
        return self.members

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        members = self._ready()
        texts = list(texts)
        outputs = [np.asarray(m.logits(texts)) for m in members]
        return mix_logits(outputs, self.config.normalised_weights(), self.label_map.multi_label, self.config.combine)

    def member_logits(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each member's own logits, (n, k) each, in member order."""
        texts = list(texts)
        return [np.asarray(m.logits(texts)) for m in self._ready()]

    # -- introspection: the longest reach, or the heaviest member's view ----------------------
    def _heaviest(self):
        return self._ready()[int(np.argmax(self.config.normalised_weights()))]

    def max_tokens(self) -> int | None:
        limits = [m.max_tokens() if hasattr(m, "max_tokens") else None for m in self._ready()]
        return None if any(x is None for x in limits) else max(limits)

    def vocabulary(self):
        heaviest = self._heaviest()
        return heaviest.vocabulary() if hasattr(heaviest, "vocabulary") else None

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        heaviest = self._heaviest()
        if hasattr(heaviest, "token_lengths"):
            return heaviest.token_lengths(texts)
        return super().token_lengths(texts)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        members = self._ready()
        state = {"weights": self.config.normalised_weights().tolist(), "combine": self.config.combine,
                 "members": [save_member(model, config, Path(directory) / MEMBERS_DIR / str(i), training)
                             for i, (model, config, training)
                             in enumerate(zip(members, self.member_configs(), self.member_trainings))]}
        write_json(Path(directory) / STATE_FILE, state)

    @classmethod
    def load(cls, directory: Path, config: EnsembleConfig, label_map: LabelMap, training: TrainingConfig,
             seed: int) -> EnsembleModel:
        model = cls(config, label_map, training, seed)
        state_path = Path(directory) / STATE_FILE
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{state_path}: missing; is {directory} an ensemble model directory?") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ModelError(f"{state_path}: corrupt JSON ({err})") from None
        saved = state.get("members", [])
        if len(saved) != len(config.members):
            raise ModelError(f"{directory}: config.json lists {len(config.members)} ensemble members, "
                             f"{STATE_FILE} {len(saved)}")
        for i, member in enumerate(model.member_configs()):  # config.json's member configs rule
            member_model, member_training = load_member(Path(directory) / MEMBERS_DIR / str(i), member, saved[i],
                                                        label_map, training, seed, state_path, f"members.{i}")
            model.members.append(member_model)
            model.member_trainings.append(member_training)
        return model
