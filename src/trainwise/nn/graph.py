"""Graph convolution layer (Kipf & Welling 2017)."""
from __future__ import annotations

from .. import init as _init
from ..backend import get_default_dtype, xp
from ..functional.graph import gcn_conv, gcn_norm, to_adjacency
from ..tensor import Tensor
from .linear import check_size
from .module import Module, Parameter

__all__ = ["GCNConv"]


class GCNConv(Module):
    """H' = D̂^{-1/2} (A + I) D̂^{-1/2} H Wᵀ + b: one graph convolution of Kipf & Welling 2017.

    Apply a nonlinearity between layers to get their H' = σ(Â H W). ``weight``
    has shape (out_features, in_features) as ``Linear`` (and PyTorch
    Geometric's ``lin.weight``), Glorot-uniform initialized as in the paper;
    ``bias`` starts at 0.

    ``forward(x, adjacency)``: x (num_nodes, in_features); adjacency a dense
    (n, n) ndarray, a scipy.sparse matrix, a networkx graph or an edge list
    (see ``trainwise.functional.graph``). ``normalize=False`` uses the
    adjacency as given (e.g. an Â you computed once with ``gcn_norm``);
    ``cached=True`` computes Â on the first call and reuses it after, for
    training on one fixed graph (PyTorch Geometric's argument names).

    Example::

        conv1, conv2 = GCNConv(34, 16), GCNConv(16, 2)
        A_hat = gcn_norm(adj)
        logits = conv2(relu(conv1(x, A_hat)), A_hat)   # with normalize=False on both
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, normalize: bool = True,
                 cached: bool = False, dtype=None, generator=None):
        super().__init__()
        self.in_features = check_size("in_features", in_features, "GCNConv")
        self.out_features = check_size("out_features", out_features, "GCNConv")
        self.normalize = bool(normalize)
        self.cached = bool(cached)
        self._cached_adj = None
        dt = dtype or get_default_dtype()
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype=dt))
        self.bias = Parameter(xp.zeros(self.out_features, dtype=dt)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        """W ~ Glorot uniform U[±√(6/(in+out))] (as Kipf & Welling), b ← 0; forgets a cached Â."""
        _init.xavier_uniform_(self.weight, generator=generator)
        if self.bias is not None:
            _init.zeros_(self.bias)
        self._cached_adj = None

    def forward(self, x, adjacency) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(xp.asarray(x))
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"GCNConv: 'x' must have shape (num_nodes, in_features={self.in_features}); "
                             f"got shape {x.shape}")
        n = x.shape[0]
        if self.cached and self._cached_adj is not None:
            A = self._cached_adj
            if A.shape != (n, n):
                raise ValueError(f"GCNConv: the cached adjacency is for {A.shape[0]} nodes but 'x' has {n} rows; "
                                 "call reset_parameters() or use cached=False for a new graph")
        else:
            A = gcn_norm(adjacency, num_nodes=n) if self.normalize else to_adjacency(adjacency, n, "GCNConv")
            if self.cached:
                self._cached_adj = A
        return gcn_conv(x, A, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}" + ("" if self.bias is not None else ", bias=False")
