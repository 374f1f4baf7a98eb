"""Small graph data sets for graph convolutional networks: Zachary's karate club and a stochastic block model.

Each loader returns a ``GraphData`` with node features ``x`` (n × f), the
adjacency (scipy.sparse CSR, symmetric, unweighted, no self-loops), integer
labels ``y`` and ``num_classes``; ``gcn_norm(data.adjacency)`` gives the Â a
``GCNConv`` uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .backend import Generator, get_default_dtype

__all__ = ["GraphData", "load_karate_club", "synthetic_graph"]


@dataclass
class GraphData:
    """A node-classification graph: features ``x`` (n, f), ``adjacency`` (n, n) CSR, labels ``y`` (n,)."""

    x: np.ndarray
    adjacency: sp.csr_matrix
    y: np.ndarray
    num_classes: int
    name: str = ""
    class_names: list = field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]


def load_karate_club(dtype=None) -> GraphData:
    """Zachary's karate club (Zachary 1977): 34 members, 78 friendships, split into two factions.

    From ``networkx.karate_club_graph()``; features are the identity (each
    node its own one-hot, as Kipf & Welling 2017's featureless setting);
    labels the 'club' attribute: 0 = "Mr. Hi" (the instructor, node 0),
    1 = "Officer" (the administrator, node 33). Edges unweighted.
    Example: ``data = load_karate_club(); data.y[[0, 33]]`` -> [0, 1].
    """
    import networkx as nx

    g = nx.karate_club_graph()
    nodes = sorted(g.nodes)
    A = sp.csr_matrix(nx.to_scipy_sparse_array(g, nodelist=nodes, format="csr", dtype=np.float64, weight=None))
    names = ["Mr. Hi", "Officer"]
    y = np.array([names.index(g.nodes[i]["club"]) for i in nodes], dtype=np.int64)
    x = np.eye(len(nodes), dtype=dtype or get_default_dtype())
    return GraphData(x, A, y, 2, "karate_club", names)


def synthetic_graph(n_nodes: int = 200, n_classes: int = 4, p_in: float = 0.1, p_out: float = 0.01,
                    seed: int = 0, n_features: int | None = None, dtype=None) -> GraphData:
    """A stochastic block model (Holland et al. 1983): ``n_classes`` communities of (nearly) equal size;
    two nodes are joined with probability ``p_in`` inside a community and ``p_out`` across.

    With p_in ≫ p_out the labels are recoverable from the structure alone,
    which is what a GCN exploits. Features: the identity when ``n_features``
    is None; else ``n_features`` Gaussian features whose mean depends weakly
    on the class (N(μ_class, 1), μ_class ~ N(0, 0.5²) per feature). Drawn
    from ``trainwise.Generator(seed)``, so the same seed gives the same graph.
    Example: ``data = synthetic_graph(300, 3, 0.08, 0.005, seed=1)``.
    """
    def _check_int(name, v, low):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"synthetic_graph: '{name}' must be an int >= {low}; got {v!r}")

    _check_int("n_nodes", n_nodes, 1)
    _check_int("n_classes", n_classes, 1)
    if n_classes > n_nodes:
        raise ValueError(f"synthetic_graph: 'n_classes'={n_classes} must be <= 'n_nodes'={n_nodes}")
    for name, p in (("p_in", p_in), ("p_out", p_out)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"synthetic_graph: '{name}' must be a probability in [0, 1]; got {p!r}")
    if n_features is not None:
        _check_int("n_features", n_features, 1)
    gen = Generator(seed)
    y = np.arange(n_nodes, dtype=np.int64) % n_classes
    y = y[gen.permutation(n_nodes)]
    same = y[:, None] == y[None, :]
    prob = np.where(same, p_in, p_out)
    upper = np.triu(gen.random((n_nodes, n_nodes)) < prob, k=1)
    A = sp.csr_matrix((upper | upper.T).astype(np.float64))
    dt = dtype or get_default_dtype()
    if n_features is None:
        x = np.eye(n_nodes, dtype=dt)
    else:
        means = gen.normal(0.0, 0.5, (n_classes, n_features))
        x = (means[y] + gen.normal(0.0, 1.0, (n_nodes, n_features))).astype(dt)
    return GraphData(x, A, y, n_classes, f"sbm_{n_nodes}_{n_classes}", [str(c) for c in range(n_classes)])
