"""The learning-rate range test ("LR finder").

Smith, "Cyclical Learning Rates for Training Neural Networks" (2017), §3.3:
train for a few hundred steps while the learning rate grows exponentially
from tiny to huge, and watch the loss. It stays flat while the rate is too
small to matter, falls fastest somewhere in the useful range, and blows up
once the rate is too large. seeds/002 "Practical Guidelines": "Learning Rate:
use learning rate finder (LR range test)". The interface and the two
suggestions follow fastai's ``Learner.lr_find`` ("steep" and "minimum").
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from ..backend import get_generator, xp
from ..tensor import Tensor
from .optimizer import check_number

__all__ = ["lr_find", "LRFindResult"]


@dataclass
class LRFindResult:
    """What ``lr_find`` measured.

    ``lrs`` and ``losses`` (smoothed, debiased) are ndarrays of the steps
    taken; ``raw_losses`` the unsmoothed batch losses; ``diverged`` whether
    the sweep stopped early because the loss blew up (or became NaN/inf).
    ``suggestion_steep``: the rate where the smoothed loss falls fastest per
    unit of log-rate (fastai's "steep"); ``suggestion_min10``: a tenth of the
    rate with the lowest smoothed loss (fastai's "minimum"). ``suggestion``
    is the steep one.
    """

    lrs: object
    losses: object
    suggestion_steep: float
    suggestion_min10: float
    raw_losses: object = None
    diverged: bool = False

    @property
    def suggestion(self) -> float:
        return self.suggestion_steep

    def plot(self, path) -> str:
        """Write the loss-vs-rate curve (log x, both suggestions marked) as a PNG to ``path``."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(self.lrs, self.losses, color="C0", label="smoothed loss")
        for lr, color, label in ((self.suggestion_steep, "C3", "steepest descent"),
                                 (self.suggestion_min10, "C2", "minimum / 10")):
            y = xp.interp(math.log(lr), xp.log(self.lrs), self.losses)
            ax.axvline(lr, color=color, lw=0.8, ls="--")
            ax.plot([lr], [y], "o", color=color, label=f"{label}: {lr:.2e}")
        ax.set_xscale("log")
        lo, hi, first = float(xp.min(self.losses)), float(xp.max(self.losses)), float(self.losses[0])
        top = max(first + 1.5 * (first - lo), first + 0.2 * abs(first))  # keep the blow-up from flattening the rest
        if hi > top:
            ax.set_ylim(lo - 0.05 * (top - lo), top)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title("LR range test" + (" (stopped: loss diverged)" if self.diverged else ""))
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        return str(path)


def _is_array(a) -> bool:
    return isinstance(a, (xp.ndarray, Tensor)) and a.ndim >= 1


def _as_tensor(a):
    return a if isinstance(a, Tensor) else Tensor(xp.asarray(a))


def _batches(data, batch_size: int, generator):
    """Endless (x, y) batches: from arrays (shuffled each pass) or by re-iterating ``data``."""
    if isinstance(data, tuple) and len(data) == 2 and _is_array(data[0]) and _is_array(data[1]):
        X, Y = (d.data if isinstance(d, Tensor) else d for d in data)
        n = len(X)
        while True:
            order = generator.permutation(n)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                yield Tensor(X[idx]), Tensor(Y[idx])
    count = 0
    while True:
        it = iter(data)
        got = 0
        for batch in it:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ValueError(f"lr_find: every batch of 'data' must be an (x, y) pair; got {type(batch).__name__}")
            got += 1
            count += 1
            yield _as_tensor(batch[0]), _as_tensor(batch[1])
        if got == 0:
            raise ValueError(
                f"lr_find: 'data' ran out after {count} batches; pass a list or DataLoader (re-iterable) "
                f"or a tuple of arrays (X, Y)"
            )


def _suggestions(lrs, losses, num_iter: int):
    """fastai's "steep" and "minimum / 10", on the curve without its first tenth and last 5 points."""
    lo, hi = num_iter // 10, len(lrs) - 5
    if hi - lo < 3:  # a sweep cut short: use all of it
        lo, hi = 0, len(lrs)
    l, f = lrs[lo:hi], losses[lo:hi]
    if len(l) < 2:
        steep = float(l[0])
    else:
        slope = xp.diff(f) / xp.diff(xp.log(l))
        steep = float(l[int(xp.argmin(slope))])
    return steep, float(l[int(xp.argmin(f))]) / 10.0


def lr_find(model, loss_fn, data, start_lr: float = 1e-7, end_lr: float = 10.0, num_iter: int = 100,
            optimizer=None, smooth: float = 0.98, diverge_threshold: float = 4.0, generator=None,
            batch_size: int = 32) -> LRFindResult:
    """LR range test: sweep the rate exponentially and record the smoothed loss.

    Step i of ``num_iter`` trains one batch with every group's rate at

        η_i = η_start · (η_end / η_start)^(i / (num_iter − 1))

    and records the loss as an exponential moving average, debiased as Adam's
    moments are: a_i = β a_{i−1} + (1 − β) L_i, L̂_i = a_i / (1 − β^{i+1}),
    β = ``smooth``. The sweep stops early once L̂_i > ``diverge_threshold``
    · min L̂ or a loss is NaN/inf. Afterwards the model's parameters, buffers
    and gradients, its train/eval mode and the optimizer's state dict are
    restored exactly, also when the sweep fails with an exception.

    Args:
        model: a ``trainwise.nn.Module``.
        loss_fn: ``loss_fn(model(x), y)`` -> scalar Tensor, e.g. ``nn.functional.cross_entropy``.
        data: an iterable of (x, y) batches (re-iterated when exhausted, e.g. a
            ``DataLoader``) or a tuple of arrays ``(X, Y)``, batched here
            (``batch_size`` rows, reshuffled each pass with ``generator``).
        start_lr, end_lr: the sweep's range (0 < start_lr < end_lr).
        num_iter: number of steps (at least 2).
        optimizer: the optimizer to sweep; default ``SGD(model.parameters(), momentum=0.9)``.
        smooth: β of the moving average, in [0, 1).
        diverge_threshold: stop when the smoothed loss exceeds this many times its minimum (> 1).
        generator: a ``trainwise.Generator`` for shuffling (default: the global one).

    Returns an ``LRFindResult``; ``.suggestion`` is the steepest-descent rate
    and ``.plot("lr_find.png")`` draws the curve. Source: Smith 2017; fastai.

    Example: ``lr = lr_find(model, F.cross_entropy, (X, y)).suggestion``
    """
    name = "lr_find"
    if not (callable(getattr(model, "parameters", None)) and callable(getattr(model, "state_dict", None))
            and callable(getattr(model, "load_state_dict", None))):
        raise TypeError(f"{name}: 'model' must be a trainwise.nn.Module; got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"{name}: 'loss_fn' must be callable as loss_fn(output, target); got {type(loss_fn).__name__}")
    check_number(name, "start_lr", start_lr, low=0.0, low_open=True)
    check_number(name, "end_lr", end_lr, low=start_lr, low_open=True)
    if isinstance(num_iter, bool) or not isinstance(num_iter, (int, xp.integer)) or num_iter < 2:
        raise ValueError(f"{name}: 'num_iter' must be an int >= 2; got {num_iter!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, xp.integer)) or batch_size < 1:
        raise ValueError(f"{name}: 'batch_size' must be a positive int; got {batch_size!r}")
    check_number(name, "smooth", smooth, low=0.0, high=1.0, high_open=True)
    check_number(name, "diverge_threshold", diverge_threshold, low=1.0, low_open=True)
    if isinstance(data, tuple) and len(data) == 2 and _is_array(data[0]) and _is_array(data[1]):
        if len(data[0]) != len(data[1]) or len(data[0]) == 0:
            raise ValueError(f"{name}: 'data' arrays (X, Y) must have the same non-zero length; "
                             f"got {len(data[0])} and {len(data[1])}")
    elif not hasattr(data, "__iter__"):
        raise TypeError(f"{name}: 'data' must be an iterable of (x, y) batches or a tuple (X, Y); "
                        f"got {type(data).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError(f"{name}: the model has no parameters to train")
    if optimizer is None:
        from .sgd import SGD
        optimizer = SGD(params, lr=start_lr, momentum=0.9)
    elif not (hasattr(optimizer, "param_groups") and callable(getattr(optimizer, "state_dict", None))):
        raise TypeError(f"{name}: 'optimizer' must be a trainwise.optim.Optimizer; got {type(optimizer).__name__}")

    saved_model = model.state_dict()
    saved_grads = [None if p.grad is None else p.grad.copy() for p in params]
    saved_opt = copy.deepcopy(optimizer.state_dict())
    was_training = bool(getattr(model, "training", True))
    ratio = end_lr / start_lr
    lrs, losses, raw = [], [], []
    diverged = False
    try:
        model.train()
        batches = _batches(data, int(batch_size), get_generator(generator))
        avg, best = 0.0, math.inf
        for i in range(num_iter):
            lr = start_lr * ratio ** (i / (num_iter - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = next(batches)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            value = loss.data if isinstance(loss, Tensor) else xp.asarray(loss)
            if value.size != 1:
                raise ValueError(f"{name}: 'loss_fn' must return a scalar; got shape {value.shape}")
            value = float(value.reshape(()))
            if not math.isfinite(value):
                diverged = True
                break
            avg = smooth * avg + (1.0 - smooth) * value
            smoothed = avg / (1.0 - smooth ** (i + 1))
            lrs.append(lr)
            losses.append(smoothed)
            raw.append(value)
            best = min(best, smoothed)
            if smoothed > diverge_threshold * best:
                diverged = True
                break
            loss.backward()
            optimizer.step()
    finally:
        model.load_state_dict(saved_model)
        for p, g in zip(params, saved_grads):
            p.grad = g
        optimizer.load_state_dict(saved_opt)
        model.train(was_training)
    if not lrs:
        raise RuntimeError(f"{name}: the very first loss was not finite (at lr={start_lr:g}); "
                           f"check the model and the data before searching for a rate")
    lrs_a, losses_a = xp.asarray(lrs), xp.asarray(losses)
    steep, min10 = _suggestions(lrs_a, losses_a, num_iter)
    return LRFindResult(lrs_a, losses_a, steep, min10, raw_losses=xp.asarray(raw), diverged=diverged)
