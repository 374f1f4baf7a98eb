"""Scaled dot-product attention as one fused graph node (Vaswani et al. 2017, "Attention Is All You Need").

For queries Q (L × d_k), keys K (S × d_k) and values V (S × d_v)::

    A = softmax(Q Kᵀ / √d_k + M)        (softmax over the S keys of each query row)
    out = A V

M is the mask: 0 where a query may attend to a key and -∞ where it may not
(a float mask is added as given). A row whose keys are all masked gets
weights 0 and output 0 rather than NaN, as PyTorch's scaled_dot_product_attention.

Backward, with G = dL/d(out) and A' the (dropped-out) weights that multiplied V::

    dV = A'ᵀ G,   dA = G Vᵀ (⊙ dropout mask),   dS = A ⊙ (dA − D),
    dQ = dS K / √d_k,   dK = dSᵀ Q / √d_k,

where D_i = Σ_j dA_ij A_ij (the softmax Jacobian's row term) is computed as
Σ_c G_ic out_ic, an (L × d_v) product instead of an (L × S) one (the same sum,
since out = A' V; Dao et al. 2022, "FlashAttention"). Nothing of the forward
is recomputed: the node keeps A, the dropout mask and Q/√d_k.

``multi_head_attention`` runs h heads at once on projected inputs
(d_k = embed_dim / h per head), splitting and merging the heads inside the
same node, so a self-attention MultiheadAttention layer is three graph nodes
between the reshapes that flatten its input to 2-D (T·N, E) and back: the
input projection, this one, and the output projection.
"""
from __future__ import annotations

import math

from ..backend import get_generator, xp
from ..tensor import Tensor, make
from ._sums import row_sums

__all__ = ["scaled_dot_product_attention", "multi_head_attention"]


# |score| below which exp needs no shift: e^±60 (float32) and e^±600 (float64) are normal numbers, and
# a row of up to 10^12 such terms still sums to a finite one
_EXP_SAFE = {xp.dtype(xp.float32): 60.0, xp.dtype(xp.float64): 600.0}


def _softmax_(s, masked, bound=math.inf):
    """Row softmax of ``s`` in place; rows that are all -inf become 0 when ``masked``.

    softmax is unchanged by a per-row shift; the usual shift by the row maximum
    only keeps exp from overflowing. When every |s_ij| is known to be below
    ``bound`` and that is small enough for exp (``_EXP_SAFE``), the maximum (a
    slow reduction along the short key axis) and the subtraction are skipped.
    """
    if masked or not bound < _EXP_SAFE.get(s.dtype, 0.0):
        m = s.max(axis=-1, keepdims=True)
        if masked:
            m[~xp.isfinite(m)] = 0
        s -= m
    xp.exp(s, out=s)
    z = row_sums(s)
    if masked:
        z[z == 0] = 1
    s *= 1 / z  # one reciprocal per row, then a multiply: cheaper than dividing every score
    return s


