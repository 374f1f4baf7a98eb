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
import heapq
import itertools
import numbers
import sys

from ._allocator import tune_malloc
from .backend import get_default_dtype, xp

tune_malloc()  # large arrays are recycled step to step instead of re-faulted (see _allocator)

_grad_enabled = True
# Every tensor takes the next number at creation: a node's parents are always older, so
# visiting nodes from the newest down is a topological order (see Tensor.backward).
_next_seq = itertools.count().__next__
_refcount = sys.getrefcount


def _exclusive_refcount():
    """What ``getrefcount(local)`` reports for an object held by one local variable only
    (2 on CPython 3.11: the variable and the call's argument; calibrated, not assumed)."""
    obj = object()
    return _refcount(obj)


EXCLUSIVE_REFCOUNT = _exclusive_refcount()


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
    if data.__class__ is not xp.ndarray:
        # NumPy returns scalars (np.float32) from full reductions and 0-d arithmetic;
        # keep ``.data`` an ndarray so in-place updates and ``out=`` work on every tensor
        data = xp.asarray(data)
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = None
    t._seq = _next_seq()
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


_PY_SCALARS = (float, int)  # exact types: bool and NumPy scalars take the general path


def _pass_through(g):
    return (g,)


def _negate(g):
    return (-g,)


