"""Recurrent cells (Elman RNN, GRU, LSTM) as fused graph nodes, and one recurrent layer over a sequence.

A recurrent layer applies the same cell at every time step t = 0..T-1,
carrying a hidden state h_t (and for the LSTM a cell state c_t) from one step
to the next (seed 002, "Recurrent Neural Network (RNN): Sequential data").
Gradients flow back through time along that chain (backpropagation through
time): dL/dh_{t-1} = (dL/dh_t)(dh_t/dh_{t-1}), a product of T Jacobians that
shrinks or grows geometrically with T. This is why the notes call gradient
clipping (``trainwise.nn.utils.clip_grad_norm_``, seed 002 "Gradient
Clipping") "especially important in RNNs": it bounds the update when that
product explodes. Gated cells (GRU, LSTM) add a path along which the state is
copied rather than multiplied, which keeps gradients alive over longer spans.

The cell equations, with PyTorch's gate order and names (x_t the input, h the
previous hidden state, σ the logistic sigmoid, ⊙ the elementwise product):

Elman RNN (``nonlinearity`` tanh or relu)::

    h' = tanh(W_ih x + b_ih + W_hh h + b_hh)

GRU (Cho et al. 2014; gates r, z, n)::

    r  = σ(W_ir x + b_ir + W_hr h + b_hr)
    z  = σ(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h

LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000; gates i, f, g, o)::

    i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')

The weights of a cell are stacked gate by gate as in PyTorch: ``w_ih`` has
shape (G·H, I) and ``w_hh`` (G·H, H) with G = 1, 3, 4 gates.

Speed: ``recurrent_layer`` computes the input part W_ih x_t + b_ih for all
time steps with one matrix product up front, then adds one graph node per
time step whose forward is one matrix product (W_hh h) plus elementwise gate
math and whose backward is hand-written. The weight gradients dW_hh, db_hh
and the input-projection gradient are not accumulated step by step: each
step writes its gate gradient into a shared buffer and the step at t = 0 (the
last one reached going back in time) turns the buffer into dW_hh with a single
matrix product.
"""
from __future__ import annotations

from ..backend import xp
from ..tensor import Tensor, is_grad_enabled, make
from .linear import linear

__all__ = ["rnn_cell", "gru_cell", "lstm_cell", "recurrent_layer"]

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


def _sigmoid(a, out=None):
    """σ(a) = ½(1 + tanh(a/2)): equal to 1/(1+e^-a), with no overflow for large |a|."""
    r = xp.multiply(a, 0.5, out=out)
    xp.tanh(r, out=r)
    r += 1
    r *= 0.5
    return r


# --------------------------------------------------------------- cell cores
# Each core works on ndarrays: ``gx`` = W_ih x + b_ih (N, G·H) and the previous
# state; forward returns the new state and what backward needs; backward maps
# dL/dh' (and dL/dc') to the gate gradients dL/d(gx), dL/d(gh) with
# gh = W_hh h + b_hh, and the part of dL/dh that does not pass through W_hh.
# Forward cores take ``w_t`` = W_hhᵀ as a C-contiguous (H, G·H) array: xp.dot on
# contiguous operands skips the copy and checks that cost more than the product at these sizes.

def _rnn_forward(gx, h, w_t, b_hh, relu, out=None):
    a = xp.dot(h, w_t, out=out)
    a += gx
    if b_hh is not None:
        a += b_hh
    return xp.maximum(a, 0, out=a) if relu else xp.tanh(a, out=a)


def _rnn_backward(g, h_new, relu):
    """h' = φ(a): da = g ⊙ φ'(a), with tanh' = 1 - h'² and relu' = [h' > 0]."""
    if relu:
        return g * (h_new > 0)
    return g * (1 - h_new * h_new)


