"""Stochastic gradient descent, with momentum and Nesterov momentum (seed 002)."""
from __future__ import annotations

from ..backend import xp
from .optimizer import Optimizer, check_flag, check_number, grad_with_decay

__all__ = ["SGD", "sgd_update_"]


def sgd_update_(param, grad, state: dict, *, lr: float, momentum: float, dampening: float,
                weight_decay: float, nesterov: bool, maximize: bool, scratch) -> None:
    """One SGD step on ``param`` (an ndarray, updated in place), PyTorch's form.

    Plain (seed 002 "Basic SGD"):  θ ← θ − η g,  with g = ∇J(θ) (+ λθ with
    ``weight_decay`` λ; −∇J(θ) with ``maximize``).

    Momentum (seed 002 "Momentum SGD", Polyak 1964) — the notes write

        v_t = γ v_{t−1} + η ∇J(θ_t),     θ_{t+1} = θ_t − v_t

    and trainwise, like PyTorch, computes

        b_1 = g_1,   b_t = μ b_{t−1} + (1 − τ) g_t,     θ_t = θ_{t−1} − η_t b_t

    (μ = ``momentum`` = the notes' γ, τ = ``dampening``). While η is constant
    and τ = 0 the two are the same sequence (v_t = η b_t). They differ once η
    changes: the notes' velocity keeps each past gradient scaled by the η of
    its own step, v_t = Σ_s γ^{t−s} η_s g_s, while PyTorch's step is
    η_t Σ_s μ^{t−s} g_s, so a schedule's new rate applies at once to the whole
    accumulated velocity. See seeds/ERRATA.md.

    Nesterov (seed 002 "NAG", Nesterov 1983) — the notes evaluate the
    gradient at the look-ahead point,

        v_t = γ v_{t−1} + η ∇J(θ_t − γ v_{t−1}),     θ_{t+1} = θ_t − v_t,

    and PyTorch (Sutskever et al., "On the importance of initialization and
    momentum in deep learning", 2013) rewrites it in the look-ahead variable
    so that one gradient at the current point suffices:

        b_t = μ b_{t−1} + g_t,     θ_t = θ_{t−1} − η (g_t + μ b_t).

    ``state`` holds ``"momentum_buffer"`` (b) once momentum is on;
    ``scratch(param, i)`` gives work buffers (see ``Optimizer.scratch``).
    """
    d = grad_with_decay(param, grad, weight_decay, maximize, scratch)
    if momentum:
        buf = state.get("momentum_buffer")
        if buf is None:
            # the first step stores the gradient undamped, as PyTorch does
            buf = state["momentum_buffer"] = xp.array(d, copy=True)
        else:
            buf *= momentum
            if dampening:
                t = scratch(param, 1)
                xp.multiply(d, 1.0 - dampening, out=t)
                buf += t
            else:
                buf += d
        if nesterov:
            t = scratch(param, 1)
            xp.multiply(buf, momentum, out=t)
            d = xp.add(d, t, out=t)
        else:
            d = buf
    t = scratch(param, 1)
    xp.multiply(d, lr, out=t)
    param -= t


class SGD(Optimizer):
    """Stochastic gradient descent: θ ← θ − η g, optionally with (Nesterov) momentum.

    Same arguments, defaults and numbers as ``torch.optim.SGD``; the update is
    ``sgd_update_`` (its docstring compares the notes' momentum formulas with
    PyTorch's, which trainwise follows).

    Args:
        params: an iterable of parameters, or of dicts defining parameter groups.
        lr: learning rate η (default 1e-3, as PyTorch).
        momentum: momentum factor μ (the notes' γ; 0.9 is typical).
        dampening: τ, scales the new gradient in the buffer by (1 − τ).
        weight_decay: λ of the coupled L2 penalty, g ← g + λθ.
        nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
        maximize: ascend the objective instead of descending it.

    Full-batch gradient descent, SGD on one sample and mini-batch SGD are the
    same optimizer fed differently (seed 004: GD, SGD, mini-batch SGD)::

        opt = SGD(model.parameters(), lr=0.1)
        def fit_step(xb, yb):
            opt.zero_grad(); ((model(xb) - yb) ** 2).mean().backward(); opt.step()
        fit_step(X, Y)                                   # gradient descent: all n points
        for i in rng.permutation(n):                     # SGD: one point per step
            fit_step(X[i:i + 1], Y[i:i + 1])
        order = rng.permutation(n)                       # mini-batch SGD: b points per step
        for s in range(0, n, 8):
            fit_step(X[order[s:s + 8]], Y[order[s:s + 8]])
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict) -> None:
        name = type(self).__name__
        check_number(name, "lr", group["lr"], low=0.0)
        check_number(name, "momentum", group["momentum"], low=0.0)
        check_number(name, "dampening", group["dampening"], low=0.0, high=1.0)
        check_number(name, "weight_decay", group["weight_decay"], low=0.0)
        check_flag(name, "maximize", group["maximize"])
        if check_flag(name, "nesterov", group["nesterov"]) and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{name}: 'nesterov=True' requires momentum > 0 and dampening == 0; got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _step_group(self, group: dict) -> None:
        lr, momentum, dampening = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
        weight_decay, nesterov, maximize = float(group["weight_decay"]), group["nesterov"], group["maximize"]
        hyper = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                     nesterov=nesterov, maximize=maximize)
        self.apply_rule(group, sgd_update_, **hyper)