def _const(x, like):
    """A non-Tensor operand as a Tensor of ``like``'s dtype (Python numbers stay weak)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        if like.data.dtype.kind == "f":
            arr = xp.asarray(x, dtype=like.data.dtype)
        elif like.data.dtype.kind in "iu" and isinstance(x, numbers.Integral) and not isinstance(x, bool):
            arr = xp.asarray(x, dtype=like.data.dtype)  # a 0-d int64 array would upcast int32
        else:
            arr = xp.asarray(x)
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

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "_seq", "__weakref__")
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
        self._seq = _next_seq()

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
            d = self.data
            seed = xp.array(1, dtype=d.dtype) if d.ndim == 0 else xp.ones(d.shape, dtype=d.dtype)
        else:
            seed = _array(gradient, self.data.dtype)
            if seed.shape != self.shape:
                raise ValueError(
                    f"backward: 'gradient' must have the tensor's shape {self.shape}; got {seed.shape}"
                )
        # Visit nodes newest first (a max-heap on the creation number): each node is reached
        # after every node that uses it, so its gradient is complete when its turn comes.
        # One pass, no separate topological sort. Leaves wait aside until the end, so all
        # of a leaf's contributions are summed before they are added to its .grad.
        grads = {id(self): seed}
        leaves = []
        if self._backward is None:
            leaves.append(self)
            heap = []
        else:
            heap = [(-self._seq, 0, self)]  # id() breaks ties: a deep copy shares its original's number
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            node = pop(heap)[2]
            g = grads.pop(id(node))
            for p, pg in zip(node._parents, node._backward(g)):
                if pg is None or not p.requires_grad:
                    continue
                k = id(p)
                prev = grads.get(k)
                if prev is None:
                    grads[k] = pg
                    if p._backward is None:
                        leaves.append(p)
                    else:
                        push(heap, (-p._seq, k, p))
                else:
                    grads[k] = prev + pg
        for leaf in leaves:
            g = grads.pop(id(leaf))
            if leaf.grad is not None:
                leaf.grad = leaf.grad + g
            elif g.__class__ is xp.ndarray and g.base is None and g.dtype == leaf.data.dtype \
                    and _refcount(g) == EXCLUSIVE_REFCOUNT:
                # an array that owns its memory and that nothing but this frame's ``g``
                # refers to is kept, not copied
                leaf.grad = g
            else:
                leaf.grad = xp.array(g, dtype=leaf.data.dtype, copy=True)

    # -------------------------------------------------------------- arithmetic
    # A Python int or float operand takes a one-parent path: no constant Tensor, no
    # unbroadcast, and NumPy keeps the scalar weak (float32 stays float32).
    def __add__(self, other):
        if other.__class__ in _PY_SCALARS:
            return make(self.data + other, (self,), _pass_through, "add")
        return add(self, _const(other, self))

    def __radd__(self, other):
        if other.__class__ in _PY_SCALARS:
            return make(other + self.data, (self,), _pass_through, "add")
        return add(_const(other, self), self)

    def __sub__(self, other):
        if other.__class__ in _PY_SCALARS:
            return make(self.data - other, (self,), _pass_through, "sub")
        return sub(self, _const(other, self))

    def __rsub__(self, other):
        if other.__class__ in _PY_SCALARS:
            return make(other - self.data, (self,), _negate, "sub")
        return sub(_const(other, self), self)

    def __mul__(self, other):
        if other.__class__ in _PY_SCALARS:
            return make(self.data * other, (self,), lambda g: (g * other,), "mul")
        return mul(self, _const(other, self))

    def __rmul__(self, other):
        if other.__class__ in _PY_SCALARS:
            return make(other * self.data, (self,), lambda g: (g * other,), "mul")
        return mul(_const(other, self), self)

    def __truediv__(self, other):
        if other.__class__ in _PY_SCALARS:
            return make(self.data / other, (self,), lambda g: (g / other,), "div")
        return div(self, _const(other, self))

    def __rtruediv__(self, other):
        if other.__class__ in _PY_SCALARS:
            ad = self.data
            out = other / ad
            return make(out, (self,), lambda g: (-g * out / ad,), "div")  # d(c/a)/da = -c/a² = -out/a
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
        """``transpose()`` reverses axes; ``transpose(a, b)`` swaps two (PyTorch's form, also
        on a 2-D tensor, where ``x.transpose(0, 1)`` and ``x.transpose(-2, -1)`` swap as in
        torch); ``transpose((p0, ..., pn))`` with one tuple permutes all axes (NumPy's form)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            return transpose(self, tuple(axes[0]))
        if len(axes) == 2:
            return self.swapaxes(*axes)
        return transpose(self, axes or None)

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes)

    def swapaxes(self, a, b):
        nd = self.ndim
        for name, ax in (("dim0", a), ("dim1", b)):
            if isinstance(ax, bool) or not isinstance(ax, numbers.Integral) or not -nd <= ax < nd:
                raise ValueError(f"transpose: '{name}' must be an int in [{-nd}, {nd}) for shape {self.shape}; "
                                 f"got {ax!r}")
        perm = list(range(nd))
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


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` if it is a Tensor (cast if ``dtype`` differs), else a new Tensor."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == xp.dtype(dtype) else cast(x, dtype)
    return Tensor(x, dtype=dtype)


# ------------------------------------------------------------------ elementwise
def _broadcast(fn, name, ad, bd):
    """``fn(ad, bd)``, with NumPy's broadcast error restated with the op and both shapes."""
    try:
        return fn(ad, bd)
    except ValueError:
        raise ValueError(
            f"{name}: shapes {ad.shape} and {bd.shape} do not broadcast (each axis, aligned from the "
            f"right, must be equal or 1)"
        ) from None


def add(a: Tensor, b: Tensor) -> Tensor:
    """a + b (broadcasting). d/da = 1, d/db = 1."""
    sa, sb = a.data.shape, b.data.shape

    def backward(g):
        return (
            unbroadcast(g, sa) if a.requires_grad else None,
            unbroadcast(g, sb) if b.requires_grad else None,
        )

    try:
        out = a.data + b.data
    except ValueError:
        out = _broadcast(xp.add, "add", a.data, b.data)
    return make(out, (a, b), backward, "add")


def sub(a: Tensor, b: Tensor) -> Tensor:
    """a - b (broadcasting). d/da = 1, d/db = -1."""
    sa, sb = a.data.shape, b.data.shape

    def backward(g):
        return (
            unbroadcast(g, sa) if a.requires_grad else None,
            -unbroadcast(g, sb) if b.requires_grad else None,  # negate after the (smaller) sum
        )

    try:
        out = a.data - b.data
    except ValueError:
        out = _broadcast(xp.subtract, "sub", a.data, b.data)
    return make(out, (a, b), backward, "sub")


def mul(a: Tensor, b: Tensor) -> Tensor:
    """a * b (broadcasting). d/da = b, d/db = a."""
    ad, bd = a.data, b.data

    def backward(g):
        return (
            unbroadcast(g * bd, ad.shape) if a.requires_grad else None,
            unbroadcast(g * ad, bd.shape) if b.requires_grad else None,
        )

    try:
        out = ad * bd
    except ValueError:
        out = _broadcast(xp.multiply, "mul", ad, bd)
    return make(out, (a, b), backward, "mul")


def div(a: Tensor, b: Tensor) -> Tensor:
    """a / b (broadcasting). d/da = 1/b, d/db = -a/b²."""
    ad, bd = a.data, b.data
    out = _broadcast(xp.true_divide, "div", ad, bd)

    def backward(g):
        return (
            unbroadcast(g / bd, ad.shape) if a.requires_grad else None,
            unbroadcast(-g * out / bd, bd.shape) if b.requires_grad else None,
        )

    return make(out, (a, b), backward, "div")


def neg(a: Tensor) -> Tensor:
    """-a. d/da = -1."""
    return make(-a.data, (a,), lambda g: (-g,), "neg")


def pow(a: Tensor, p) -> Tensor:
    """a ** p. d/da = p·a^(p-1); for a Tensor exponent, d/dp = a^p·ln a (0 where a <= 0).

    A Python-number exponent stays weak (float32 stays float32); ``p = 0`` has
    gradient 0 everywhere, as in PyTorch (not 0·a⁻¹, which is NaN at a = 0).
    """
    if not isinstance(a, Tensor):
        a = _const(a, p)
    ad = a.data
    if isinstance(p, numbers.Number):
        if isinstance(p, xp.generic):
            p = p.item()  # a NumPy float64 scalar would upcast float32 data
        out = ad**p
        if p == 0:
            return make(out, (a,), lambda g: (xp.zeros_like(g),), "pow")
        if p == 2:
            return make(out, (a,), lambda g: (g * (2 * ad),), "pow")
        return make(out, (a,), lambda g: (g * (p * ad ** (p - 1)),), "pow")
    p = _const(p, a)
    pd = p.data
    out = _broadcast(xp.power, "pow", ad, pd)

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
    # NumPy scalars are strong in NumPy 2 (np.float64 would upcast float32); Tensors become arrays
    min = min.item() if isinstance(min, xp.generic) else min.data if isinstance(min, Tensor) else min
    max = max.item() if isinstance(max, xp.generic) else max.data if isinstance(max, Tensor) else max
    ad = a.data
    out = xp.clip(ad, min, max)

    def backward(g):
        if min is None:
            mask = ad <= max
        elif max is None:
            mask = ad >= min
        else:
            mask = (ad >= min) & (ad <= max)
        return (unbroadcast(g * mask, ad.shape),)

    return make(out, (a,), backward, "clip")


def where(cond, a, b) -> Tensor:
    """Elementwise ``a if cond else b``; the gradient goes to the branch taken."""
    c = cond.data if isinstance(cond, Tensor) else xp.asarray(cond)
    c = c.astype(bool, copy=False)
    if not isinstance(a, Tensor):
        a = _const(a, b) if isinstance(b, Tensor) else Tensor(a)
    if not isinstance(b, Tensor):
        b = _const(b, a)
    ad, bd = a.data, b.data

    def backward(g):
        zero = xp.zeros((), dtype=g.dtype)
        return (
            unbroadcast(xp.where(c, g, zero), ad.shape) if a.requires_grad else None,
            unbroadcast(xp.where(c, zero, g), bd.shape) if b.requires_grad else None,
        )

    try:
        out = xp.where(c, ad, bd)
    except ValueError:
        raise ValueError(f"where: shapes of 'cond' {c.shape}, 'a' {ad.shape} and 'b' {bd.shape} do not broadcast") from None
    return make(out, (a, b), backward, "where")


def _minmax(a, b, fn, name):
    if not isinstance(a, Tensor):
        a = _const(a, b) if isinstance(b, Tensor) else Tensor(a)
    if not isinstance(b, Tensor):
        b = _const(b, a)
    ad, bd = a.data, b.data
    out = _broadcast(fn, name, ad, bd)

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
    """a converted to ``dtype``; the gradient is cast back to a's dtype.

    A cast to a non-floating dtype records no graph (as in PyTorch, integers carry no gradient).
    """
    dt = xp.dtype(dtype)
    if a.data.dtype == dt:
        return a
    if dt.kind != "f":
        return Tensor(a.data.astype(dt))
    src = a.data.dtype
    return make(a.data.astype(dt), (a,), lambda g: (g.astype(src),), "cast")


# ----------------------------------------------------------------- reductions
def _norm_axis(axis, ndim):
    """``axis`` (None, an int or a tuple of ints, negatives allowed) as a sorted tuple of
    non-negative axes; a 0-d tensor accepts 0 and -1 (as PyTorch) and reduces nothing."""
    if axis is None:
        return tuple(range(ndim))
    if axis.__class__ is int and ndim and -ndim <= axis < ndim:  # the common case, kept cheap
        return (axis % ndim,)
    items = (axis,) if isinstance(axis, numbers.Integral) else axis
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"'axis' must be None, an int or a tuple of ints; got {axis!r}") from None
    hi = builtins.max(ndim, 1)
    out = []
    for ax in items:
        if isinstance(ax, bool) or not isinstance(ax, numbers.Integral):
            raise TypeError(f"'axis' must be None, an int or a tuple of ints; got {axis!r}")
        if not -hi <= ax < hi:
            raise ValueError(
                f"'axis' {ax} is out of range for a tensor with {ndim} dimensions "
                f"(expected {-hi} <= axis < {hi})"
            )
        if ndim:
            out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"'axis' must not repeat an axis; got {axis!r} for a tensor with {ndim} dimensions")
    return tuple(sorted(out))


def _expand(g, shape, axes, keepdims):
    """The reduced gradient ``g`` broadcast back to the input's ``shape`` (a read-only view)."""
    if not keepdims and axes:
        # reshape to the keepdims shape: the same as expand_dims, at a fraction of its cost
        g = g.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return xp.broadcast_to(g, shape)


def _count(shape, axes):
    n = 1
    for ax in axes:
        n *= shape[ax]
    return n


def sum(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Σ over ``axis`` (all by default). d/da_i = 1: the gradient is broadcast back."""
    ad = a.data
    axes = _norm_axis(axis, ad.ndim)
    out = ad.sum(axis=axes, keepdims=keepdims)
    return make(out, (a,), lambda g: (_expand(g, ad.shape, axes, keepdims),), "sum")


def mean(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """x̄ = Σx/N over ``axis``. d/da_i = 1/N."""
    ad = a.data
    axes = _norm_axis(axis, ad.ndim)
    n = _count(ad.shape, axes)
    out = ad.sum(axis=axes, keepdims=keepdims) / n  # what ndarray.mean computes, with less overhead
    return make(out, (a,), lambda g: (_expand(g / n, ad.shape, axes, keepdims),), "mean")


def _extreme(a, axis, keepdims, fn, name):
    ad = a.data
    if ad.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {ad.shape}")
    axes = _norm_axis(axis, ad.ndim)
    out = fn(ad, axis=axes, keepdims=True)

    def backward(g):
        # ties share the gradient evenly, as torch.amax/amin and the full torch.max();
        # divide the small reduced gradient by the tie count, then one full-size multiply
        mask = ad == out
        count = mask.sum(axis=axes, keepdims=True)
        gk = g if keepdims else g.reshape(count.shape)
        return ((gk / count.astype(g.dtype)) * mask,)

    res = out if keepdims else out.reshape(tuple(s for i, s in enumerate(ad.shape) if i not in axes))
    return make(res, (a,), backward, name)


def max(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis`` (values only, like ``torch.amax``); tied maxima share the
    gradient evenly. (``torch.max(x, dim)`` instead sends it all to one argmax.)"""
    return _extreme(a, axis, keepdims, xp.max, "max")


def min(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """Minimum over ``axis`` (like ``torch.amin``); tied minima share the gradient evenly."""
    return _extreme(a, axis, keepdims, xp.min, "min")


def var(a: Tensor, axis=None, keepdims=False, correction=1) -> Tensor:
    """Variance Σ(x-x̄)²/(N-correction); ``correction=1`` is unbiased (PyTorch's default),
    ``correction=0`` the population (biased) variance used by batch norm.

    d/dx_i = 2(x_i - x̄)/(N - correction)  (the x̄ term's gradient sums to zero).
    N <= correction gives NaN/inf, as in PyTorch.
    """
    if isinstance(correction, bool) or not isinstance(correction, numbers.Real) or correction < 0:
        raise ValueError(f"var: 'correction' must be a non-negative number; got {correction!r}")
    ad = a.data
    axes = _norm_axis(axis, ad.ndim)
    dof = _count(ad.shape, axes) - correction
    centered = ad - ad.sum(axis=axes, keepdims=True) / _count(ad.shape, axes)
    with xp.errstate(divide="ignore", invalid="ignore"):
        out = xp.square(centered).sum(axis=axes, keepdims=keepdims) / dof
        scale = 2.0 / dof if dof else float("inf")

    def backward(g):
        return (_expand(g * scale, ad.shape, axes, keepdims) * centered,)

    return make(out, (a,), backward, "var")


# ---------------------------------------------------------------------- shape
def reshape(a: Tensor, shape) -> Tensor:
    """The same elements in a new ``shape`` (one entry may be -1). The gradient is reshaped back."""
    ad = a.data
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    try:
        out = ad.reshape(shape)
    except (ValueError, TypeError):
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {ad.shape} ({ad.size} elements) into 'shape' {shape}"
        ) from None
    return make(out, (a,), lambda g: (g.reshape(ad.shape),), "reshape")


def transpose(a: Tensor, axes=None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None), as ``numpy.transpose`` and
    ``torch.permute``. The gradient is permuted back by the inverse permutation."""
    ad = a.data
    nd = ad.ndim
    if axes is None:
        axes = tuple(range(nd - 1, -1, -1))
        inverse = axes
    else:
        axes = tuple(axes)
        if len(axes) != nd or not all(isinstance(ax, numbers.Integral) and -nd <= ax < nd for ax in axes) \
                or len({ax % nd for ax in axes}) != nd:
            raise ValueError(
                f"transpose: 'axes' must be a permutation of the {nd} axes of a tensor of shape {ad.shape}; "
                f"got {axes!r}"
            )
        axes = tuple(int(ax) % nd for ax in axes)
        inv = [0] * nd
        for i, ax in enumerate(axes):
            inv[ax] = i
        inverse = tuple(inv)
    return make(ad.transpose(axes), (a,), lambda g: (g.transpose(inverse),), "transpose")


def _plain_index(index):
    """An index with Tensors and lists replaced by ndarrays (lists of bools become masks)."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return xp.asarray(index)
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else xp.asarray(i) if isinstance(i, list) else i
                     for i in index)
    return index


def _scatter_add_rows(shape, idx, g):
    """zeros(shape) with g[k] added at row idx[k], for a 1-index ``a[idx]`` with repeats.

    Sorting the indices and summing runs with ``add.reduceat`` is about 2.5x faster than
    ``numpy.add.at`` for embedding-sized gathers.
    """
    n = shape[0]
    flat = idx.reshape(-1)
    flat = xp.where(flat < 0, flat + n, flat)
    rows = g.reshape((flat.size,) + shape[1:])
    ga = xp.zeros(shape, dtype=g.dtype)
    if flat.size == 0:
        return ga
    if len(shape) == 1:
        return xp.bincount(flat, weights=rows, minlength=n).astype(g.dtype, copy=False)
    order = xp.argsort(flat, kind="stable")
    sorted_idx = flat[order]
    starts = xp.flatnonzero(xp.concatenate(([True], sorted_idx[1:] != sorted_idx[:-1])))
    ga[sorted_idx[starts]] = xp.add.reduceat(rows[order], starts, axis=0)
    return ga


def getitem(a: Tensor, index) -> Tensor:
    """``a[index]`` with NumPy's rules: basic slices, integer arrays, boolean masks.

    Backward: zeros of a's shape with g written at the selected places; integer-array
    indices that repeat an element add their gradients (scatter-add).
    """
    index = _plain_index(index)
    ad = a.data
    out = ad[index]

    def backward(g):
        if isinstance(index, xp.ndarray):
            if index.dtype == bool:
                ga = xp.zeros(ad.shape, dtype=g.dtype)
                ga[index] = g  # a mask selects each element at most once
                return (ga,)
            return (_scatter_add_rows(ad.shape, index, g),)
        ga = xp.zeros(ad.shape, dtype=g.dtype)
        items = index if isinstance(index, tuple) else (index,)
        if any(isinstance(i, xp.ndarray) and i.dtype != bool for i in items):
            xp.add.at(ga, index, g)  # integer arrays may repeat an element
        else:
            ga[index] = g  # basic indexing and masks select each element at most once
        return (ga,)

    return make(out, (a,), backward, "getitem")


def _check_join_axis(name, axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise ValueError(f"{name}: 'axis' must be an int in [{-ndim}, {ndim}); got {axis!r}")
    return int(axis) % ndim


def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``). The gradient is split back."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: 'tensors' must hold at least one tensor; got none")
    if tensors[0].ndim == 0:
        raise ValueError("concatenate: 'tensors' must be at least 1-D; got a 0-d tensor (use stack)")
    ax = _check_join_axis("concatenate", axis, tensors[0].ndim)
    try:
        out = xp.concatenate([t.data for t in tensors], axis=ax)
    except ValueError as e:
        shapes = [t.shape for t in tensors]
        raise ValueError(f"concatenate: 'tensors' must match in every axis but {axis}; got shapes {shapes}") from e
    bounds = xp.cumsum([t.shape[ax] for t in tensors])[:-1]

    def backward(g):
        return tuple(xp.split(g, bounds, axis=ax))

    return make(out, tuple(tensors), backward, "concatenate")


cat = concatenate


def stack(tensors, axis=0) -> Tensor:
    """Join tensors of one shape along a new axis (``torch.stack``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: 'tensors' must hold at least one tensor; got none")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: 'tensors' must all have one shape; got {sorted(shapes)}")
    ax = _check_join_axis("stack", axis, tensors[0].ndim + 1)
    out = xp.stack([t.data for t in tensors], axis=ax)

    def backward(g):
        return tuple(xp.moveaxis(g, ax, 0))

    return make(out, tuple(tensors), backward, "stack")


def pad(a: Tensor, pad_width, mode="constant", value=0.0) -> Tensor:
    """``numpy.pad`` with gradient; ``pad_width`` is NumPy's ((before, after), ...) form
    (an int or one pair applies to every axis). Note ``torch.nn.functional.pad`` lists
    pairs from the last axis backwards; this follows NumPy.

    Only ``mode="constant"`` (fill with ``value``) is supported; the gradient is the crop
    of g to a's region.
    """
    if mode != "constant":
        raise ValueError(f"pad: 'mode' must be 'constant'; got {mode!r}")
    ad = a.data
    try:
        raw = xp.asarray(pad_width)
        if raw.dtype.kind not in "iu":
            raise TypeError
        pw = xp.broadcast_to(raw, (ad.ndim, 2))
    except (TypeError, ValueError):
        raise ValueError(
            f"pad: 'pad_width' must be ints as an int, a (before, after) pair or one pair per axis "
            f"for a tensor of shape {ad.shape}; got {pad_width!r}"
        ) from None
    if (pw < 0).any():
        raise ValueError(f"pad: 'pad_width' must be non-negative; got {pad_width!r}")
    crop = tuple(slice(int(lo), int(lo) + s) for (lo, _), s in zip(pw.tolist(), ad.shape))
    # allocate-and-assign is ~2x faster than numpy.pad for the small tensors of a training step
    out = xp.full(tuple(s + int(lo) + int(hi) for s, (lo, hi) in zip(ad.shape, pw.tolist())), value, dtype=ad.dtype)
    out[crop] = ad
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
            f"{'' if bd.ndim else ' (scalar)'}"
        )
    try:
        out = ad @ bd
    except ValueError as e:
        raise ValueError(f"matmul: batch axes of shapes {ad.shape} and {bd.shape} do not broadcast") from e
    if bd.ndim == 2 and ad.ndim >= 2:
        # (..., n, k) @ (k, m): fold the batch axes into rows, so dB is one 2-D product
        def backward(g):
            ga = g @ bd.T if a.requires_grad else None
            gb = None
            if b.requires_grad:
                gb = ad.T @ g if ad.ndim == 2 else ad.reshape(-1, ad.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            return ga, gb

        return make(out, (a, b), backward, "matmul")

    A = ad if ad.ndim > 1 else ad[None, :]
    B = bd if bd.ndim > 1 else bd[:, None]
    gshape = xp.broadcast_shapes(A.shape[:-2], B.shape[:-2]) + (A.shape[-2], B.shape[-1])

    def backward(g):
        G = g.reshape(gshape)
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(G @ xp.swapaxes(B, -1, -2), A.shape).reshape(ad.shape)
        if b.requires_grad:
            gb = unbroadcast(xp.swapaxes(A, -1, -2) @ G, B.shape).reshape(bd.shape)
        return ga, gb

    return make(out, (a, b), backward, "matmul")
