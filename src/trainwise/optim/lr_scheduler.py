"""Learning-rate schedules with PyTorch's names, arguments and ``step()`` semantics.

A scheduler owns the learning rate of every parameter group of an optimizer.
As in PyTorch, the constructor performs the first step (epoch 0), so the
optimizer already holds η₀ when training starts, and records the groups'
original rates as ``group["initial_lr"]`` (``scheduler.base_lrs``). Each call
to ``step()`` (after ``optimizer.step()``) advances ``last_epoch`` by one and
writes the new rates into ``group["lr"]``; ``get_last_lr()`` returns them.

Schedules from the notes (seeds/002 "Learning Rate Scheduling", "Warmup
Strategies"), in the notes' symbols (η₀ the base rate, t = ``last_epoch``):

- step decay           ``StepLR``:          η_t = η₀ γ^⌊t/s⌋
- exponential decay    ``ExponentialLR``:   η_t = η₀ γ^t  (the notes' η₀e^{−kt} with γ = e^{−k})
- cosine annealing     ``CosineAnnealingLR``, ``CosineAnnealingWarmRestarts``
- linear warmup        ``LinearLR``:        η_t = η₀ (s + (e − s)·min(t, T)/T)
- cosine warmup        ``CosineWarmup``:    η_t = η₀ ½(1 + cos(π(1 − t/T))), t ≤ T
- warmup then cosine   ``warmup_cosine(...)`` (one ``SequentialLR``)

How trainwise differs from PyTorch, on purpose:

- Every schedule is computed in **closed form** from ``last_epoch`` (PyTorch
  updates most of them recursively from the optimizer's current rate). The
  numbers agree to rounding (the tests check 1e-10 over 200 steps), and a
  schedule cannot drift or be thrown off by whoever touched ``group["lr"]``.
  The one consequence: stepping two schedulers on one optimizer does not
  multiply their effects as PyTorch's "chainable" schedulers do (the last one
  stepped wins); compose schedules with ``SequentialLR`` or ``LambdaLR``.
  ``MultiplicativeLR`` and ``ReduceLROnPlateau`` are recursive by nature and
  keep their running rate in their own state.
- ``state_dict()`` holds only JSON values (numbers, strings, lists, dicts),
  never the optimizer or a function, and ``load_state_dict()`` also writes the
  restored rates back into the optimizer's groups. A resumed run therefore
  continues at exactly the rate an uninterrupted one would, whichever order
  the optimizer and the scheduler are restored in. (PyTorch's ``SequentialLR``
  gets this wrong when the optimizer is restored before the scheduler is
  built: building it resets ``group["lr"]``, loading its state does not put
  the rate back, and its recursive children then scale the wrong rate for the
  rest of training; pytorch/pytorch#119168. Built with ``last_epoch=N`` it
  restarts the first child at epoch 0; pytorch/pytorch#162591.)
- ``LinearLR`` accepts ``start_factor=0`` (PyTorch's recursion divides by it),
  which gives the notes' linear warmup η_t = η₀ t/T.

Example::

    opt = trainwise.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = trainwise.optim.lr_scheduler.warmup_cosine(opt, warmup_steps=100, total_steps=1000)
    for batch in loader:
        ...; opt.step(); sched.step()
"""
from __future__ import annotations

import copy
import math
import types
from bisect import bisect_right

from ..backend import xp
from .optimizer import Optimizer, check_number

__all__ = [
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
    "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CosineWarmup",
    "OneCycleLR", "SequentialLR", "ReduceLROnPlateau", "warmup_cosine",
]


