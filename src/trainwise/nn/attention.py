"""Multi-head attention with PyTorch's parameter names and forward signature."""
from __future__ import annotations

import numbers

from .. import init as _init
from ..backend import get_default_dtype, xp
from ..functional.attention import _bool_or_float_mask, causal_mask, multi_head_attention
from ..functional.linear import linear
from ..tensor import Tensor
from .linear import Linear, check_size
from .module import Module, Parameter

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017), as ``torch.nn.MultiheadAttention``.

    MultiHead(Q, K, V) = Concat(head_1, …, head_h) W_Oᵀ + b_O with
    head_i = softmax(Q_i K_iᵀ / √d + M) V_i, where Q_i, K_i, V_i are the
    i-th d = embed_dim/num_heads columns of Q W_qᵀ + b_q, K W_kᵀ + b_k,
    V W_vᵀ + b_v (see ``trainwise.functional.attention``).

    Parameters as PyTorch: ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v]
    (Xavier uniform), ``in_proj_bias`` (3E,) (zeros), ``out_proj.weight``
    (E, E) (Linear's default) and ``out_proj.bias`` (zeros), so a state dict
    moves across. ``dropout`` drops attention weights in training mode (drawn
    from ``generator``). ``batch_first``: inputs are (N, L, E) instead of (L, N, E).

    Example: ``out, w = MultiheadAttention(64, 8)(x, x, x)`` with x of shape (L, N, 64).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, dtype=None, generator=None):
        super().__init__()
        self.embed_dim = check_size("embed_dim", embed_dim, "MultiheadAttention")
        self.num_heads = check_size("num_heads", num_heads, "MultiheadAttention")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"MultiheadAttention: 'embed_dim'={embed_dim} must be divisible by "
                             f"'num_heads'={num_heads}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"MultiheadAttention: 'dropout' must be a number in [0, 1); got {dropout!r}")
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.generator = generator
        E = self.embed_dim
        dt = dtype or get_default_dtype()
        self.in_proj_weight = Parameter(xp.empty((3 * E, E), dtype=dt))
        self.in_proj_bias = Parameter(xp.zeros(3 * E, dtype=dt)) if bias else None
        self.out_proj = Linear(E, E, bias=bias, dtype=dt, generator=generator)
        self._reset(generator)

    def _reset(self, generator=None) -> None:
        _init.xavier_uniform_(self.in_proj_weight, generator=generator)
        if self.in_proj_bias is not None:
            _init.zeros_(self.in_proj_bias)
        if self.out_proj.bias is not None:
            _init.zeros_(self.out_proj.bias)

    def reset_parameters(self, generator=None) -> None:
        """W_in ~ Xavier uniform, W_out ~ Linear's default, both biases 0 (PyTorch's choice)."""
        self.out_proj.reset_parameters(generator)
        self._reset(generator)

    def _check(self, query, key, value):
        name = "MultiheadAttention"
        E = self.embed_dim
        q, k, v = (t if isinstance(t, Tensor) else Tensor(xp.asarray(t)) for t in (query, key, value))
        if q.ndim not in (2, 3):
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise ValueError(f"{name}: 'query' must be 3-D {layout} or 2-D (L, E); got shape {q.shape}")
        for t, what in ((q, "query"), (k, "key"), (v, "value")):
            if t.ndim != q.ndim:
                raise ValueError(f"{name}: '{what}' must have as many axes as 'query' ({q.ndim}); got shape {t.shape}")
            if t.shape[-1] != E:
                raise ValueError(f"{name}: '{what}' last axis must be embed_dim={E}; got shape {t.shape}")
        if k.shape != v.shape:
            raise ValueError(f"{name}: 'key' and 'value' must have the same shape; got {k.shape} and {v.shape}")
        if q.ndim == 3:
            bq, bk = (q.shape[0], k.shape[0]) if self.batch_first else (q.shape[1], k.shape[1])
            if bq != bk:
                raise ValueError(f"{name}: 'query' and 'key' must have the same batch size; got shapes "
                                 f"{q.shape} and {k.shape}")
        return q, k, v

    def _mask(self, attn_mask, key_padding_mask, is_causal, N, L, S, dtype, batched):
        """One additive mask broadcastable to (N, num_heads, L, S), or None."""
        name = "MultiheadAttention"
        h = self.num_heads
        bias = None
        if attn_mask is not None:
            m = _bool_or_float_mask(attn_mask, False, dtype, name, "attn_mask")
            if m.shape == (L, S):
                bias = m
            elif m.ndim == 3 and m.shape == (N * h, L, S):
                bias = m.reshape(N, h, L, S)
            else:
                raise ValueError(f"{name}: 'attn_mask' must have shape (L, S) = {(L, S)} or "
                                 f"(N*num_heads, L, S) = {(N * h, L, S)}; got shape {m.shape}")
        elif is_causal:
            bias = causal_mask(L, S, dtype)
        if key_padding_mask is not None:
            m = _bool_or_float_mask(key_padding_mask, False, dtype, name, "key_padding_mask")
            want = (N, S) if batched else (S,)
            if m.shape != want:
                layout = "(N, S)" if batched else "(S,)"
                raise ValueError(f"{name}: 'key_padding_mask' must have shape {layout} = {want}; got shape {m.shape}")
            m = m.reshape(N, 1, 1, S)
            bias = m if bias is None else bias + m
        return bias

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        """Attend from ``query`` (L, N, E) to ``key``/``value`` (S, N, E) ((N, ·, E) with batch_first; 2-D unbatched).

        ``key_padding_mask`` (N, S): True (or -inf) marks keys to ignore, as
        PyTorch. ``attn_mask`` (L, S) or (N·num_heads, L, S): True marks a
        pair that may NOT attend (PyTorch's MHA convention, the opposite of
        ``scaled_dot_product_attention``), a float mask is added.
        ``is_causal``: with no ``attn_mask``, build the causal mask (PyTorch
        requires the mask itself and takes the flag as a hint; given a mask,
        the mask is used). Returns ``(output, weights)``: output like query;
        weights (N, L, S) averaged over heads, or (N, num_heads, L, S) when
        ``average_attn_weights`` is False, or None when ``need_weights`` is
        False. The weights are a Tensor without gradient.
        """
        q, k, v = self._check(query, key, value)
        batched = q.ndim == 3
        # an unbatched (L, E) input is already the 2-D (L·1, E) layout with N = 1, time first
        bf = self.batch_first and batched
        N = (q.shape[0] if bf else q.shape[1]) if batched else 1
        L = (q.shape[1] if bf else q.shape[0]) if batched else q.shape[0]
        S = (k.shape[1] if bf else k.shape[0]) if batched else k.shape[0]
        bias = self._mask(attn_mask, key_padding_mask, is_causal, N, L, S, q.dtype, batched)
        E = self.embed_dim
        if query is key and key is value:
            flat = (q.reshape((-1, E)) if batched else q,) * 3
        else:
            flat = tuple(t.reshape((-1, E)) for t in (q, k, v)) if batched else (q, k, v)
        out, weights = self._attend(*flat, N, bf, bias, need_weights)
        if batched:
            out = out.reshape(q.shape)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        if not batched:
            weights = weights[0]
        return out, Tensor(weights)

    def _attend(self, q2: Tensor, k2: Tensor, v2: Tensor, N: int, batch_first: bool, bias, need_weights: bool):
        """Projections and attention on inputs flattened to 2-D (rows, E), rows in (L, N) order
        ((N, L) with ``batch_first``): every projection is then one 2-D GEMM (NumPy runs a 3-D
        ``x @ W.T`` as a loop of small GEMMs, up to 1.5x slower here). Returns the 2-D output and
        the weights (an ndarray or None). ``q2 is k2 is v2`` selects the packed self-attention path.
        """
        E = self.embed_dim
        W, b = self.in_proj_weight, self.in_proj_bias
        p = self.dropout if self.training else 0.0
        if q2 is k2 and k2 is v2:
            qkv = linear(q2, W, b)
            out, weights = multi_head_attention(qkv, None, None, self.num_heads, bias, p, self.generator,
                                                batch_first, need_weights, batch_size=N)
        else:
            bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E: 2 * E], b[2 * E:])
            out, weights = multi_head_attention(linear(q2, W[:E], bq), linear(k2, W[E: 2 * E], bk),
                                                linear(v2, W[2 * E:], bv), self.num_heads, bias, p,
                                                self.generator, batch_first, need_weights, batch_size=N)
        return self.out_proj(out), weights

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
                + (f", dropout={self.dropout}" if self.dropout else "")
                + (", batch_first=True" if self.batch_first else ""))
