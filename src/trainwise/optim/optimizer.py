"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

As in PyTorch, an optimizer holds ``param_groups`` (a list of dicts, each with
``"params"`` and its hyper-parameters such as ``"lr"``) and ``state`` (a dict
from parameter to a dict of named ndarrays and numbers). A subclass defines
``step()``. Schedulers change ``group["lr"]`` between steps.
"""
from __future__ import annotations

import math

from ..backend import xp
from ..tensor import Tensor


def check_number(owner: str, name: str, value, low=None, high=None, low_open=False, high_open=False):
    """Validate a hyper-parameter: a real number in [low, high] (or open ends); else a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)) or math.isnan(value):
        raise ValueError(f"{owner}: '{name}' must be a number; got {value!r}")
    bad = (low is not None and (value < low or (low_open and value == low))) or (
        high is not None and (value > high or (high_open and value == high)))
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(
            f"{owner}: '{name}' must be in {lo}{'-inf' if low is None else low}, "
            f"{'inf' if high is None else high}{hi}; got {value!r}"
        )
    return value


class Optimizer:
    """Base class. ``params`` is an iterable of Tensors or of dicts (parameter groups)."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: 'params' must be an iterable of Tensors or dicts; got a single Tensor")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: 'params' is an empty list; the optimizer has nothing to update")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a dict with ``"params"`` and optional overrides of the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}.add_param_group: 'group' must be a dict with a 'params' key")
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: every parameter must be a Tensor; got {type(p).__name__}")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}: parameters must be floating; got dtype {p.data.dtype}")
        ids = [id(p) for p in ps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{type(self).__name__}: a parameter appears twice in one group; pass each once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen.intersection(ids):
            raise ValueError(f"{type(self).__name__}: a parameter appears in more than one parameter group; pass each once")
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr", "name"}
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown option(s) {sorted(unknown)} in a parameter group; "
                f"allowed: {sorted(self.defaults)}"
            )
        new = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}, "params": ps}
        self._validate_group(new)
        self.param_groups.append(new)

    def _validate_group(self, group: dict) -> None:
        """Subclasses check their hyper-parameters here (called for every group)."""
        check_number(type(self).__name__, "lr", group["lr"], low=0.0)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        raise NotImplementedError

    # -------------------------------------------------------------- state dict
    def state_dict(self) -> dict:
        """``{"state": {index: {name: ndarray | number}}, "param_groups": [...]}``.

        Parameters are referred to by their position across groups, as in
        PyTorch, so the dict loads into a fresh optimizer over other tensors.
        """
        index = {}
        groups = []
        for g in self.param_groups:
            entry = {k: v for k, v in g.items() if k != "params"}
            entry["params"] = []
            for p in g["params"]:
                index[id(p)] = len(index)
                entry["params"].append(index[id(p)])
            groups.append(entry)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                s = self.state.get(p)
                if s:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, xp.ndarray) else v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state; the group sizes must match."""
        try:
            groups, state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{type(self).__name__}.load_state_dict: 'state_dict' needs 'state' and 'param_groups'") from None
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the state has {len(groups)} parameter groups, "
                f"the optimizer {len(self.param_groups)}"
            )
        params = []
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: a group has {len(theirs['params'])} parameters in "
                    f"the state and {len(mine['params'])} in the optimizer"
                )
            params.extend(zip(mine["params"], theirs["params"]))
        new_state = {}
        for p, idx in params:
            s = state.get(idx, state.get(str(idx)))
            if s is None:
                continue
            entry = {}
            for k, v in s.items():
                if isinstance(v, xp.ndarray) or isinstance(v, list):
                    arr = xp.array(v, dtype=p.data.dtype if xp.asarray(v).dtype.kind == "f" else None)
                    if arr.shape != p.data.shape and arr.size != 1 and arr.ndim != 0:
                        raise ValueError(
                            f"{type(self).__name__}.load_state_dict: state {k!r} has shape {arr.shape}, "
                            f"its parameter {p.data.shape}"
                        )
                    entry[k] = arr
                else:
                    entry[k] = v
            new_state[p] = entry
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = v
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {opts}")
        return "\n".join(lines) + "\n)"
