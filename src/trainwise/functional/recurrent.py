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

Speed. The GRU runs a whole layer, both directions at once, as one graph
node (``gru_layer``): the loop over time is inside the node's forward, and its
backward is a hand-written loop of backpropagation through time; the input
projection, dW_hh, dW_ih and dx are each one matrix product over all steps
(details in ``gru_layer``). The Elman RNN and the LSTM (``recurrent_layer``)
compute the input part W_ih x_t + b_ih for all time steps with one matrix
product up front, then add one graph node per time step whose forward is one
matrix product (W_hh h) plus elementwise gate math and whose backward is
hand-written. Their weight gradients dW_hh, db_hh and the input-projection
gradient are not accumulated step by step: each step writes its gate gradient
into a shared buffer and the step at t = 0 (the last one reached going back
in time) turns the buffer into dW_hh with a single matrix product.
"""
from __future__ import annotations

from ..backend import one_blas_thread, xp
from ..tensor import Tensor, is_grad_enabled, make
from .linear import linear

__all__ = ["rnn_cell", "gru_cell", "lstm_cell", "recurrent_layer", "gru_layer"]

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
    Mode "gru" without ``xw`` runs as one node instead (``gru_layer``).
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
        if mode == "gru":
            if h0.shape != (x.shape[1], H):
                raise ValueError(f"recurrent_layer: 'h0' must have shape {(x.shape[1], H)}; got shape {h0.shape}")
            out, (last,) = gru_layer(x, [h0], [(w_ih, w_hh, b_ih, b_hh)], [reverse])
            return out, last
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


# ------------------------------------------- the GRU over a whole sequence, one node
_SMALL_PRODUCT = 1 << 22   # multiply-adds under which a per-step product runs on one BLAS thread
# Why one thread: a time step's product (e.g. 192 x 65 x 128 = 1.6 M multiply-adds, 50 us) is too short
# for a second thread to pay for waking it, and on a machine whose cores are busy each of the 80
# products per step waited for a free core: at two threads under load the GRU step took 476 ms
# against 150 ms with the loops held to one thread (load average 5, interleaved).


def _interleave(mats, D, H):
    """Per-direction gate blocks (3H, ...) -> the fused layout (3·D·H, ...), row g·D·H + d·H + j."""
    if D == 1:
        return mats[0]
    return xp.stack([m.reshape((3, H) + m.shape[1:]) for m in mats], axis=1).reshape((3 * D * H,) + mats[0].shape[1:])


def _split(a, D, H):
    """Inverse of ``_interleave`` along the first axis: the fused (3·D·H, ...) back to D blocks (3H, ...)."""
    if D == 1:
        return [a]
    a = a.reshape((3, D, H) + a.shape[1:])
    return [a[:, d].reshape((3 * H,) + a.shape[3:]) for d in range(D)]


def _gru_forward_loop(T, K, w_f, S, gx, gh, RZ, n, dlt, M, AA, omz):
    """The time loop of ``gru_layer``'s forward (see there); with M given it also forms the
    backward's factors M[s] = [A·hn·r(1-r), (h-n)·z(1-z), A·r] and AA[s] = A."""
    dot, add, mul, sub, tanh = xp.dot, xp.add, xp.multiply, xp.subtract, xp.tanh
    K2 = 2 * K
    train = M is not None
    for s in range(T):
        dot(w_f, S[s], out=gh)
        g_s = gx[s]
        rz = add(g_s[:K2], gh[:K2], out=RZ[s])
        tanh(rz, out=rz)
        rz += 1
        rz *= 0.5
        r, z, hn = rz[:K], rz[K:], gh[K2:]
        mul(r, hn, out=n)
        n += g_s[K2:]
        tanh(n, out=n)
        h = S[s, :K]
        sub(h, n, out=dlt)                        # h' = n + z (h - n)
        dlt *= z
        add(n, dlt, out=S[s + 1, :K])
        if train:
            m = M[s]
            sub(1, z, out=omz)
            mul(dlt, omz, out=m[K:K2])            # z(h - n)(1 - z)
            a = mul(n, n, out=AA[s])
            sub(1, a, out=a)
            a *= omz                              # A
            mn = mul(a, r, out=m[K2:])            # A r
            mr = sub(1, r, out=m[:K])
            mr *= mn
            mr *= hn                              # A r (1 - r) hn


