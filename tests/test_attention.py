"""Attention, MultiheadAttention, Transformer encoder, embeddings: parity with PyTorch, gradchecks, bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import trainwise as tw
import trainwise.nn.functional as F
from trainwise.testing import gradcheck, relative_error


def _grads_match(pairs, tol=1e-10):
    for a, b in pairs:
        assert relative_error(a.grad, b.grad.numpy()) < tol


# ------------------------------------------------------------ scaled dot-product attention
@pytest.mark.parametrize("case", ["plain", "causal", "bool_mask", "float_mask", "scale"])
def test_sdpa_matches_torch(case):
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 7))
    tt = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    xx = [tw.Tensor(a, requires_grad=True) for a in (q, k, v)]
    a = {}
    if case == "causal":
        a = {"is_causal": True}
    elif case == "scale":
        a = {"scale": 0.3}
    elif case == "bool_mask":
        m = rng.random((3, 4, 6)) > 0.4
        m[1, 2] = False                       # a query with no allowed key: weights 0, output 0
        m[0, 0] = True
        a = {"attn_mask": m}
    elif case == "float_mask":
        a = {"attn_mask": rng.standard_normal((4, 6))}
    ta = {n: (torch.tensor(val) if isinstance(val, np.ndarray) else val) for n, val in a.items()}
    to = TF.scaled_dot_product_attention(*tt, **ta)
    o = F.scaled_dot_product_attention(*xx, **a)
    assert relative_error(o.data, to.detach().numpy()) < 1e-12
    if case == "bool_mask":
        assert np.all(o.data[:, 1, 2] == 0)
    p = rng.standard_normal(o.shape)
    (to * torch.tensor(p)).sum().backward()
    (o * tw.Tensor(p)).sum().backward()
    _grads_match(zip(xx, tt))


def test_sdpa_gradcheck_and_dropout():
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    mask = rng.random((3, 5)) > 0.3
    mask[:, 0] = True
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), q, k, v) < 1e-6
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), q, k, v) < 1e-6
    # dropout: reproducible from a generator, and its backward is right for the mask it drew
    a = F.scaled_dot_product_attention(tw.Tensor(q), tw.Tensor(k), tw.Tensor(v), dropout_p=0.5,
                                       generator=tw.Generator(4))
    b = F.scaled_dot_product_attention(tw.Tensor(q), tw.Tensor(k), tw.Tensor(v), dropout_p=0.5,
                                       generator=tw.Generator(4))
    np.testing.assert_array_equal(a.data, b.data)
    plain = F.scaled_dot_product_attention(tw.Tensor(q), tw.Tensor(k), tw.Tensor(v))
    assert relative_error(a.data, plain.data) > 1e-2
    # a generator seeded afresh per call replays the same mask, so finite differences see one function
    err = gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.3,
                                                                   generator=tw.Generator(7)), q, k, v)
    assert err < 1e-6


def test_sdpa_bad_input():
    q, k, v = (tw.Tensor(np.zeros(s)) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 6)))
    with pytest.raises(ValueError, match=r"'attn_mask' must broadcast to \(\.\.\., L, S\) = \(2, 3, 5\); "
                                         r"got shape \(3, 4\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), bool), is_causal=True)
    with pytest.raises(ValueError, match=r"shapes do not fit"):
        F.scaled_dot_product_attention(q, tw.Tensor(np.zeros((2, 5, 3))), v)
    with pytest.raises(ValueError, match=r"'dropout_p' must be a number in \[0, 1\); got 1"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1)


# --------------------------------------------------------------------- MultiheadAttention
MHA_CASES = [
    dict(),
    dict(self_attn=False),
    dict(bf=True),
    dict(kpm=True),
    dict(self_attn=False, bf=True, kpm=True),
    dict(causal=True),
    dict(fmask=True, avg=False),
    dict(fmask3=True, self_attn=False),
    dict(bias=False),
    dict(need=False, kpm=True),
    dict(unbatched=True),
    dict(unbatched=True, kpm=True, self_attn=False, avg=False),
]


@pytest.mark.parametrize("case", MHA_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_multihead_attention_matches_torch(case):
    self_attn, bf = case.get("self_attn", True), case.get("bf", False)
    need, avg, unb = case.get("need", True), case.get("avg", True), case.get("unbatched", False)
    E, h, L, N = 8, 2, 5, 3
    S = L if self_attn else 6
    tm = torch.nn.MultiheadAttention(E, h, bias=case.get("bias", True), batch_first=bf, dtype=torch.float64)
    m = tw.nn.MultiheadAttention(E, h, bias=case.get("bias", True), batch_first=bf, dtype=np.float64)
    m.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(2)

    def shape(T):
        return (T, E) if unb else ((N, T, E) if bf else (T, N, E))

    q, k, v = rng.standard_normal(shape(L)), rng.standard_normal(shape(S)), rng.standard_normal(shape(S))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    xq, xk, xv = (tw.Tensor(a, requires_grad=True) for a in (q, k, v))
    if self_attn:
        tk = tv = tq
        xk = xv = xq
    ta, a = {}, {}
    if case.get("kpm"):
        mk = np.zeros((S,) if unb else (N, S), bool)
        mk[..., -2:] = True
        if not unb:
            mk[0, -1] = False
        ta["key_padding_mask"], a["key_padding_mask"] = torch.tensor(mk), mk
    if case.get("causal"):
        ta["attn_mask"] = torch.tensor(np.triu(np.ones((L, S), bool), 1))
        ta["is_causal"] = a["is_causal"] = True
    if case.get("fmask") or case.get("fmask3"):
        fm = rng.standard_normal((N * h, L, S) if case.get("fmask3") else (L, S))
        ta["attn_mask"], a["attn_mask"] = torch.tensor(fm), fm
    to, tw_ = tm(tq, tk, tv, need_weights=need, average_attn_weights=avg, **ta)
    o, w = m(xq, xk, xv, need_weights=need, average_attn_weights=avg, **a)
    assert relative_error(o.data, to.detach().numpy()) < 1e-12
    if need:
        assert w.shape == tuple(tw_.shape) and relative_error(w.data, tw_.detach().numpy()) < 1e-12
    else:
        assert w is None
    p = rng.standard_normal(o.shape)
    (to * torch.tensor(p)).sum().backward()
    (o * tw.Tensor(p)).sum().backward()
    _grads_match([(xq, tq)] + ([] if self_attn else [(xk, tk), (xv, tv)]))
    for (n, pa), (tn, tp) in zip(m.named_parameters(), tm.named_parameters(), strict=True):
        assert n == tn and relative_error(pa.grad, tp.grad.numpy()) < 1e-10


def test_multihead_attention_gradcheck():
    m = tw.nn.MultiheadAttention(4, 2, dtype=np.float64, generator=tw.Generator(0))
    for p in m.parameters():  # nonzero biases so their gradients are checked at a generic point
        p.data += np.random.default_rng(3).standard_normal(p.shape) * 0.1
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 2, 4))
    kpm = np.array([[False, False, True], [False, False, False]])
    assert gradcheck(lambda x: m(x, x, x, key_padding_mask=kpm)[0], x, params=m.parameters()) < 1e-6
    assert gradcheck(lambda x, y: m(x, y, y, is_causal=False)[0], x, y, params=m.parameters()) < 1e-6


def test_multihead_attention_dropout_and_init():
    m = tw.nn.MultiheadAttention(8, 2, dropout=0.5, generator=tw.Generator(0), dtype=np.float64)
    assert np.all(m.in_proj_bias.data == 0) and np.all(m.out_proj.bias.data == 0)
    assert np.abs(m.in_proj_weight.data).max() <= np.sqrt(6 / (8 + 24))  # Xavier uniform on (3E, E)
    x = tw.Tensor(np.random.default_rng(5).standard_normal((4, 2, 8)))
    m.eval()
    e1, w1 = m(x, x, x)
    e2, _ = m(x, x, x)
    np.testing.assert_array_equal(e1.data, e2.data)
    np.testing.assert_allclose(w1.data.sum(-1), 1.0)
    m.train()
    t1, _ = m(x, x, x)
    assert relative_error(t1.data, e1.data) > 1e-3
    assert not w1.requires_grad


def test_multihead_attention_bad_input():
    m = tw.nn.MultiheadAttention(8, 2)
    x = np.zeros((5, 3, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'key_padding_mask' must have shape \(N, S\) = \(3, 5\); got shape \(5, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((5, 3), bool))
    with pytest.raises(ValueError, match=r"'attn_mask' must have shape \(L, S\) = \(5, 5\) or "
                                         r"\(N\*num_heads, L, S\) = \(6, 5, 5\); got shape \(4, 5\)"):
        m(x, x, x, attn_mask=np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match=r"'query' last axis must be embed_dim=8; got shape \(5, 3, 6\)"):
        m(np.zeros((5, 3, 6), dtype=np.float32), x, x)
    with pytest.raises(ValueError, match=r"'embed_dim'=10 must be divisible by 'num_heads'=3"):
        tw.nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match=r"same batch size"):
        m(x, np.zeros((5, 2, 8), dtype=np.float32), np.zeros((5, 2, 8), dtype=np.float32))


# ------------------------------------------------------------------------------ Transformer
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder_layer_matches_torch(norm_first, activation, batch_first):
    kw = dict(dim_feedforward=16, dropout=0.1, activation=activation, batch_first=batch_first, norm_first=norm_first)
    tl = torch.nn.TransformerEncoderLayer(8, 2, dtype=torch.float64, **kw)
    with torch.no_grad():
        for p in tl.parameters():       # move LayerNorm and biases off their trivial init
            p += 0.1 * torch.randn(p.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    layer = tw.nn.TransformerEncoderLayer(8, 2, dtype=np.float64, **kw)
    assert list(layer.state_dict()) == list(tl.state_dict())
    layer.load_state_dict(tl.state_dict())
    tl.eval()
    layer.eval()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 5, 8))
    kpm = np.zeros((3, 5) if batch_first else (5, 3), bool)
    kpm[0, -2:] = True
    tx, xx = torch.tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    to = tl(tx, src_key_padding_mask=torch.tensor(kpm))
    o = layer(xx, src_key_padding_mask=kpm)
    assert relative_error(o.data, to.detach().numpy()) < 1e-12
    p = rng.standard_normal(o.shape)
    (to * torch.tensor(p)).sum().backward()
    (o * tw.Tensor(p)).sum().backward()
    _grads_match([(xx, tx)])
    for (n, a), (tn, b) in zip(layer.named_parameters(), tl.named_parameters(), strict=True):
        assert n == tn and relative_error(a.grad, b.grad.numpy()) < 1e-10


def test_transformer_encoder_matches_torch_causal():
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=torch.float64)
    te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8, dtype=torch.float64), enable_nested_tensor=False)
    with torch.no_grad():
        for p in te.parameters():
            p += 0.1 * torch.randn(p.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    enc = tw.nn.TransformerEncoder(tw.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=np.float64), 2,
                                   norm=tw.nn.LayerNorm(8, dtype=np.float64))
    assert list(enc.state_dict()) == list(te.state_dict())
    enc.load_state_dict(te.state_dict())
    x = np.random.default_rng(7).standard_normal((5, 2, 8))
    tx, xx = torch.tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    cm = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    to = te(tx, mask=cm, is_causal=True)
    o = enc(xx, is_causal=True)
    assert relative_error(o.data, to.detach().numpy()) < 1e-12
    (to ** 2).sum().backward()
    (o * o).sum().backward()
    _grads_match([(xx, tx)] + list(zip(enc.parameters(), te.parameters())))


def test_transformer_gradcheck_and_shared_generator():
    g = tw.Generator(0)
    layer = tw.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu", norm_first=True,
                                          dtype=np.float64, generator=g)
    x = np.random.default_rng(8).standard_normal((3, 2, 4))
    assert gradcheck(lambda x: layer(x), x, params=layer.parameters()) < 1e-6
    enc = tw.nn.TransformerEncoder(tw.nn.TransformerEncoderLayer(4, 2, 6, generator=g), 3)
    assert all(lyr.dropout.generator is g and lyr.self_attn.generator is g for lyr in enc.layers)
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.data, enc.layers[2].linear1.weight.data)
    with pytest.raises(ValueError, match=r"'activation' must be 'relu', 'gelu' or a callable; got 'tanh'"):
        tw.nn.TransformerEncoderLayer(4, 2, activation="tanh")


# ------------------------------------------------------------------------------- embeddings
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch(padding_idx):
    te = torch.nn.Embedding(10, 4, padding_idx=padding_idx, dtype=torch.float64)
    e = tw.nn.Embedding(10, 4, padding_idx=padding_idx, dtype=np.float64, generator=tw.Generator(0))
    if padding_idx is not None:
        assert np.all(e.weight.data[padding_idx] == 0)
    e.load_state_dict(te.state_dict())
    idx = np.array([[1, 0, 9, 1], [3, 3, 0, 9]])
    to, o = te(torch.tensor(idx)), e(idx)
    assert relative_error(o.data, to.detach().numpy()) < 1e-15
    p = np.random.default_rng(9).standard_normal(o.shape)
    (to * torch.tensor(p)).sum().backward()
    (o * tw.Tensor(p)).sum().backward()
    assert relative_error(e.weight.grad, te.weight.grad.numpy()) < 1e-14
    if padding_idx is not None:
        assert np.all(e.weight.grad[padding_idx] == 0)
    if padding_idx is None:  # the padding row is held fixed on purpose, so only then do differences agree
        assert gradcheck(lambda: e(idx), params=[e.weight]) < 1e-6


def test_embedding_init_and_bad_input():
    e = tw.nn.Embedding(2000, 8, generator=tw.Generator(1))
    assert abs(e.weight.data.std() - 1.0) < 0.03 and e.weight.dtype == np.float32
    with pytest.raises(IndexError, match=r"indices must be in \[0, num_embeddings=2000\); got 2000"):
        e(np.array([1, 2000]))
    with pytest.raises(TypeError, match=r"'input' must hold integer indices; got dtype float64"):
        e(np.array([1.0]))
    with pytest.raises(ValueError, match=r"'padding_idx' must be an int in \[-5, 5\); got 5"):
        tw.nn.Embedding(5, 2, padding_idx=5)


def test_positional_encodings():
    pe = tw.nn.SinusoidalPositionalEncoding(5, max_len=20, dtype=np.float64)
    x = np.zeros((7, 2, 5))
    out = pe(x).data
    pos, i = 3, 1                     # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)
    assert out[pos, 1, 2 * i] == pytest.approx(np.sin(pos / 10000 ** (2 * i / 5)))
    assert out[pos, 0, 2 * i + 1] == pytest.approx(np.cos(pos / 10000 ** (2 * i / 5)))
    assert out[pos, 0, 4] == pytest.approx(np.sin(pos / 10000 ** (4 / 5)))
    bf = tw.nn.SinusoidalPositionalEncoding(5, max_len=20, batch_first=True, dtype=np.float64)
    np.testing.assert_array_equal(bf(np.zeros((2, 7, 5))).data[1], out[:, 1])
    assert "pe" not in pe.state_dict()
    assert gradcheck(lambda x: pe(x), np.random.default_rng(0).standard_normal((3, 2, 5))) < 1e-6
    with pytest.raises(ValueError, match=r"the sequence is 21 steps long but 'max_len' is 20"):
        pe(np.zeros((21, 1, 5)))
    lp = tw.nn.LearnedPositionalEncoding(4, max_len=6, batch_first=True, dtype=np.float64, generator=tw.Generator(2))
    assert abs(lp.weight.data.std() - 0.02) < 0.01
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    assert gradcheck(lambda x: lp(x), x, params=[lp.weight]) < 1e-6
    np.testing.assert_allclose(lp(x).data - x, np.broadcast_to(lp.weight.data[:3], (2, 3, 4)))
    with pytest.raises(ValueError, match=r"'input' must be \(N, T, d_model\) or \(T, d_model\) with d_model=4"):
        lp(np.zeros((2, 3, 5)))


# ----------------------------------------------------------------- fused Transformer nodes
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("bias", [True, False])
def test_feed_forward_matches_torch_and_gradcheck(activation, bias):
    from trainwise.nn.functional import feed_forward
    rng = np.random.default_rng(20)
    l1, l2 = torch.nn.Linear(6, 10, bias=bias, dtype=torch.float64), torch.nn.Linear(10, 6, bias=bias,
                                                                                       dtype=torch.float64)
    x = rng.standard_normal((7, 6))
    tx = torch.tensor(x, requires_grad=True)
    ty = l2(TF.relu(l1(tx)) if activation == "relu" else TF.gelu(l1(tx)))
    ps = [tw.Tensor(p.detach().numpy().copy(), requires_grad=True) if p is not None else None
          for p in (l1.weight, l1.bias, l2.weight, l2.bias)]
    xx = tw.Tensor(x, requires_grad=True)
    y = feed_forward(xx, *ps, activation=activation)
    assert y._op == "feed_forward" and relative_error(y.data, ty.detach().numpy()) < 1e-12
    p = rng.standard_normal(y.shape)
    (ty * torch.tensor(p)).sum().backward()
    (y * tw.Tensor(p)).sum().backward()
    _grads_match([(xx, tx)] + [(a, b) for a, b in zip(ps, (l1.weight, l1.bias, l2.weight, l2.bias)) if a is not None])
    params = [a for a in ps if a is not None]
    assert gradcheck(lambda t: feed_forward(t, *ps, activation=activation), x, params=params) < 1e-6


def test_feed_forward_dropout_is_the_module_path_and_bad_input():
    from trainwise.nn.functional import feed_forward
    rng = np.random.default_rng(21)
    l1, l2 = tw.nn.Linear(4, 8, dtype=np.float64), tw.nn.Linear(8, 4, dtype=np.float64)
    x = rng.standard_normal((5, 4))
    a, b = tw.Tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    y = feed_forward(a, l1.weight, l1.bias, l2.weight, l2.bias, "relu", 0.5, tw.Generator(3))
    ref = l2(F.dropout(F.relu(l1(b)), 0.5, generator=tw.Generator(3)))
    np.testing.assert_array_equal(y.data, ref.data)
    assert np.any(y.data != l2(F.relu(l1(b))).data)
    y.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12)
    with pytest.raises(ValueError, match=r"'activation' must be 'relu' or 'gelu'; got 'tanh'"):
        feed_forward(a, l1.weight, l1.bias, l2.weight, l2.bias, "tanh")
    with pytest.raises(ValueError, match=r"'x' must have shape \(rows, 4\); got \(5, 3\)"):
        feed_forward(tw.Tensor(x[:, :3]), l1.weight, l1.bias, l2.weight, l2.bias)


def _graph_ops(t):
    seen, stack, ops = set(), [t], []
    while stack:
        n = stack.pop()
        if id(n) in seen or n._backward is None:
            continue
        seen.add(id(n))
        ops.append(n._op)
        stack.extend(n._parents)
    return sorted(ops)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_fused_path_equals_module_path_with_dropout(norm_first, batch_first):
    """Training mode, dropout 0.2: the fused forward draws the same masks in the same order as the
    module-by-module path (forced by a hook), so outputs and gradients agree."""
    mk = dict(dropout=0.2, batch_first=batch_first, norm_first=norm_first, dtype=np.float64)
    fused = tw.nn.TransformerEncoderLayer(8, 2, 12, generator=tw.Generator(5), **mk)
    plain = tw.nn.TransformerEncoderLayer(8, 2, 12, generator=tw.Generator(5), **mk)
    plain.load_state_dict(fused.state_dict())
    plain.linear1.register_forward_hook(lambda m, i, o: None)  # hooks force the module path
    assert fused._fusable() and not plain._fusable()
    x = np.random.default_rng(22).standard_normal((3, 5, 8))
    kpm = np.zeros((3, 5) if batch_first else (5, 3), bool)
    kpm[1, -1] = True
    a, b = tw.Tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    ya, yb = fused(a, src_key_padding_mask=kpm), plain(b, src_key_padding_mask=kpm)
    np.testing.assert_allclose(ya.data, yb.data, rtol=1e-12, atol=1e-12)
    (ya * ya).sum().backward()
    (yb * yb).sum().backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    for p, q in zip(fused.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-10, atol=1e-12)


def test_encoder_layer_node_count_and_unbatched():
    layer = tw.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=np.float64)
    x = np.random.default_rng(23).standard_normal((2, 5, 8))
    ops = _graph_ops(layer(tw.Tensor(x, requires_grad=True)))
    assert ops == sorted(["reshape", "linear", "multi_head_attention", "linear", "add_layer_norm", "feed_forward",
                          "add_layer_norm", "reshape"])
    # unbatched (T, d_model) gives the batched result's slice
    np.testing.assert_allclose(layer(tw.Tensor(x[1])).data, layer(tw.Tensor(x)).data[1], rtol=1e-12)


def test_multi_head_attention_flat_input_equals_3d():
    rng = np.random.default_rng(24)
    qkv = rng.standard_normal((5, 3, 24))  # (L, N, 3E), E = 8
    a, b = tw.Tensor(qkv, requires_grad=True), tw.Tensor(qkv.reshape(15, 24), requires_grad=True)
    oa, _ = F.multi_head_attention(a, None, None, 2)
    ob, _ = F.multi_head_attention(b, None, None, 2, batch_size=3)
    assert ob.shape == (15, 8)
    np.testing.assert_allclose(ob.data, oa.data.reshape(15, 8), rtol=1e-13)
    g = rng.standard_normal((5, 3, 8))
    (oa * tw.Tensor(g)).sum().backward()
    (ob * tw.Tensor(g.reshape(15, 8))).sum().backward()
    np.testing.assert_allclose(b.grad, a.grad.reshape(15, 24), rtol=1e-12)


@pytest.mark.parametrize("dtype, big", [(np.float32, 30.0), (np.float64, 300.0)])
def test_sdpa_large_scores_take_the_shifted_softmax(dtype, big):
    """Scores far beyond exp's range: the softmax shifts by the row maximum (no overflow, no NaN);
    small scores skip the shift. Both agree with PyTorch."""
    rng = np.random.default_rng(25)
    for s in (big, 0.1):
        q, k, v = (rng.standard_normal((2, 3, 4, 8)).astype(dtype) * f for f in (s, s, 1.0))
        out = F.scaled_dot_product_attention(tw.Tensor(q), tw.Tensor(k), tw.Tensor(v))
        ref = TF.scaled_dot_product_attention(*(torch.tensor(a, dtype=torch.float64) for a in (q, k, v))).numpy()
        assert np.all(np.isfinite(out.data)) and out.dtype == dtype
        assert relative_error(out.data, ref) < (1e-4 if dtype == np.float32 else 1e-12)


def test_encoder_layer_fused_post_norm_gradcheck():
    layer = tw.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=np.float64, generator=tw.Generator(1))
    for p in layer.parameters():  # biases and LayerNorm off their trivial init
        p.data += np.random.default_rng(26).standard_normal(p.shape) * 0.1
    x = np.random.default_rng(27).standard_normal((3, 2, 4))
    kpm = np.array([[False, False, True], [False, False, False]])
    assert layer._fusable()
    assert gradcheck(lambda x: layer(x, src_key_padding_mask=kpm), x, params=layer.parameters()) < 1e-6
