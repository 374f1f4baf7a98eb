"""Scaled dot-product attention as one fused graph node (Vaswani et al. 2017, "Attention Is All You Need").

For queries Q (L × d_k), keys K (S × d_k) and values V (S × d_v)::

    A = softmax(Q Kᵀ / √d_k + M)        (softmax over the S keys of each query row)
    out = A V

M is the mask: 0 where a query may attend to a key and -∞ where it may not
(a float mask is added as given). A row whose keys are all masked gets
weights 0 and output 0 rather than NaN, as PyTorch's scaled_dot_product_attention.

Backward, with G = dL/d(out) and A' the (dropped-out) weights that multiplied V::

    dV = A'ᵀ G,   dA = G Vᵀ (⊙ dropout mask),   dS = A ⊙ (dA − Σ_j dA_j A_j),
    dQ = dS K / √d_k,   dK = dSᵀ Q / √d_k.

``multi_head_attention`` runs h heads at once on projected inputs
(d_k = embed_dim / h per head), splitting and merging the heads inside the
same node, so a MultiheadAttention layer is three graph nodes: the input
projection, this one, and the output projection.
"""
from __future__ import annotations

import math

from ..backend import get_generator, xp
from ..tensor import Tensor, make

__all__ = ["scaled_dot_product_attention", "multi_head_attention"]


def _softmax_(s, masked):
    """Row softmax of ``s`` in place; rows that are all -inf become 0 when ``masked``."""
    m = s.max(axis=-1, keepdims=True)
    if masked:
        m[~xp.isfinite(m)] = 0
    s -= m
    xp.exp(s, out=s)
    z = s.sum(axis=-1, keepdims=True)
    if masked:
        z[z == 0] = 1
    s /= z
    return s


def _forward(q, k, v, bias, scale, dropout_p, generator):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> out, A, A' (A after dropout), dropout mask or None."""
    s = q @ xp.swapaxes(k, -1, -2)
    s *= scale
    if bias is not None:
        s += bias
    a = _softmax_(s, bias is not None)
    keep = None
    a_used = a
    if dropout_p > 0:
        u = get_generator(generator).random(a.shape, dtype=xp.float32 if a.dtype == xp.float32 else xp.float64)
        keep = (u >= dropout_p).astype(a.dtype)
        keep *= 1.0 / (1.0 - dropout_p)
        a_used = a * keep
    return a_used @ v, a, a_used, keep


def _backward(g, q, k, v, a, a_used, keep, scale, need):
    """dq, dk, dv (None where ``need`` says not needed)."""
    dv = xp.swapaxes(a_used, -1, -2) @ g if need[2] else None
    if not (need[0] or need[1]):
        return None, None, dv
    da = g @ xp.swapaxes(v, -1, -2)
    if keep is not None:
        da *= keep
    ds = da
    ds -= (da * a).sum(axis=-1, keepdims=True)
    ds *= a
    ds *= scale
    dq = ds @ k if need[0] else None
    dk = xp.swapaxes(ds, -1, -2) @ q if need[1] else None
    return dq, dk, dv


def _bool_or_float_mask(mask, allowed_if_true: bool, dtype, owner, name):
    """An additive float mask: booleans become 0 / -inf, floats pass through."""
    m = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    if m.dtype == bool:
        bad = m if not allowed_if_true else ~m
        out = xp.zeros(m.shape, dtype=dtype)
        out[bad] = -xp.inf
        return out
    if m.dtype.kind != "f":
        raise TypeError(f"{owner}: '{name}' must be a boolean or floating mask; got dtype {m.dtype}")
    return m.astype(dtype, copy=False)


def causal_mask(L: int, S: int, dtype):
    """0 on and below the diagonal, -inf above: query i sees keys j <= i (top-left aligned, as PyTorch)."""
    out = xp.zeros((L, S), dtype=dtype)
    out[xp.triu(xp.ones((L, S), dtype=bool), k=1)] = -xp.inf
    return out


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None, generator=None) -> Tensor:
    """softmax(Q Kᵀ/√d_k + M) V, as ``torch.nn.functional.scaled_dot_product_attention``.

    query (..., L, E), key (..., S, E), value (..., S, Ev) with equal leading
    axes; returns (..., L, Ev). ``attn_mask``: boolean, True = may attend
    (PyTorch's SDPA convention), or float, added to the scores; it must
    broadcast to (..., L, S). ``is_causal``: query i attends keys j <= i (not
    together with ``attn_mask``). ``dropout_p``: drop attention weights with
    this probability (always, as PyTorch's function; layers pass 0 in eval),
    drawing from ``generator``. ``scale`` defaults to 1/√E. The mask gets no
    gradient.

    Example: ``out = scaled_dot_product_attention(q, k, v, is_causal=True)``.
    """
    owner = "scaled_dot_product_attention"
    q, k, v = (t if isinstance(t, Tensor) else Tensor(t) for t in (query, key, value))
    qd, kd, vd = q.data, k.data, v.data
    if qd.ndim < 2 or kd.ndim != qd.ndim or vd.ndim != qd.ndim:
        raise ValueError(f"{owner}: 'query', 'key', 'value' must have the same number (>= 2) of axes "
                         f"(..., L, E), (..., S, E), (..., S, Ev); got shapes {qd.shape}, {kd.shape}, {vd.shape}")
    if kd.shape[-1] != qd.shape[-1] or kd.shape[:-1] != vd.shape[:-1] or qd.shape[:-2] != kd.shape[:-2]:
        raise ValueError(f"{owner}: shapes do not fit (..., L, E), (..., S, E), (..., S, Ev); got "
                         f"query {qd.shape}, key {kd.shape}, value {vd.shape}")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float)) or not 0 <= dropout_p < 1:
        raise ValueError(f"{owner}: 'dropout_p' must be a number in [0, 1); got {dropout_p!r}")
    L, S = qd.shape[-2], kd.shape[-2]
    dt = qd.dtype
    bias = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{owner}: give 'attn_mask' or 'is_causal=True', not both")
        bias = causal_mask(L, S, dt)
    elif attn_mask is not None:
        bias = _bool_or_float_mask(attn_mask, True, dt, owner, "attn_mask")
        try:
            xp.broadcast_shapes(bias.shape, qd.shape[:-2] + (L, S))
        except ValueError:
            raise ValueError(f"{owner}: 'attn_mask' must broadcast to (..., L, S) = {qd.shape[:-2] + (L, S)}; "
                             f"got shape {bias.shape}") from None
    sc = 1.0 / math.sqrt(qd.shape[-1]) if scale is None else float(scale)
    out, a, a_used, keep = _forward(qd, kd, vd, bias, sc, float(dropout_p), generator)

    def backward(g):
        return _backward(g, qd, kd, vd, a, a_used, keep, sc, (q.requires_grad, k.requires_grad, v.requires_grad))

    return make(out, (q, k, v), backward, "sdpa")


