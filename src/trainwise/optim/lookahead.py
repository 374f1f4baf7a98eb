"""Lookahead: slow weights that follow an inner optimizer's fast weights (seed 002)."""
from __future__ import annotations

from ..backend import xp
from .optimizer import Optimizer, check_number

__all__ = ["Lookahead"]


class Lookahead(Optimizer):
    """Lookahead (Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back", 2019).

    Wraps any optimizer A (the "fast" one). Slow weights φ start at the
    parameters' values at the first ``step()``; every k steps of A

        φ ← φ + α (θ − φ),     θ ← φ

    i.e. the slow weights move a fraction α toward where the k fast steps
    ended, and the fast weights restart from there. The inner optimizer's
    state (momentum, moments) is kept across the reset, as in the paper's
    experiments. The seed 002 advice "use Lookahead for stability" refers to
    this. PyTorch has no Lookahead; the arguments follow the paper.

    ``param_groups`` and ``state`` are the base optimizer's own objects, so
    learning-rate schedulers and ``zero_grad`` work on a Lookahead directly.
    ``state_dict()`` has the base's ``"state"`` and ``"param_groups"`` plus
    ``"lookahead"``: ``{"k", "alpha", "step", "slow": {index: φ}}``.

    Args:
        base_optimizer: the inner optimizer (an ``Optimizer``), e.g. ``Adam(...)``.
        k: number of fast steps per slow update (a positive int, default 5).
        alpha: slow step size α in (0, 1] (default 0.5).

    Example: ``opt = Lookahead(Adam(model.parameters(), lr=1e-3), k=5, alpha=0.5)``
    """

    def __init__(self, base_optimizer: Optimizer, k: int = 5, alpha: float = 0.5):
        if not isinstance(base_optimizer, Optimizer):
            raise TypeError(
                f"Lookahead: 'base_optimizer' must be a trainwise Optimizer; got {type(base_optimizer).__name__}"
            )
        if isinstance(k, bool) or not isinstance(k, (int, xp.integer)) or k < 1:
            raise ValueError(f"Lookahead: 'k' must be a positive int; got {k!r}")
        check_number("Lookahead", "alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.base_optimizer = base_optimizer
        self.k = int(k)
        self.alpha = float(alpha)
        self.step_count = 0  # fast steps taken; the slow update happens when it reaches a multiple of k
        self.slow: dict = {}
        self._scratch = {}

    @property
    def param_groups(self) -> list:
        return self.base_optimizer.param_groups

    @property
    def state(self) -> dict:
        return self.base_optimizer.state

    @property
    def defaults(self) -> dict:
        return self.base_optimizer.defaults

    def add_param_group(self, group: dict) -> None:
        self.base_optimizer.add_param_group(group)

    def step(self, closure=None):
        """One step of the base optimizer; every k-th step also the slow update φ ← φ + α(θ − φ), θ ← φ."""
        slow = self.slow
        for g in self.param_groups:
            for p in g["params"]:
                if p not in slow:
                    slow[p] = xp.array(p.data, copy=True)
        loss = self.base_optimizer.step(closure)
        self.step_count += 1
        if self.step_count % self.k == 0:
            alpha = self.alpha
            for g in self.param_groups:
                for p in g["params"]:
                    phi, t = slow[p], self.scratch(p, 0)
                    xp.subtract(p.data, phi, out=t)
                    t *= alpha
                    phi += t
                    xp.copyto(p.data, phi)
        return loss

    def state_dict(self) -> dict:
        sd = self.base_optimizer.state_dict()
        params = [p for g in self.param_groups for p in g["params"]]
        sd["lookahead"] = {
            "k": self.k, "alpha": self.alpha, "step": self.step_count,
            "slow": {i: xp.array(self.slow[p], copy=True) for i, p in enumerate(params) if p in self.slow},
        }
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        la = state_dict.get("lookahead") if isinstance(state_dict, dict) else None
        if not isinstance(la, dict) or not {"k", "alpha", "step", "slow"} <= set(la):
            raise ValueError(
                "Lookahead.load_state_dict: 'state_dict' needs a 'lookahead' entry with k, alpha, step and slow "
                "(a Lookahead's state_dict); got a plain optimizer's state? load it into the base optimizer"
            )
        params = [p for g in self.param_groups for p in g["params"]]
        slow = {}
        for i, p in enumerate(params):
            phi = la["slow"].get(i, la["slow"].get(str(i)))
            if phi is None:
                continue
            phi = xp.array(phi, dtype=p.data.dtype, copy=True)
            if phi.shape != p.data.shape:
                raise ValueError(
                    f"Lookahead.load_state_dict: slow weights {i} have shape {phi.shape}, the parameter {p.data.shape}"
                )
            slow[p] = phi
        k, alpha = la["k"], la["alpha"]
        if isinstance(k, bool) or not isinstance(k, (int, xp.integer)) or k < 1:
            raise ValueError(f"Lookahead.load_state_dict: 'k' must be a positive int; got {k!r}")
        check_number("Lookahead.load_state_dict", "alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.base_optimizer.load_state_dict(state_dict)
        self.k, self.alpha, self.step_count, self.slow = int(k), float(alpha), int(la["step"]), slow

    def __repr__(self):
        return f"Lookahead(k={self.k}, alpha={self.alpha}, base_optimizer={self.base_optimizer!r})"