def _gru_forward(gx, h, w_t, b_hh, H, out=None):
    gh = xp.dot(h, w_t)
    if b_hh is not None:
        gh += b_hh
    rz = _sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H])
    hn = gh[:, 2 * H:]
    n = rz[:, :H] * hn
    n += gx[:, 2 * H:]
    xp.tanh(n, out=n)
    # h' = (1 - z) n + z h = n + z (h - n)
    d = h - n
    d *= rz[:, H:]
    h_new = xp.add(n, d, out=out)
    return h_new, (rz, n, hn)


def _gru_backward(g, h, cache, H, dgx=None, dgh=None):
    """Writes dL/d(gx) and dL/d(gh) (N, 3H) into ``dgx``, ``dgh``; returns them and g ⊙ z (= dL/dh not via W_hh)."""
    rz, n, hn = cache
    r, z = rz[:, :H], rz[:, H:]
    if dgx is None:
        dgx = xp.empty((g.shape[0], 3 * H), dtype=g.dtype)
        dgh = xp.empty_like(dgx)
    dan = xp.subtract(1, z, out=dgx[:, 2 * H:])
    dan *= g                                    # dL/dn = g (1 - z)
    t = n * n
    xp.subtract(1, t, out=t)
    dan *= t                                    # through tanh
    dr = xp.multiply(dan, hn, out=dgx[:, :H])   # dL/dr = dL/da_n ⊙ hn
    t = xp.subtract(1, r, out=t)
    t *= r
    dr *= t                                     # σ' = r (1 - r)
    dz = xp.subtract(h, n, out=dgx[:, H: 2 * H])
    dz *= g                                     # dL/dz = g (h - n)
    t = xp.subtract(1, z, out=t)
    t *= z
    dz *= t
    dgh[:, : 2 * H] = dgx[:, : 2 * H]
    xp.multiply(dan, r, out=dgh[:, 2 * H:])     # d(r ⊙ hn)/d(hn) = r
    return dgx, dgh, g * z


_LSTM_CONSTS = {}


def _lstm_consts(H, dtype):
    """Per-column constants that evaluate the four gates with one tanh call:
    σ(a) = ½ + ½·tanh(a/2) for i, f, o and tanh(a) for g; and the derivative
    from t = tanh(scaled a): σ' = ¼(1 - t²), tanh' = 1 - t²."""
    key = (H, xp.dtype(dtype))
    if key not in _LSTM_CONSTS:
        half = xp.full(4 * H, 0.5, dtype=dtype)
        half[2 * H: 3 * H] = 1
        add = xp.full(4 * H, 0.5, dtype=dtype)
        add[2 * H: 3 * H] = 0
        quarter = xp.full(4 * H, 0.25, dtype=dtype)
        quarter[2 * H: 3 * H] = 1
        _LSTM_CONSTS[key] = (half, add, quarter)
    return _LSTM_CONSTS[key]


def _lstm_forward(gx, h, c, w_t, b_hh, H, out_hc=None):
    t = xp.dot(h, w_t)
    t += gx
    if b_hh is not None:
        t += b_hh
    half, add, _ = _lstm_consts(H, t.dtype)
    t *= half
    xp.tanh(t, out=t)
    a = t * half                                # i, f, o = ½ + ½ t;  g = t
    a += add
    i, f, gg, o = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
    if out_hc is None:
        out_hc = xp.empty((h.shape[0], 2 * H), dtype=a.dtype)
    c_new = xp.multiply(f, c, out=out_hc[:, H:])
    c_new += i * gg
    tc = xp.tanh(c_new)
    xp.multiply(o, tc, out=out_hc[:, :H])
    return out_hc, (a, t, tc)


