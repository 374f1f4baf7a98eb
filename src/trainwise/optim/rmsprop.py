"""RMSProp: AdaGrad with a moving average of squared gradients (seed 002)."""
from __future__ import annotations

from ..backend import xp
from .optimizer import Optimizer, check_flag, check_number, grad_with_decay

__all__ = ["RMSprop", "rmsprop_update_"]


def rmsprop_update_(param, grad, state: dict, *, lr: float, alpha: float, eps: float, weight_decay: float,
                    momentum: float, centered: bool, maximize: bool, scratch) -> None:
    """One RMSProp step on ``param`` (in place), PyTorch's form.

    The notes (seed 002 "RMSProp"; Tieleman & Hinton, Coursera lecture 6.5, 2012):

        E[g²]_t = γ E[g²]_{t−1} + (1 − γ) g_t²,     θ_{t+1} = θ_t − η / √(E[g²]_t + ε) · g_t

    trainwise, like PyTorch, calls the decay γ ``alpha`` (default 0.99, the
    notes suggest 0.9), puts ε outside the square root, and adds two options:

        E[g²]_t = α E[g²]_{t−1} + (1 − α) g_t²
        D_t = √E[g²]_t + ε                               (plain)
        D_t = √(E[g²]_t − E[g]_t²) + ε,  E[g]_t = α E[g]_{t−1} + (1 − α) g_t   (``centered``:
              divide by an estimate of the standard deviation; Graves 2013)
        θ_t = θ_{t−1} − η g_t / D_t                       (``momentum`` = 0)
        b_t = μ b_{t−1} + g_t / D_t,  θ_t = θ_{t−1} − η b_t   (``momentum`` = μ > 0)

    g is ±∇J(θ) + λθ (``maximize``, ``weight_decay``). ``state`` holds
    ``"step"``, ``"square_avg"``, and ``"grad_avg"`` / ``"momentum_buffer"``
    when those options are on.
    """
    if "square_avg" not in state:
        state["step"] = 0
        state["square_avg"] = xp.zeros_like(param)
    state["step"] += 1
    d = grad_with_decay(param, grad, weight_decay, maximize, scratch)
    sq, t = state["square_avg"], scratch(param, 1)
    sq *= alpha
    xp.multiply(d, d, out=t)
    t *= 1.0 - alpha
    sq += t
    if centered:
        ga = state.get("grad_avg")
        if ga is None:
            ga = state["grad_avg"] = xp.zeros_like(param)
        xp.subtract(d, ga, out=t)  # E[g] += (1 − α)(g − E[g]), PyTorch's lerp
        t *= 1.0 - alpha
        ga += t
        xp.multiply(ga, ga, out=t)
        xp.subtract(sq, t, out=t)
        xp.sqrt(t, out=t)
    else:
        xp.sqrt(sq, out=t)
    t += eps
    xp.divide(d, t, out=t)
    if momentum > 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = xp.zeros_like(param)
        buf *= momentum
        buf += t
        xp.multiply(buf, lr, out=t)
    else:
        t *= lr
    param -= t


class RMSprop(Optimizer):
    """RMSProp: θ ← θ − η g / (√E[g²] + ε), with optional centering and momentum.

    Same arguments, defaults and numbers as ``torch.optim.RMSprop``; the rule
    is ``rmsprop_update_`` (ε outside the root, unlike the notes: see there).

    Args:
        params: an iterable of parameters, or of dicts defining parameter groups.
        lr: learning rate η (default 1e-2).
        alpha: decay α of the average of squared gradients (the notes' γ), in [0, 1].
        eps: ε added to the root (default 1e-8).
        weight_decay: λ of the coupled L2 penalty, g ← g + λθ.
        momentum: μ of a momentum buffer over the normalized steps.
        centered: divide by √(E[g²] − E[g]²), an estimate of the gradient's standard deviation.
        maximize: ascend the objective instead of descending it.

    Example: ``opt = RMSprop(model.parameters(), lr=1e-3, alpha=0.9)``
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict) -> None:
        name = type(self).__name__
        check_number(name, "lr", group["lr"], low=0.0)
        check_number(name, "alpha", group["alpha"], low=0.0, high=1.0)
        check_number(name, "eps", group["eps"], low=0.0)
        check_number(name, "weight_decay", group["weight_decay"], low=0.0)
        check_number(name, "momentum", group["momentum"], low=0.0)
        check_flag(name, "centered", group["centered"])
        check_flag(name, "maximize", group["maximize"])

    def _step_group(self, group: dict) -> None:
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        centered, maximize = group["centered"], group["maximize"]
        hyper = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                     centered=centered, maximize=maximize)
        self.apply_rule(group, rmsprop_update_, **hyper)
