"""RNN, GRU, LSTM and their cells: parity with PyTorch, finite differences, BPTT, clipping, bad input."""
import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise.nn.utils import clip_grad_norm_
from trainwise.testing import gradcheck, relative_error

KINDS = ["RNN", "GRU", "LSTM"]


def _pair(kind, I, H, **kw):
    tm = getattr(torch.nn, kind)(I, H, dtype=torch.float64, **kw)
    m = getattr(tw.nn, kind)(I, H, dtype=np.float64, **kw)
    m.load_state_dict(tm.state_dict())
    return tm, m


def _state_args(kind, hs, torch_side):
    wrap = torch.tensor if torch_side else tw.Tensor
    ts = [wrap(h, requires_grad=True) for h in hs]
    return ts, ((ts[0], ts[1]) if kind == "LSTM" else ts[0])


def _compare(kind, tm, m, x, hs=None, seed=1, loss=None):
    """Forward values and gradients (input, initial states, every parameter) vs torch."""
    rng = np.random.default_rng(seed)
    tx, xx = torch.tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    if hs is not None:
        ths, targ = _state_args(kind, hs, True)
        xhs, arg = _state_args(kind, hs, False)
    else:
        ths = xhs = []
        targ = arg = None
    to, ts = tm(tx, targ)
    o, s = m(xx, arg)
    if kind == "LSTM":
        assert relative_error(s[1].data, ts[1].detach().numpy()) < 1e-12
        ts, s = ts[0] * 1.5 + ts[1], s[0] * 1.5 + s[1]
    assert o.shape == tuple(to.shape) and s.shape == tuple(ts.shape)
    assert relative_error(o.data, to.detach().numpy()) < 1e-12
    assert relative_error(s.data, ts.detach().numpy()) < 1e-12
    if loss is None:
        po, ps = rng.standard_normal(o.shape), rng.standard_normal(s.shape)
        ((to * torch.tensor(po)).sum() + (ts * torch.tensor(ps)).sum()).backward()
        ((o * tw.Tensor(po)).sum() + (s * tw.Tensor(ps)).sum()).backward()
    else:
        loss(to, ts).backward()
        loss(o, s).backward()
    assert relative_error(xx.grad, tx.grad.numpy()) < 1e-10
    for a, b in list(zip(xhs, ths))[: 2 if kind == "LSTM" else 1]:
        assert relative_error(a.grad, b.grad.numpy()) < 1e-10
    for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters(), strict=True):
        assert n == tn
        assert relative_error(p.grad, tp.grad.numpy()) < 1e-10, n


CONFIGS = [  # num_layers, bidirectional, batch_first, with h0
    (1, False, False, False),
    (1, False, True, True),
    (2, False, False, True),
    (2, True, False, True),
    (2, True, True, False),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("L,bi,bf,h0", CONFIGS)
def test_matches_torch(kind, L, bi, bf, h0):
    T, N, I, H = 6, 3, 4, 5
    tm, m = _pair(kind, I, H, num_layers=L, bidirectional=bi, batch_first=bf)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, I) if bf else (T, N, I))
    D = 2 if bi else 1
    hs = [rng.standard_normal((L * D, N, H)) for _ in range(2)] if h0 else None
    _compare(kind, tm, m, x, hs)


@pytest.mark.parametrize("kind,kw", [("RNN", {"nonlinearity": "relu"}), ("RNN", {"bias": False}),
                                     ("GRU", {"bias": False}), ("LSTM", {"bias": False})])