def gru_layer(x: Tensor, h0, weights, reverse):
    """One GRU layer over a whole sequence, in one or both directions, as one graph node.

    ``x``: (T, N, I), time first; ``h0``: a list of D initial states (N, H);
    ``weights``: a list of D tuples ``(w_ih, w_hh, b_ih, b_hh)`` (biases both
    given or both None); ``reverse``: a list of D bools (True runs that
    direction from t = T-1 down to 0). Returns ``(output, last)``: output
    (T, N, D·H) holds the directions' hidden states side by side in input
    order (as ``torch.nn.GRU``'s output), ``last`` the list of D final states (N, H).

    The arithmetic is the GRU cell of the module docstring (Cho et al. 2014,
    PyTorch's gate order); the gradients are backpropagation through time,
    derived by hand and checked against ``torch.nn.GRU`` and finite
    differences (tests/test_rnn.py). How it is fast:

    * The D directions run in one loop as one GRU of hidden size K = D·H whose
      W_hh is block-diagonal, rows in gate order [r_1 … r_D | z_1 … z_D | n_1 … n_D],
      so the cell's elementwise math is unchanged; a reversed direction reads
      its input projection flipped in time. (The zero blocks add exact zeros.)
      One loop instead of two halves the Python work per step.
    * Everything is kept transposed, (features, N) per step and (T, features, N)
      per sequence: a gate's block of rows is then one contiguous array, and
      no ufunc call walks a strided slice.
    * The input projection W_ih xᵀ for all steps is computed before the loop
      (for I = 1 a broadcast product; else one batched matrix product). All biases but
      b_in ride in the recurrent product as an extra column of W_hh against a
      constant row of ones under the state (b_hr and b_hz add to b_ir and b_iz;
      b_hn sits inside r ⊙ (W_hn h + b_hn)). The rows of W_hh and W_ih for r
      and z are halved, so σ(a) = ½(1 + tanh(a/2)) needs no extra multiply
      (exact: a power of 2). A step is one product and ten ufunc calls into
      preallocated buffers.
    * Backward: with g = dL/dh' and A = (1 - z)(1 - n²), the pre-activation
      gradients are dL/d(a_r, a_z, hn) = g ⊙ [A·hn·r(1 - r), (h - n)·z(1 - z), A·r]
      (hn = W_hn h + b_hn, a_n's gradient g ⊙ A) and dL/dh = g ⊙ z + W_hhᵀ dL/d(gh).
      The bracket does not depend on g, so the forward forms it while each
      step's arrays are in cache (when a gradient will be needed); a backward
      step is then one broadcast product, one product with W_hhᵀ and three ufunc
      calls. [dW_hh | db_hh] (the ones row gives db_hh), dW_ih, db_ih and dx are
      each one batched product or sum over all steps after the loop.
    * The two time loops hold NumPy's BLAS to one thread when a step's product
      is small (``backend.one_blas_thread``).

    Example: ``out, (hT,) = gru_layer(x, [h0], [(gru.weight_ih_l0, gru.weight_hh_l0, None, None)], [False])``.
    """
    D = len(weights)
    if not (len(h0) == len(reverse) == D and D in (1, 2)):
        raise ValueError(f"gru_layer: 'h0', 'weights' and 'reverse' must be lists of one length, 1 or 2; "
                         f"got lengths {len(h0)}, {D}, {len(reverse)}")
    H = weights[0][1].shape[1]
    I = weights[0][0].shape[1]
    has_b = weights[0][2] is not None
    for w_ih, w_hh, b_ih, b_hh in weights:
        if w_hh.shape != (3 * H, H) or w_ih.shape != (3 * H, I):
            raise ValueError(f"gru_layer: 'w_ih', 'w_hh' must have shapes (3·H, I), (3·H, H) with one H and I "
                             f"for every direction; got {w_ih.shape}, {w_hh.shape}")
        if (b_ih is None) != (not has_b) or (b_hh is None) != (not has_b):
            raise ValueError("gru_layer: 'b_ih' and 'b_hh' must be given for every direction or for none")
    if x.ndim != 3 or x.shape[-1] != I:
        raise ValueError(f"gru_layer: 'x' must have shape (T, N, input_size={I}); got shape {x.shape}")
    T, N = x.shape[0], x.shape[1]
    for h in h0:
        if h.shape != (N, H):
            raise ValueError(f"gru_layer: 'h0' must have shape {(N, H)}; got shape {h.shape}")
    K, K2 = D * H, 2 * D * H
    kb = K + 1 if has_b else K                     # state rows, plus the row of ones for b_hn
    xd = x.data
    dt = xp.result_type(xd.dtype, h0[0].data.dtype, weights[0][1].data.dtype)
    w_ih_c = _interleave([w[0].data for w in weights], D, H)
    whh = [w[1].data for w in weights]
    if D == 1:
        w_hh_c = whh[0]
    else:
        # block-diagonal: direction d's gates read only direction d's state
        w_hh_c = xp.zeros((3, D, H, D, H), dtype=whh[0].dtype)
        for d in range(D):
            w_hh_c[:, d, :, d, :] = whh[d].reshape(3, H, H)
        w_hh_c = w_hh_c.reshape(3 * K, K)
    w_f = xp.empty((3 * K, kb), dtype=w_hh_c.dtype)   # [W_hh | (0, 0, b_hn)], r and z rows halved
    w_f[:, :K] = w_hh_c
    w_f[:K2, :K] *= 0.5                            # (the ones column is filled below, already halved)
    # input projection, transposed: gx[t] = W_ih x_tᵀ + b_ih (+ b_hr, b_hz), shape (3K, N), r and z rows
    # halved (σ(a) = ½(1 + tanh(a/2))); the halving goes on the small weights, not the (T, 3K, N) product
    scale = xp.ones((3 * K, 1), dtype=w_ih_c.dtype)
    scale[:K2] = 0.5
    xT = xd.transpose(0, 2, 1)
    if I == 1:
        # a scalar input per step (MNIST-1D read as a sequence): an outer product, for which a
        # broadcast multiply is about ten times faster than a matrix product with inner size 1
        gx = (w_ih_c * scale)[None] * xT
    else:
        gx = xp.matmul(w_ih_c * scale, xp.ascontiguousarray(xT))
    if has_b:
        b_ih_c = _interleave([w[2].data for w in weights], D, H)
        b_hh_c = _interleave([w[3].data for w in weights], D, H)
        # the biases of r and z ride in the recurrent product's ones column (halved, as their rows);
        # b_hn too, since it sits inside r ⊙ (W_hn h + b_hn); only b_in is added to the projection
        w_f[:K2, K] = (b_ih_c[:K2] + b_hh_c[:K2]) * 0.5
        w_f[K2:, K] = b_hh_c[K2:]
        gx[:, K2:] += b_ih_c[K2:, None]
    g5 = gx.reshape(T, 3, D, H, N)
    flipped = [d for d in range(D) if reverse[d]]
    for d in flipped:
        g5[:, :, d] = g5[::-1, :, d].copy()
    # S[s] = [h_sᵀ; 1]: the fused state before loop step s (step s reads input time s, or T-1-s if reversed)
    S = xp.empty((T + 1, kb, N), dtype=dt)
    if has_b:
        S[:, K] = 1
    for d, h in enumerate(h0):
        S[0, d * H:(d + 1) * H] = h.data.T
    params = [p for w in weights for p in w if p is not None]
    parents = (x, *h0, *params)
    train = is_grad_enabled() and any(p.requires_grad for p in parents)
    gh = xp.empty((3 * K, N), dtype=dt)           # [½ gh_r, ½ gh_z, hn]
    RZ = xp.empty((T, K2, N), dtype=dt)           # [r, z] per step
    n = xp.empty((K, N), dtype=dt)
    dlt = xp.empty((K, N), dtype=dt)
    if train:
        # the factors of the backward that do not depend on dL/dh', formed while the step's
        # arrays are in cache (see the docstring): M = [A·hn·r(1-r), (h-n)·z(1-z), A·r], A = (1-z)(1-n²)
        M = xp.empty((T, 3 * K, N), dtype=dt)
        AA = xp.empty((T, K, N), dtype=dt)
        omz = xp.empty((K, N), dtype=dt)
    dot, add, mul, sub, tanh = xp.dot, xp.add, xp.multiply, xp.subtract, xp.tanh
    one_thread = one_blas_thread(3 * K * kb * N < _SMALL_PRODUCT)
    with one_thread:
        _gru_forward_loop(T, K, w_f, S, gx, gh, RZ, n, dlt, M if train else None, AA if train else None,
                          omz if train else None)
    hs = S[:, :K]                                  # (T+1, K, N)
    if not flipped:
        out_data = hs[1:].transpose(0, 2, 1)
    else:
        out_data = xp.empty((T, N, K), dtype=dt)
        out_data[...] = hs[1:].transpose(0, 2, 1)
        for d in flipped:
            sl = slice(d * H, (d + 1) * H)
            out_data[:, :, sl] = hs[T:0:-1, sl].transpose(0, 2, 1)
    if not train:
        return Tensor(out_data), [Tensor(hs[T, d * H:(d + 1) * H].T) for d in range(D)]

    def backward(GS):
        # GS = dL/d(state) (T+1, K, N) in loop order; row 0 (the initial state) is never read through this node
        gdt = GS.dtype
        z, A = RZ[:, K:], AA
        M4 = M.reshape(T, 3, K, N)
        dGH = xp.empty((T, 3 * K, N), dtype=gdt)   # dL/d(gh) per step, gh = W_hh h + b_hh
        dGH4 = dGH.reshape(T, 3, K, N)
        G = xp.empty((T, K, N), dtype=gdt)        # dL/dh' per step: the output's part plus the carried part
        carry = xp.zeros((K, N), dtype=gdt)
        prod = xp.empty((K, N), dtype=gdt)
        w_bt = xp.ascontiguousarray(w_hh_c.T)      # (K, 3K)
        with one_thread:
            for s in range(T - 1, -1, -1):
                g = add(GS[s + 1], carry, out=G[s])
                mul(g, M4[s], out=dGH4[s])
                mul(g, z[s], out=carry)
                carry += dot(w_bt, dGH[s], out=prod)
        out = [None] * (1 + D)
        if any(w[1].requires_grad or (has_b and w[3].requires_grad) for w in weights):
            gw = xp.matmul(dGH, S[:-1].transpose(0, 2, 1)).sum(axis=0)   # (3K, kb): [dW_hh | db_hh]
            gw_hh = gw[:, :K]
            if D > 1:
                gw_hh = gw_hh.reshape(3, D, H, D, H)
                gw_hh = xp.stack([gw_hh[:, d, :, d, :] for d in range(D)], axis=1).reshape(3 * K, H)
            gw_hh = _split(gw_hh, D, H)
            gb_hh = _split(gw[:, K], D, H) if has_b else None
        else:
            gw_hh = gb_hh = [None] * D
        # dL/d(gx) per step is dL/d(gh) but for n's block, which misses the factor r: written over dGH,
        # whose work is done
        dGX = dGH
        mul(G, A, out=dGX[:, K2:])
        d5 = dGX.reshape(T, 3, D, H, N)
        for d in flipped:                          # back to input time order
            d5[:, :, d] = d5[::-1, :, d].copy()
        if x.requires_grad:
            out[0] = xp.matmul(dGX.transpose(0, 2, 1), w_ih_c)
        gw_ih = None
        if any(w[0].requires_grad for w in weights):
            gw_ih = _split(xp.matmul(dGX, xp.ascontiguousarray(xd)).sum(axis=0), D, H)
        gb_ih = _split(dGX.sum(axis=0).sum(axis=1), D, H) if has_b else None
        for d, h in enumerate(h0):
            if h.requires_grad:
                out[1 + d] = carry[d * H:(d + 1) * H].T
        for d, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
            out.append(gw_ih[d] if w_ih.requires_grad else None)
            out.append(gw_hh[d] if w_hh.requires_grad else None)
            if has_b:
                out.append(gb_ih[d] if b_ih.requires_grad else None)
                out.append(gb_hh[d] if b_hh.requires_grad else None)
        return tuple(out)

    core = make(hs, parents, backward, "gru_layer")

    def out_backward(g):
        GS = xp.zeros((T + 1, K, N), dtype=g.dtype)
        GS[1:] = g.transpose(0, 2, 1)
        for d in flipped:
            sl = slice(d * H, (d + 1) * H)
            GS[T:0:-1, sl] = g[:, :, sl].transpose(0, 2, 1)
        return (GS,)

    out = make(out_data, (core,), out_backward, "gru_output")
    lasts = []
    for d in range(D):
        sl = slice(d * H, (d + 1) * H)

        def last_backward(g, sl=sl):
            GS = xp.zeros((T + 1, K, N), dtype=g.dtype)
            GS[T, sl] = g.T
            return (GS,)

        lasts.append(make(hs[T, sl].T, (core,), last_backward, "gru_last"))
    return out, lasts