def _lstm_backward(gh, gc, c, cache, H, out=None, dc_out=None):
    """Returns dL/d(gates pre-activation) (N, 4H) (written into ``out``) and dL/dc = dL/dc' ⊙ f."""
    a, t, tc = cache
    i, f, gg, o = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
    dc = gh * o
    u = tc * tc
    xp.subtract(1, u, out=u)
    dc *= u                                     # dL/dc' through h' = o tanh(c')
    if gc is not None:
        dc += gc
    d = xp.empty(a.shape, dtype=gh.dtype) if out is None else out
    xp.multiply(dc, gg, out=d[:, :H])           # dL/di
    xp.multiply(dc, c, out=d[:, H: 2 * H])      # dL/df
    xp.multiply(dc, i, out=d[:, 2 * H: 3 * H])  # dL/dg
    xp.multiply(gh, tc, out=d[:, 3 * H:])       # dL/do
    _, _, quarter = _lstm_consts(H, d.dtype)
    u = xp.multiply(t, t)
    xp.subtract(1, u, out=u)
    u *= quarter
    d *= u
    return d, xp.multiply(dc, f, out=dc_out)


# ------------------------------------------------------------ single cells
def _cell_params(x, h, w_ih, w_hh, b_ih, b_hh, name, gates, c=None):
    xd, hd = x.data, h.data
    GH, I = w_ih.shape
    H = GH // gates
    if xd.ndim != 2 or xd.shape[1] != I:
        raise ValueError(f"{name}: 'input' must have shape (N, input_size={I}); got shape {xd.shape}")
    if hd.shape != (xd.shape[0], H):
        raise ValueError(f"{name}: 'hx' must have shape (N, hidden_size) = {(xd.shape[0], H)}; got shape {hd.shape}")
    if c is not None and c.data.shape != hd.shape:
        raise ValueError(f"{name}: 'c' must have shape {hd.shape}; got shape {c.data.shape}")
    parents = [x, h] + ([c] if c is not None else []) + [w_ih, w_hh]
    parents += [b for b in (b_ih, b_hh) if b is not None]
    gx = xd @ w_ih.data.T
    if b_ih is not None:
        gx += b_ih.data
    return H, gx, tuple(parents)


def _cell_grads(x, h, w_ih, w_hh, b_ih, b_hh, dgx, dgh, dh_direct, extra=()):
    """Gradients of a single-step cell node, in the order of its parents."""
    xd, hd = x.data, h.data
    out = [dgx @ w_ih.data if x.requires_grad else None]
    out.append(dh_direct + dgh @ w_hh.data if h.requires_grad else None)
    out.extend(extra)
    out.append(dgx.T @ xd if w_ih.requires_grad else None)
    out.append(dgh.T @ hd if w_hh.requires_grad else None)
    if b_ih is not None:
        out.append(dgx.sum(axis=0) if b_ih.requires_grad else None)
    if b_hh is not None:
        out.append(dgh.sum(axis=0) if b_hh.requires_grad else None)
    return tuple(out)