def multi_head_attention(q: Tensor, k: Tensor | None, v: Tensor | None, num_heads: int, bias=None,
                         dropout_p: float = 0.0, generator=None, batch_first: bool = False,
                         need_weights: bool = False):
    """The core of multi-head attention on projected inputs, as one node: split heads, attend, merge heads.

    ``q`` (L, N, E), ``k`` and ``v`` (S, N, E) ((N, L, E) etc. with
    ``batch_first``), already multiplied by W_q, W_k, W_v. Pass ``k = v = None``
    and q = [Q | K | V] packed on the last axis (…, 3E) for self-attention, so
    one projection feeds all three. Head i uses features i·d .. (i+1)·d,
    d = E / num_heads, scaled by 1/√d. ``bias``: an additive mask broadcastable
    to (N, num_heads, L, S). Returns ``(out, weights)``: out (L, N, E) with the
    heads concatenated, weights (N, num_heads, L, S) (after dropout, as PyTorch)
    as an ndarray when ``need_weights`` (they carry no gradient), else None.

    Example: ``out, _ = multi_head_attention(qkv, None, None, 4)``.
    """
    packed = k is None
    qd = q.data
    E = qd.shape[-1] // 3 if packed else qd.shape[-1]
    h = num_heads
    d = E // h
    if packed:
        if batch_first:
            N, L = qd.shape[0], qd.shape[1]
            heads = qd.reshape(N, L, 3, h, d).transpose(2, 0, 3, 1, 4)
        else:
            L, N = qd.shape[0], qd.shape[1]
            heads = qd.reshape(L, N, 3, h, d).transpose(2, 1, 3, 0, 4)
        Q, K, V = heads[0], heads[1], heads[2]
    else:
        kd, vd = k.data, v.data
        if batch_first:
            N, L, S = qd.shape[0], qd.shape[1], kd.shape[1]
            Q = qd.reshape(N, L, h, d).transpose(0, 2, 1, 3)
            K = kd.reshape(N, S, h, d).transpose(0, 2, 1, 3)
            V = vd.reshape(N, S, h, d).transpose(0, 2, 1, 3)
        else:
            L, N, S = qd.shape[0], qd.shape[1], kd.shape[0]
            Q = qd.reshape(L, N, h, d).transpose(1, 2, 0, 3)
            K = kd.reshape(S, N, h, d).transpose(1, 2, 0, 3)
            V = vd.reshape(S, N, h, d).transpose(1, 2, 0, 3)
    scale = 1.0 / math.sqrt(d)
    o, a, a_used, keep = _forward(Q, K, V, bias, scale, dropout_p, generator)
    # (N, h, L, d) -> (L, N, h, d) or (N, L, h, d) -> merged heads
    perm = (0, 2, 1, 3) if batch_first else (2, 0, 1, 3)
    out = o.transpose(perm).reshape(qd.shape[:-1] + (E,))
    inv = (0, 2, 1, 3) if batch_first else (1, 2, 0, 3)
    lead = qd.shape[:-1]

    def backward(g):
        G = g.reshape(lead + (h, d)).transpose(inv)
        if packed:
            dQ, dK, dV = _backward(G, Q, K, V, a, a_used, keep, scale, (True, True, True))
            dqkv = xp.empty(lead + (3, h, d), dtype=g.dtype)
            for i, part in enumerate((dQ, dK, dV)):
                dqkv[..., i, :, :] = part.transpose(perm)
            return (dqkv.reshape(lead + (3 * E,)),)
        dQ, dK, dV = _backward(G, Q, K, V, a, a_used, keep, scale, (q.requires_grad, k.requires_grad,
                                                                     v.requires_grad))
        return tuple(None if x is None else x.transpose(perm).reshape(t.data.shape)
                     for x, t in zip((dQ, dK, dV), (q, k, v)))

    node = make(out, (q,) if packed else (q, k, v), backward, "multi_head_attention")
    return node, (a_used if need_weights else None)
