"""Graph convolution: normalization, sparse products, GCNConv, and training on small graphs."""
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import trainwise as tw
import trainwise.nn.functional as F
from trainwise.graphs import load_karate_club, synthetic_graph
from trainwise.testing import gradcheck

DENSE = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]], dtype=float)


def _reference_norm(A):
    Ah = A + np.eye(len(A))
    d = Ah.sum(1) ** -0.5
    return d[:, None] * Ah * d[None, :]


@pytest.mark.parametrize("form", ["dense", "sparse", "edges", "edge_array", "networkx"])
def test_gcn_norm_every_adjacency_form(form):
    adj = {
        "dense": DENSE,
        "sparse": sp.coo_matrix(DENSE),
        "edges": [(0, 1), (0, 2), (1, 2), (2, 3), (2, 3)],   # a repeated edge counts once
        "edge_array": np.array([[0, 1], [0, 2], [1, 2], [2, 3]]),
        "networkx": nx.from_numpy_array(DENSE),
    }[form]
    A = F.gcn_norm(adj)
    assert sp.isspmatrix_csr(A)
    np.testing.assert_allclose(A.toarray(), _reference_norm(DENSE), rtol=1e-15)


def test_gcn_norm_options_and_errors():
    A = F.gcn_norm(np.zeros((3, 3)), add_self_loops=False)     # isolated nodes: zero rows, no NaN
    assert A.nnz == 0
    np.testing.assert_allclose(F.gcn_norm([(0, 1)], num_nodes=3).toarray()[2], [0, 0, 1])
    with pytest.raises(ValueError, match=r"gcn_norm: 'adjacency' must be square \(n, n\); got shape \(3, 4\)"):
        F.gcn_norm(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"must be square \(n, n\); got shape \(2, 3\)"):
        F.gcn_norm(sp.csr_matrix(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"edge list indices must be in \[0, 3\); got 5"):
        F.gcn_norm([(0, 5)], num_nodes=3)
    with pytest.raises(ValueError, match=r"has shape \(4, 4\) but the graph has num_nodes=5"):
        F.gcn_norm(DENSE, num_nodes=5)


def test_sparse_matmul_values_gradient_and_dtype():
    A = F.gcn_norm(DENSE)
    H = np.random.default_rng(0).standard_normal((4, 3))
    out = F.sparse_matmul(A, tw.Tensor(H))
    np.testing.assert_allclose(out.data, A.toarray() @ H, rtol=1e-14)
    B = sp.csr_matrix(np.random.default_rng(1).standard_normal((5, 4)))   # non-square, non-symmetric: Aᵀ matters
    assert gradcheck(lambda h: F.sparse_matmul(B, h), H) < 1e-6
    h32 = tw.Tensor(H.astype(np.float32))
    assert F.sparse_matmul(A, h32).dtype == np.float32
    with pytest.raises(ValueError, match=r"'H' must have 4 rows \(A is 5 × 4\); got shape \(3, 3\)"):
        F.sparse_matmul(B, tw.Tensor(np.zeros((3, 3))))
    with pytest.raises(TypeError, match="must be a scipy.sparse matrix"):
        F.sparse_matmul(DENSE, tw.Tensor(H))


@pytest.mark.parametrize("fin,fout", [(3, 2), (2, 5)])   # both product orders: Â(XWᵀ) and (ÂX)Wᵀ
def test_gcnconv_matches_dense_formula_and_gradcheck(fin, fout):
    conv = tw.nn.GCNConv(fin, fout, dtype=np.float64, generator=tw.Generator(0))
    conv.bias.data[...] = np.arange(fout) * 0.1
    X = np.random.default_rng(2).standard_normal((4, fin))
    out = conv(tw.Tensor(X), DENSE)
    ref = _reference_norm(DENSE) @ X @ conv.weight.data.T + conv.bias.data
    np.testing.assert_allclose(out.data, ref, rtol=1e-13)
    assert gradcheck(lambda x: conv(x, DENSE), X, params=conv.parameters()) < 1e-6
    bound = np.sqrt(6 / (fin + fout))                          # Glorot uniform
    assert np.abs(conv.weight.data).max() <= bound


def test_gcnconv_errors_and_cache():
    conv = tw.nn.GCNConv(3, 2)
    x = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'adjacency' must be square \(n, n\); got shape \(4, 5\)"):
        conv(x, np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"has shape \(5, 5\) but the graph has num_nodes=4"):
        conv(x, np.eye(5))
    msg = r"GCNConv: 'x' must have shape \(num_nodes, in_features=3\); got shape \(4, 2\)"
    with pytest.raises(ValueError, match=msg):
        conv(np.zeros((4, 2)), DENSE)
    cached = tw.nn.GCNConv(3, 2, cached=True)
    y1 = cached(x + 1, DENSE)
    y2 = cached(x + 1, np.zeros((4, 4)))                       # the first graph's Â is reused
    np.testing.assert_array_equal(y1.data, y2.data)
    assert y1.dtype == np.float32
    pre = tw.nn.GCNConv(3, 2, normalize=False)
    pre.load_state_dict(conv.state_dict())
    np.testing.assert_allclose(pre(x + 1, F.gcn_norm(DENSE)).data, conv(x + 1, DENSE).data, rtol=1e-6)


def _train_gcn(data, labelled, hidden, steps, seed, lr=0.01):
    A = F.gcn_norm(data.adjacency)
    g = tw.Generator(seed)
    c1 = tw.nn.GCNConv(data.x.shape[1], hidden, normalize=False, generator=g)
    c2 = tw.nn.GCNConv(hidden, data.num_classes, normalize=False, generator=g)
    opt = tw.optim.Adam(list(c1.parameters()) + list(c2.parameters()), lr=lr, weight_decay=5e-4)
    x = tw.Tensor(data.x)
    for _ in range(steps):
        logits = c2(F.relu(c1(x, A)), A)
        loss = F.cross_entropy(logits[labelled], data.y[labelled])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return logits.data.argmax(axis=1)


def test_karate_club_from_one_label_per_faction():
    data = load_karate_club()
    assert data.x.shape == (34, 34) and data.adjacency.nnz == 2 * 78 and data.num_classes == 2
    assert data.y[0] == 0 and data.y[33] == 1 and data.y.sum() == 17
    pred = _train_gcn(data, np.array([0, 33]), hidden=16, steps=100, seed=0)
    assert (pred == data.y).mean() >= 0.9


def test_synthetic_graph_structure_and_learning():
    a, b = synthetic_graph(120, 3, 0.15, 0.01, seed=3), synthetic_graph(120, 3, 0.15, 0.01, seed=3)
    assert (a.adjacency != b.adjacency).nnz == 0 and np.array_equal(a.y, b.y)
    A = a.adjacency.toarray()
    assert np.array_equal(A, A.T) and np.all(np.diag(A) == 0)
    same = a.y[:, None] == a.y[None, :]
    off = ~np.eye(120, dtype=bool)
    assert abs(A[same & off].mean() - 0.15) < 0.03 and abs(A[~same].mean() - 0.01) < 0.01
    labelled = np.concatenate([np.flatnonzero(a.y == c)[:4] for c in range(3)])
    rest = np.setdiff1d(np.arange(120), labelled)
    pred = _train_gcn(a, labelled, hidden=16, steps=60, seed=0)
    assert (pred[rest] == a.y[rest]).mean() > 0.7               # chance is 1/3
    feats = synthetic_graph(50, 2, 0.2, 0.02, seed=1, n_features=6)
    assert feats.x.shape == (50, 6)
    with pytest.raises(ValueError, match=r"'p_in' must be a probability in \[0, 1\]; got 1.5"):
        synthetic_graph(10, 2, 1.5, 0.1)
