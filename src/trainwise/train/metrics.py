"""Metrics computed from a batch's model output and target (plain numbers, no graph)."""
from __future__ import annotations

from ..backend import xp


def _arrays(output, target):
    o = output.data if hasattr(output, "data") and not isinstance(output, xp.ndarray) else output
    t = target.data if hasattr(target, "data") and not isinstance(target, xp.ndarray) else target
    return xp.asarray(o), xp.asarray(t)


def accuracy(output, target) -> float:
    """Fraction of samples whose arg-max class (or, for one output, logit > 0) equals the target."""
    o, t = _arrays(output, target)
    if o.ndim >= 2 and o.shape[1] > 1:
        pred = o.argmax(axis=1)
    else:
        pred = (o.reshape(t.shape) > 0).astype(t.dtype)
    if t.ndim == o.ndim and t.dtype.kind == "f" and o.ndim >= 2 and o.shape[1] > 1:
        t = t.argmax(axis=1)  # probability targets
    return float((pred == t).mean())


def mse(output, target) -> float:
    o, t = _arrays(output, target)
    return float(((o.reshape(t.shape) - t) ** 2).mean())


def mae(output, target) -> float:
    o, t = _arrays(output, target)
    return float(xp.abs(o.reshape(t.shape) - t).mean())


METRICS = {"accuracy": accuracy, "acc": accuracy, "mse": mse, "mae": mae}


def resolve_metrics(metrics) -> dict:
    """Names or callables -> {name: fn(output, target) -> float}."""
    out = {}
    for m in metrics or ():
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(f"Trainer: unknown metric {m!r}; expected one of {sorted(METRICS)} or a callable")
            out["accuracy" if m == "acc" else m] = METRICS[m]
        elif callable(m):
            out[getattr(m, "__name__", "metric")] = m
        else:
            raise TypeError(f"Trainer: 'metrics' entries must be names or callables; got {m!r}")
    return out
