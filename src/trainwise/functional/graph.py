"""Graph convolution (Kipf & Welling 2017, "Semi-Supervised Classification with Graph Convolutional Networks").

A graph of n nodes with adjacency A and node features H (n × f). One layer::

    H' = σ(D̂^{-1/2} Â D̂^{-1/2} H W),    Â = A + I,   D̂_ii = Σ_j Â_ij

Adding I lets a node keep its own features; the symmetric normalization
averages over neighbours without letting high-degree nodes blow up the scale
(seed 002 lists graph neural networks as the architecture for data with graph
structure). The normalized adjacency is a scipy.sparse CSR matrix, so a layer
costs O(edges · features), not O(n²).

Adjacency inputs accepted everywhere here: a dense square ndarray, a
scipy.sparse matrix (used as given, weights allowed), a networkx graph
(unweighted; pass ``nx.to_scipy_sparse_array(g)`` to use edge weights), or an
edge list read as undirected, unweighted edges: a list of (u, v) pairs, or an
integer ndarray of shape (E, 2) with E ≠ 2 (a 2 × 2 array is read as a matrix).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..backend import xp
from ..tensor import Tensor, make

__all__ = ["to_adjacency", "gcn_norm", "sparse_matmul", "gcn_conv"]


def to_adjacency(adjacency, num_nodes: int | None = None, owner: str = "to_adjacency"):
    """The adjacency as a scipy.sparse CSR matrix (n × n), from any accepted form (see the module docstring).

    ``num_nodes`` sets n for an edge list (default: largest index + 1) and is
    checked against a matrix. Raises a ValueError naming the shape when the
    matrix is not square.
    Example: ``to_adjacency([(0, 1), (1, 2)])`` -> 3 × 3 CSR with 4 stored ones.
    """
    if hasattr(adjacency, "adj") and hasattr(adjacency, "nodes"):   # a networkx graph
        import networkx as nx
        A = nx.to_scipy_sparse_array(adjacency, format="csr", dtype=np.float64, weight=None)
    elif sp.issparse(adjacency):
        A = sp.csr_matrix(adjacency, dtype=np.float64)
    elif isinstance(adjacency, (list, tuple)):
        edges = np.asarray(adjacency)
        if edges.size == 0:
            edges = edges.reshape(0, 2)
        if edges.ndim != 2 or edges.shape[1] != 2 or edges.dtype.kind not in "iu":
            raise ValueError(f"{owner}: an edge list 'adjacency' must be integer pairs (u, v); got an array of "
                             f"shape {edges.shape} and dtype {edges.dtype}")
        return _from_edges(edges, num_nodes, owner)
    else:
        arr = np.asarray(adjacency.data if isinstance(adjacency, Tensor) else adjacency)
        if arr.ndim != 2:
            raise ValueError(f"{owner}: 'adjacency' must be a square matrix (n, n), a scipy.sparse matrix or an "
                             f"edge list; got an array of shape {arr.shape}")
        if arr.shape[0] != arr.shape[1] and arr.shape[1] == 2 and arr.dtype.kind in "iu":
            return _from_edges(arr, num_nodes, owner)
        A = sp.csr_matrix(arr.astype(np.float64))
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{owner}: 'adjacency' must be square (n, n); got shape {A.shape}")
    if num_nodes is not None and A.shape[0] != num_nodes:
        raise ValueError(f"{owner}: 'adjacency' has shape {A.shape} but the graph has num_nodes={num_nodes} "
                         f"(the rows of the node features)")
    return A


def _from_edges(edges, num_nodes, owner):
    n = int(edges.max()) + 1 if edges.size else 0
    if num_nodes is not None:
        if edges.size and (edges.min() < 0 or n > num_nodes):
            raise ValueError(f"{owner}: edge list indices must be in [0, {num_nodes}); got "
                             f"{int(edges.min()) if edges.min() < 0 else n - 1}")
        n = num_nodes
    elif edges.size and edges.min() < 0:
        raise ValueError(f"{owner}: edge list indices must be >= 0; got {int(edges.min())}")
    u = np.concatenate([edges[:, 0], edges[:, 1]])
    v = np.concatenate([edges[:, 1], edges[:, 0]])
    A = sp.csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    A.data[:] = 1.0          # repeated edges count once
    return A


def gcn_norm(adjacency, num_nodes: int | None = None, add_self_loops: bool = True):
    """D̂^{-1/2} (A + I) D̂^{-1/2} as a scipy.sparse CSR matrix (float64), D̂_ii = Σ_j (A + I)_ij.

    Kipf & Welling 2017, eq. 2 (the "renormalization trick"). ``adjacency``
    in any accepted form (dense, sparse, networkx, edge list); ``num_nodes``
    for an edge list or as a check; ``add_self_loops=False`` uses A itself
    (a node with no edges then gets a zero row, not a division by zero).
    Example: ``A_hat = gcn_norm(nx.karate_club_graph())``.
    """
    A = to_adjacency(adjacency, num_nodes, "gcn_norm")
    if add_self_loops:
        A = A + sp.identity(A.shape[0], format="csr")
    deg = np.asarray(A.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        d = np.where(deg > 0, 1.0 / np.sqrt(deg), 0.0)
    D = sp.diags(d)
    return sp.csr_matrix(D @ A @ D)


def sparse_matmul(A, H: Tensor) -> Tensor:
    """Y = A H for a constant scipy.sparse matrix A (n × m) and a Tensor H (m × f); backward dH = Aᵀ G.

    A is cast to H's dtype (no float64 upcast of float32 features); A gets
    no gradient. Example: ``sparse_matmul(gcn_norm(adj), H)``.
    """
    if not sp.issparse(A):
        raise TypeError(f"sparse_matmul: 'A' must be a scipy.sparse matrix; got {type(A).__name__}")
    H = H if isinstance(H, Tensor) else Tensor(H)
    hd = H.data
    if hd.ndim not in (1, 2) or hd.shape[0] != A.shape[1]:
        raise ValueError(f"sparse_matmul: 'H' must have {A.shape[1]} rows (A is {A.shape[0]} × {A.shape[1]}); "
                         f"got shape {hd.shape}")
    Ad = A.astype(hd.dtype) if A.dtype != hd.dtype else A
    out = xp.asarray(Ad @ hd)

    def backward(g):
        return (xp.asarray(Ad.T @ g),)

    return make(out, (H,), backward, "sparse_matmul")


def gcn_conv(x: Tensor, adjacency, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """One graph convolution H' = Â X Wᵀ + b as one node; ``adjacency`` is Â (already normalized, scipy.sparse).

    ``weight`` has shape (out, in) as ``Linear`` (Kipf & Welling's W is our
    Wᵀ). The product runs as Â (X Wᵀ) when that is cheaper (out <= in), else
    (Â X) Wᵀ. Backward with G = dL/dH': dX = Âᵀ G W, dW = (Âᵀ G)ᵀ X, db = Σ_n G.
    Example: ``h = gcn_conv(x, gcn_norm(adj), W, b)``.
    """
    xd, wd = x.data, weight.data
    if not sp.issparse(adjacency):
        raise TypeError(f"gcn_conv: 'adjacency' must be a normalized scipy.sparse matrix (see gcn_norm); "
                        f"got {type(adjacency).__name__}")
    if xd.ndim != 2 or xd.shape[1] != wd.shape[1]:
        raise ValueError(f"gcn_conv: 'x' must have shape (num_nodes, in_features={wd.shape[1]}); got shape {xd.shape}")
    n = xd.shape[0]
    if adjacency.shape != (n, n):
        raise ValueError(f"gcn_conv: 'adjacency' must be ({n}, {n}) for {n} nodes; got shape {adjacency.shape}")
    A = adjacency.astype(xd.dtype) if adjacency.dtype != xd.dtype else adjacency
    if wd.shape[0] <= wd.shape[1]:
        out = xp.asarray(A @ (xd @ wd.T))
    else:
        out = xp.asarray(A @ xd) @ wd.T
    if bias is not None:
        out += bias.data

    def backward(g):
        ag = xp.asarray(A.T @ g)                    # dL/d(X Wᵀ)
        gx = ag @ wd if x.requires_grad else None
        gw = ag.T @ xd if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g.sum(axis=0) if bias.requires_grad else None)

    return make(out, (x, weight) if bias is None else (x, weight, bias), backward, "gcn_conv")
