"""Normalization layers: BatchNorm1d, BatchNorm2d, LayerNorm (PyTorch's names and numbers).

    x̂ = (x − μ) / √(σ² + ε),      y = γ·x̂ + β

Batch norm (Ioffe & Szegedy 2015) takes μ, σ² per channel over the batch;
layer norm (Ba, Kiros & Hinton 2016) per sample over its features (seed 002,
"Batch Normalization (BN)", "Layer Normalization (LN)"). The arithmetic lives
in ``trainwise.functional.normalization`` as fused ops.

Where to put batch norm: seed 001 shows both placements, and a model may use
either. Its figure names them (a) post-activation normalization, where BN
normalizes the activation's output (Σ → φ → BN), and (b) pre-activation
normalization, where BN sits between the weighted sum and the activation
(Σ → BN → φ), as in the original paper::

    Sequential(Linear(64, 64), BatchNorm1d(64), ReLU())   # (b) pre-activation
    Sequential(Linear(64, 64), ReLU(), BatchNorm1d(64))   # (a) post-activation

In the pre-activation form the Linear's bias is redundant (BN subtracts the
mean), so ``Linear(..., bias=False)`` saves a parameter vector.
"""
from __future__ import annotations

import numbers

from ..backend import get_default_dtype, xp
from ..functional.normalization import _normalized_shape, batch_norm, layer_norm
from ..tensor import Tensor
from .linear import check_size
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _check_eps(layer: str, eps):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"{layer}: 'eps' must be a positive number; got {eps!r}")
    return float(eps)


def _check_bool(layer: str, name: str, value):
    if not isinstance(value, (bool, xp.bool_)):
        raise ValueError(f"{layer}: '{name}' must be True or False; got {value!r}")
    return bool(value)