def rnn_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, nonlinearity: str = "tanh") -> Tensor:
    """One Elman RNN step as one graph node: h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), φ = tanh or relu.

    x: (N, I); h: (N, H); w_ih: (H, I); w_hh: (H, H). Returns h' (N, H).
    Example: ``h = rnn_cell(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)``.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: 'nonlinearity' must be 'tanh' or 'relu'; got {nonlinearity!r}")
    relu = nonlinearity == "relu"
    H, gx, parents = _cell_params(x, h, w_ih, w_hh, b_ih, b_hh, "rnn_cell", 1)
    out = _rnn_forward(gx, h.data, xp.ascontiguousarray(w_hh.data.T), None if b_hh is None else b_hh.data, relu)

    def backward(g):
        da = _rnn_backward(g, out, relu)
        return _cell_grads(x, h, w_ih, w_hh, b_ih, b_hh, da, da, 0)

    return make(out, parents, backward, "rnn_cell")


def gru_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step as one graph node (gates r, z, n in PyTorch's order; see the module docstring).

    x: (N, I); h: (N, H); w_ih: (3H, I); w_hh: (3H, H). Returns h' (N, H).
    Example: ``h = gru_cell(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)``.
    """
    H, gx, parents = _cell_params(x, h, w_ih, w_hh, b_ih, b_hh, "gru_cell", 3)
    out, cache = _gru_forward(gx, h.data, xp.ascontiguousarray(w_hh.data.T), None if b_hh is None else b_hh.data, H)

    def backward(g):
        dgx, dgh, dh = _gru_backward(g, h.data, cache, H)
        return _cell_grads(x, h, w_ih, w_hh, b_ih, b_hh, dgx, dgh, dh)

    return make(out, parents, backward, "gru_cell")


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step (gates i, f, g, o in PyTorch's order; see the module docstring).

    x: (N, I); h, c: (N, H); w_ih: (4H, I); w_hh: (4H, H). Returns (h', c'), both (N, H),
    read out of one fused node that holds [h' | c'].
    Example: ``h, c = lstm_cell(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)``.
    """
    H, gx, parents = _cell_params(x, h, w_ih, w_hh, b_ih, b_hh, "lstm_cell", 4, c=c)
    hc, cache = _lstm_forward(gx, h.data, c.data, xp.ascontiguousarray(w_hh.data.T), None if b_hh is None else b_hh.data, H)

    def backward(g):
        d, dc = _lstm_backward(g[:, :H], g[:, H:], c.data, cache, H)
        return _cell_grads(x, h, w_ih, w_hh, b_ih, b_hh, d, d, 0, (dc if c.requires_grad else None,))

    node = make(hc, parents, backward, "lstm_cell")
    return node[:, :H], node[:, H:]


# -------------------------------------------------------- a whole sequence
def recurrent_layer(mode: str, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                    b_hh: Tensor | None = None, reverse: bool = False, xw: Tensor | None = None):
    """One layer, one direction, over a whole sequence; returns ``(output, last_state)``.

    ``mode`` is "rnn_tanh", "rnn_relu", "gru" or "lstm". ``x``: (T, N, I),
    time first. ``h0``: (N, H), or for the LSTM the state [h_0 | c_0] packed
    as (N, 2H). ``output``: (T, N, H), the hidden state after each step
    (in input order also when ``reverse`` runs the cell from t = T-1 down to
    0); ``last_state``: (N, H), or (N, 2H) = [h_T | c_T] for the LSTM.

    The input projection X W_ihᵀ + b_ih for all steps is one fused ``linear``
    node (pass it as ``xw`` if already computed); then one node per step.
    Example: ``out, hT = recurrent_layer("gru", x, h0, rnn.weight_ih_l0, rnn.weight_hh_l0)``.
    """
    if mode not in GATES:
        raise ValueError(f"recurrent_layer: 'mode' must be one of {', '.join(GATES)}; got {mode!r}")
    G = GATES[mode]
    H = w_hh.shape[1]
    if w_hh.shape != (G * H, H):
        raise ValueError(f"recurrent_layer: 'w_hh' must have shape ({G}·H, H) for mode {mode!r}; got {w_hh.shape}")
    if xw is None:
        if x.ndim != 3 or x.shape[-1] != w_ih.shape[1]:
            raise ValueError(f"recurrent_layer: 'x' must have shape (T, N, input_size={w_ih.shape[1]}); "
                             f"got shape {x.shape}")
        xw = linear(x, w_ih, b_ih)
    want = (xw.shape[1], 2 * H if mode == "lstm" else H)
    if h0.shape != want:
        raise ValueError(f"recurrent_layer: 'h0' must have shape {want}; got shape {h0.shape}")
    T, N = xw.shape[0], xw.shape[1]
    gxd = xw.data
    whh = w_hh.data
    w_t = xp.ascontiguousarray(whh.T)
    bhh = None if b_hh is None else b_hh.data
    relu = mode == "rnn_relu"
    lstm = mode == "lstm"
    gru = mode == "gru"
    if bhh is not None and not gru:
        # b_hh only ever adds to the same pre-activation as b_ih: add it once, not T times
        gxd = gxd + bhh
        bhh = None
    dt = xp.result_type(gxd.dtype, h0.data.dtype)
    # S holds the states: forward runs S[t] -> S[t+1], reverse S[t+1] -> S[t]
    S = xp.empty((T + 1, N, 2 * H if lstm else H), dtype=dt)
    S[T if reverse else 0] = h0.data
    order = range(T - 1, -1, -1) if reverse else range(T)
    caches = [None] * T
    for t in order:
        src, dst = (t + 1, t) if reverse else (t, t + 1)
        hp = S[src]
        if gru:
            _, caches[t] = _gru_forward(gxd[t], hp, w_t, bhh, H, out=S[dst])
        elif lstm:
            _, caches[t] = _lstm_forward(gxd[t], hp[:, :H], hp[:, H:], w_t, None, H, out_hc=S[dst])
        else:
            _rnn_forward(gxd[t], hp, w_t, None, relu, out=S[dst])
    seq = S[:T] if reverse else S[1:]
    out_data = seq[..., :H] if lstm else seq
    needs = [p for p in (xw, h0, w_hh, b_hh) if p is not None]
    if not (is_grad_enabled() and any(p.requires_grad for p in needs)):
        return Tensor(out_data), Tensor(S[0] if reverse else S[T])

    # ---- graph: one node per step, chained through the state
    off = 1 if reverse else 0       # S[t + off] is the state before step t, S[t + 1 - off] after it
    buf = []                        # gate-gradient buffers of the current backward pass
    # the first step in processing order is an ancestor of every other step, so the
    # backward pass reaches it last, after all the others have filled their rows
    last_step = T - 1 if reverse else 0

    def step_backward(t, g):
        if not buf:
            dx = xp.zeros((T, N, G * H), dtype=g.dtype)
            buf.extend((dx, xp.zeros_like(dx) if gru else dx))
        dx, dh = buf
        hp = S[t + off]
        last = t == last_step
        need_prev = not last or h0.requires_grad
        if gru:
            _, dgh, dh_direct = _gru_backward(g, hp, caches[t], H, dx[t], dh[t])
            if need_prev:
                dprev = dh_direct
                dprev += xp.dot(dgh, whh)
        elif lstm:
            dprev = xp.empty((N, 2 * H), dtype=g.dtype)
            dgh, _ = _lstm_backward(g[:, :H], g[:, H:], hp[:, H:], caches[t], H, out=dx[t], dc_out=dprev[:, H:])
            if need_prev:
                xp.matmul(dgh, whh, out=dprev[:, :H])
        else:
            h_new = S[t + 1 - off]
            dgh = xp.multiply(g, h_new > 0, out=dx[t]) if relu else xp.multiply(g, 1 - h_new * h_new, out=dx[t])
            if need_prev:
                dprev = xp.dot(dgh, whh)
        if not last:
            return (None, dprev, None) if b_hh is None else (None, dprev, None, None)
        # every other step of this pass has written its row: turn the buffers into gradients
        buf.clear()
        gw = gb = None
        if w_hh.requires_grad:
            Hp = S[1:] if reverse else S[:-1]
            if lstm:
                Hp = Hp[..., :H]
            gw = dh.reshape(-1, G * H).T @ Hp.reshape(-1, H)
        if b_hh is not None and b_hh.requires_grad:
            gb = dh.sum(axis=(0, 1))
        res = (dx if xw.requires_grad else None, dprev if need_prev else None, gw)
        return res + (gb,) if b_hh is not None else res

    nodes = [None] * T
    prev = h0
    for t in order:
        parents = (xw, prev, w_hh) if b_hh is None else (xw, prev, w_hh, b_hh)
        prev = nodes[t] = make(S[t + 1 - off], parents, (lambda g, t=t: step_backward(t, g)), mode + "_step")

    # the output sequence is a view of S; its node hands each step its slice of the gradient
    if lstm:
        def gather_backward(g):
            full = xp.zeros((T, N, 2 * H), dtype=g.dtype)
            full[..., :H] = g
            return tuple(full)
    else:
        def gather_backward(g):
            return tuple(g)

    out = make(out_data, tuple(nodes), gather_backward, "sequence")
    return out, prev
