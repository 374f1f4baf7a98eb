"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

As in PyTorch, an optimizer holds ``param_groups`` (a list of dicts, each with
``"params"`` and its hyper-parameters such as ``"lr"``) and ``state`` (a dict
from parameter to a dict of named ndarrays and numbers, e.g.
``{"step": 3, "exp_avg": ndarray}``). A subclass validates its
hyper-parameters in ``_validate_group`` and updates one group in
``_step_group``; the base ``step()`` runs the optional closure and calls it
for every group. Schedulers change ``group["lr"]`` between steps; the rules
read it afresh at every step.

Update rules write into the parameters and their state in place. The
temporaries a rule needs come from ``scratch(p, i)``: two flat work buffers
per dtype, sized to the largest parameter and reused for every parameter and
every step, so a step allocates no parameter-sized arrays. They are not part
of the state and never saved.

Fused step (``flat_step``): for a group of small parameters, running the rule
once per parameter costs more in per-call overhead than in arithmetic (a tiny
MLP's Adam step is ~60 NumPy calls on arrays of a few hundred numbers). Then
the group's parameters live in one flat buffer (a parameter's array is moved
there, as a view with the same values, when nothing else refers to it; else it
is copied in and back around the update, so an array a caller holds keeps its
identity), the gradients are gathered into another, and the same rule runs
once on the whole buffer. The state
arrays (momentum, moments) live in flat buffers too; each parameter's
``state[p][name]`` is a view into them, so ``state_dict`` and per-parameter
reads see the same numbers. The rule is elementwise, so the result is the
per-parameter update bit for bit. A step where some gradient is missing
falls back to the per-parameter loop (on the same state views).

Ranges (``_run_split``): on the per-parameter path, a parameter of at least
``split_min_elements`` is updated in contiguous ranges of at most
``chunk_elements``, so that the rule's passes find the range's arrays in cache;
``threads`` (None by default: all the threads NumPy's BLAS is allowed, for parameters
of ``thread_min_elements`` and more, once OpenBLAS's idle spin is short; 1: none) lets
the ranges run on those threads. Elementwise
rules make this the whole-array update bit for bit.
"""
from __future__ import annotations

import math
import sys
import weakref

from ..backend import blas_threads, run_in_threads, shorten_blas_spin, xp
from ..tensor import EXCLUSIVE_REFCOUNT, Tensor, enable_grad


def check_number(owner: str, name: str, value, low=None, high=None, low_open=False, high_open=False):
    """Validate a hyper-parameter: a real number in [low, high] (or open ends); else a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)) or math.isnan(value):
        raise ValueError(f"{owner}: '{name}' must be a number; got {value!r}")
    bad = (low is not None and (value < low or (low_open and value == low))) or (
        high is not None and (value > high or (high_open and value == high)))
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(
            f"{owner}: '{name}' must be in {lo}{'-inf' if low is None else low}, "
            f"{'inf' if high is None else high}{hi}; got {value!r}"
        )
    return value


def check_flag(owner: str, name: str, value) -> bool:
    """Validate a boolean option (``nesterov``, ``amsgrad``, ...): a bool, not a truthy number."""
    if not isinstance(value, (bool, xp.bool_)):
        raise ValueError(f"{owner}: '{name}' must be True or False; got {value!r}")
    return bool(value)