class _BatchNorm(Module):
    """Shared body of BatchNorm1d and BatchNorm2d; subclasses say which input ranks they accept."""

    _ranks: tuple = ()
    _layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True):
        super().__init__()
        layer = type(self).__name__
        self.num_features = check_size("num_features", num_features, layer)
        self.eps = _check_eps(layer, eps)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{layer}: 'momentum' must be a number in [0, 1] or None (cumulative average); "
                             f"got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.affine = _check_bool(layer, "affine", affine)
        self.track_running_stats = _check_bool(layer, "track_running_stats", track_running_stats)
        use_bias = _check_bool(layer, "bias", bias)
        dt = xp.dtype(dtype) if dtype is not None else get_default_dtype()
        C = self.num_features
        if self.affine:
            self.weight = Parameter(xp.ones(C, dtype=dt))
            if use_bias:
                self.bias = Parameter(xp.zeros(C, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", xp.zeros(C, dtype=dt))
            self.register_buffer("running_var", xp.ones(C, dtype=dt))
            self.register_buffer("num_batches_tracked", xp.array(0, dtype=xp.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """running_mean ← 0, running_var ← 1, num_batches_tracked ← 0 (in place)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """Reset the running statistics and set γ ← 1, β ← 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def _check_input(self, x: Tensor) -> None:
        shape = x.shape
        if len(shape) not in self._ranks or shape[1] != self.num_features:
            dims = " or ".join(f"{r}-D" for r in self._ranks)
            raise ValueError(
                f"{type(self).__name__}: 'input' must be {dims} {self._layout.format(C=self.num_features)} "
                f"with num_features={self.num_features} channels on axis 1; got shape {shape}"
            )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if x.data.size // x.shape[1] <= 1:  # checked before the counter moves, so a failed call changes nothing
                raise ValueError(
                    f"{type(self).__name__}: Expected more than 1 value per channel when training, got input of "
                    f"shape {x.shape}; use a batch of at least 2 samples (or call .eval())"
                )
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average of all batches seen so far
                factor = 1.0 / int(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight, self.bias, use_batch_stats, factor, self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C (as ``torch.nn.BatchNorm1d``).

    Training mode (seed 002; Ioffe & Szegedy 2015), over the batch (and L):
    μ_B = mean(x), σ²_B = mean((x − μ_B)²), x̂ = (x − μ_B)/√(σ²_B + ε), y = γ·x̂ + β,
    and the running statistics move towards the batch's:
    running_mean ← (1 − momentum)·running_mean + momentum·μ_B,
    running_var ← (1 − momentum)·running_var + momentum·σ²_B·n/(n − 1) (unbiased).
    Evaluation mode uses running_mean and running_var in place of μ_B, σ²_B.

    Arguments (PyTorch's): ``num_features`` C; ``eps`` added to the variance;
    ``momentum`` the running-average factor, or None for the cumulative
    average (factor 1/num_batches_tracked); ``affine`` learn γ (``weight``,
    init 1) and β (``bias``, init 0); ``track_running_stats`` keep the buffers
    ``running_mean``, ``running_var``, ``num_batches_tracked`` (if False, batch
    statistics are used in evaluation mode too); ``dtype``; ``bias`` (keyword)
    learn β. The state dict has PyTorch's keys, so weights move both ways.

    BN can go before the activation (pre-activation normalization, seed 001
    figure (b)) or after it (post-activation, figure (a)); see the module docstring.

    Example: ``Sequential(Linear(20, 64, bias=False), BatchNorm1d(64), ReLU())``.
    """

    _ranks = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel over N·H·W values (``torch.nn.BatchNorm2d``).

    Same formula, statistics and arguments as ``BatchNorm1d``:
    x̂ = (x − μ_B)/√(σ²_B + ε), y = γ·x̂ + β with μ_B, σ²_B per channel over
    the batch and both spatial axes (Ioffe & Szegedy 2015, section 3.2);
    running_var takes the unbiased variance (factor n/(n − 1), n = N·H·W).
    Placement before or after the activation: see ``BatchNorm1d``.

    Example: ``Sequential(Conv2d(3, 16, 3, bias=False), BatchNorm2d(16), ReLU())``.
    """

    _ranks = (4,)
    _layout = "(N, {C}, H, W)"


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` axes (as ``torch.nn.LayerNorm``).

    Per sample (seed 002, "Layer Normalization (LN)"; Ba, Kiros & Hinton 2016):
    μ_L = mean(x), σ²_L = mean((x − μ_L)²) over the last len(normalized_shape)
    axes, x̂ = (x − μ_L)/√(σ²_L + ε), y = γ ⊙ x̂ + β. It does not depend on the
    batch, has no running statistics and behaves the same in training and
    evaluation, which is why it suits recurrent networks and Transformers.

    Arguments (PyTorch's): ``normalized_shape`` an int or tuple, the trailing
    shape of the input; ``eps``; ``elementwise_affine`` learn γ (``weight``, init
    1) and β (``bias``, init 0) of shape ``normalized_shape``; ``bias`` learn β;
    ``dtype``.

    Example: ``LayerNorm(64)(x)`` for x of shape (B, T, 64).
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=None):
        super().__init__()
        self.normalized_shape = _normalized_shape("LayerNorm", normalized_shape)
        self.eps = _check_eps("LayerNorm", eps)
        self.elementwise_affine = _check_bool("LayerNorm", "elementwise_affine", elementwise_affine)
        use_bias = _check_bool("LayerNorm", "bias", bias)
        dt = xp.dtype(dtype) if dtype is not None else get_default_dtype()
        if self.elementwise_affine:
            self.weight = Parameter(xp.ones(self.normalized_shape, dtype=dt))
            if use_bias:
                self.bias = Parameter(xp.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """γ ← 1, β ← 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(
                f"LayerNorm: 'input' must have shape (*, {', '.join(map(str, self.normalized_shape))}) for "
                f"normalized_shape={self.normalized_shape}; got shape {x.shape}"
            )
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
