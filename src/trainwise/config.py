"""Run configuration: defaults, YAML loading, ``--set key=value`` overrides, validation.

A config is a nested dict with the sections below. Everything is checked
before any work starts: an unknown key (with a did-you-mean), a wrong type or
a value out of range is a ``ConfigError`` whose one-line message names the key,
the value and what is allowed. ``trainwise train`` prints it and exits with
code 2.
"""
from __future__ import annotations

import copy
import difflib

import yaml


class ConfigError(ValueError):
    """A config key or value that is not allowed; the message is one line."""


class Field:
    """One config value: its type(s), default, and allowed choices or range."""

    def __init__(self, types, default, choices=None, low=None, high=None, high_open=False, low_open=False,
                 nullable=False, items=None, doc=""):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default, self.choices = default, choices
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.nullable, self.items, self.doc = nullable, items, doc

    def check(self, key: str, value):
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"config: '{key}' must not be null; expected {self._expect()}")
        if float in self.types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in self.types:
            raise ConfigError(f"config: '{key}' must be {self._expect()}; got {value!r}")
        if not isinstance(value, self.types):
            raise ConfigError(f"config: '{key}' must be {self._expect()}; got {value!r} ({type(value).__name__})")
        if self.choices is not None and value not in self.choices:
            hint = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
            raise ConfigError(
                f"config: '{key}' must be one of {', '.join(map(str, self.choices))}; got {value!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
                raise ConfigError(f"config: '{key}' must be {self._range()}; got {value!r}")
            if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
                raise ConfigError(f"config: '{key}' must be {self._range()}; got {value!r}")
        if self.items is not None:
            out = []
            for i, v in enumerate(value):
                out.append(self.items.check(f"{key}[{i}]", v))
            value = out
        return value

    def _range(self):
        kind = "an int " if self.types == (int,) else ""
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        return f"{kind}in {lo}{'-inf' if self.low is None else self.low}, {'inf' if self.high is None else self.high}{hi}"

    def _expect(self):
        names = {int: "an int", float: "a number", str: "a string", bool: "true or false", list: "a list",
                 dict: "a mapping"}
        s = " or ".join(names.get(t, t.__name__) for t in self.types)
        if self.low is not None or self.high is not None:
            s += " " + self._range().removeprefix("an int ")
        if self.nullable:
            s += " or null"
        return s


def _activations():
    return ["relu", "leaky_relu", "elu", "selu", "silu", "swish", "gelu", "tanh", "sigmoid", "softplus"]


def _inits():
    from .init import INITIALIZERS

    return sorted(INITIALIZERS)


def _datasets():
    from .data import DATASETS

    return sorted(DATASETS)


def schema() -> dict:
    """The config's sections, keys, defaults and checks (the default is an MLP on MNIST-1D)."""
    return {
        "name": Field(str, None, nullable=True, doc="a label for the run"),
        "seed": Field(int, 0, low=0, doc="seeds weights, data order, dropout and augmentation"),
        "dataset": {
            "name": Field(str, "mnist1d", choices=_datasets()),
            "val_fraction": Field(float, 0.2, low=0.0, high=1.0, low_open=True, high_open=True),
            "standardize": Field(bool, True, doc="fit mean/std on the training split only"),
            "n_samples": Field(int, None, low=10, nullable=True, doc="size of synthetic datasets"),
            "augment": {
                "shift": Field(int, 3, low=0, doc="random shift of 1-D signals by up to this many positions"),
                "noise": Field(float, 0.0, low=0.0, doc="std of Gaussian noise added to training inputs"),
            },
        },
        "model": {
            "type": Field(str, "mlp", choices=["mlp", "logistic"]),
            "hidden": Field(list, [256, 256], items=Field(int, None, low=1)),
            "activation": Field(str, "relu", choices=_activations()),
            "init": Field(str, "he_normal", choices=_inits()),
            "norm": Field(str, "none", choices=["none", "batch", "layer"]),
            "norm_position": Field(str, "before", choices=["before", "after"],
                                   doc="normalization before or after the activation (seed 001)"),
            "dropout": Field(float, 0.2, low=0.0, high=1.0, high_open=True),
            "residual": Field(bool, False, doc="H(x) = F(x) + x around each hidden block of equal width"),
        },
        "optimizer": {
            "name": Field(str, "adamw", choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"]),
            "lr": Field(float, 1e-2, low=0.0, low_open=True),
            "weight_decay": Field(float, 1e-2, low=0.0),
            "momentum": Field(float, 0.9, low=0.0, high=1.0, high_open=True, doc="SGD and RMSprop"),
            "nesterov": Field(bool, False),
            "betas": Field(list, [0.9, 0.999], items=Field(float, None, low=0.0, high=1.0, high_open=True)),
            "lookahead": Field(bool, False, doc="wrap the optimizer in Lookahead(k=5, alpha=0.5)"),
        },
        "schedule": {
            "name": Field(str, "warmup_cosine",
                          choices=["none", "warmup_cosine", "cosine", "step", "exponential", "onecycle", "plateau"]),
            "warmup_epochs": Field(float, 3.0, low=0.0),
            "min_lr": Field(float, 0.0, low=0.0),
            "step_size": Field(int, 20, low=1, doc="epochs between decays (step)"),
            "gamma": Field(float, 0.5, low=0.0, high=1.0, low_open=True),
        },
        "training": {
            "epochs": Field(int, 60, low=1),
            "batch_size": Field(int, 128, low=1, nullable=True, doc="null = full-batch gradient descent"),
            "clip_grad_norm": Field(float, None, low=0.0, low_open=True, nullable=True),
            "clip_grad_value": Field(float, None, low=0.0, low_open=True, nullable=True),
            "l1": Field(float, 0.0, low=0.0),
            "l2": Field(float, 0.0, low=0.0),
            "early_stopping": Field(bool, True),
            "patience": Field(int, 15, low=0),
            "monitor": Field(str, "val_loss", choices=["val_loss", "val_accuracy", "loss", "accuracy"]),
            "checkpoint_every": Field(int, None, low=1, nullable=True, doc="also checkpoint every n steps"),
        },
    }


def defaults(sch=None) -> dict:
    sch = schema() if sch is None else sch
    return {k: defaults(v) if isinstance(v, dict) else copy.deepcopy(v.default) for k, v in sch.items()}


def _validate(cfg, sch, prefix=""):
    if not isinstance(cfg, dict):
        raise ConfigError(f"config: '{prefix.rstrip('.') or 'the config'}' must be a mapping; got {cfg!r}")
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if k not in sch:
            hint = difflib.get_close_matches(str(k), list(sch), n=1)
            raise ConfigError(
                f"config: unknown key '{key}'" + (f" (did you mean '{prefix}{hint[0]}'?)" if hint else "")
                + f"; allowed in {prefix.rstrip('.') or 'the top level'}: {', '.join(sch)}"
            )
        spec = sch[k]
        out[k] = _validate(v, spec, key + ".") if isinstance(spec, dict) else spec.check(key, v)
    return out


def _merge(base: dict, over: dict) -> dict:
    res = copy.deepcopy(base)
    for k, v in over.items():
        res[k] = _merge(res[k], v) if isinstance(v, dict) and isinstance(res.get(k), dict) else v
    return res


def parse_override(item: str) -> dict:
    """``"model.hidden=[128, 64]"`` -> ``{"model": {"hidden": [128, 64]}}`` (the value is YAML)."""
    if "=" not in item:
        raise ConfigError(f"--set: expected key=value (e.g. optimizer.lr=0.01); got {item!r}")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def load_config(path=None, overrides=()) -> dict:
    """Defaults, then the YAML file at ``path``, then each ``key=value`` override; validated."""
    sch = schema()
    cfg = defaults(sch)
    if path is not None:
        try:
            with open(path) as f:
                user = yaml.safe_load(f)
        except FileNotFoundError:
            raise ConfigError(f"config: file {str(path)!r} does not exist") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config: {str(path)!r} is not valid YAML: {str(e).splitlines()[0]}") from None
        if user is None:
            user = {}
        _validate(user, sch)
        cfg = _merge(cfg, user)
    for item in overrides:
        over = parse_override(item)
        _validate(over, sch)
        cfg = _merge(cfg, over)
    cfg = _validate(cfg, sch)
    if len(cfg["optimizer"]["betas"]) != 2:
        raise ConfigError(f"config: 'optimizer.betas' must hold two numbers; got {cfg['optimizer']['betas']!r}")
    return cfg