class Optimizer:
    """Base class. ``params`` is an iterable of Tensors or of dicts (parameter groups).

    ``Optimizer(params, defaults)``: each group gets the ``defaults`` it does
    not override, as in ``torch.optim.Optimizer``:
    ``SGD([{"params": body}, {"params": head, "lr": 1e-2}], lr=1e-3)``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        self._scratch: dict = {}
        self._flat: dict = {}
        self._flat_buffers = weakref.WeakValueDictionary()
        self._split_scratch: list = []
        self._split_seen: set = set()  # ids of the state dicts whose parameter has had a whole first step
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: 'params' must be an iterable of Tensors or dicts; got a single Tensor")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: 'params' is an empty list; the optimizer has nothing to update")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a dict with ``"params"`` and optional overrides of the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}.add_param_group: 'group' must be a dict with a 'params' key; got {group!r:.80}")
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: every parameter must be a Tensor; parameter {i} is a {type(p).__name__}")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{name}: parameters must be floating; parameter {i} has dtype {p.data.dtype}")
        first = {}
        for i, p in enumerate(ps):
            if id(p) in first:
                raise ValueError(
                    f"{name}: parameter {i} (shape {p.shape}) is the same tensor as parameter {first[id(p)]} "
                    f"of its group; pass each parameter once"
                )
            first[id(p)] = i
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(ps):
            if id(p) in seen:
                raise ValueError(
                    f"{name}: parameter {i} (shape {p.shape}) of the new group is already in another "
                    f"parameter group; pass each parameter once"
                )
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr", "name"}
        if unknown:
            raise ValueError(
                f"{name}: unknown option(s) {sorted(unknown)} in a parameter group; "
                f"allowed: {sorted(self.defaults)}"
            )
        new = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}, "params": ps}
        self._validate_group(new)
        self.param_groups.append(new)

    def _validate_group(self, group: dict) -> None:
        """Subclasses check their hyper-parameters here (called for every group)."""
        check_number(type(self).__name__, "lr", group["lr"], low=0.0)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (default, as PyTorch) or fill them with zeros."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    # -------------------------------------------------------------------- step
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given.

        ``closure`` re-evaluates the model and returns the loss (it runs with
        gradient recording on, before the update), as in PyTorch.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        """Update the parameters of one group; parameters whose ``grad`` is None are skipped."""
        raise NotImplementedError(f"{type(self).__name__} does not define _step_group")

    def scratch(self, p, i: int = 0):
        """Work buffer ``i`` (0 or 1) viewed with the shape and dtype of ``p`` (an ndarray or Tensor).

        The buffers are shared by all parameters of a dtype and overwritten by
        the next call; a rule must be done with one before using it for the
        next parameter.
        """
        return _scratch_view(self._scratch, p, i)

    def apply_rule(self, group: dict, rule, **hyper) -> None:
        """Run an update ``rule(param, grad, state, **hyper, scratch=...)`` over a group:
        fused over one flat buffer when the group qualifies (``flat_step``), else once per
        parameter that has a gradient (parameters without one keep their state untouched)."""
        if self.flat_step(group, rule, **hyper):
            return
        state, scratch = self.state, self.scratch
        big = None
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            s = state.get(p)
            if s is None:
                s = state[p] = {}
            if p.data.size >= self.split_min_elements:
                if big is None:
                    big = []
                big.append((p.data, g, s))
            else:
                rule(p.data, g, s, **hyper, scratch=scratch)
        if big:
            self._run_split(rule, big, hyper)

    # ------------------------------------------------------- threaded step
    # Parameters of at least this many elements are updated range by range, by all the
    # threads NumPy's BLAS may use (see ``_run_split``). Below it the hand-off to a worker
    # (~10 µs) costs more than the half of the arithmetic it takes over.
    split_min_elements = 1 << 16
    # the longest range one thread updates in one go (1 MiB of float32 per array)
    chunk_elements = 1 << 18
    # Threads a step may use for large parameters: 1, at most n, or None (the default) for as
    # many as NumPy's BLAS is allowed; never more than that budget. None uses the threads only
    # for parameters of thread_min_elements and more, and only once OpenBLAS's idle spin is
    # short (``backend.shorten_blas_spin``, asked for then): the update runs right after the
    # backward's threaded products, and while OpenBLAS's worker spins on the other core the
    # second range waits for it. Measured (two threads, alternating blocks in one process):
    # the large MLP's (784-1024x3-10, batch 256) Adam step 1.08x as fast as with 1 (34.9 against
    # 29.6 ms median), SGD-momentum 1.03x; peak resident memory +3 MiB (each thread's work
    # buffers; 38.5 against 35.6 MiB added for the large Adam run, PyTorch's 64-78).
    # (Session 3 saw +16 MiB and blamed huge pages; the cause was a worker thread holding its
    # last job, and with it the step's gradients, until the next step: ``backend._Pool``.)
    threads = None
    # With ``threads = None``, the smallest parameter the threads share: below it the hand-off
    # costs more than the second thread saves (medium MLP, 200k-element weights: its SGD step
    # 1.47 against 1.36 ms with threads, Adam 1.69 against 1.59 ms; the large MLP's 0.8-1M:
    # Adam 28.6 against 30.0 ms). An explicit count applies to every parameter of
    # split_min_elements and more.
    thread_min_elements = 1 << 19

    def _run_split(self, rule, items, hyper) -> None:
        """Run ``rule`` on ``items`` [(param array, grad, state)], each parameter cut into
        contiguous ranges: ``k`` blocks, one per thread (``threads``, capped by the number NumPy's
        BLAS is allowed, ``blas_threads``: the user's budget; the caller is thread 0, and 1
        means no other thread is used), each block made of ranges of at most
        ``chunk_elements`` run one after the other.

        Why ranges: NumPy runs one pass at a time over a whole array, so an update of
        1 M float32 makes its 4 (SGD-momentum) to 12 (Adam) passes through memory; ranges
        of 256 k elements keep a range's param, grad, state and work arrays in the L2/L3
        cache across the passes (measured, one thread, 1 M elements: SGD-momentum 0.60 ->
        0.45 ms, Adam 2.03 -> 1.84 ms). Why threads: NumPy releases the GIL inside its array
        loops, so the k blocks run at once, as PyTorch's elementwise kernels use its
        intra-op threads.

        The rules are elementwise, so range by range is the whole update bit for bit. Each
        range gets its own state dict of views into the parameter's state arrays and each
        thread its own work buffers; numbers (``step``) are copied back, and a state array
        a rule rebinds is put together from its ranges. A parameter's first step, which
        creates its state arrays, runs whole (``_split_ranges``).
        """
        want = self.threads
        budget = 1 if want == 1 else blas_threads()
        if want is None:
            # only parameters of thread_min_elements and more go to the threads, and only while
            # OpenBLAS's idle spin is short (else the second range waits for its spinning worker)
            alone = [it for it in items if it[0].size < self.thread_min_elements]
            if len(alone) < len(items) and budget > 1 and shorten_blas_spin():
                if alone:
                    items = [it for it in items if it[0].size >= self.thread_min_elements]
                    self._split_ranges(rule, alone, hyper, 1)
            else:
                want = 1
        k = 1 if want == 1 else min(budget, _MAX_SPLIT if want is None else int(want), _MAX_SPLIT)
        self._split_ranges(rule, items, hyper, k)

    def _split_ranges(self, rule, items, hyper, k) -> None:
        """``_run_split``'s work on ``items`` with ``k`` threads."""
        chunk = max(1, int(self.chunk_elements))
        plans = []
        for d, g, s in items:
            per = -(-d.size // (chunk * k))  # ranges per thread
            # A parameter's first step runs whole: a rule creates its state arrays then (momentum,
            # moments), and made range by range they would be put together afterwards, holding
            # the state twice at that moment (the large MLP's Adam run: 50.2 against 35.6 MiB
            # of peak resident memory added).
            first = not s and id(s) not in self._split_seen
            if first:
                self._split_seen.add(id(s))
            ranges = _split(d, g, s, per * k) if per * k > 1 and not first else None
            if ranges is None:
                rule(d, g, s, **hyper, scratch=self.scratch)
            else:
                plans.append((d, s, ranges, per))
        if not plans:
            return
        stores = self._split_scratch
        while len(stores) < k:
            stores.append({})

        def job(j):
            store = stores[j]

            def scratch(p, i=0):
                return _scratch_view(store, p, i)

            for _d, _s, ranges, per in plans:
                for pr, gr, sr, _views in ranges[j * per:(j + 1) * per]:
                    rule(pr, gr, sr, **hyper, scratch=scratch)

        if k == 1:
            job(0)
        else:
            run_in_threads([lambda j=j: job(j) for j in range(k)])
        for d, s, ranges, _per in plans:
            _merge_state(d, s, ranges)

    # ------------------------------------------------------------- fused step
    # Above this many elements in a group, the gradient gather of the fused step costs
    # more than the per-parameter calls it saves: measured (one thread) at ~100k elements the
    # two break even for SGD-momentum and the fused Adam is 8% faster; at 270k both lose 10-15%.
    flat_max_elements = 1 << 17

    def flat_step(self, group: dict, rule, **hyper) -> bool:
        """Run ``rule(param, grad, state, **hyper, scratch=...)`` once over the whole group,
        flattened; returns False (and does nothing) when the group does not qualify:
        a missing gradient, mixed dtypes, too many elements, or per-parameter states
        that disagree (e.g. different step counts)."""
        key = id(group)
        plan = self._flat.get(key)
        if plan is None or plan.group is not group or plan.owner is not self.state:
            plan = self._flat[key] = _FlatPlan.build(self, group)
        if plan.n == 0:
            return False
        params = group["params"]
        if len(params) != plan.n:
            plan = self._flat[key] = _FlatPlan.build(self, group)
            if plan.n == 0:
                return False
        grads, views, loose = plan.grads, plan.param_views, plan.loose
        i = 0
        for p, q in zip(params, plan.params):
            g = p.grad
            if p is not q or g is None or g.shape != views[i].shape:
                self._flat.pop(key, None)  # rebuilt (states re-gathered) at the next fused step
                return False
            grads[i] = g.reshape(-1)
            d = p.data
            if d is not views[i]:
                if d.shape != views[i].shape or d.dtype != plan.param.dtype:
                    self._flat.pop(key, None)  # e.g. Module.to(float64): replan at the next step
                    return False
                if not loose:
                    loose = plan.loose = []
                if i not in loose:
                    loose.append(i)  # rebound by someone else: gathered and written back from now on
                views[i][...] = d
            i += 1
        xp.concatenate(grads, out=plan.grad)
        rule(plan.param, plan.grad, plan.state, **hyper, scratch=self.scratch)
        if loose:
            for i in loose:
                params[i].data[...] = views[i]
            # a loose array nothing else holds any more (the graph that used it is gone) moves in
            plan.loose = [i for i in loose if not _adopt(params[i], views[i], self._flat_buffers)]
        plan.sync()
        return True

    # -------------------------------------------------------------- state dict
    def state_dict(self) -> dict:
        """``{"state": {index: {name: ndarray | number}}, "param_groups": [...]}``.

        Parameters are referred to by their position across groups, as in
        PyTorch, so the dict loads into a fresh optimizer over other tensors.
        Arrays are copies; the dict holds only ndarrays, numbers, bools,
        strings, tuples and lists, so it serializes without pickle.
        """
        index = {}
        groups = []
        for g in self.param_groups:
            entry = {k: v for k, v in g.items() if k != "params"}
            entry["params"] = []
            for p in g["params"]:
                index[id(p)] = len(index)
                entry["params"].append(index[id(p)])
            groups.append(entry)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                s = self.state.get(p)
                if s:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, xp.ndarray) else v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state; the group sizes must match.

        Arrays are copied into the parameters' dtype; integer 0-d arrays (a
        ``step`` read back from a file) become Python ints again.
        """
        name = type(self).__name__
        try:
            groups, state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: 'state_dict' needs 'state' and 'param_groups'") from None
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state has {len(groups)} parameter groups, "
                f"the optimizer {len(self.param_groups)}"
            )
        params = []
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: a group has {len(theirs['params'])} parameters in "
                    f"the state and {len(mine['params'])} in the optimizer"
                )
            params.extend(zip(mine["params"], theirs["params"]))
        new_state = {}
        for p, idx in params:
            s = state.get(idx, state.get(str(idx)))
            if s is None:
                continue
            new_state[p] = {k: _state_value(name, k, v, p) for k, v in s.items()}
        new_groups = []
        for mine, theirs in zip(self.param_groups, groups):
            g = {**mine, **{k: v for k, v in theirs.items() if k != "params"}}
            if isinstance(g.get("betas"), list):
                g["betas"] = tuple(g["betas"])
            self._validate_group(g)
            new_groups.append(g)
        for mine, g in zip(self.param_groups, new_groups):
            mine.update(g)
        self.state = new_state
        self._flat = {}
        self._split_seen = set()  # the new state dicts' ids may repeat old ones

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {opts}")
        return "\n".join(lines) + "\n)"


class _FlatPlan:
    """The flat layout of one parameter group for ``Optimizer.flat_step``.

    ``param`` is one buffer holding every parameter of the group. A parameter whose
    array nothing else refers to is moved into it: its ``.data`` becomes a view of the
    buffer (same values, shape and dtype), so the update needs no copies. A parameter
    whose array is held elsewhere (a user's reference, a tied buffer) keeps its array,
    which is copied into the buffer before the update and back after it ("loose").
    ``n == 0`` marks a group that does not qualify (checked again only when the plan is
    rebuilt: after ``load_state_dict`` or a step that fell back).
    """

    __slots__ = ("group", "owner", "n", "params", "grads", "grad", "param", "param_views", "loose", "state",
                 "pstates", "layout", "known")

    @classmethod
    def build(cls, opt, group):
        plan = cls()
        plan.group, plan.owner, plan.n = group, opt.state, 0
        params = list(group["params"])
        if not params:
            return plan
        dtype = params[0].data.dtype
        total = 0
        for p in params:
            if p.data.dtype != dtype or p.grad is None:
                return plan
            total += p.data.size
        if total > opt.flat_max_elements or len({id(p.data) for p in params}) != len(params):
            return plan
        layout, o = [], 0
        for p in params:
            layout.append((o, o + p.data.size, p.data.shape))
            o += p.data.size
        # the per-parameter states must agree on their keys and their numbers (e.g. "step")
        states = [opt.state.get(p) for p in params]
        flat_state = {}
        if any(states):
            if not all(states) or len({tuple(sorted(st)) for st in states}) != 1:
                return plan
            for key, v in states[0].items():
                if isinstance(v, xp.ndarray):
                    if any(not isinstance(st[key], xp.ndarray) or st[key].shape != p.data.shape
                           or st[key].dtype != dtype for st, p in zip(states, params)):
                        return plan
                    flat_state[key] = xp.concatenate([st[key].reshape(-1) for st in states])
                else:
                    if any(st[key] != v for st in states):
                        return plan
                    flat_state[key] = v
        else:
            states = [opt.state.setdefault(p, {}) for p in params]
        plan.params, plan.n, plan.layout = params, len(params), layout
        plan.grads = [None] * len(params)
        plan.grad = xp.empty(total, dtype=dtype)
        plan.param = xp.empty(total, dtype=dtype)
        opt._flat_buffers[id(plan.param)] = plan.param
        plan.param_views = [plan.param[a:b].reshape(shape) for a, b, shape in layout]
        plan.loose = []
        for i, (p, view) in enumerate(zip(params, plan.param_views)):
            view[...] = p.data
            if not _adopt(p, view, opt._flat_buffers):
                plan.loose.append(i)
        plan.state, plan.pstates, plan.known = flat_state, states, {}
        plan.sync()
        return plan

    def sync(self):
        """Point each parameter's state at views of the flat state (new arrays only) and copy
        the numbers (``step``) over."""
        known = self.known
        for key, v in self.state.items():
            if isinstance(v, xp.ndarray):
                if known.get(key) is not v:
                    known[key] = v
                    for st, (a, b, shape) in zip(self.pstates, self.layout):
                        st[key] = v[a:b].reshape(shape)
            else:
                for st in self.pstates:
                    st[key] = v


def _scratch_view(store: dict, p, i: int):
    """Work buffer ``i`` of ``store`` viewed with the shape and dtype of ``p`` (see ``Optimizer.scratch``)."""
    a = p.data if isinstance(p, Tensor) else p
    key = (a.shape, a.dtype, i)
    view = store.get(key)
    if view is None:
        flat = store.get((a.dtype, i))
        if flat is None or flat.size < a.size:
            # a bigger buffer: the views of the old one are dropped with it
            for k in [k for k in store if len(k) == 3 and k[1] == a.dtype and k[2] == i]:
                del store[k]
            flat = store[(a.dtype, i)] = xp.empty(a.size, dtype=a.dtype)
        view = store[key] = flat[: a.size].reshape(a.shape)
    return view


# ------------------------------------------------------------------ threads
_MAX_SPLIT = 8




def _split(d, g, s, k):
    """[(param range, grad range, state dict of ranges, its views)] * k for ``_run_split``, or None when an
    array is not C-contiguous (a range would then be a copy, not a view)."""
    if not d.flags.c_contiguous or d.dtype.kind != "f" or g.shape != d.shape:
        return None
    n = d.size
    pf = d.reshape(-1)
    gf = g.reshape(-1)
    arrays = {}
    for key, v in s.items():
        if isinstance(v, xp.ndarray):
            if v.shape != d.shape or not v.flags.c_contiguous:
                return None
            arrays[key] = v.reshape(-1)
    bounds = [n * j // k for j in range(k + 1)]
    out = []
    for j in range(k):
        a, b = bounds[j], bounds[j + 1]
        sr = {key: (arrays[key][a:b] if key in arrays else v) for key, v in s.items()}
        out.append((pf[a:b], gf[a:b], sr, {key: sr[key] for key in arrays}))
    return out


def _merge_state(d, s, ranges):
    """Numbers back from range 0; arrays a rule created or rebound put together from the ranges."""
    first = ranges[0][2]
    for key, v in first.items():
        if not isinstance(v, xp.ndarray):
            s[key] = v
            continue
        old = s.get(key)
        if all(r[2][key] is r[3].get(key) for r in ranges):
            continue  # updated in place through the views
        s[key] = xp.concatenate([r[2][key] for r in ranges]).reshape(d.shape)


def _adopt(p, view, buffers) -> bool:
    """Make ``view`` (which holds the same values) ``p``'s array if nothing but ``p`` refers to
    ``p.data``, a plain array that owns its memory or is a view of an earlier plan's buffer
    (``buffers``: id -> buffer, weakly held), so that the change is invisible."""
    d = p.data
    if d.__class__ is not xp.ndarray or not d.flags.writeable:
        return False
    if d.base is not None and buffers.get(id(d.base)) is not d.base:
        return False
    # references: p's slot and the local ``d`` (plus what getrefcount itself adds)
    if sys.getrefcount(d) != EXCLUSIVE_REFCOUNT + 1:
        return False
    p.data = view
    return True


def _state_value(owner: str, key: str, v, p: Tensor):
    """A state entry read from a state dict, as the optimizer keeps it (a fresh array or a number)."""
    if not isinstance(v, (xp.ndarray, list)):
        return v
    arr = xp.asarray(v)
    if arr.ndim == 0 and (arr.dtype.kind in "iub" or p.data.ndim != 0):
        return arr.item()
    if arr.dtype.kind == "f":
        arr = xp.array(arr, dtype=p.data.dtype, copy=True)
    else:
        arr = xp.array(arr, copy=True)
    if arr.shape != p.data.shape:
        raise ValueError(
            f"{owner}.load_state_dict: state {key!r} has shape {arr.shape}, its parameter {p.data.shape}"
        )
    return arr


def grad_with_decay(param, grad, weight_decay: float, maximize: bool, scratch):
    """g' = ±g + λθ: the gradient (negated to ascend when ``maximize``) plus coupled L2 decay.

    This is the gradient of J(θ) + (λ/2)‖θ‖² (seed 001/002 "L2 regularization"),
    the form PyTorch's ``weight_decay`` adds to every rule except AdamW's.
    Returns ``grad`` itself (never written to) when there is nothing to add,
    else the result in the work buffer ``scratch(param, 0)``.
    """
    if not weight_decay:
        if not maximize:
            return grad
        return xp.negative(grad, out=scratch(param, 0))
    out = scratch(param, 0)
    xp.multiply(param, weight_decay, out=out)
    if maximize:
        xp.subtract(out, grad, out=out)
    else:
        out += grad
    return out
