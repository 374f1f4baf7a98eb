"""Adam and AdamW: one rule, coupled (L2) or decoupled weight decay (seed 002)."""
from __future__ import annotations

from ..backend import xp
from .optimizer import Optimizer, check_flag, check_number, grad_with_decay

__all__ = ["Adam", "AdamW", "adam_update_"]


def adam_update_(param, grad, state: dict, *, lr: float, beta1: float, beta2: float, eps: float,
                 weight_decay: float, amsgrad: bool, maximize: bool, decoupled: bool, scratch) -> None:
    """One Adam (or AdamW, ``decoupled=True``) step on ``param`` (in place).

    Adam (seed 002 "Adam Algorithm Details"; Kingma & Ba, "Adam: A Method for
    Stochastic Optimization", 2015), the same as the notes and PyTorch:

        m_t = β₁ m_{t−1} + (1 − β₁) g_t          (first moment)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²         (second moment)
        m̂_t = m_t / (1 − β₁ᵗ),  v̂_t = v_t / (1 − β₂ᵗ)   (bias correction)
        θ_t = θ_{t−1} − η m̂_t / (√v̂_t + ε)

    Weight decay λ (seed 002 "AdamW"; Loshchilov & Hutter, "Decoupled Weight
    Decay Regularization", 2019):

        coupled (Adam, L2):   g_t = ∇J(θ_{t−1}) + λθ_{t−1}, then the rule above;
                              the decay is divided by √v̂ like the gradient.
        decoupled (AdamW):    θ_t = (1 − ηλ) θ_{t−1} − η m̂_t / (√v̂_t + ε).

    The notes' "incorrect" Adam line, θ_t = θ_{t−1} − η(m̂/(√v̂+ε) + λθ), is
    decoupled decay written differently (the same step); what PyTorch's
    ``Adam(weight_decay=λ)`` actually computes is the coupled form above.
    ``amsgrad`` (Reddi et al. 2018) divides by the running maximum of v_t
    instead: v̂_t = max_{s≤t} v_s / (1 − β₂ᵗ). The notes (seed 002) call Adam
    "momentum (like RMSProp)" and "adaptive rates (like Momentum)": the
    parentheticals are swapped (seeds/ERRATA.md); the equations are right.
    g is ∇J, or −∇J with ``maximize``. The last line is computed as
    θ_t = θ_{t−1} − (η √c₂ / c₁) · m_t / (√v_t + ε √c₂), c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ:
    the same step up to rounding, in one pass over the arrays fewer.
    ``state`` holds ``"step"`` (t),
    ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v) and ``"max_exp_avg_sq"`` (AMSGrad).
    """
    if "exp_avg" not in state:
        state["step"] = 0
        state["exp_avg"] = xp.zeros_like(param)
        state["exp_avg_sq"] = xp.zeros_like(param)
    state["step"] = step = state["step"] + 1
    if weight_decay and decoupled:
        param *= 1.0 - lr * weight_decay
        d = grad_with_decay(param, grad, 0.0, maximize, scratch)
    else:
        d = grad_with_decay(param, grad, weight_decay, maximize, scratch)
    m, v, t = state["exp_avg"], state["exp_avg_sq"], scratch(param, 1)
    xp.subtract(d, m, out=t)  # m += (1 − β₁)(g − m), PyTorch's lerp: the same m_t
    t *= 1.0 - beta1
    m += t
    v *= beta2
    xp.multiply(d, d, out=t)
    t *= 1.0 - beta2
    v += t
    if amsgrad:
        vmax = state.get("max_exp_avg_sq")
        if vmax is None:
            vmax = state["max_exp_avg_sq"] = xp.zeros_like(param)
        xp.maximum(vmax, v, out=vmax)
        v = vmax
    # η m̂/(√v̂ + ε) = (η √c₂ / c₁) · m / (√v + ε √c₂) with c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ: the same
    # step with the bias corrections folded into two scalars, one pass over the arrays fewer
    root_c2 = (1.0 - beta2 ** step) ** 0.5
    xp.sqrt(v, out=t)
    t += eps * root_c2
    xp.divide(m, t, out=t)
    t *= lr * root_c2 / (1.0 - beta1 ** step)
    param -= t


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` is coupled L2, as in PyTorch.

    Same arguments, defaults and numbers as ``torch.optim.Adam``; the rule is
    ``adam_update_``. ``decoupled_weight_decay=True`` turns it into AdamW.

    Args:
        params: an iterable of parameters, or of dicts defining parameter groups.
        lr: learning rate η (default 1e-3).
        betas: (β₁, β₂), decays of the first and second moments, each in [0, 1).
        eps: ε added to √v̂ (default 1e-8).
        weight_decay: λ; added to the gradient (L2) unless ``decoupled_weight_decay``.
        amsgrad: divide by the running maximum of the second moment (Reddi et al. 2018).
        maximize: ascend the objective instead of descending it.
        decoupled_weight_decay: shrink θ by (1 − ηλ) each step instead (AdamW).

    Example: ``opt = Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))``
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, maximize: bool = False, decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict) -> None:
        name = type(self).__name__
        check_number(name, "lr", group["lr"], low=0.0)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: 'betas' must be a pair (beta1, beta2), each in [0, 1); got {betas!r}")
        check_number(name, "betas[0]", betas[0], low=0.0, high=1.0, high_open=True)
        check_number(name, "betas[1]", betas[1], low=0.0, high=1.0, high_open=True)
        check_number(name, "eps", group["eps"], low=0.0)
        check_number(name, "weight_decay", group["weight_decay"], low=0.0)
        check_flag(name, "amsgrad", group["amsgrad"])
        check_flag(name, "maximize", group["maximize"])
        check_flag(name, "decoupled_weight_decay", group["decoupled_weight_decay"])

    def _step_group(self, group: dict) -> None:
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize, decoupled = group["amsgrad"], group["maximize"], group["decoupled_weight_decay"]
        hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                     maximize=maximize, decoupled=decoupled)
        self.apply_rule(group, adam_update_, **hyper)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, default λ = 1e-2.

    θ_t = (1 − ηλ) θ_{t−1} − η m̂_t / (√v̂_t + ε) (seed 002 "AdamW"); the
    same rule as ``Adam`` with ``decoupled_weight_decay=True``, and the same
    numbers as ``torch.optim.AdamW``. Arguments as ``Adam``.

    Example: ``opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)``
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
