"""Tensor and reverse-mode automatic differentiation.

A ``Tensor`` wraps an ndarray (``.data``). An op builds its output and, right
beside it, a small closure ``backward(g)`` that maps the output's gradient
``g = dL/d(out)`` to one gradient per parent (``None`` where a parent needs
none). ``Tensor.backward()`` orders the graph topologically once and calls the
closures in reverse, summing gradients where a tensor is used more than once.
Leaf tensors with ``requires_grad=True`` accumulate into ``.grad`` (an ndarray),
as in PyTorch.

A graph node is small on purpose (``data``, ``grad``, ``requires_grad``, its
parents, one closure and an op name): a training step of a small model is
hundreds of such nodes and per-node overhead is the cost. Broadcasting is
undone in the backward by summing over the broadcast axes (``unbroadcast``).

Backward closures never write into the gradient they receive; they may return
it unchanged, so a gradient array can be shared and ``backward`` copies before
storing into a leaf's ``.grad``.
"""
from __future__ import annotations

import builtins
import functools
import numbers

from .backend import get_default_dtype, xp

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class _GradMode:
    _mode = True

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self._mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator that records no graph, like ``torch.no_grad``."""

    _mode = False


class enable_grad(_GradMode):
    """Context manager and decorator that turns graph recording back on."""

    _mode = True


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, to ``shape``."""
    if g.shape == shape:
        return g
    nextra = g.ndim - len(shape)
    if nextra > 0:
        g = g.sum(axis=tuple(range(nextra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _array(data, dtype=None):
    """An ndarray from user data: Python floats become the default float dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    if isinstance(data, xp.ndarray):
        return data
    arr = xp.asarray(data)
    if arr.dtype.kind == "f" and arr.dtype != get_default_dtype():
        arr = arr.astype(get_default_dtype())
    return arr


def make(data, parents, backward, op):
    """Wrap an op's output: record ``parents`` and ``backward`` if a graph is needed.

    ``backward(g)`` must return one gradient (or None) per parent, in order.
    """
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = None
    if _grad_enabled:
        for p in parents:
            if p.requires_grad:
                t.requires_grad = True
                t._parents = parents
                t._backward = backward
                t._op = op
                return t
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    t._op = op
    return t


def _const(x, like):
    """A non-Tensor operand as a Tensor of ``like``'s dtype (Python numbers stay weak)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        arr = xp.asarray(x, dtype=like.data.dtype if like.data.dtype.kind == "f" else None)
    else:
        arr = xp.asarray(x)
        if arr.dtype.kind == "f" and like.data.dtype.kind == "f" and not isinstance(x, xp.ndarray):
            arr = arr.astype(like.data.dtype)
    return Tensor(arr)


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` is an ndarray
    (kept as is, no copy), a Python number or a nested list (floats become the
    default dtype, float32 unless ``set_default_dtype`` changed it).
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        arr = _array(data, dtype)
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(
                f"Tensor: 'requires_grad=True' needs a floating dtype; got data of dtype {arr.dtype}"
            )
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self._op = None

    # ------------------------------------------------------------------ basics
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self):
        return len(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def __repr__(self):
        body = repr(self.data)[len("array(") : -1] if isinstance(self.data, xp.ndarray) else repr(self.data)
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._op and self.requires_grad:
            extra += f", op={self._op}"
        return f"Tensor({body}{extra})"

    def numpy(self):
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a number; got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> "Tensor":
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: needs a floating dtype; got {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def zero_grad_(self) -> None:
        self.grad = None

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __hash__(self):
        return id(self)

    # ---------------------------------------------------------------- autograd
    def backward(self, gradient=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is the seed ``dL/d(self)``; it may be omitted only for a
        one-element tensor (it is then 1).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph; "
                "set requires_grad=True on an input or parameter before computing it"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: 'gradient' must be given for a non-scalar tensor; this one has shape "
                    f"{self.shape} (pass a gradient of that shape, or reduce to a scalar with .sum())"
                )
            seed = xp.ones_like(self.data)
        else:
            seed = _array(gradient, self.data.dtype)
            if seed.shape != self.shape:
                raise ValueError(
                    f"backward: 'gradient' must have the tensor's shape {self.shape}; got {seed.shape}"
                )
        grads = {id(self): seed}
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:
                if node.grad is None:
                    node.grad = xp.array(g, dtype=node.data.dtype, copy=True)
                else:
                    node.grad = node.grad + g
                continue
            for p, pg in zip(node._parents, node._backward(g)):
                if pg is None or not p.requires_grad:
                    continue
                k = id(p)
                prev = grads.get(k)
                grads[k] = pg if prev is None else prev + pg

    # -------------------------------------------------------------- arithmetic
    def __add__(self, other):
        return add(self, _const(other, self))

    def __radd__(self, other):
        return add(_const(other, self), self)

    def __sub__(self, other):
        return sub(self, _const(other, self))

    def __rsub__(self, other):
        return sub(_const(other, self), self)

    def __mul__(self, other):
        return mul(self, _const(other, self))

    def __rmul__(self, other):
        return mul(_const(other, self), self)

    def __truediv__(self, other):
        return div(self, _const(other, self))

    def __rtruediv__(self, other):
        return div(_const(other, self), self)

    def __pow__(self, other):
        return pow(self, other)

    def __rpow__(self, other):
        return pow(_const(other, self), self)

    def __neg__(self):
        return neg(self)

    def __matmul__(self, other):
        return matmul(self, _const(other, self))

    def __rmatmul__(self, other):
        return matmul(_const(other, self), self)

    def __getitem__(self, index):
        return getitem(self, index)

    # comparisons give plain boolean tensors (no gradient)
    def _cmp(self, other, fn):
        o = other.data if isinstance(other, Tensor) else other
        return Tensor(fn(self.data, o))

    def __lt__(self, other):
        return self._cmp(other, xp.less)

    def __le__(self, other):
        return self._cmp(other, xp.less_equal)

    def __gt__(self, other):
        return self._cmp(other, xp.greater)

    def __ge__(self, other):
        return self._cmp(other, xp.greater_equal)

    def __eq__(self, other):  # elementwise, as torch; dicts still key by identity (hash is id)
        return self._cmp(other, xp.equal)

    def __ne__(self, other):
        return self._cmp(other, xp.not_equal)

    eq = __eq__

    # ------------------------------------------------------------ method forms
    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def sqrt(self):
        return sqrt(self)

    def abs(self):
        return abs(self)

    def clip(self, min=None, max=None):
        return clip(self, min, max)

    clamp = clip

    def maximum(self, other):
        return maximum(self, other)

    def minimum(self, other):
        return minimum(self, other)

    def sum(self, axis=None, keepdims=False):
        return sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return min(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, correction=1):
        return var(self, axis, keepdims, correction)

    def std(self, axis=None, keepdims=False, correction=1):
        return sqrt(var(self, axis, keepdims, correction))

    def argmax(self, axis=None):
        return Tensor(self.data.argmax(axis=axis))

    def argmin(self, axis=None):
        return Tensor(self.data.argmin(axis=axis))

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        nd = self.ndim
        s, e = start_dim % nd if nd else 0, end_dim % nd if nd else 0
        shape = self.shape[:s] + (-1,) + self.shape[e + 1 :]
        return reshape(self, shape)

    def transpose(self, *axes):
        """``transpose()`` reverses axes; ``transpose(a, b)`` swaps two (PyTorch's form);
        ``transpose(p0, p1, ..., pn)`` permutes all of them (NumPy's form)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2 and self.ndim != 2:
            perm = list(range(self.ndim))
            a, b = axes
            perm[a], perm[b] = perm[b], perm[a]
            axes = tuple(perm)
        return transpose(self, axes or None)

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes)

    def swapaxes(self, a, b):
        perm = list(range(self.ndim))
        perm[a], perm[b] = perm[b], perm[a]
        return transpose(self, tuple(perm))

    @property
    def T(self):
        return transpose(self, None)

    def unsqueeze(self, axis):
        shape = list(self.shape)
        axis = axis if axis >= 0 else axis + self.ndim + 1
        shape.insert(axis, 1)
        return reshape(self, tuple(shape))

    def squeeze(self, axis=None):
        if axis is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            axis = axis % self.ndim
            if self.shape[axis] != 1:
                return self
            shape = self.shape[:axis] + self.shape[axis + 1 :]
        return reshape(self, shape)

    def astype(self, dtype):
        return cast(self, dtype)

    to = astype

    def float(self):
        return cast(self, xp.float32)

    def double(self):
        return cast(self, xp.float64)


def _topological_order(root):
    """Nodes that need gradients, each after all of its parents (iterative DFS)."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for p in node._parents:
            if p.requires_grad and id(p) not in visited:
                stack.append((p, False))
    return order


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` if it is a Tensor (cast if ``dtype`` differs), else a new Tensor."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == xp.dtype(dtype) else cast(x, dtype)
    return Tensor(x, dtype=dtype)


# ------------------------------------------------------------------ elementwise
def add(a: Tensor, b: Tensor) -> Tensor:
    """a + b (broadcasting). d/da = 1, d/db = 1."""
    sa, sb = a.data.shape, b.data.shape
    return make(a.data + b.data, (a, b), lambda g: (unbroadcast(g, sa), unbroadcast(g, sb)), "add")


def sub(a: Tensor, b: Tensor) -> Tensor:
    """a - b (broadcasting). d/da = 1, d/db = -1."""
    sa, sb = a.data.shape, b.data.shape
    return make(a.data - b.data, (a, b), lambda g: (unbroadcast(g, sa), unbroadcast(-g, sb)), "sub")


def mul(a: Tensor, b: Tensor) -> Tensor:
    """a * b (broadcasting). d/da = b, d/db = a."""
    ad, bd = a.data, b.data

    def backward(g):
        return (
            unbroadcast(g * bd, ad.shape) if a.requires_grad else None,
            unbroadcast(g * ad, bd.shape) if b.requires_grad else None,
        )

    return make(ad * bd, (a, b), backward, "mul")


def div(a: Tensor, b: Tensor) -> Tensor:
    """a / b (broadcasting). d/da = 1/b, d/db = -a/b²."""
    ad, bd = a.data, b.data
    out = ad / bd

    def backward(g):
        return (
            unbroadcast(g / bd, ad.shape) if a.requires_grad else None,
            unbroadcast(-g * out / bd, bd.shape) if b.requires_grad else None,
        )

    return make(out, (a, b), backward, "div")


def neg(a: Tensor) -> Tensor:
    return make(-a.data, (a,), lambda g: (-g,), "neg")


def pow(a: Tensor, p) -> Tensor:
    """a ** p. d/da = p·a^(p-1); for a Tensor exponent, d/dp = a^p·ln a."""
    ad = a.data
    if not isinstance(p, Tensor):
        out = ad**p
        return make(out, (a,), lambda g: (g * p * ad ** (p - 1),), "pow")
    pd = p.data
    out = ad**pd

    def backward(g):
        ga = unbroadcast(g * pd * ad ** (pd - 1), ad.shape) if a.requires_grad else None
        gp = None
        if p.requires_grad:
            with xp.errstate(divide="ignore", invalid="ignore"):
                logs = xp.where(ad > 0, xp.log(xp.where(ad > 0, ad, 1)), 0)
            gp = unbroadcast(g * out * logs, pd.shape)
        return ga, gp

    return make(out, (a, p), backward, "pow")


def exp(a: Tensor) -> Tensor:
    """e^a. d/da = e^a."""
    out = xp.exp(a.data)
    return make(out, (a,), lambda g: (g * out,), "exp")


def log(a: Tensor) -> Tensor:
    """ln a. d/da = 1/a."""
    ad = a.data
    return make(xp.log(ad), (a,), lambda g: (g / ad,), "log")


def sqrt(a: Tensor) -> Tensor:
    """√a. d/da = 1/(2√a)."""
    out = xp.sqrt(a.data)
    return make(out, (a,), lambda g: (g / (2 * out),), "sqrt")


def abs(a: Tensor) -> Tensor:
    """|a|. d/da = sign(a) (0 at 0, as PyTorch)."""
    ad = a.data
    return make(xp.abs(ad), (a,), lambda g: (g * xp.sign(ad),), "abs")


def clip(a: Tensor, min=None, max=None) -> Tensor:
    """Clamp into [min, max]. The gradient passes where min <= a <= max (PyTorch's rule)."""
    if min is None and max is None:
        raise ValueError("clip: at least one of 'min' and 'max' must be given; got both None")
    ad = a.data
    out = xp.clip(ad, min, max)

    def backward(g):
        mask = xp.ones(ad.shape, dtype=bool)
        if min is not None:
            mask &= ad >= min
        if max is not None:
            mask &= ad <= max
        return (g * mask,)

    return make(out, (a,), backward, "clip")


def where(cond, a, b) -> Tensor:
    """Elementwise ``a if cond else b``; the gradient goes to the branch taken."""
    c = cond.data if isinstance(cond, Tensor) else xp.asarray(cond)
    c = c.astype(bool, copy=False)
    if not isinstance(a, Tensor):
        a = _const(a, b if isinstance(b, Tensor) else Tensor(xp.asarray(a)))
    if not isinstance(b, Tensor):
        b = _const(b, a)
    ad, bd = a.data, b.data

    def backward(g):
        zero = xp.zeros((), dtype=g.dtype)
        return (
            unbroadcast(xp.where(c, g, zero), ad.shape) if a.requires_grad else None,
            unbroadcast(xp.where(c, zero, g), bd.shape) if b.requires_grad else None,
        )

    return make(xp.where(c, ad, bd), (a, b), backward, "where")


def _minmax(a, b, fn, name):
    if not isinstance(a, Tensor):
        a = _const(a, b)
    if not isinstance(b, Tensor):
        b = _const(b, a)
    ad, bd = a.data, b.data
    out = fn(ad, bd)

    def backward(g):
        # PyTorch splits the gradient evenly between equal operands
        wa = (out == ad).astype(g.dtype)
        wb = (out == bd).astype(g.dtype)
        tie = wa * wb
        wa -= 0.5 * tie
        wb -= 0.5 * tie
        return (
            unbroadcast(g * wa, ad.shape) if a.requires_grad else None,
            unbroadcast(g * wb, bd.shape) if b.requires_grad else None,
        )

    return make(out, (a, b), backward, name)


def maximum(a, b) -> Tensor:
    """Elementwise max; ties split the gradient in half (as ``torch.maximum``)."""
    return _minmax(a, b, xp.maximum, "maximum")


def minimum(a, b) -> Tensor:
    """Elementwise min; ties split the gradient in half (as ``torch.minimum``)."""
    return _minmax(a, b, xp.minimum, "minimum")


def cast(a: Tensor, dtype) -> Tensor:
    dt = xp.dtype(dtype)
    if a.data.dtype == dt:
        return a
    src = a.data.dtype
    return make(a.data.astype(dt), (a,), lambda g: (g.astype(src),), "cast")


# ----------------------------------------------------------------- reductions
def _norm_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for ax in axis:
        if not -ndim <= ax < builtins.max(ndim, 1):
            raise ValueError(f"'axis' {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % ndim if ndim else 0)
    return tuple(out)


def _expand(g, shape, axes, keepdims):
    if not keepdims and axes:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, shape)


def sum(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Sum over ``axis`` (all by default). The gradient is broadcast back."""
    ad = a.data
    axes = _norm_axis(axis, ad.ndim)
    out = ad.sum(axis=axes, keepdims=keepdims)
    return make(out, (a,), lambda g: (_expand(g, ad.shape, axes, keepdims),), "sum")


def mean(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Mean over ``axis``. d/da_i = 1/N."""
    ad = a.data
    axes = _norm_axis(axis, ad.ndim)
    n = 1
    for ax in axes:
        n *= ad.shape[ax]
    out = ad.mean(axis=axes, keepdims=keepdims)
    return make(out, (a,), lambda g: (_expand(g / n, ad.shape, axes, keepdims),), "mean")


def _extreme(a, axis, keepdims, fn, name):
    ad = a.data
    axes = _norm_axis(axis, ad.ndim)
    out = fn(ad, axis=axes, keepdims=True)

    def backward(g):
        # ties share the gradient evenly, as torch.amax/amin
        mask = (ad == out).astype(g.dtype)
        mask /= mask.sum(axis=axes, keepdims=True)
        return (_expand(g, ad.shape, axes, keepdims) * mask,)

    res = out if keepdims else out.reshape(tuple(s for i, s in enumerate(ad.shape) if i not in axes))
    return make(res, (a,), backward, name)


def max(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient evenly."""
    return _extreme(a, axis, keepdims, xp.max, "max")


def min(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    return _extreme(a, axis, keepdims, xp.min, "min")


def var(a: Tensor, axis=None, keepdims=False, correction=1) -> Tensor:
    """Variance Σ(x-x̄)²/(N-correction); ``correction=1`` is unbiased (PyTorch's default).

    d/dx_i = 2(x_i - x̄)/(N - correction).
    """
    ad = a.data
    axes = _norm_axis(axis, ad.ndim)
    n = 1
    for ax in axes:
        n *= ad.shape[ax]
    centered = ad - ad.mean(axis=axes, keepdims=True)
    out = (centered * centered).sum(axis=axes, keepdims=keepdims) / (n - correction)

    def backward(g):
        return (_expand(g, ad.shape, axes, keepdims) * centered * (2.0 / (n - correction)),)

    return make(out, (a,), backward, "var")


# ---------------------------------------------------------------------- shape
def reshape(a: Tensor, shape) -> Tensor:
    ad = a.data
    try:
        out = ad.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {ad.shape} ({ad.size} elements) "
                         f"into 'shape' {tuple(shape)}") from None
    return make(out, (a,), lambda g: (g.reshape(ad.shape),), "reshape")


def transpose(a: Tensor, axes=None) -> Tensor:
    ad = a.data
    if axes is None:
        axes = tuple(range(ad.ndim))[::-1]
    axes = tuple(ax % ad.ndim for ax in axes)
    inverse = tuple(int(i) for i in xp.argsort(axes))
    return make(ad.transpose(axes), (a,), lambda g: (g.transpose(inverse),), "transpose")


def _plain_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_advanced(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (list, xp.ndarray)) for i in items)


def getitem(a: Tensor, index) -> Tensor:
    """Indexing and slicing; integer-array indices with repeats accumulate gradients."""
    index = _plain_index(index)
    ad = a.data
    out = ad[index]
    advanced = _is_advanced(index)

    def backward(g):
        ga = xp.zeros(ad.shape, dtype=g.dtype)
        if advanced:
            xp.add.at(ga, index, g)
        else:
            ga[index] = g
        return (ga,)

    return make(out, (a,), backward, "getitem")


def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: 'tensors' must hold at least one tensor; got none")
    try:
        out = xp.concatenate([t.data for t in tensors], axis=axis)
    except ValueError as e:
        shapes = [t.shape for t in tensors]
        raise ValueError(f"concatenate: 'tensors' must match in every axis but {axis}; got shapes {shapes}") from e
    ax = axis % out.ndim
    bounds = xp.cumsum([t.shape[ax] for t in tensors])[:-1]

    def backward(g):
        return tuple(xp.split(g, bounds, axis=ax))

    return make(out, tuple(tensors), backward, "concatenate")


cat = concatenate


def stack(tensors, axis=0) -> Tensor:
    """Join tensors along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: 'tensors' must hold at least one tensor; got none")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: 'tensors' must all have one shape; got {sorted(shapes)}")
    out = xp.stack([t.data for t in tensors], axis=axis)
    ax = axis % out.ndim

    def backward(g):
        return tuple(xp.moveaxis(g, ax, 0))

    return make(out, tuple(tensors), backward, "stack")


def pad(a: Tensor, pad_width, mode="constant", value=0.0) -> Tensor:
    """``numpy.pad`` with gradient; ``pad_width`` is NumPy's ((before, after), ...) form.

    Only ``mode="constant"`` is differentiable here (the gradient is the crop).
    """
    if mode != "constant":
        raise ValueError(f"pad: 'mode' must be 'constant'; got {mode!r}")
    ad = a.data
    pw = xp.broadcast_to(xp.asarray(pad_width, dtype=int), (ad.ndim, 2))
    if (pw < 0).any():
        raise ValueError(f"pad: 'pad_width' must be non-negative; got {pad_width!r}")
    out = xp.pad(ad, pw, mode="constant", constant_values=value)
    crop = tuple(slice(int(lo), int(lo) + s) for (lo, _), s in zip(pw, ad.shape))
    return make(out, (a,), lambda g: (g[crop],), "pad")


# ------------------------------------------------------------------- products
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules (1-D promotion, batch broadcasting).

    For C = A B: dA = G Bᵀ, dB = Aᵀ G (summed over broadcast batch axes).
    """
    ad, bd = a.data, b.data
    if ad.ndim == 0 or bd.ndim == 0 or ad.shape[-1] != bd.shape[-2 if bd.ndim > 1 else 0]:
        raise ValueError(
            f"matmul: shapes {ad.shape} and {bd.shape} do not align: the last axis of the first "
            f"({ad.shape[-1] if ad.ndim else 'scalar'}) must equal the "
            f"{'second-to-last' if bd.ndim > 1 else 'only'} axis of the second"
        )
    try:
        out = ad @ bd
    except ValueError as e:
        raise ValueError(f"matmul: batch axes of shapes {ad.shape} and {bd.shape} do not broadcast") from e
    if ad.ndim == 2 and bd.ndim == 2:
        def backward(g):
            return (g @ bd.T if a.requires_grad else None, ad.T @ g if b.requires_grad else None)

        return make(out, (a, b), backward, "matmul")

    A = ad if ad.ndim > 1 else ad[None, :]
    B = bd if bd.ndim > 1 else bd[:, None]

    def backward(g):
        G = g.reshape(xp.matmul(A[..., :1, :], B[..., :, :1]).shape[:-2] + (A.shape[-2], B.shape[-1]))
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(G @ xp.swapaxes(B, -1, -2), A.shape).reshape(ad.shape)
        if b.requires_grad:
            gb = unbroadcast(xp.swapaxes(A, -1, -2) @ G, B.shape).reshape(bd.shape)
        return ga, gb

    return make(out, (a, b), backward, "matmul")