# ----------------------------------------------------------------- validation
def _check_optimizer(owner: str, optimizer):
    """An Optimizer, or a wrapper that looks like one (``param_groups`` of dicts with "lr", and ``step``)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    groups = getattr(optimizer, "param_groups", None)
    if (callable(getattr(optimizer, "step", None)) and isinstance(groups, list) and groups
            and all(isinstance(g, dict) and "lr" in g for g in groups)):
        return optimizer
    raise TypeError(
        f"{owner}: 'optimizer' must be a trainwise.optim.Optimizer; got {type(optimizer).__name__}"
    )


def _check_int(owner: str, name: str, value, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or (low is not None and value < low):
        what = "an int" if low is None else f"an int >= {low}"
        raise ValueError(f"{owner}: '{name}' must be {what}; got {value!r}")
    return int(value)


def _check_milestones(owner: str, milestones, low: int = 0) -> list[int]:
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise ValueError(f"{owner}: 'milestones' must be a list of increasing ints; got {milestones!r}")
    ms = list(milestones)
    for m in ms:
        if isinstance(m, bool) or not isinstance(m, (int, xp.integer)) or m < low:
            raise ValueError(f"{owner}: 'milestones' must be ints >= {low}; got {ms!r}")
    if any(b <= a for a, b in zip(ms, ms[1:])):
        raise ValueError(f"{owner}: 'milestones' must be strictly increasing; got {ms!r}")
    return [int(m) for m in ms]


def _per_group(owner: str, name: str, value, optimizer) -> list[float]:
    """One float per parameter group: a number is repeated, a list must match the group count."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{owner}: '{name}' has {len(value)} values; the optimizer has {n} parameter groups")
        return [float(check_number(owner, name, v)) for v in value]
    return [float(check_number(owner, name, value))] * n