def test_matches_torch_options(kind, kw):
    tm, m = _pair(kind, 3, 4, num_layers=2, bidirectional=True, **kw)
    rng = np.random.default_rng(2)
    _compare(kind, tm, m, rng.standard_normal((5, 2, 3)), [rng.standard_normal((4, 2, 4)) for _ in range(2)])


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input_matches_torch(kind):
    tm, m = _pair(kind, 3, 4, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(3)
    _compare(kind, tm, m, rng.standard_normal((5, 3)), [rng.standard_normal((4, 4)) for _ in range(2)])


@pytest.mark.parametrize("kind", KINDS)
def test_partial_losses_and_repeated_backward(kind):
    """Steps after the one the loss reads get no gradient; two backward passes on one graph accumulate."""
    tm, m = _pair(kind, 3, 4, num_layers=2, bidirectional=True)
    x = np.random.default_rng(4).standard_normal((6, 2, 3))

    def first(o, s):
        return (o[1] * o[1]).sum()

    _compare(kind, tm, m, x, loss=first)
    # only the final state (the output sequence unused), then a second loss on the same graph
    tx, xx = torch.tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    to, ts = tm(tx)
    o, s = m(xx)
    ts0, s0 = (ts[1], s[1]) if kind == "LSTM" else (ts, s)
    (ts0 * ts0).sum().backward(retain_graph=True)
    (s0 * s0).sum().backward()
    assert relative_error(xx.grad, tx.grad.numpy()) < 1e-10
    to[3].sum().backward()
    o[3].sum().backward()
    assert relative_error(xx.grad, tx.grad.numpy()) < 1e-10
    for p, tp in zip(m.parameters(), tm.parameters()):
        assert relative_error(p.grad, tp.grad.numpy()) < 1e-10


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_finite_differences(kind):
    m = getattr(tw.nn, kind)(2, 3, num_layers=2, bidirectional=True, dtype=np.float64, generator=tw.Generator(0))
    rng = np.random.default_rng(5)
    x, h = rng.standard_normal((3, 2, 2)), rng.standard_normal((4, 2, 3))
    if kind == "LSTM":
        c = rng.standard_normal((4, 2, 3))
        err = gradcheck(lambda x, h, c: m(x, (h, c))[0] + m(x, (h, c))[1][1].sum(), x, h, c, params=m.parameters())
    else:
        err = gradcheck(lambda x, h: m(x, h)[0], x, h, params=m.parameters())
    assert err < 1e-6


@pytest.mark.parametrize("kind,tkind", [("RNNCell", "RNNCell"), ("GRUCell", "GRUCell"), ("LSTMCell", "LSTMCell")])
@pytest.mark.parametrize("batched,with_state", [(True, True), (True, False), (False, True)])
def test_cells_match_torch(kind, tkind, batched, with_state):
    kw = {"nonlinearity": "relu"} if kind == "RNNCell" and with_state else {}
    tc = getattr(torch.nn, tkind)(3, 4, dtype=torch.float64, **kw)
    c = getattr(tw.nn, kind)(3, 4, dtype=np.float64, **kw)
    c.load_state_dict(tc.state_dict())
    rng = np.random.default_rng(6)
    shape = (2,) if batched else ()
    x = rng.standard_normal(shape + (3,))
    hs = [rng.standard_normal(shape + (4,)) for _ in range(2)]
    tx, xx = torch.tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    th = [torch.tensor(h, requires_grad=True) for h in hs]
    xh = [tw.Tensor(h, requires_grad=True) for h in hs]
    lstm = kind == "LSTMCell"
    targ = ((th[0], th[1]) if lstm else th[0]) if with_state else None
    arg = ((xh[0], xh[1]) if lstm else xh[0]) if with_state else None
    to, o = tc(tx, targ), c(xx, arg)
    if lstm:
        to, o = to[0] * 2 + to[1] * to[1], o[0] * 2 + o[1] * o[1]
    assert relative_error(o.data, to.detach().numpy()) < 1e-12
    p = rng.standard_normal(o.shape)
    (to * torch.tensor(p)).sum().backward()
    (o * tw.Tensor(p)).sum().backward()
    assert relative_error(xx.grad, tx.grad.numpy()) < 1e-10
    if with_state:
        for a, b in zip(xh[: 2 if lstm else 1], th):
            assert relative_error(a.grad, b.grad.numpy()) < 1e-10
    for (n, q), (tn, tq) in zip(c.named_parameters(), tc.named_parameters(), strict=True):
        assert n == tn and relative_error(q.grad, tq.grad.numpy()) < 1e-10


@pytest.mark.parametrize("kind", ["RNNCell", "GRUCell", "LSTMCell"])
def test_cells_gradcheck(kind):
    c = getattr(tw.nn, kind)(2, 3, dtype=np.float64, generator=tw.Generator(1))
    rng = np.random.default_rng(7)
    x, h, s = rng.standard_normal((2, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    if kind == "LSTMCell":
        err = gradcheck(lambda x, h, s: tw.cat(list(c(x, (h, s))), axis=1), x, h, s, params=c.parameters())
    else:
        err = gradcheck(lambda x, h: c(x, h), x, h, params=c.parameters())
    assert err < 1e-6


@pytest.mark.parametrize("kind,G", [("RNN", 1), ("GRU", 3), ("LSTM", 4)])
def test_parameter_names_shapes_and_init(kind, G):
    H = 16
    m = getattr(tw.nn, kind)(8, H, num_layers=2, bidirectional=True, generator=tw.Generator(0))
    t = getattr(torch.nn, kind)(8, H, num_layers=2, bidirectional=True)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in t.named_parameters()]
    assert m.weight_ih_l1_reverse.shape == (G * H, 2 * H)
    bound = 1 / np.sqrt(H)
    allw = np.concatenate([p.data.ravel() for p in m.parameters()])
    assert np.abs(allw).max() <= bound
    assert abs(allw.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert m.weight_hh_l0.dtype == np.float32


def test_float32_stays_float32_and_no_grad():
    m = tw.nn.LSTM(3, 4, num_layers=2)
    x = tw.Tensor(np.ones((5, 2, 3), dtype=np.float32))
    out, (h, c) = m(x)
    assert out.dtype == np.float32 and h.dtype == np.float32 and c.dtype == np.float32
    with tw.no_grad():
        out2, _ = m(x)
    assert not out2.requires_grad
    np.testing.assert_array_equal(out.data, out2.data)


def test_dropout_between_layers_only_in_training():
    m = tw.nn.GRU(3, 8, num_layers=3, dropout=0.5, generator=tw.Generator(0), dtype=np.float64)
    x = tw.Tensor(np.random.default_rng(8).standard_normal((4, 2, 3)))
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a.data, b.data)
    m.train()
    m.generator = tw.Generator(3)
    c, _ = m(x)
    m.generator = tw.Generator(3)
    d, _ = m(x)
    np.testing.assert_array_equal(c.data, d.data)         # same generator state, same masks
    assert relative_error(c.data, a.data) > 1e-3           # and they do change the output
    # the last layer's output is not dropped: its entries are never exactly zero
    assert np.count_nonzero(c.data == 0) == 0
    with pytest.warns(UserWarning, match="num_layers=1"):
        tw.nn.LSTM(3, 4, dropout=0.2)


def test_clipping_bounds_exploding_rnn_gradients():
    """A ReLU RNN whose recurrent matrix amplifies (W_hh = 1.2 I, as a too-large init would)
    has a gradient that grows geometrically with the sequence length; clip_grad_norm_ bounds the step."""
    def grad_norm(T):
        m = tw.nn.RNN(2, 8, nonlinearity="relu", dtype=np.float64, generator=tw.Generator(0))
        m.weight_hh_l0.data[...] = 1.2 * np.eye(8)
        m.bias_hh_l0.data[...] = 0.05
        x = tw.Tensor(np.abs(np.random.default_rng(9).standard_normal((T, 4, 2))))
        out, h = m(x)
        (h * h).mean().backward()
        return m, float(np.sqrt(sum((p.grad ** 2).sum() for p in m.parameters())))

    _, short = grad_norm(10)
    m, long = grad_norm(100)
    assert long / short > 1e6                              # 1.2^90 ≈ 1.3e7 more, orders of magnitude
    before = {n: p.data.copy() for n, p in m.named_parameters()}
    total = clip_grad_norm_(m.parameters(), max_norm=1.0)
    assert total == pytest.approx(long, rel=1e-9)
    opt = tw.optim.SGD(m.parameters(), lr=0.1)
    opt.step()
    step = np.sqrt(sum(((p.data - before[n]) ** 2).sum() for n, p in m.named_parameters()))
    assert step <= 0.1 * 1.0 * (1 + 1e-9)                  # ‖Δθ‖ ≤ lr · max_norm
    assert 0.1 * long > 1e6 * step                          # the unclipped step would have been enormous


def test_bad_input_errors():
    gru = tw.nn.GRU(8, 4)
    with pytest.raises(ValueError, match=r"GRU: 'input' last axis must be input_size=8; got shape \(5, 3, 7\)"):
        gru(np.zeros((5, 3, 7), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GRU: 'input' must be 3-D \(T, N, input_size\)"):
        gru(np.zeros((2, 5, 3, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GRU: 'hx' must have shape .* = \(1, 3, 4\); got shape \(2, 3, 4\)"):
        gru(np.zeros((5, 3, 8), dtype=np.float32), np.zeros((2, 3, 4), dtype=np.float32))
    lstm = tw.nn.LSTM(8, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"LSTM: 'input' must be 3-D \(N, T, input_size\)"):
        lstm(np.zeros((1, 2, 5, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"LSTM: 'hx' must be a tuple \(h_0, c_0\)"):
        lstm(np.zeros((3, 5, 8), dtype=np.float32), np.zeros((1, 3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"LSTM: 'c_0' must have shape"):
        lstm(np.zeros((3, 5, 8), dtype=np.float32), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(TypeError, match=r"RNN: 'input' must be a floating tensor"):
        tw.nn.RNN(2, 3)(np.zeros((4, 1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"RNN: 'nonlinearity' must be 'tanh' or 'relu'; got 'sigmoid'"):
        tw.nn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"LSTM: 'hidden_size' must be a positive int; got 0"):
        tw.nn.LSTM(2, 0)
    with pytest.raises(ValueError, match=r"GRU: 'dropout' must be a number in \[0, 1\); got 1.5"):
        tw.nn.GRU(2, 3, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match=r"GRUCell: 'input' must have shape \(N, input_size=2\)"):
        tw.nn.GRUCell(2, 3)(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"LSTMCell: 'c' must have shape \(4, 3\); got shape \(4, 2\)"):
        tw.nn.LSTMCell(2, 3)(np.zeros((4, 2)), (np.zeros((4, 3)), np.zeros((4, 2))))


def test_functional_recurrent_layer_and_errors():
    from trainwise.nn.functional import recurrent_layer, rnn_cell
    m = tw.nn.GRU(3, 4, dtype=np.float64, generator=tw.Generator(2))
    x = tw.Tensor(np.random.default_rng(10).standard_normal((5, 2, 3)))
    h0 = tw.Tensor(np.zeros((2, 4)))
    w = (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    out, h = recurrent_layer("gru", x, h0, *w)
    ref, href = m(x)
    np.testing.assert_array_equal(out.data, ref.data)
    np.testing.assert_array_equal(h.data, href.data[0])
    with pytest.raises(ValueError, match=r"'mode' must be one of rnn_tanh, rnn_relu, gru, lstm; got 'lstmx'"):
        recurrent_layer("lstmx", x, h0, *w)
    with pytest.raises(ValueError, match=r"'w_hh' must have shape \(4·H, H\) for mode 'lstm'; got \(12, 4\)"):
        recurrent_layer("lstm", x, h0, *w)
    with pytest.raises(ValueError, match=r"'h0' must have shape \(2, 4\); got shape \(3, 4\)"):
        recurrent_layer("gru", x, tw.Tensor(np.zeros((3, 4))), *w)
    with pytest.raises(ValueError, match=r"rnn_cell: 'nonlinearity' must be 'tanh' or 'relu'; got 'elu'"):
        rnn_cell(x[0], h0, *w, nonlinearity="elu")


# ------------------------------------------------ the fused whole-sequence GRU node (gru_layer)
@pytest.mark.parametrize("bi,bias,bf", [(True, True, True), (False, True, False), (True, False, False)])
def test_gru_scalar_input_matches_torch(bi, bias, bf):
    """I = 1 (MNIST-1D read as a sequence) takes the outer-product path of the input projection."""
    tm, m = _pair("GRU", 1, 5, num_layers=2, bidirectional=bi, batch_first=bf, bias=bias)
    rng = np.random.default_rng(11)
    D = 2 if bi else 1
    x = rng.standard_normal((3, 7, 1) if bf else (7, 3, 1))
    _compare("GRU", tm, m, x, [rng.standard_normal((2 * D, 3, 5))])


def test_gru_layer_fused_directions_equal_separate_runs():
    """Both directions in one loop (block-diagonal W_hh) give the numbers of two one-direction runs."""
    from trainwise.nn.functional import gru_layer
    rng = np.random.default_rng(12)
    g = tw.nn.GRU(3, 4, bidirectional=True, dtype=np.float64, generator=tw.Generator(4))
    wf, wb = g._layer_params(0, ""), g._layer_params(0, "_reverse")
    x = tw.Tensor(rng.standard_normal((6, 2, 3)), requires_grad=True)
    h0 = [tw.Tensor(rng.standard_normal((2, 4)), requires_grad=True) for _ in range(2)]
    out, (lf, lb) = gru_layer(x, h0, [wf, wb], [False, True])
    of, (lf1,) = gru_layer(x, h0[:1], [wf], [False])
    ob, (lb1,) = gru_layer(x, h0[1:], [wb], [True])
    np.testing.assert_allclose(out.data, np.concatenate([of.data, ob.data], axis=-1), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lb.data, ob.data[0], rtol=1e-13, atol=1e-15)   # reversed: its last state is at t = 0
    np.testing.assert_allclose(lf.data, of.data[-1], rtol=1e-13, atol=1e-15)
    p = rng.standard_normal(out.shape)
    ((out * tw.Tensor(p)).sum() + (lb * lb).sum()).backward()
    fused = [x.grad.copy()] + [h.grad.copy() for h in h0] + [q.grad.copy() for q in g.parameters()]
    x.grad = None
    for q in [*h0, *g.parameters()]:
        q.grad = None
    ((of * tw.Tensor(p[..., :4])).sum() + (ob * tw.Tensor(p[..., 4:])).sum() + (lb1 * lb1).sum()).backward()
    sep = [x.grad] + [h.grad for h in h0] + [q.grad for q in g.parameters()]
    for a, b in zip(fused, sep, strict=True):
        assert relative_error(a, b) < 1e-12


def test_gru_layer_frozen_parts_and_float32():
    """Parents without requires_grad get no gradient; float32 in, float32 out, close to float64."""
    rng = np.random.default_rng(13)
    m = tw.nn.GRU(1, 8, bidirectional=True, batch_first=True, generator=tw.Generator(5))
    m.weight_hh_l0.requires_grad = False
    m.bias_ih_l0_reverse.requires_grad = False
    x = rng.standard_normal((4, 10, 1)).astype(np.float32)
    out, h = m(tw.Tensor(x))
    assert out.dtype == np.float32 and h.dtype == np.float32 and out.shape == (4, 10, 16)
    (out.sum() + (h * h).sum()).backward()
    assert m.weight_hh_l0.grad is None and m.bias_ih_l0_reverse.grad is None
    assert m.weight_hh_l0_reverse.grad.dtype == np.float32
    m64 = tw.nn.GRU(1, 8, bidirectional=True, batch_first=True, dtype=np.float64)
    m64.load_state_dict({k: v.astype(np.float64) for k, v in m.state_dict().items()})
    out64, _ = m64(tw.Tensor(x.astype(np.float64)))
    assert relative_error(out.data, out64.data) < 1e-5


def test_gru_layer_gradcheck_and_errors():
    from trainwise.nn.functional import gru_layer
    g = tw.nn.GRU(1, 2, bidirectional=True, dtype=np.float64, generator=tw.Generator(6))
    w = [g._layer_params(0, ""), g._layer_params(0, "_reverse")]
    rng = np.random.default_rng(14)
    x, h, hr = rng.standard_normal((4, 3, 1)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))

    def f(x, h, hr):
        out, (a, b) = gru_layer(x, [h, hr], w, [False, True])
        return out.sum(axis=-1) + (a * b).sum()

    assert gradcheck(f, x, h, hr, params=g.parameters()) < 1e-6
    xt, ht = tw.Tensor(x), tw.Tensor(h)
    with pytest.raises(ValueError, match=r"gru_layer: 'h0', 'weights' and 'reverse' must be lists of one length"):
        gru_layer(xt, [ht], w, [False, True])
    with pytest.raises(ValueError, match=r"gru_layer: 'x' must have shape \(T, N, input_size=1\); got shape \(4, 3\)"):
        gru_layer(tw.Tensor(x[..., 0]), [ht], w[:1], [False])
    with pytest.raises(ValueError, match=r"gru_layer: 'h0' must have shape \(3, 2\); got shape \(3, 5\)"):
        gru_layer(xt, [tw.Tensor(np.zeros((3, 5)))], w[:1], [False])
    with pytest.raises(ValueError, match=r"'b_ih' and 'b_hh' must be given for every direction or for none"):
        gru_layer(xt, [ht], [(w[0][0], w[0][1], None, w[0][3])], [False])


def test_gru_loops_restore_the_blas_thread_count():
    """The time loops hold BLAS to one thread for small products and give the count back."""
    import threadpoolctl  # a dependency of trainwise: never skipped
    m = tw.nn.GRU(1, 4, bidirectional=True, generator=tw.Generator(7))
    x = tw.Tensor(np.ones((3, 5, 1), dtype=np.float32))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = [c["num_threads"] for c in threadpoolctl.threadpool_info() if c["user_api"] == "blas"]
        out, h = m(x)
        (out.sum() + h.sum()).backward()
        after = [c["num_threads"] for c in threadpoolctl.threadpool_info() if c["user_api"] == "blas"]
    assert after == before
    assert m.weight_hh_l0.grad is not None
