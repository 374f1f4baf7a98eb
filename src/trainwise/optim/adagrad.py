"""AdaGrad: per-coordinate learning rates from the sum of squared gradients (seed 002)."""
from __future__ import annotations

from ..backend import xp
from .optimizer import Optimizer, check_flag, check_number, grad_with_decay

__all__ = ["Adagrad", "adagrad_update_"]


def adagrad_update_(param, grad, state: dict, *, lr: float, lr_decay: float, weight_decay: float,
                    initial_accumulator_value: float, eps: float, maximize: bool, scratch) -> None:
    """One AdaGrad step on ``param`` (in place), PyTorch's form.

    The notes (seed 002 "AdaGrad"; Duchi, Hazan & Singer, JMLR 2011):

        G_t = G_{t−1} + g_t²,     θ_{t+1} = θ_t − η / √(G_t + ε) · g_t

    trainwise, like PyTorch, puts ε outside the square root and lets the rate
    decay with the step count t:

        G_t = G_{t−1} + g_t²   (G_0 = ``initial_accumulator_value``)
        η_t = η / (1 + (t − 1)·``lr_decay``)
        θ_t = θ_{t−1} − η_t · g_t / (√G_t + ε)

    The two placements of ε only differ where G_t is of the order of ε
    (ε = 1e-10 by default). g is ±∇J(θ) + λθ (``maximize``, ``weight_decay``).
    ``state`` holds ``"step"`` (t) and ``"sum"`` (G).
    """
    if "sum" not in state:
        state["step"] = 0
        state["sum"] = xp.full_like(param, initial_accumulator_value)
    state["step"] = step = state["step"] + 1
    d = grad_with_decay(param, grad, weight_decay, maximize, scratch)
    clr = lr / (1 + (step - 1) * lr_decay)
    acc, t = state["sum"], scratch(param, 1)
    xp.multiply(d, d, out=t)
    acc += t
    xp.sqrt(acc, out=t)
    t += eps
    xp.divide(d, t, out=t)
    t *= clr
    param -= t


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al. 2011): θ ← θ − η g / (√G + ε), G = Σ g².

    Same arguments, defaults and numbers as ``torch.optim.Adagrad``; the rule
    is ``adagrad_update_`` (ε outside the root, unlike the notes: see there).

    Args:
        params: an iterable of parameters, or of dicts defining parameter groups.
        lr: learning rate η (default 1e-2).
        lr_decay: η_t = η / (1 + (t − 1)·lr_decay).
        weight_decay: λ of the coupled L2 penalty, g ← g + λθ.
        initial_accumulator_value: G_0, the starting value of the sum of squares.
        eps: ε added to √G (default 1e-10).
        maximize: ascend the objective instead of descending it.

    Example: ``opt = Adagrad(model.parameters(), lr=0.1)``
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict) -> None:
        name = type(self).__name__
        check_number(name, "lr", group["lr"], low=0.0)
        check_number(name, "lr_decay", group["lr_decay"], low=0.0)
        check_number(name, "weight_decay", group["weight_decay"], low=0.0)
        check_number(name, "initial_accumulator_value", group["initial_accumulator_value"], low=0.0)
        check_number(name, "eps", group["eps"], low=0.0)
        check_flag(name, "maximize", group["maximize"])

    def _step_group(self, group: dict) -> None:
        lr, lr_decay, weight_decay = float(group["lr"]), float(group["lr_decay"]), float(group["weight_decay"])
        init, eps, maximize = float(group["initial_accumulator_value"]), float(group["eps"]), group["maximize"]
        hyper = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, initial_accumulator_value=init,
                     eps=eps, maximize=maximize)
        self.apply_rule(group, adagrad_update_, **hyper)
