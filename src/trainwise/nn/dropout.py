"""The Dropout layer (seed 002 "Method 2: Dropout"; Srivastava et al. 2014)."""
from __future__ import annotations

from ..functional.dropout import check_dropout_args, dropout
from ..tensor import Tensor
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` in training mode; as ``torch.nn.Dropout`` by default.

    With a mask r ~ Bernoulli(1 − p) per element, drawn afresh at every call:

    - ``mode="inverted"`` (default; seed 002, PyTorch): training ỹ = r ⊙ x / (1 − p),
      evaluation ỹ = x. Nothing special happens at test time.
    - ``mode="scale_at_test"`` (the original form, seeds 001/004): training
      ỹ = r ⊙ x, evaluation ỹ = (1 − p)·x ("the weights are scaled at test time").

    Both give E[ỹ_train] = ỹ_eval. ``p`` is the *drop* probability, in [0, 1),
    as in PyTorch (see ``seeds/ERRATA.md`` on seed 001's "0.5-0.8"). Typical
    values (seed 002): 0.5 for hidden layers, 0.1–0.2 for inputs.

    Arguments: ``p``; ``mode``; ``generator`` a ``trainwise.Generator`` the
    masks are drawn from (default: the global one, reseeded by ``manual_seed``).

    Example: ``Sequential(Linear(784, 256), ReLU(), Dropout(0.5), Linear(256, 10))``.
    """

    def __init__(self, p: float = 0.5, mode: str = "inverted", generator=None):
        super().__init__()
        self.p = check_dropout_args("Dropout", p, mode)
        self.mode = mode
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, self.generator, self.mode)

    def extra_repr(self) -> str:
        return f"p={self.p}" + ("" if self.mode == "inverted" else f", mode={self.mode!r}")
