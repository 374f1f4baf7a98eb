"""Sequential and ModuleList: children named "0", "1", ... as in PyTorch."""
from __future__ import annotations

from ..functional.conv import conv_nd
from ..functional.linear import linear_relu
from .activation import ReLU
from .conv import Conv1d, Conv2d
from .linear import Linear
from .module import Module


class Sequential(Module):
    """Calls its children in order: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                self.add_module(str(name), _check(m, name))
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), _check(m, i))

    def forward(self, x):
        # A Linear or Conv1d/Conv2d followed by a ReLU runs as one fused node (functional.linear_relu,
        # conv_nd(relu=True): the same numbers, one graph node and one activation array fewer),
        # unless either has hooks.
        mods = tuple(self._modules.values())
        d = self.__dict__
        if d.get("_plan_key") != mods:
            d["_plan_key"], d["_plan"] = mods, _fusion_plan(mods)
        for a, b, into_linear in d["_plan"]:
            if b is None:
                x = a(x)
            elif a._forward_hooks or a._forward_pre_hooks or b._forward_hooks or b._forward_pre_hooks:
                x = b(a(x))
            elif type(a) is Linear:
                x = linear_relu(x, a.weight, a.bias, feature_major=into_linear)
            else:
                x = conv_nd(type(a).__name__, x, a.weight, a.bias, a.stride, a._pads, a.dilation, a.groups,
                            a._nd, relu=True)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):
            # keep the children's names, as torch does, so a slice's state_dict keys match torch's
            return Sequential(dict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module) -> "Sequential":
        self.add_module(str(len(self._modules)), _check(module, len(self._modules)))
        return self

    def insert(self, index: int, module) -> "Sequential":
        """Insert ``module`` before position ``index``; later children are renumbered."""
        mods = list(self._modules.values())
        mods.insert(index, _check(module, index))
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (named "0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module) -> "ModuleList":
        self.add_module(str(len(self._modules)), _check(module, len(self._modules)))
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return ModuleList(mods[i]) if isinstance(i, slice) else mods[i]

    def __setitem__(self, i, module):
        name = list(self._modules)[i]
        self.add_module(name, _check(module, i))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


def _check(m, where):
    if not isinstance(m, Module):
        raise TypeError(f"entry {where!r} must be a Module; got {type(m).__name__}")
    return m


_FUSES_RELU = (Linear, Conv1d, Conv2d)


def _fusion_plan(mods):
    """[(module, None, False) | (layer, relu, into_linear)]: each plain Linear, Conv1d or Conv2d
    directly followed by a plain ReLU is paired (exact types only, so a subclass's own forward is
    always called); ``into_linear``: a Linear pair whose output goes straight into another plain
    Linear, which may then be held feature-major (``functional.linear.FEATURE_MAJOR``)."""
    plan, i = [], 0
    while i < len(mods):
        a = mods[i]
        b = mods[i + 1] if i + 1 < len(mods) else None
        if (type(a) in _FUSES_RELU and type(b) is ReLU and "forward" not in a.__dict__
                and "forward" not in b.__dict__):
            c = mods[i + 2] if i + 2 < len(mods) else None
            into_linear = type(a) is Linear and type(c) is Linear and "forward" not in c.__dict__
            plan.append((a, b, into_linear))
            i += 2
        else:
            plan.append((a, None, False))
            i += 1
    return plan