def _json_copy(value):
    """A deep copy in plain JSON types (tuples become lists, NumPy scalars Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _json_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_copy(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, xp.integer)):
        return int(value)
    if isinstance(value, (float, xp.floating)):
        return float(value)
    raise TypeError(f"state value {value!r} of type {type(value).__name__} is not JSON-serializable")


# ----------------------------------------------------------------- base class
class LRScheduler:
    """Base class: a schedule η_t per parameter group, t = ``last_epoch``.

    A subclass defines ``get_lr()``, the rates at the current ``last_epoch``
    in closed form. ``last_epoch=-1`` (default) starts a new schedule and sets
    ``group["initial_lr"]`` from ``group["lr"]``; any other value resumes as
    PyTorch does (the groups must already hold "initial_lr", and the
    constructor's step moves to ``last_epoch + 1``). Prefer
    ``load_state_dict`` for resuming.
    """

    def __init__(self, optimizer, last_epoch: int = -1):
        name = type(self).__name__
        self.optimizer = _check_optimizer(name, optimizer)
        last_epoch = _check_int(name, "last_epoch", last_epoch, low=-1)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: param_groups[{i}] has no 'initial_lr', needed to resume with "
                        f"last_epoch={last_epoch}; restore the optimizer's state first, or use load_state_dict"
                    )
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    # --------------------------------------------------------------- the rule
    def get_lr(self) -> list[float]:
        """The learning rates at ``last_epoch`` (closed form; subclasses define it)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` wrote into the optimizer, one per group."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance to ``last_epoch + 1`` (or to ``epoch``) and set every group's rate.

        Call it after ``optimizer.step()``.
        """
        if epoch is not None:
            epoch = _check_int(type(self).__name__, "epoch", epoch, low=0)
        self._step_count += 1
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        self._apply(self.get_lr())

    def _apply(self, lrs) -> None:
        lrs = [float(v) for v in lrs]
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = lrs

    def _restart(self, first: bool = False) -> None:
        """Go back to epoch 0: ``SequentialLR`` calls this when the schedule becomes active
        (``first``: at its own start, when the groups hold their initial rates)."""
        self.last_epoch = 0
        self._apply(self.get_lr())

    # ------------------------------------------------------------ state dict
    _not_state = ("optimizer",)

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (and functions), as plain JSON values."""
        return {k: _json_copy(v) for k, v in self.__dict__.items() if k not in self._not_state}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()`` and write its rates back into the optimizer's groups.

        Raises ValueError when the state belongs to another kind of scheduler
        or to an optimizer with a different number of parameter groups.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict: 'state_dict' must be a dict; got {type(state_dict).__name__}")
        mine = set(self.state_dict())
        theirs = set(state_dict)
        if mine != theirs:
            raise ValueError(
                f"{name}.load_state_dict: the state does not belong to a {name}: "
                f"missing {sorted(mine - theirs) or 'none'}, unexpected {sorted(theirs - mine) or 'none'}"
            )
        n = len(self.optimizer.param_groups)
        if len(state_dict["_last_lr"]) != n:
            raise ValueError(
                f"{name}.load_state_dict: the state has {len(state_dict['_last_lr'])} learning rates, "
                f"the optimizer {n} parameter groups"
            )
        self._load(state_dict)
        for group, base in zip(self.optimizer.param_groups, getattr(self, "base_lrs", [None] * n)):
            if base is not None:
                group["initial_lr"] = base
        self._apply(self._last_lr)

    def _load(self, state_dict: dict) -> None:
        self.__dict__.update(copy.deepcopy(state_dict))

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


# ------------------------------------------------------------ lambda schedules
class _LambdaBase(LRScheduler):
    """Shared by LambdaLR and MultiplicativeLR: one function of the epoch per group."""

    _not_state = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"{name}: 'lr_lambda' has {len(lr_lambda)} functions; the optimizer has {n} groups")
            fns = list(lr_lambda)
        else:
            fns = [lr_lambda] * n
        for f in fns:
            if not callable(f):
                raise TypeError(f"{name}: 'lr_lambda' must be a function of the epoch; got {type(f).__name__}")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict:
        """As PyTorch: functions are skipped (None); a callable object's ``__dict__`` is kept."""
        state = super().state_dict()
        plain = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)
        state["lr_lambdas"] = [None if isinstance(f, plain) or not hasattr(f, "__dict__") else _json_copy(vars(f))
                               for f in self.lr_lambdas]
        return state

    def _load(self, state_dict: dict) -> None:
        state = copy.deepcopy(state_dict)
        saved = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for f, d in zip(self.lr_lambdas, saved):
            if d is not None:
                f.__dict__.update(d)


class LambdaLR(_LambdaBase):
    """η_t = η₀ · λ(t), with ``lr_lambda`` a function of the epoch (or one per group).

    Example: ``LambdaLR(opt, lambda t: 0.95 ** t)``. The state dict skips plain
    functions (rebuild the scheduler with the same ones before loading).
    """

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaBase):
    """η_t = η_{t−1} · λ(t) for t ≥ 1; η_0 is the group's rate when the scheduler starts.

    Recursive by definition, so the running rate lives in the scheduler's own
    state (``_last_lr``), not in whatever ``group["lr"]`` holds.
    Example: ``MultiplicativeLR(opt, lambda t: 0.95)``.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        self._last_lr = None
        super().__init__(optimizer, lr_lambda, last_epoch)

    def get_lr(self):
        if self._last_lr is None:  # the constructor's step: keep the groups' rates
            return [g["lr"] for g in self.optimizer.param_groups]
        return [lr * f(self.last_epoch) for f, lr in zip(self.lr_lambdas, self._last_lr)]

    def _restart(self, first=False):
        # as PyTorch's SequentialLR: first, the groups' rates; at a milestone, the rate the
        # previous schedule left times λ(0)
        self.last_epoch = 0
        self._apply([g["lr"] * (1.0 if first else f(0)) for f, g in zip(self.lr_lambdas, self.optimizer.param_groups)])


# -------------------------------------------------------------- step schedules
class StepLR(LRScheduler):
    """Step decay: η_t = η₀ · γ^⌊t / step_size⌋ (seeds/002 "Step Decay").

    Example: ``StepLR(opt, step_size=30, gamma=0.1)`` divides the rate by 10 every 30 epochs.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _check_int("StepLR", "step_size", step_size, low=1)
        self.gamma = float(check_number("StepLR", "gamma", gamma, low=0.0, low_open=True))
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        k = self.last_epoch // self.step_size
        return [base * self.gamma**k for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """η_t = η₀ · γ^(number of milestones ≤ t).

    Example: ``MultiStepLR(opt, milestones=[30, 80], gamma=0.1)``. Milestones
    must be strictly increasing (PyTorch counts a repeated one twice).
    """

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = _check_milestones("MultiStepLR", milestones)
        self.gamma = float(check_number("MultiStepLR", "gamma", gamma, low=0.0, low_open=True))
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        k = bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma**k for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """η_t = η₀ · factor for t < total_iters, then η₀.

    Example: ``ConstantLR(opt, factor=0.5, total_iters=4)``.
    """

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        self.factor = float(check_number("ConstantLR", "factor", factor, low=0.0, high=1.0))
        self.total_iters = _check_int("ConstantLR", "total_iters", total_iters, low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = self.factor if self.last_epoch < self.total_iters else 1.0
        return [base * f for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warmup (or decay) of the factor: η_t = η₀ (s + (e − s) · min(t, T)/T).

    s = ``start_factor``, e = ``end_factor``, T = ``total_iters``. With s = 0,
    e = 1 this is the notes' linear warmup η_t = η_final · t / T_warmup
    (seeds/002 "Warmup Strategies"); PyTorch requires s > 0.
    Example: ``LinearLR(opt, start_factor=0.1, total_iters=10)``.
    """

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1):
        self.start_factor = float(check_number("LinearLR", "start_factor", start_factor, low=0.0, high=1.0))
        self.end_factor = float(check_number("LinearLR", "end_factor", end_factor, low=0.0, high=1.0))
        self.total_iters = _check_int("LinearLR", "total_iters", total_iters, low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        s, e, T = self.start_factor, self.end_factor, self.total_iters
        f = s + (e - s) * min(T, self.last_epoch) / T
        return [base * f for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Exponential decay: η_t = η₀ · γ^t.

    The notes write η_t = η₀ e^{−kt} (seeds/002 "Exponential Decay"); that is
    this schedule with γ = e^{−k}. Example: ``ExponentialLR(opt, gamma=math.exp(-0.01))``.
    """

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = float(check_number("ExponentialLR", "gamma", gamma, low=0.0, low_open=True))
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """η_t = η₀ · (1 − min(t, T)/T)^power, T = ``total_iters``.

    Example: ``PolynomialLR(opt, total_iters=100, power=2.0)``.
    """

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters = _check_int("PolynomialLR", "total_iters", total_iters, low=1)
        self.power = float(check_number("PolynomialLR", "power", power, low=0.0))
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
        return [base * f for base in self.base_lrs]


# ------------------------------------------------------------ cosine schedules
def _cosine(eta_max: float, eta_min: float, t: float, T: float) -> float:
    """η_min + ½(η_max − η_min)(1 + cos(π t / T))."""
    return eta_min + (eta_max - eta_min) * (1.0 + math.cos(math.pi * t / T)) / 2.0


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (Loshchilov & Hutter 2017, "SGDR"; seeds/002 "Cosine Annealing"):

        η_t = η_min + ½(η₀ − η_min)(1 + cos(π t / T_max))

    computed in closed form. Past T_max the cosine keeps going (the rate climbs
    back to η₀ at 2·T_max), which is what PyTorch's recursive form produces too;
    for restarts use ``CosineAnnealingWarmRestarts``.
    Example: ``CosineAnnealingLR(opt, T_max=100, eta_min=1e-5)``.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = check_number("CosineAnnealingLR", "T_max", T_max, low=0.0, low_open=True)
        self.eta_min = float(check_number("CosineAnnealingLR", "eta_min", eta_min, low=0.0))
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [_cosine(base, self.eta_min, self.last_epoch, self.T_max) for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR, cosine annealing with warm restarts (Loshchilov & Hutter 2017):

        η_t = η_min + ½(η₀ − η_min)(1 + cos(π T_cur / T_i))

    T_cur counts epochs since the last restart; the i-th period lasts
    T_i = T_0 · T_mult^i. ``step(epoch)`` accepts a fractional epoch
    (``step(epoch + i / iters)`` within an epoch), as PyTorch's does.
    Example: ``CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)``.
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_0 = _check_int("CosineAnnealingWarmRestarts", "T_0", T_0, low=1)
        self.T_mult = _check_int("CosineAnnealingWarmRestarts", "T_mult", T_mult, low=1)
        self.eta_min = float(check_number("CosineAnnealingWarmRestarts", "eta_min", eta_min, low=0.0))
        self.T_i = self.T_0
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def _locate(self, epoch) -> None:
        """T_cur and T_i at ``epoch``: subtract whole periods (exact for integers, unlike a log)."""
        t, T = epoch, self.T_0
        while t >= T:
            t -= T
            T *= self.T_mult
            if self.T_mult == 1:
                t = t % T
                break
        self.T_cur, self.T_i = t, T

    def step(self, epoch=None) -> None:
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            epoch = check_number("CosineAnnealingWarmRestarts", "epoch", epoch, low=0.0)
        self._step_count += 1
        self._locate(epoch)
        self.last_epoch = math.floor(epoch)
        self._apply(self.get_lr())

    def _restart(self, first=False):
        self.T_cur, self.T_i, self.last_epoch = 0, self.T_0, 0
        self._apply(self.get_lr())

    def get_lr(self):
        return [_cosine(base, self.eta_min, self.T_cur, self.T_i) for base in self.base_lrs]


class CosineWarmup(LRScheduler):
    """Cosine warmup (seeds/002 "Warmup Strategies"):

        η_t = η₀ · ½(1 + cos(π(1 − t/T)))  for t ≤ T,  η₀ after,

    rising from 0 at t = 0 to η₀ at t = T = ``warmup_steps`` along half a
    cosine (slow, fast, slow). Follow it with a decay through ``SequentialLR``,
    or use ``warmup_cosine``. Example: ``CosineWarmup(opt, warmup_steps=500)``.
    """

    def __init__(self, optimizer, warmup_steps: int, last_epoch: int = -1):
        self.warmup_steps = _check_int("CosineWarmup", "warmup_steps", warmup_steps, low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = min(self.last_epoch, self.warmup_steps)
        f = (1.0 + math.cos(math.pi * (1.0 - t / self.warmup_steps))) / 2.0
        return [base * f for base in self.base_lrs]


# ---------------------------------------------------------------- one cycle
class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018, "Super-Convergence"), PyTorch's form.

    The rate starts at η_init = max_lr / div_factor, anneals up to ``max_lr``
    over the first ``pct_start`` of ``total_steps``, then down to
    η_min = η_init / final_div_factor. With ``three_phase`` it comes back to
    η_init over a second, equal phase, and only then down to η_min. Each phase
    anneals from a to b over its steps with fraction p done:

        cos:    b + ½(a − b)(1 + cos(π p))        linear: a + (b − a) p

    Phase boundaries are at step pct_start·N − 1 (and 2·pct_start·N − 2), as
    in PyTorch. With ``cycle_momentum`` (the optimizer must have ``momentum``
    or ``betas``) the momentum (β₁ for Adam) moves the other way, from
    ``max_momentum`` down to ``base_momentum`` while the rate rises, and back.
    The schedule has ``total_steps`` (or ``epochs·steps_per_epoch``) steps
    after the initial one; stepping past that is an error, as in PyTorch.
    Example: ``OneCycleLR(opt, max_lr=0.1, total_steps=1000)``.
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        name = "OneCycleLR"
        _check_optimizer(name, optimizer)
        if total_steps is not None:
            self.total_steps = _check_int(name, "total_steps", total_steps, low=1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_check_int(name, "epochs", epochs, low=1)
                                * _check_int(name, "steps_per_epoch", steps_per_epoch, low=1))
        else:
            raise ValueError(f"{name}: give 'total_steps', or both 'epochs' and 'steps_per_epoch'; "
                             f"got total_steps={total_steps!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}")
        pct_start = float(check_number(name, "pct_start", pct_start, low=0.0, high=1.0))
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: 'anneal_strategy' must be 'cos' or 'linear'; got {anneal_strategy!r}")
        div_factor = float(check_number(name, "div_factor", div_factor, low=0.0, low_open=True))
        final_div_factor = float(check_number(name, "final_div_factor", final_div_factor, low=0.0, low_open=True))
        self.max_lrs = _per_group(name, "max_lr", max_lr, optimizer)
        for v in self.max_lrs:
            check_number(name, "max_lr", v, low=0.0)
        self.initial_lrs = [m / div_factor for m in self.max_lrs]
        self.min_lrs = [i / final_div_factor for i in self.initial_lrs]
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        n = self.total_steps
        if self.three_phase:
            # (end step, start key, end key) with keys into lr / momentum tables, as PyTorch's phases
            self._phases = [[pct_start * n - 1, "initial", "max", "max", "base"],
                            [2 * pct_start * n - 2, "max", "initial", "base", "max"],
                            [n - 1, "initial", "min", "max", "max"]]
        else:
            self._phases = [[pct_start * n - 1, "initial", "max", "max", "base"],
                            [n - 1, "max", "min", "base", "max"]]
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = False
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with 'momentum' or 'betas'; "
                                 f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            self.max_momentums = _per_group(name, "max_momentum", max_momentum, optimizer)
            self.base_momentums = _per_group(name, "base_momentum", base_momentum, optimizer)
        if last_epoch == -1:
            for group, init, mx, mn in zip(optimizer.param_groups, self.initial_lrs, self.max_lrs, self.min_lrs):
                group["initial_lr"], group["max_lr"], group["min_lr"] = init, mx, mn
        self._last_momentum = None
        super().__init__(optimizer, last_epoch)

    def _anneal(self, a: float, b: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (b - a) * pct + a

    def _at(self, step: int):
        """(rates, momenta) at ``step``."""
        lrs, moms = [], []
        for i in range(len(self.base_lrs)):
            table = {"initial": self.initial_lrs[i], "max": self.max_lrs[i], "min": self.min_lrs[i]}
            mtable = ({"max": self.max_momentums[i], "base": self.base_momentums[i]}
                      if self.cycle_momentum else None)
            start = 0.0
            for j, (end, a, b, ma, mb) in enumerate(self._phases):
                if step <= end or j == len(self._phases) - 1:
                    pct = (step - start) / (end - start) if end != start else 1.0
                    lrs.append(self._anneal(table[a], table[b], pct))
                    if mtable is not None:
                        moms.append(self._anneal(mtable[ma], mtable[mb], pct))
                    break
                start = end
        return lrs, moms

    def step(self, epoch=None):
        nxt = self.last_epoch + 1 if epoch is None else _check_int("OneCycleLR", "epoch", epoch, low=0)
        if nxt > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {nxt} times; the schedule has total_steps={self.total_steps}")
        super().step(epoch)

    def get_lr(self):
        lrs, moms = self._at(self.last_epoch)
        if self.cycle_momentum:
            self._set_momentum(moms)
        return lrs

    def _set_momentum(self, moms) -> None:
        for group, m in zip(self.optimizer.param_groups, moms):
            if self.use_beta1:
                group["betas"] = (m, *tuple(group["betas"])[1:])
            else:
                group["momentum"] = m
        self._last_momentum = [float(m) for m in moms]

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if self.cycle_momentum and self._last_momentum is not None:
            self._set_momentum(self._last_momentum)
        for group, init, mx, mn in zip(self.optimizer.param_groups, self.initial_lrs, self.max_lrs, self.min_lrs):
            group["initial_lr"], group["max_lr"], group["min_lr"] = init, mx, mn


# --------------------------------------------------------------- sequencing
class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at ``milestones``.

    Scheduler i is active for milestones[i−1] ≤ t < milestones[i] and sees its
    own epoch count restarting at 0 at its milestone, as in PyTorch. Build the
    children on the same optimizer first. The state dict nests the children's.
    Unlike PyTorch's, resuming is exact (see the module docstring).
    Example: ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), ExponentialLR(opt, 0.9)], milestones=[5])``.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        name = "SequentialLR"
        _check_optimizer(name, optimizer)
        schedulers = list(schedulers) if isinstance(schedulers, (list, tuple)) else schedulers
        if not isinstance(schedulers, list) or not schedulers:
            raise ValueError(f"{name}: 'schedulers' must be a non-empty list of schedulers; got {schedulers!r}")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise TypeError(f"{name}: schedulers[{i}] must be an LRScheduler; got {type(s).__name__}")
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"{name}: schedulers[{i}] is a ReduceLROnPlateau, whose step() needs a metric; "
                                 f"it cannot be sequenced")
            if s.optimizer is not optimizer:
                raise ValueError(f"{name}: schedulers[{i}] ({type(s).__name__}) belongs to another optimizer")
        milestones = _check_milestones(name, milestones, low=1)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{name}: needs one milestone fewer than schedulers; got {len(schedulers)} schedulers "
                             f"and {len(milestones)} milestones")
        last_epoch = _check_int(name, "last_epoch", last_epoch, low=-1)
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = 0
        self._step_count = 1
        schedulers[0]._restart(first=True)
        self._last_lr = schedulers[0].get_last_lr()
        for _ in range(last_epoch + 1):  # resuming by epoch number: replay the steps, children included
            self.step()

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        child = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            child._restart()
        else:
            child.step()
        self._last_lr = child.get_last_lr()
        self._apply(self._last_lr)

    def get_lr(self):
        return list(self._last_lr)

    def _restart(self, first=False):  # a SequentialLR inside a SequentialLR
        self.last_epoch = 0
        self._schedulers[0]._restart(first)
        self._last_lr = self._schedulers[0].get_last_lr()

    _not_state = ("optimizer", "_schedulers")

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def _load(self, state_dict):
        state = copy.deepcopy(state_dict)
        children = state.pop("_schedulers")
        if len(children) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: the state has {len(children)} schedulers, "
                             f"this SequentialLR {len(self._schedulers)}")
        for s, sd in zip(self._schedulers, children):
            s.load_state_dict(sd)
        self.__dict__.update(state)


def warmup_cosine(optimizer, warmup_steps: int, total_steps: int, eta_min: float = 0.0,
                  warmup: str = "linear") -> SequentialLR:
    """Warmup, then cosine decay to ``eta_min`` at ``total_steps``, as one scheduler.

        t < W:        η₀ · t/W (linear)  or  η₀ · ½(1 + cos(π(1 − t/W))) (cosine)
        W ≤ t ≤ N:    η_min + ½(η₀ − η_min)(1 + cos(π (t − W)/(N − W)))

    W = ``warmup_steps`` (0: no warmup), N = ``total_steps`` (seeds/002 "Warmup Strategies"
    and "Cosine Annealing"; with η_min = 0 and linear warmup this is Hugging
    Face's ``get_cosine_schedule_with_warmup``). Built as ``SequentialLR`` of
    ``LinearLR(start_factor=0)`` or ``CosineWarmup`` and ``CosineAnnealingLR``.
    Example: ``sched = warmup_cosine(opt, warmup_steps=100, total_steps=1000)``.
    """
    W = _check_int("warmup_cosine", "warmup_steps", warmup_steps, low=0)
    N = _check_int("warmup_cosine", "total_steps", total_steps, low=1)
    if N <= W:
        raise ValueError(f"warmup_cosine: 'total_steps' must exceed 'warmup_steps' ({W}); got {N}")
    if warmup not in ("linear", "cosine"):
        raise ValueError(f"warmup_cosine: 'warmup' must be 'linear' or 'cosine'; got {warmup!r}")
    if W == 0:  # no warmup: the cosine alone, still one SequentialLR
        return SequentialLR(optimizer, [CosineAnnealingLR(optimizer, T_max=N, eta_min=eta_min)], milestones=[])
    if warmup == "linear":
        first = LinearLR(optimizer, start_factor=0.0, end_factor=1.0, total_iters=W)
    else:
        first = CosineWarmup(optimizer, warmup_steps=W)
    decay = CosineAnnealingLR(optimizer, T_max=N - W, eta_min=eta_min)
    return SequentialLR(optimizer, [first, decay], milestones=[W])


# ------------------------------------------------------------- on a plateau
class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` when a metric has stopped improving (PyTorch's rules).

    ``step(metric)`` once per evaluation. The metric improves when it beats the
    best so far by the threshold: mode "min", "rel": m < best·(1 − threshold);
    "min", "abs": m < best − threshold; "max" mirrors these. After more than
    ``patience`` evaluations without improvement the rate becomes
    max(η·factor, min_lr) (skipped if that changes it by no more than ``eps``),
    and then ``cooldown`` evaluations pass before bad ones count again.
    ``best`` is None until the first metric (PyTorch starts it at ±inf), so
    that the state dict is plain JSON.
    Example: ``sched = ReduceLROnPlateau(opt, "min", factor=0.5, patience=3); sched.step(val_loss)``.
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        name = "ReduceLROnPlateau"
        self.optimizer = _check_optimizer(name, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: 'mode' must be 'min' or 'max'; got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: 'threshold_mode' must be 'rel' or 'abs'; got {threshold_mode!r}")
        self.factor = float(check_number(name, "factor", factor, low=0.0, high=1.0, high_open=True))
        self.patience = _check_int(name, "patience", patience, low=0)
        self.threshold = float(check_number(name, "threshold", threshold, low=0.0))
        self.cooldown = _check_int(name, "cooldown", cooldown, low=0)
        self.min_lrs = _per_group(name, "min_lr", min_lr, optimizer)
        for v in self.min_lrs:
            check_number(name, "min_lr", v, low=0.0)
        self.eps = float(check_number(name, "eps", eps, low=0.0))
        self.mode, self.threshold_mode = mode, threshold_mode
        self.best = None  # None until the first metric: JSON has no infinity
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float) -> bool:
        best = self.best
        if best is None:
            return a == a  # anything but NaN beats "nothing yet"
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics) -> None:
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: 'metrics' must be a number; got {metrics!r}") from None
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_lr(self):
        return list(self._last_lr)
