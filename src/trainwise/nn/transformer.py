"""The Transformer encoder (Vaswani et al. 2017), with PyTorch's module names so state dicts move across."""
from __future__ import annotations

import copy
import numbers

from ..functional.activations import gelu, relu
from ..functional.linear import feed_forward
from ..functional.normalization import add_layer_norm
from ..tensor import Tensor
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear, check_size
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder"]

_ACTIVATIONS = {"relu": relu, "gelu": gelu}
class TransformerEncoderLayer(Module):
    """Self-attention then a position-wise feed-forward network, each with a residual connection
    and layer normalization, as ``torch.nn.TransformerEncoderLayer``.

    Post-norm (``norm_first=False``, the original paper)::

        x = LayerNorm₁(x + Dropout₁(SelfAttn(x)))
        x = LayerNorm₂(x + Dropout₂(FFN(x)))

    Pre-norm (``norm_first=True``, Xiong et al. 2020; trains without warm-up more easily)::

        x = x + Dropout₁(SelfAttn(LayerNorm₁(x)))
        x = x + Dropout₂(FFN(LayerNorm₂(x)))

    with FFN(x) = W₂ Dropout(φ(W₁ x + b₁)) + b₂, φ = ReLU or GELU. The notes
    (seed 002) name the Transformer the architecture for natural language,
    layer normalization the normalization that suits it, and norm clipping
    (1.0-5.0) the guard for its gradients.

    Arguments as PyTorch: d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation="relu" | "gelu" | a callable, layer_norm_eps=1e-5,
    batch_first=False, norm_first=False, bias=True; plus dtype and generator
    (init and dropout masks). Submodules: ``self_attn``, ``linear1``,
    ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``dropout1``, ``dropout2``.

    Example: ``TransformerEncoderLayer(64, 4, 256, batch_first=True)(x)`` with x (N, T, 64).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype=None, generator=None):
        super().__init__()
        name = "TransformerEncoderLayer"
        self.d_model = check_size("d_model", d_model, name)
        dim_feedforward = check_size("dim_feedforward", dim_feedforward, name)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"{name}: 'dropout' must be a number in [0, 1); got {dropout!r}")
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"{name}: 'activation' must be 'relu', 'gelu' or a callable; got {activation!r}")
            self.activation_name = activation
            activation = _ACTIVATIONS[activation]
        elif not callable(activation):
            raise ValueError(f"{name}: 'activation' must be 'relu', 'gelu' or a callable; got {activation!r}")
        else:
            self.activation_name = getattr(activation, "__name__", type(activation).__name__)
        self.activation = activation
        self.batch_first = bool(batch_first)
        self.norm_first = bool(norm_first)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype, generator=generator)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, generator=generator)
        self.dropout = Dropout(dropout, generator=generator)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, generator=generator)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, generator=generator)
        self.dropout2 = Dropout(dropout, generator=generator)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False) -> Tensor:
        """src (T, N, d_model) ((N, T, d_model) with batch_first; (T, d_model) unbatched).

        ``src_mask`` (T, T) or (N·nhead, T, T): True = may not attend, or a
        float mask added; ``src_key_padding_mask`` (N, T): True = padding;
        ``is_causal``: with no ``src_mask``, each position attends only to
        itself and earlier ones (see ``MultiheadAttention.forward``).

        The layer runs on the input flattened to 2-D (T·N, d_model), so every
        projection is one GEMM, with the feed-forward network as one node
        (``feed_forward``) and, post-norm, each "add & norm" as one node
        (``functional.add_layer_norm``): 8 graph nodes instead of 10 (dropout 0).
        The same numbers as the module-by-module path, which runs instead when a
        submodule has hooks or was replaced (so hooks see what they expect).
        """
        x = src if isinstance(src, Tensor) else Tensor(src)
        if self._fusable():
            return self._fused_forward(x, src_mask, src_key_padding_mask, is_causal)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _fusable(self) -> bool:
        kinds = ((self.self_attn, MultiheadAttention), (self.linear1, Linear), (self.linear2, Linear),
                 (self.norm1, LayerNorm), (self.norm2, LayerNorm), (self.dropout, Dropout),
                 (self.dropout1, Dropout), (self.dropout2, Dropout), (self.self_attn.out_proj, Linear))
        for m, kind in kinds:
            if type(m) is not kind or m._forward_hooks or m._forward_pre_hooks:
                return False
        return (self.activation is relu or self.activation is gelu) and self.dropout.mode == "inverted"

    def _fused_forward(self, x, src_mask, src_key_padding_mask, is_causal):
        sa = self.self_attn
        x, _, _ = sa._check(x, x, x)
        batched = x.ndim == 3
        bf = self.batch_first and batched
        N = (x.shape[0] if bf else x.shape[1]) if batched else 1
        T = (x.shape[1] if bf else x.shape[0]) if batched else x.shape[0]
        bias = sa._mask(src_mask, src_key_padding_mask, is_causal, N, T, T, x.dtype, batched)
        h = x.reshape((-1, self.d_model)) if batched else x
        n1, n2 = self.norm1, self.norm2
        act = "relu" if self.activation is relu else "gelu"
        p = self.dropout.p if self.training else 0.0
        l1, l2 = self.linear1, self.linear2

        def ffn(t):
            return self.dropout2(feed_forward(t, l1.weight, l1.bias, l2.weight, l2.bias, act, p,
                                              self.dropout.generator))

        if self.norm_first:
            u = n1(h)
            h = h + self.dropout1(sa._attend(u, u, u, N, bf, bias, False)[0])
            h = h + ffn(n2(h))
        else:
            h = add_layer_norm(h, self.dropout1(sa._attend(h, h, h, N, bf, bias, False)[0]), n1.normalized_shape,
                               n1.weight, n1.bias, n1.eps)
            h = add_layer_norm(h, ffn(h), n2.normalized_shape, n2.weight, n2.bias, n2.eps)
        return h.reshape(x.shape) if batched else h

    def extra_repr(self):
        return (f"d_model={self.d_model}, activation={self.activation_name!r}, norm_first={self.norm_first}"
                + (", batch_first=True" if self.batch_first else ""))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (then ``norm`` if given), as ``torch.nn.TransformerEncoder``.

    The copies start with the same weights, as PyTorch's deep copies do; a
    ``generator`` the layer holds is shared by the copies, not duplicated, so
    their dropout masks differ. Submodules ``layers.0``, ``layers.1``, … and ``norm``.

    Example: ``TransformerEncoder(TransformerEncoderLayer(64, 4, 128), num_layers=2)(x)``.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: 'encoder_layer' must be a Module; got {type(encoder_layer).__name__}")
        self.num_layers = check_size("num_layers", num_layers, "TransformerEncoder")
        # keep generators shared: a deep-copied generator would replay the same dropout masks in every layer
        memo = {}
        for m in encoder_layer.modules():
            g = m.__dict__.get("generator")
            if g is not None:
                memo[id(g)] = g
        self.layers = ModuleList([copy.deepcopy(encoder_layer, dict(memo)) for _ in range(self.num_layers)])
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None) -> Tensor:
        """Run every layer in turn with the same masks (see ``TransformerEncoderLayer.forward``)."""
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        if self.norm is not None:
            x = self.norm(x)
        return x
