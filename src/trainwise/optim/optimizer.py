"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

As in PyTorch, an optimizer holds ``param_groups`` (a list of dicts, each with
``"params"`` and its hyper-parameters such as ``"lr"``) and ``state`` (a dict
from parameter to a dict of named ndarrays and numbers, e.g.
``{"step": 3, "exp_avg": ndarray}``). A subclass validates its
hyper-parameters in ``_validate_group`` and updates one group in
``_step_group``; the base ``step()`` runs the optional closure and calls it
for every group. Schedulers change ``group["lr"]`` between steps; the rules
read it afresh at every step.

Update rules write into the parameters and their state in place. The
temporaries a rule needs come from ``scratch(p, i)``: two flat work buffers
per dtype, sized to the largest parameter and reused for every parameter and
every step, so a step allocates no parameter-sized arrays. They are not part
of the state and never saved.
"""
from __future__ import annotations

import math

from ..backend import xp
from ..tensor import Tensor, enable_grad


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


def check_flag(owner: str, name: str, value) -> bool:
    """Validate a boolean option (``nesterov``, ``amsgrad``, ...): a bool, not a truthy number."""
    if not isinstance(value, (bool, xp.bool_)):
        raise ValueError(f"{owner}: '{name}' must be True or False; got {value!r}")
    return bool(value)


class Optimizer:
    """Base class. ``params`` is an iterable of Tensors or of dicts (parameter groups).

    ``Optimizer(params, defaults)``: each group gets the ``defaults`` it does
    not override, as in ``torch.optim.Optimizer``:
    ``SGD([{"params": body}, {"params": head, "lr": 1e-2}], lr=1e-3)``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        self._scratch: dict = {}
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
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}.add_param_group: 'group' must be a dict with a 'params' key; got {group!r:.80}")
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: every parameter must be a Tensor; parameter {i} is a {type(p).__name__}")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{name}: parameters must be floating; parameter {i} has dtype {p.data.dtype}")
        first = {}
        for i, p in enumerate(ps):
            if id(p) in first:
                raise ValueError(
                    f"{name}: parameter {i} (shape {p.shape}) is the same tensor as parameter {first[id(p)]} "
                    f"of its group; pass each parameter once"
                )
            first[id(p)] = i
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(ps):
            if id(p) in seen:
                raise ValueError(
                    f"{name}: parameter {i} (shape {p.shape}) of the new group is already in another "
                    f"parameter group; pass each parameter once"
                )
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr", "name"}
        if unknown:
            raise ValueError(
                f"{name}: unknown option(s) {sorted(unknown)} in a parameter group; "
                f"allowed: {sorted(self.defaults)}"
            )
        new = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}, "params": ps}
        self._validate_group(new)
        self.param_groups.append(new)

    def _validate_group(self, group: dict) -> None:
        """Subclasses check their hyper-parameters here (called for every group)."""
        check_number(type(self).__name__, "lr", group["lr"], low=0.0)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (default, as PyTorch) or fill them with zeros."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    # -------------------------------------------------------------------- step
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given.

        ``closure`` re-evaluates the model and returns the loss (it runs with
        gradient recording on, before the update), as in PyTorch.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        """Update the parameters of one group; parameters whose ``grad`` is None are skipped."""
        raise NotImplementedError(f"{type(self).__name__} does not define _step_group")

    def scratch(self, p, i: int = 0):
        """Work buffer ``i`` (0 or 1) viewed with the shape and dtype of ``p`` (an ndarray or Tensor).

        The buffers are shared by all parameters of a dtype and overwritten by
        the next call; a rule must be done with one before using it for the
        next parameter.
        """
        a = p.data if isinstance(p, Tensor) else p
        key = (a.shape, a.dtype, i)
        view = self._scratch.get(key)
        if view is None:
            flat = self._scratch.get((a.dtype, i))
            if flat is None or flat.size < a.size:
                # a bigger buffer: the views of the old one are dropped with it
                for k in [k for k in self._scratch if len(k) == 3 and k[1] == a.dtype and k[2] == i]:
                    del self._scratch[k]
                flat = self._scratch[(a.dtype, i)] = xp.empty(a.size, dtype=a.dtype)
            view = self._scratch[key] = flat[: a.size].reshape(a.shape)
        return view

    # -------------------------------------------------------------- state dict
    def state_dict(self) -> dict:
        """``{"state": {index: {name: ndarray | number}}, "param_groups": [...]}``.

        Parameters are referred to by their position across groups, as in
        PyTorch, so the dict loads into a fresh optimizer over other tensors.
        Arrays are copies; the dict holds only ndarrays, numbers, bools,
        strings, tuples and lists, so it serializes without pickle.
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
        """Restore hyper-parameters and state; the group sizes must match.

        Arrays are copied into the parameters' dtype; integer 0-d arrays (a
        ``step`` read back from a file) become Python ints again.
        """
        name = type(self).__name__
        try:
            groups, state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: 'state_dict' needs 'state' and 'param_groups'") from None
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state has {len(groups)} parameter groups, "
                f"the optimizer {len(self.param_groups)}"
            )
        params = []
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: a group has {len(theirs['params'])} parameters in "
                    f"the state and {len(mine['params'])} in the optimizer"
                )
            params.extend(zip(mine["params"], theirs["params"]))
        new_state = {}
        for p, idx in params:
            s = state.get(idx, state.get(str(idx)))
            if s is None:
                continue
            new_state[p] = {k: _state_value(name, k, v, p) for k, v in s.items()}
        new_groups = []
        for mine, theirs in zip(self.param_groups, groups):
            g = {**mine, **{k: v for k, v in theirs.items() if k != "params"}}
            if isinstance(g.get("betas"), list):
                g["betas"] = tuple(g["betas"])
            self._validate_group(g)
            new_groups.append(g)
        for mine, g in zip(self.param_groups, new_groups):
            mine.update(g)
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {opts}")
        return "\n".join(lines) + "\n)"


def _state_value(owner: str, key: str, v, p: Tensor):
    """A state entry read from a state dict, as the optimizer keeps it (a fresh array or a number)."""
    if not isinstance(v, (xp.ndarray, list)):
        return v
    arr = xp.asarray(v)
    if arr.ndim == 0 and (arr.dtype.kind in "iub" or p.data.ndim != 0):
        return arr.item()
    if arr.dtype.kind == "f":
        arr = xp.array(arr, dtype=p.data.dtype, copy=True)
    else:
        arr = xp.array(arr, copy=True)
    if arr.shape != p.data.shape:
        raise ValueError(
            f"{owner}.load_state_dict: state {key!r} has shape {arr.shape}, its parameter {p.data.shape}"
        )
    return arr


def grad_with_decay(param, grad, weight_decay: float, maximize: bool, scratch):
    """g' = ±g + λθ: the gradient (negated to ascend when ``maximize``) plus coupled L2 decay.

    This is the gradient of J(θ) + (λ/2)‖θ‖² (seed 001/002 "L2 regularization"),
    the form PyTorch's ``weight_decay`` adds to every rule except AdamW's.
    Returns ``grad`` itself (never written to) when there is nothing to add,
    else the result in the work buffer ``scratch(param, 0)``.
    """
    if not weight_decay:
        if not maximize:
            return grad
        return xp.negative(grad, out=scratch(param, 0))
    out = scratch(param, 0)
    xp.multiply(param, weight_decay, out=out)
    if maximize:
        xp.subtract(out, grad, out=out)
    else:
        out += grad
    return out
