"""Loss layers with PyTorch's names and constructor arguments (``torch.nn.MSELoss`` ...).

Each calls the fused function in ``trainwise.functional.losses`` whose
docstring gives the formula and its derivative. Arguments are checked when the
layer is built; class weights live in buffers (``weight``, ``pos_weight``), so
they are in the state dict as in PyTorch.
"""
from __future__ import annotations

from ..functional import losses as F
from ..tensor import Tensor
from .module import Module

__all__ = ["MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss"]


def _buffer(value, name: str, layer: str, one_d: bool):
    if value is None:
        return None
    arr = value.data if isinstance(value, Tensor) else Tensor(value).data
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{layer}: '{name}' must hold numbers; got dtype {arr.dtype}")
    if one_d and arr.ndim != 1:
        raise ValueError(f"{layer}: '{name}' must be 1-D (one weight per class); got shape {arr.shape}")
    return arr


class _Loss(Module):
    def __init__(self, reduction: str, layer: str):
        super().__init__()
        self.reduction = F.check_reduction(reduction, layer)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error (1/n)Σ(x - y)²; ``reduction='sum'`` is the notes' Σ(y - ŷ)² (seed 004).

    See ``functional.mse_loss``. Example: ``MSELoss()(prediction, target)``.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__(reduction, "MSELoss")

    def forward(self, input: Tensor, target) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (1/n)Σ|x - y|. See ``functional.l1_loss``.

    Example: ``L1Loss()(prediction, target)``.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__(reduction, "L1Loss")

    def forward(self, input: Tensor, target) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits with class indices or class probabilities (softmax fused in).

    Args: ``weight`` (one per class), ``ignore_index`` (index targets only),
    ``reduction``, ``label_smoothing`` ε ∈ [0, 1]. See ``functional.cross_entropy``
    for the formula. Example: ``CrossEntropyLoss(label_smoothing=0.1)(logits, labels)``.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction, "CrossEntropyLoss")
        self.register_buffer("weight", _buffer(weight, "weight", "CrossEntropyLoss", True))
        self.ignore_index = F._ignore_index(ignore_index, "CrossEntropyLoss")
        self.label_smoothing = F._smoothing(label_smoothing, "CrossEntropyLoss")

    def forward(self, input: Tensor, target) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (after ``LogSoftmax(dim=1)``).

    Args: ``weight``, ``ignore_index``, ``reduction``. See ``functional.nll_loss``.
    Example: ``NLLLoss()(log_probs, labels)``.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction, "NLLLoss")
        self.register_buffer("weight", _buffer(weight, "weight", "NLLLoss", True))
        self.ignore_index = F._ignore_index(ignore_index, "NLLLoss")

    def forward(self, input: Tensor, target) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, stable form max(x,0) - x·y + log(1 + e^(-|x|)).

    Args: ``weight`` (broadcast to the input), ``reduction``, ``pos_weight``
    (one per class, along the last axis). See ``functional.binary_cross_entropy_with_logits``.
    Example: ``BCEWithLogitsLoss(pos_weight=[3.0])(logits, labels)``.
    """

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction, "BCEWithLogitsLoss")
        self.register_buffer("weight", _buffer(weight, "weight", "BCEWithLogitsLoss", False))
        self.register_buffer("pos_weight", _buffer(pos_weight, "pos_weight", "BCEWithLogitsLoss", False))

    def forward(self, input: Tensor, target) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities, logs clamped at -100 as PyTorch.

    Args: ``weight`` (broadcast to the input), ``reduction``. See
    ``functional.binary_cross_entropy``. Example: ``BCELoss()(sigmoid(logits), labels)``.
    """

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction, "BCELoss")
        self.register_buffer("weight", _buffer(weight, "weight", "BCELoss", False))

    def forward(self, input: Tensor, target) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)