def _forward(q, k, v, bias, scale, dropout_p, generator, out=None):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> out, A, A' (A after dropout), dropout mask or None, q·scale.

    The scale multiplies q (L·d values) rather than the scores (L·S); the scaled
    copy is also a contiguous operand for the backward's dK = dSᵀ (q·scale).
    ``out``: where to write A' V (a strided view is fine: BLAS takes its row stride).
    """
    qs = q * scale
    s = qs @ xp.swapaxes(k, -1, -2)
    if bias is not None or s.size == 0:
        if bias is not None:
            s += bias
        bound = math.inf
    else:
        # Cauchy-Schwarz: |q_i·k_j| <= max_i |q_i| · max_j |k_j| (NaN or inf gives no bound)
        bound = math.sqrt(float(xp.einsum("...c,...c->...", qs, qs).max())
                          * float(xp.einsum("...c,...c->...", k, k).max()))
    a = _softmax_(s, bias is not None, bound)
    keep = None
    a_used = a
    if dropout_p > 0:
        u = get_generator(generator).random(a.shape, dtype=xp.float32 if a.dtype == xp.float32 else xp.float64)
        keep = (u >= dropout_p).astype(a.dtype)
        keep *= 1.0 / (1.0 - dropout_p)
        a_used = a * keep
    return xp.matmul(a_used, v, out=out), a, a_used, keep, qs


def _backward(g, rowdot, qs, k, v, a, a_used, keep, scale, need, outs=(None, None, None)):
    """dq, dk, dv (None where ``need`` says not needed), written into ``outs`` where given.

    ``rowdot`` is Σ_c G_ic O_ic (..., L, 1), which equals Σ_j dA'_ij A'_ij
    (O = A' V, dA' = G Vᵀ), so the softmax backward needs no L×S product
    and reduction for its row sums (Dao et al. 2022, FlashAttention, eq. of D_i).
    With dropout, dA = dA' ⊙ mask and Σ_j dA_ij A_ij is the same sum.
    """
    dv = xp.matmul(xp.swapaxes(a_used, -1, -2), g, out=outs[2]) if need[2] else None
    if not (need[0] or need[1]):
        return None, None, dv
    ds = g @ xp.swapaxes(v, -1, -2)
    if keep is not None:
        ds *= keep
    ds -= rowdot
    ds *= a
    dq = dk = None
    if need[0]:
        dq = xp.matmul(ds, k, out=outs[0])
        dq *= scale
    if need[1]:
        dk = xp.matmul(xp.swapaxes(ds, -1, -2), qs, out=outs[1])
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
    out, a, a_used, keep, qs = _forward(qd, kd, vd, bias, sc, float(dropout_p), generator)

    def backward(g):
        need = (q.requires_grad, k.requires_grad, v.requires_grad)
        rowdot = xp.einsum("...c,...c->...", g, out)[..., None] if need[0] or need[1] else None
        return _backward(g, rowdot, qs, kd, vd, a, a_used, keep, sc, need)

    return make(out, (q, k, v), backward, "sdpa")


def multi_head_attention(q: Tensor, k: Tensor | None, v: Tensor | None, num_heads: int, bias=None,
                         dropout_p: float = 0.0, generator=None, batch_first: bool = False,
                         need_weights: bool = False, batch_size: int | None = None):
    """The core of multi-head attention on projected inputs, as one node: split heads, attend, merge heads.

    ``q`` (L, N, E), ``k`` and ``v`` (S, N, E) ((N, L, E) etc. with
    ``batch_first``), already multiplied by W_q, W_k, W_v. Pass ``k = v = None``
    and q = [Q | K | V] packed on the last axis (…, 3E) for self-attention, so
    one projection feeds all three. The inputs may also come flattened to 2-D
    (rows, ·), rows in the (L, N) (or, with ``batch_first``, (N, L)) order,
    with ``batch_size`` = N; the output is then 2-D (L·N, E) as well, so the
    projections around this node are single 2-D GEMMs. Head i uses features
    i·d .. (i+1)·d, d = E / num_heads, scaled by 1/√d. ``bias``: an additive
    mask broadcastable to (N, num_heads, L, S). Returns ``(out, weights)``:
    out (L, N, E) with the heads concatenated, weights (N, num_heads, L, S)
    (after dropout, as PyTorch) as an ndarray when ``need_weights`` (they
    carry no gradient), else None.

    The heads are strided views of the inputs (no copies): each per-head
    product is a GEMM whose operands have row stride E (or 3E), which BLAS
    takes as it is, and the products write straight into the merged output and
    the merged gradient buffers.

    Example: ``out, _ = multi_head_attention(qkv, None, None, 4)``.
    """
    packed = k is None
    qd = q.data
    E = qd.shape[-1] // 3 if packed else qd.shape[-1]
    h = num_heads
    d = E // h
    if qd.ndim == 2:
        N = batch_size
        lead = (N, qd.shape[0] // N) if batch_first else (qd.shape[0] // N, N)
    else:
        lead = qd.shape[:-1]
    # (N, L, h, d) or (L, N, h, d) <-> (N, h, L, d)
    heads = (0, 2, 1, 3) if batch_first else (1, 2, 0, 3)
    if packed:
        parts = qd.reshape(lead + (3, h, d))
        Q, K, V = (parts[..., i, :, :].transpose(heads) for i in range(3))
    else:
        kd, vd = k.data, v.data
        klead = (lead[0], -1) if batch_first else (-1, lead[1])
        Q = qd.reshape(lead + (h, d)).transpose(heads)
        K = kd.reshape(klead + (h, d)).transpose(heads)
        V = vd.reshape(klead + (h, d)).transpose(heads)
    scale = 1.0 / math.sqrt(d)
    merged = xp.empty(lead + (h, d), dtype=qd.dtype)
    _, a, a_used, keep, qs = _forward(Q, K, V, bias, scale, dropout_p, generator, out=merged.transpose(heads))
    out = merged.reshape(qd.shape[:-1] + (E,))

    def backward(g):
        gm = g.reshape(lead + (h, d))
        # Σ_c G_ic O_ic per head and query, in the merged layout where both are contiguous
        rowdot = xp.einsum("...c,...c->...", gm, merged).transpose(heads[:3])[..., None]
        G = gm.transpose(heads)
        if packed:
            dqkv = xp.empty(lead + (3, h, d), dtype=g.dtype)
            outs = tuple(dqkv[..., i, :, :].transpose(heads) for i in range(3))
            _backward(G, rowdot, qs, K, V, a, a_used, keep, scale, (True, True, True), outs)
            return (dqkv.reshape(qd.shape),)
        need = (q.requires_grad, k.requires_grad, v.requires_grad)
        bufs = [xp.empty(t.data.shape[:-1] + (E,), dtype=g.dtype) if n else None for t, n in zip((q, k, v), need)]
        outs = tuple(None if b is None else b.reshape((lead if i == 0 else klead) + (h, d)).transpose(heads)
                     for i, b in enumerate(bufs))
        _backward(G, rowdot, qs, K, V, a, a_used, keep, scale, need, outs)
        return tuple(bufs)

    node = make(out, (q,) if packed else (q, k, v), backward, "multi_head_attention")
    return node, (a_used if need_weights else None)
