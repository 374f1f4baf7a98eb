"""Module and Parameter: the PyTorch-style container of parameters and sub-modules.

Attributes that are ``Parameter`` or ``Module`` are registered by name when
assigned, so ``named_parameters()`` yields dotted names (``"0.weight"``) that
match PyTorch's and a state dict moves between the two by name. Registered
objects are also stored as ordinary attributes, so looking them up in
``forward`` costs a plain attribute access.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

from ..backend import xp
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable (``requires_grad=True`` by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` detaches the hook."""

    def __init__(self, hooks: dict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


_hook_counter = [0]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
IncompatibleKeys.__doc__ = "What ``load_state_dict`` returns, as PyTorch's: unpacks as (missing, unexpected)."


class Module:
    """Base class of every layer and model.

    Subclasses assign parameters and sub-modules as attributes in
    ``__init__`` (after ``super().__init__()``) and define ``forward``.
    """

    training: bool

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attribute {name!r}"
            )
        params, modules, buffers = d["_parameters"], d["_modules"], d["_buffers"]
        if isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r}: expected a Parameter or None"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to sub-module {name!r}: expected a Module or None")
            modules[name] = None
        elif name in buffers:
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for reg in (self._parameters, self._modules, self._buffers):
            reg.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: 'param' must be a Parameter or None; got {type(param).__name__}")
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """A non-learnable array saved in the state dict (e.g. batch norm's running mean)."""
        self._buffers[name] = array
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)
        object.__setattr__(self, name, array)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: 'module' must be a Module; got {type(module).__name__}")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # ------------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                res = hook(self, args, out)
                if res is not None:
                    out = res
        return out

    def register_forward_hook(self, hook) -> RemovableHandle:
        """``hook(module, inputs, output)`` runs after every forward; a non-None return replaces the output."""
        _hook_counter[0] += 1
        self._forward_hooks[_hook_counter[0]] = hook
        return RemovableHandle(self._forward_hooks, _hook_counter[0])

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, inputs)`` runs before every forward; a non-None return replaces the inputs."""
        _hook_counter[0] += 1
        self._forward_pre_hooks[_hook_counter[0]] = hook
        return RemovableHandle(self._forward_pre_hooks, _hook_counter[0])

    # ------------------------------------------------------------------ walking
    def children(self):
        for m in self._modules.values():
            if m is not None:
                yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def named_modules(self, prefix: str = "", memo=None):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mprefix}.{name}" if mprefix else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self):
        for mprefix, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mprefix}.{name}" if mprefix else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        """Set training mode here and, through each child's ``train``, in every sub-module
        (as PyTorch, so a subclass that overrides ``train`` is called)."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: 'mode' must be a bool; got {mode!r}")
        self.__dict__["training"] = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, flag: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    # -------------------------------------------------------------- state dict
    def state_dict(self) -> "OrderedDict[str, object]":
        """Name -> ndarray for every parameter and persistent buffer (arrays are copies)."""
        out = OrderedDict()
        for mprefix, m in self.named_modules():
            skip = m.__dict__.get("_non_persistent", ())
            for name, p in m._parameters.items():
                if p is not None:
                    out[f"{mprefix}.{name}" if mprefix else name] = p.data.copy()
            for name, b in m._buffers.items():
                if b is not None and name not in skip:
                    out[f"{mprefix}.{name}" if mprefix else name] = xp.array(b, copy=True)
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays into parameters and buffers by name, in place.

        Checks everything before changing anything: with ``strict`` a missing or
        unexpected key is an error, and a mis-shaped array always is. Returns
        ``(missing_keys, unexpected_keys)``. Accepts ndarrays, Tensors, or
        anything with ``.detach().cpu().numpy()`` (a torch tensor).
        """
        targets = {}
        for mprefix, m in self.named_modules():
            skip = m.__dict__.get("_non_persistent", ())
            for name, p in m._parameters.items():
                if p is not None:
                    targets[f"{mprefix}.{name}" if mprefix else name] = (m, name, "param")
            for name, b in m._buffers.items():
                if b is not None and name not in skip:
                    targets[f"{mprefix}.{name}" if mprefix else name] = (m, name, "buffer")
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: keys do not match {type(self).__name__} (nothing was loaded): "
                f"missing {missing or 'none'} (in the model, not in the state dict), "
                f"unexpected {unexpected or 'none'} (in the state dict, not in the model); "
                f"pass strict=False to load the keys that match"
            )
        arrays, bad = {}, []
        for k, (m, name, kind) in targets.items():
            if k not in state_dict:
                continue
            cur = m._parameters[name].data if kind == "param" else xp.asarray(m._buffers[name])
            try:
                arr = _to_array(state_dict[k])
                if arr.shape == cur.shape:
                    # convert now, so a value that cannot be converted fails before any write
                    arr = arr.astype(cur.dtype, copy=False)
            except (TypeError, ValueError) as e:
                bad.append(f"{k}: expected an array of shape {cur.shape}, got {type(state_dict[k]).__name__} ({e})")
                continue
            if arr.shape != cur.shape:
                bad.append(f"{k}: expected {cur.shape}, got {arr.shape}")
            arrays[k] = arr
        if bad:
            raise ValueError(
                f"load_state_dict: mis-shaped entries for {type(self).__name__} (model shape vs state dict "
                f"shape; nothing was loaded): " + "; ".join(bad)
            )
        for k, arr in arrays.items():
            m, name, kind = targets[k]
            if kind == "param":
                m._parameters[name].data[...] = arr
            else:
                b = m._buffers[name]
                if isinstance(b, xp.ndarray) and b.ndim > 0:
                    b[...] = arr
                else:
                    m.__dict__[name] = m._buffers[name] = xp.array(arr, dtype=xp.asarray(b).dtype)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------- dtype
    def to(self, dtype) -> "Module":
        """Cast floating parameters and buffers to ``dtype`` (e.g. numpy.float64 for gradient checks)."""
        dt = xp.dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.data.dtype.kind == "f":
                    p.data = p.data.astype(dt)
                    if p.grad is not None:
                        p.grad = p.grad.astype(dt)
            for name, b in list(m._buffers.items()):
                if isinstance(b, xp.ndarray) and b.dtype.kind == "f":
                    m.__dict__[name] = m._buffers[name] = b.astype(dt)
        return self

    def double(self) -> "Module":
        return self.to(xp.float64)

    def float(self) -> "Module":
        return self.to(xp.float32)

    # ---------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            lines = [f"{type(self).__name__}({self.extra_repr()}"]
            for name, m in self._modules.items():
                sub = repr(m).replace("\n", "\n  ")
                lines.append(f"  ({name}): {sub}")
            return "\n".join(lines) + "\n)"
        return lines[0] + ")"


def _to_array(value):
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, xp.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    return xp.asarray(value)
