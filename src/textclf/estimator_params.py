"""The parameters of a TextClassifier, kept apart from what fitting does with them.

scikit-learn's conventions live here: the constructor stores its arguments as given (so `clone`
and `GridSearchCV` work), `set_params` reaches single keys inside `model` and `training`, and
the settings in force are read from the frozen `fitted_` config once the estimator is fitted, so
parameters changed after `fit` never change what a saved model says it is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .config import CalibrationConfig, Task, ThresholdsConfig, TrainingConfig, validate
from .errors import ConfigError
from .plan import model_and_training, with_type_defaults


def model_dict(spec: dict[str, Any] | BaseModel | None) -> dict[str, Any]:
    return spec.model_dump() if isinstance(spec, BaseModel) else dict(spec or {"type": "tfidf"})


class ClassifierParams:
    """Parameters: `model`, `task`, `training`, `seed`, `calibration`, `thresholds` (see TextClassifier).

    It speaks scikit-learn's estimator protocol (get_params / set_params, `__sklearn_tags__`,
    `_estimator_type`) without inheriting from `sklearn.base`, so that loading a model to predict
    (the ONNX backend above all) does not pay a second for importing scikit-learn; sklearn is
    imported only when sklearn itself asks for the tags."""

    _estimator_type = "classifier"

    def __init__(
        self,
        model: dict[str, Any] | BaseModel | None = None,
        task: Task = "single_label",
        training: TrainingConfig | dict[str, Any] | None = None,
        seed: int = 0,
        calibration: str | dict | CalibrationConfig | None = "temperature",
        thresholds: dict | ThresholdsConfig | None = None,
    ) -> None:
        self.model = model  # every parameter as given: scikit-learn's clone checks them by identity
        self.task = task
        self.training = training
        self.seed = seed
        self.calibration = calibration
        self.thresholds = thresholds

    def __repr__(self) -> str:
        defaults = ClassifierParams()
        shown = [f"{name}={value!r}" for name, value in self.get_params(deep=False).items()
                 if value is not getattr(defaults, name) and value != getattr(defaults, name)]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_label=self.task == "multi_label"),
                    input_tags=InputTags(one_d_array=True, two_d_array=False, string=True))

    # -- scikit-learn parameters --------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {"model": self.model, "task": self.task, "training": self.training, "seed": self.seed,
                  "calibration": self.calibration, "thresholds": self.thresholds}
        if deep:
            params.update({f"model__{k}": v for k, v in model_dict(self.model).items()})
        return params

    def set_params(self, **params: Any) -> ClassifierParams:
        """Set a parameter, or one key inside `model` / `training` (`model__C=4`,
        `training__epochs=3`). The fitted state, and what `save` writes, change only at the next `fit`."""
        nested: dict[str, dict[str, Any]] = {"model": {}, "training": {}}
        for name, value in params.items():
            outer, sep, inner = name.partition("__")
            if sep and outer in nested:
                nested[outer][inner] = value
            elif name == "model":
                self.model = value
            elif name in ("task", "training", "seed", "calibration", "thresholds"):
                setattr(self, name, value)
            else:
                raise ConfigError(f"TextClassifier has no parameter {name!r} (model, task, training, seed, "
                                  "calibration, thresholds, model__KEY, training__KEY)")
        if nested["model"]:
            self.model = {**model_dict(self.model), **nested["model"]}
        if nested["training"]:
            base = self.training.model_dump(exclude_unset=True) if isinstance(self.training, TrainingConfig) \
                else dict(self.training or {})
            self.training = {**base, **nested["training"]}
        return self

    # -- configuration -----------------------------------------------------------------------
    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"

    def model_config(self) -> BaseModel:
        fitted = getattr(self, "fitted_", None)
        return fitted.model if fitted is not None else model_and_training(model_dict(self.model),
                                                                           self.training)[0]

    def training_config(self, train_rows: int | None = None) -> TrainingConfig:
        """The training settings in force: after fitting, what the model used; before, the user's
        with the model type's own defaults for every key left unset."""
        fitted = getattr(self, "fitted_", None)
        if fitted is not None:
            return fitted.training
        config, training = model_and_training(model_dict(self.model), self.training)
        return with_type_defaults(config, training, train_rows)

    def calibration_method(self) -> str | None:
        value = self.calibration
        if value is None or isinstance(value, str):
            if value is not None:
                validate(CalibrationConfig, {"method": value}, "calibration", prefix="calibration")
            return value
        spec = value if isinstance(value, CalibrationConfig) else validate(CalibrationConfig, dict(value),
                                                                           "calibration", prefix="calibration")
        return spec.method

    def thresholds_config(self) -> ThresholdsConfig:
        value = self.thresholds
        if isinstance(value, ThresholdsConfig):
            return value
        return validate(ThresholdsConfig, dict(value or {}), "thresholds", prefix="thresholds")


def inference_training(training: TrainingConfig, device: str | None) -> TrainingConfig:
    """Training settings with the inference device and precision of this host: `device` (default
    auto), and the training precision only where it can run (fp16 / bf16 autocast on a GPU), fp32
    elsewhere, so a model trained on a GPU loads and predicts on a CPU-only host."""
    device = device or "auto"
    on_gpu = device.startswith("cuda") or (device == "auto" and training.precision != "fp32" and _cuda_available())
    precision = training.precision if on_gpu else "fp32"
    return training.model_copy(update={"device": device, "precision": precision, "compile": False})


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())
