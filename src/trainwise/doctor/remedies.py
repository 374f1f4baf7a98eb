"""Remedies: actions that change the model, the optimizer or the run, and the repair loop.

Each remedy is a function ``fn(ctx) -> str | None`` that changes the attempt
in ``ctx`` (a ``RepairContext``: a fresh copy of the model, optimizer and
scheduler as they were when training began, plus the run settings) and
returns one sentence saying what it changed, or None when it does not apply
(e.g. "switch sigmoid/tanh to ReLU" on a model without sigmoid or tanh).
``REMEDIES`` maps the names used in ``CODES[...]["remedies"]`` to them:

=====================  =====================================================================
rollback               restart from the weights of the last healthy epoch (with another remedy)
reinit                 re-initialize each layer to match its activation: He (ReLU family),
                       Xavier (tanh, gain 5/3; sigmoid, gain 1), LeCun (SELU); biases 0
switch_to_relu         hidden Sigmoid/Tanh -> ReLU, the layers before them re-initialized with He
switch_to_leaky_relu   hidden ReLU -> LeakyReLU(0.01): a negative slope cannot die
insert_batchnorm       BatchNorm after each hidden Linear/Conv (seed 002 "Batch Normalization")
add_residual           wrap each equal-width [Linear, activation] block in Residual: H(x) = F(x) + x
clip_gradients         clip the global gradient norm at 1.0 (seed 002: norm clipping 1.0-5.0)
scale_lr_down          learning rate / 10 (every group and the scheduler's base rates)
scale_lr_up            learning rate x 10, at most to the top of the optimizer's usual range;
                       from below that range, to its middle (Adam: 1e-3)
lr_find                set the learning rate to lr_find's steepest-descent suggestion (Smith 2017)
add_dropout            Dropout(0.3) after each hidden activation, or +0.2 where there is one
add_weight_decay       weight decay 0.1 (AdamW; decoupled) or 1e-3 (others), seed 002's ranges
early_stop             EarlyStopping(val_loss, restore_best_weights=True) (seed 002)
standardize_inputs     a first layer x -> (x − μ)/σ with μ, σ from the training inputs (seed 003)
remove_final_softmax   drop the Softmax/Sigmoid before a loss that applies it itself
lower_input_dropout    input Dropout p -> 0.2 (seed 002: 0.1-0.2 on inputs)
reduce_regularization  halve dropout, weight decay / 10, L1/L2 / 10 (seed 003 "Decrease regularization")
train_longer           twice the epochs (seed 003 "Increase the duration of training")
widen_model            hidden Linear layers under 64 units get 4x the units, at least 64 (seed 003
                       "Increase model complexity"; a plain Linear chain only)
reweight_classes       class weights n/(k·n_c) in the cross-entropy when the training classes are
                       imbalanced > 10x (scikit-learn's class_weight="balanced"; King & Zeng 2001)
search_lr_down         try the learning rate x1, x0.1, x0.01, x0.001 for a quarter of the epochs on
                       copies, keep the best (ties: lower training loss); runs after the other remedies
search_lr_up           the same search upward (x1, x10, x100, x1000), within the optimizer's usual range
resplit_stratified     pool training and validation and split again at random, stratified, same
                       validation size (only when the validation set, not a skewed training set, is
                       at fault); the repaired run is trained and scored on the new split
=====================  =====================================================================

``repair(trainer, doctor, ...)`` is the loop behind ``Trainer(..., doctor="repair")``:
after the first (watched) run it takes the findings of warning or worse
(and an overfitting that is info only because early stopping cut it short),
worst first, applies to a fresh copy of the initial model the first untried
remedy of each that applies, retrains, and keeps the change if the score
(validation accuracy, else −validation loss; the training split without
validation data) improved. It repeats up to ``max_rounds`` times and leaves
the best model in the objects the user passed (their contents are replaced
in place). ``doctor.repairs`` records every round: what changed and what
it bought. AUTOTRAINER (Zhang et al., ICSE 2021) repairs the same way:
detect, apply a ranked solution, retrain, keep it if it helps.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from ..backend import xp
from ..nn.module import Module
from ..tensor import Tensor
from .findings import severity_rank

__all__ = ["REMEDIES", "RepairContext", "InputStandardizer", "repair", "rebuild_optimizer", "apply_remedy"]


class InputStandardizer(Module):
    """x -> (x − μ)/σ with fixed μ, σ (buffers) learned from the training inputs (seed 003).

    The remedy ``standardize_inputs`` puts it first in the model, so the
    repaired model standardizes whatever it is given, at training and at
    prediction time. σ below 1e-8 (a constant feature) is replaced by 1.

    Example: ``InputStandardizer(X_train.mean(0), X_train.std(0))``.
    """

    def __init__(self, mean, std):
        super().__init__()
        mean, std = xp.asarray(mean, dtype=xp.float32), xp.asarray(std, dtype=xp.float32)
        self.register_buffer("mean", mean)
        self.register_buffer("std", xp.where(std > 1e-8, std, 1.0).astype(xp.float32))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        return Tensor((x.data - self.mean.astype(x.data.dtype, copy=False)) / self.std.astype(x.data.dtype, copy=False))


@dataclass
class RepairContext:
    """One repair attempt: fresh model/optimizer/scheduler copies and the run settings remedies may change."""

    model: object
    optimizer: object
    scheduler: object = None
    loss_fn: object = None
    train: object = None
    val: object = None
    epochs: int = 1
    clip_grad_norm: float | None = None
    l1: float = 0.0
    l2: float = 0.0
    callbacks: list = field(default_factory=list)
    extra_callbacks: list = field(default_factory=list)
    healthy_state: dict | None = None
    healthy_epoch: int | None = None
    generator: object = None
    structure_changed: bool = False
    applied: list = field(default_factory=list)
    batch_size: int | None = 32
    memo: dict = field(default_factory=dict)  # results of costly remedies (a search), so a kept one repeats
    data_changed: str | None = None  # what a data remedy did to the split (the score is then on the new one)


# ------------------------------------------------------------------ helpers
def _leaves(model):
    return [(n, m) for n, m in model.named_modules() if not m._modules]


def _parents(model):
    """id(module) -> (parent module, attribute name) for every sub-module."""
    out = {}
    for _, m in model.named_modules():
        for name, c in m._modules.items():
            if c is not None:
                out[id(c)] = (m, name)
    return out


def _is_weighted(m) -> bool:
    w = m._parameters.get("weight")
    return w is not None and w.data.ndim >= 2


def _chain(model):
    """[(name, module, activation module or None)] for the weighted layers, in order."""
    from .monitors import activation_kind

    chain = []
    for name, m in _leaves(model):
        if _is_weighted(m):
            chain.append([name, m, None])
        elif activation_kind(m) is not None and chain and chain[-1][2] is None:
            chain[-1][2] = m
    return [tuple(c) for c in chain]


def _init_layer(m, kind: str | None, generator) -> str:
    from .. import init

    w = m._parameters["weight"]
    if kind in ("relu", "elu", "gelu", "silu", "softplus"):
        init.kaiming_normal_(w, nonlinearity="relu", generator=generator)
        rule = "He"
    elif kind in ("leaky_relu", "prelu"):
        init.kaiming_normal_(w, a=0.01, nonlinearity="leaky_relu", generator=generator)
        rule = "He"
    elif kind == "tanh":
        init.xavier_normal_(w, gain=init.calculate_gain("tanh"), generator=generator)
        rule = "Xavier"
    elif kind == "selu":
        init.lecun_normal_(w, generator=generator)
        rule = "LeCun"
    else:  # sigmoid, or the output layer
        init.xavier_normal_(w, gain=1.0, generator=generator)
        rule = "Xavier"
    b = m._parameters.get("bias")
    if b is not None:
        init.zeros_(b)
    return rule


def _set_child(parent, name, module):
    setattr(parent, name, module)


def _rebuild_sequential(seq, modules):
    """Replace a Sequential's children by ``modules`` (renumbered 0..n-1)."""
    old = list(seq._modules)
    seq._modules.clear()
    for k in old:
        seq.__dict__.pop(k, None)
    for i, m in enumerate(modules):
        seq.add_module(str(i), m)


def rebuild_optimizer(optimizer, params):
    """A new optimizer of the same kind over ``params``, with the first group's hyper-parameters
    (lr, initial_lr, momentum, ...) and empty state; a Lookahead keeps its k and alpha."""
    from ..optim.lookahead import Lookahead

    if isinstance(optimizer, Lookahead):
        return Lookahead(rebuild_optimizer(optimizer.base_optimizer, params), k=optimizer.k, alpha=optimizer.alpha)
    import inspect

    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    accepted = inspect.signature(type(optimizer).__init__).parameters
    new = type(optimizer)(list(params), **{k: v for k, v in optimizer.defaults.items() if k in accepted})
    for g in new.param_groups:
        g.update(group)
    return new


def _replace_in_place(old, new):
    """Make ``old`` (an object the user holds) become ``new``: same attributes, same behaviour."""
    old.__dict__.clear()
    old.__dict__.update(new.__dict__)


def _scale_scheduler(s, f):
    if s is None:
        return
    for attr in ("base_lrs", "max_lrs", "initial_lrs"):
        if isinstance(getattr(s, attr, None), list):
            setattr(s, attr, [v * f for v in getattr(s, attr)])
    if isinstance(getattr(s, "max_lrs", None), list) and isinstance(getattr(s, "min_lrs", None), list):
        s.min_lrs = [v * f for v in s.min_lrs]
    if isinstance(getattr(s, "_last_lr", None), list):
        s._last_lr = [v * f for v in s._last_lr]
    for child in getattr(s, "_schedulers", []) or []:
        _scale_scheduler(child, f)


def _scale_lr(ctx, f):
    for g in ctx.optimizer.param_groups:
        g["lr"] = g["lr"] * f
        if "initial_lr" in g:
            g["initial_lr"] = g["initial_lr"] * f
    _scale_scheduler(ctx.scheduler, f)


# ----------------------------------------------------------------- remedies
def rollback(ctx):
    # the healthy weights belong to the old model: useless once layers were re-initialized or changed
    if ctx.healthy_state is None or any(n == "reinit" or n in _STRUCTURAL for n in ctx.applied):
        return None
    try:
        ctx.model.load_state_dict(ctx.healthy_state)
    except (KeyError, ValueError):
        return None
    where = "the initial weights" if ctx.healthy_epoch is None else f"the weights after epoch {ctx.healthy_epoch + 1}"
    return f"rolled back to the last healthy checkpoint ({where})"


def _target_std(m, kind):
    """The standard deviation ``_init_layer`` would give layer ``m`` followed by activation ``kind``."""
    from .. import init

    fan_in, fan_out = init.calculate_fan_in_and_fan_out(m._parameters["weight"])
    if kind in ("relu", "elu", "gelu", "silu", "softplus", "leaky_relu", "prelu"):
        return math.sqrt(2.0 / fan_in)
    if kind == "selu":
        return math.sqrt(1.0 / fan_in)
    gain = init.calculate_gain("tanh") if kind == "tanh" else 1.0
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def reinit(ctx):
    chain = _chain(ctx.model)
    if not chain:
        return None
    from .monitors import activation_kind

    # not applicable when every layer's init already matches its activation within a factor of 2
    off = []
    for name, m, act in chain:
        std, target = float(m._parameters["weight"].data.std()), _target_std(m, activation_kind(act) if act else None)
        if not (target / 2 <= std <= target * 2):
            off.append(name)
    if not off:
        return None
    rules = []
    for i, (name, m, act) in enumerate(chain):
        kind = activation_kind(act) if act is not None else None
        rules.append(f"{name}:{_init_layer(m, kind, ctx.generator)}")
    return "re-initialized every layer to match its activation (" + ", ".join(rules) + ")"


def _switch(ctx, kinds, make, label):
    from .monitors import activation_kind

    parents = _parents(ctx.model)
    chain = _chain(ctx.model)
    switched = []
    for i, (name, m, act) in enumerate(chain[:-1]):  # hidden activations only: an output squash may be needed
        if act is None or activation_kind(act) not in kinds or id(act) not in parents:
            continue
        parent, attr = parents[id(act)]
        new = make()
        _set_child(parent, attr, new)
        _init_layer(m, activation_kind(new), ctx.generator)
        switched.append(name)
    if not switched:
        return None
    return f"switched the activations after layers {', '.join(switched)} to {label} (and re-initialized them with He)"


def switch_to_relu(ctx):
    from ..nn.activation import ReLU

    return _switch(ctx, ("sigmoid", "tanh"), ReLU, "ReLU")


def switch_to_leaky_relu(ctx):
    from ..nn.activation import LeakyReLU

    return _switch(ctx, ("relu",), lambda: LeakyReLU(0.01), "LeakyReLU(0.01)")


def insert_batchnorm(ctx):
    from ..nn.container import Sequential
    from ..nn.conv import Conv2d
    from ..nn.linear import Linear
    from ..nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm

    chain = _chain(ctx.model)
    parents = _parents(ctx.model)
    hidden = {id(m) for _, m, _ in chain[:-1]}
    done = []
    for _, seq in list(ctx.model.named_modules()):
        if not isinstance(seq, Sequential):
            continue
        mods = list(seq._modules.values())
        new, changed = [], False
        for j, m in enumerate(mods):
            new.append(m)
            nxt = mods[j + 1] if j + 1 < len(mods) else None
            if id(m) in hidden and not isinstance(nxt, (BatchNorm1d, BatchNorm2d, LayerNorm)):
                if isinstance(m, Linear):
                    new.append(BatchNorm1d(m.out_features))
                elif isinstance(m, Conv2d):
                    new.append(BatchNorm2d(m.out_channels))
                else:
                    continue
                changed = True
                done.append(next((n for n, mm, _ in chain if mm is m), "?"))
        if changed:
            _rebuild_sequential(seq, new)
    del parents
    if not done:
        return None
    ctx.structure_changed = True
    return f"inserted BatchNorm after layers {', '.join(done)}"


def add_residual(ctx):
    from ..nn.container import Sequential
    from ..nn.linear import Linear
    from ..nn.residual import Residual
    from .monitors import activation_kind

    done = []
    for _, seq in list(ctx.model.named_modules()):
        if not isinstance(seq, Sequential):
            continue
        mods = list(seq._modules.values())
        out, j, changed = [], 0, False
        while j < len(mods):
            m = mods[j]
            if isinstance(m, Linear) and m.in_features == m.out_features:
                k = j + 1
                while k < len(mods) and not _is_weighted(mods[k]) and not mods[k]._modules:
                    k += 1
                block = mods[j:k]
                if k < len(mods) and any(activation_kind(b) is not None for b in block[1:]):
                    out.append(Residual(Sequential(*block)))
                    done.append(str(j))
                    changed = True
                    j = k
                    continue
            out.append(m)
            j += 1
        if changed:
            _rebuild_sequential(seq, out)
    if not done:
        return None
    ctx.structure_changed = True
    return f"wrapped {len(done)} equal-width block(s) in residual connections H(x) = F(x) + x"


def clip_gradients(ctx):
    if ctx.clip_grad_norm is not None and ctx.clip_grad_norm <= 1.0:
        return None
    ctx.clip_grad_norm = 1.0
    return "clipped the global gradient norm at 1.0"


def _lr(ctx):
    g = ctx.optimizer.param_groups[0]
    return g.get("initial_lr", g["lr"])  # a warm-up scheduler may have set lr to its start value


def scale_lr_down(ctx):
    lr = _lr(ctx)
    _scale_lr(ctx, 0.1)
    return f"divided the learning rate by 10 ({lr:g} -> {lr * 0.1:g})"


def scale_lr_up(ctx):
    from .checks import USUAL_LR

    base = getattr(ctx.optimizer, "base_optimizer", ctx.optimizer)
    low, top = USUAL_LR.get(type(base).__name__, (0.0, 1.0))
    lr = _lr(ctx)
    if not 0 < lr < top:
        return None
    f = min(10.0, top / lr)
    if lr < low:  # below the usual range, x10 may still be too little: go to its middle (Adam: 1e-3)
        f = max(f, math.sqrt(low * top) / lr)
    _scale_lr(ctx, f)
    return f"multiplied the learning rate by {f:.3g} ({lr:g} -> {lr * f:g})"


def lr_find_remedy(ctx):
    from ..optim.lr_find import lr_find

    data = ctx.train
    if data is None or ctx.loss_fn is None:
        return None
    if isinstance(data, (tuple, list)):
        data = tuple(d.data if isinstance(d, Tensor) else d for d in data)
    lr = _lr(ctx)
    try:
        res = lr_find(ctx.model, ctx.loss_fn, data, optimizer=copy.deepcopy(ctx.optimizer), num_iter=60,
                      start_lr=max(lr * 1e-3, 1e-7), end_lr=min(lr * 1e3, 10.0), generator=ctx.generator)
    except (RuntimeError, ValueError):
        return None
    new = float(res.suggestion)
    if not (math.isfinite(new) and new > 0):
        return None
    from .checks import USUAL_LR

    low, top = USUAL_LR.get(type(getattr(ctx.optimizer, "base_optimizer", ctx.optimizer)).__name__, (0.0, math.inf))
    if (lr < low and new < lr) or (lr > top and new > lr):
        return None  # a noisy sweep that moves a rate already outside the usual range further out
    _scale_lr(ctx, new / lr)
    return f"set the learning rate to lr_find's suggestion ({lr:g} -> {new:.3g})"


def add_dropout(ctx):
    from ..nn.container import Sequential
    from ..nn.dropout import Dropout
    from .monitors import activation_kind

    existing = [m for _, m in ctx.model.named_modules() if isinstance(m, Dropout)]
    if existing:
        if all(m.p >= 0.5 for m in existing):
            return None
        for m in existing:
            m.p = min(0.5, m.p + 0.2)
        return f"raised dropout to p={existing[0].p:g}"
    chain = _chain(ctx.model)
    hidden_acts = {id(a) for _, _, a in chain[:-1] if a is not None}
    n = 0
    for _, seq in list(ctx.model.named_modules()):
        if not isinstance(seq, Sequential):
            continue
        mods = list(seq._modules.values())
        new = []
        for m in mods:
            new.append(m)
            if id(m) in hidden_acts and activation_kind(m) is not None:
                new.append(Dropout(0.3, generator=ctx.generator))
                n += 1
        if len(new) != len(mods):
            _rebuild_sequential(seq, new)
    return f"added Dropout(0.3) after {n} hidden activation(s)" if n else None


def add_weight_decay(ctx):
    base = getattr(ctx.optimizer, "base_optimizer", ctx.optimizer)
    g0 = base.param_groups[0]
    if "weight_decay" not in g0:
        return None
    decoupled = g0.get("decoupled_weight_decay", False) or type(base).__name__ == "AdamW"
    target = 0.1 if decoupled else 1e-3
    if g0["weight_decay"] >= target:
        return None
    old = g0["weight_decay"]
    for g in base.param_groups:
        g["weight_decay"] = target
    return f"raised weight decay from {old:g} to {target:g}"


def early_stop(ctx):
    from ..train.callbacks import EarlyStopping

    if ctx.val is None or any(isinstance(c, EarlyStopping) for c in ctx.callbacks + ctx.extra_callbacks):
        return None
    patience = max(2, ctx.epochs // 10)
    ctx.extra_callbacks.append(EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True))
    return f"added early stopping on val_loss (patience {patience}, restoring the best epoch's weights)"


def standardize_inputs(ctx):
    from ..nn.container import Sequential
    from .checks import data_arrays

    arrays = data_arrays(ctx.train)
    if arrays is None or not isinstance(ctx.model, Sequential):
        return None
    first = next(iter(ctx.model._modules.values()), None)
    if isinstance(first, InputStandardizer):
        return None
    X = xp.asarray(arrays[0], dtype=xp.float64)
    mean, std = X.mean(axis=0), X.std(axis=0)
    _rebuild_sequential(ctx.model, [InputStandardizer(mean, std)] + list(ctx.model._modules.values()))
    ctx.structure_changed = True
    return "standardized the inputs inside the model: x -> (x − μ)/σ with the training set's μ and σ"


def remove_final_softmax(ctx):
    from ..nn.activation import LogSoftmax, Sigmoid, Softmax

    leaves = _leaves(ctx.model)
    if not leaves or not isinstance(leaves[-1][1], (Softmax, LogSoftmax, Sigmoid)):
        return None
    name, last = leaves[-1]
    parents = _parents(ctx.model)
    if id(last) not in parents:
        return None
    parent, attr = parents[id(last)]
    from ..nn.container import Sequential
    from ..nn.linear import Identity

    if isinstance(parent, Sequential):
        _rebuild_sequential(parent, [m for k, m in parent._modules.items() if k != attr])
    else:
        _set_child(parent, attr, Identity())
    return f"removed the final {type(last).__name__} (module {name}): the loss applies it itself"


def lower_input_dropout(ctx):
    from ..nn.dropout import Dropout

    leaves = _leaves(ctx.model)
    if not leaves or not isinstance(leaves[0][1], Dropout) or leaves[0][1].p <= 0.2:
        return None
    old = leaves[0][1].p
    leaves[0][1].p = 0.2
    return f"lowered the input dropout from {old:g} to 0.2"


def reduce_regularization(ctx):
    from ..nn.dropout import Dropout

    changes = []
    drops = [m for _, m in ctx.model.named_modules() if isinstance(m, Dropout) and m.p > 0]
    for m in drops:
        m.p = m.p / 2
    if drops:
        changes.append("halved dropout")
    base = getattr(ctx.optimizer, "base_optimizer", ctx.optimizer)
    if base.param_groups[0].get("weight_decay", 0) > 0:
        for g in base.param_groups:
            g["weight_decay"] = g["weight_decay"] / 10
        changes.append("weight decay / 10")
    if ctx.l1 or ctx.l2:
        ctx.l1, ctx.l2 = ctx.l1 / 10, ctx.l2 / 10
        changes.append("L1/L2 / 10")
    return "reduced regularization: " + ", ".join(changes) if changes else None


def widen_model(ctx):
    """Hidden Linear layers narrower than 64 units get 4x the units (at least 64), the next layer the
    matching inputs, both re-initialized for their activation (seed 003, underfitting: "Increase the
    complexity of the model"). Only for a plain chain of Linear layers (no normalization in between)."""
    from ..nn.linear import Linear
    from ..nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
    from .monitors import activation_kind

    chain = _chain(ctx.model)
    if len(chain) < 2 or not all(isinstance(m, Linear) for _, m, _ in chain) or any(
            isinstance(m, (BatchNorm1d, BatchNorm2d, LayerNorm)) for m in ctx.model.modules()):
        return None
    parents = _parents(ctx.model)
    widths = [m.out_features for _, m, _ in chain[:-1]]
    new_widths = [max(64, 4 * w) if w < 64 else w for w in widths]
    if new_widths == widths or not all(id(m) in parents for _, m, _ in chain):
        return None
    fan_in = chain[0][1].in_features
    for i, (name, m, act) in enumerate(chain):
        out = new_widths[i] if i < len(new_widths) else m.out_features
        new = Linear(fan_in, out, bias=m.bias is not None)
        _init_layer(new, activation_kind(act) if act is not None else None, ctx.generator)
        parent, attr = parents[id(m)]
        _set_child(parent, attr, new)
        fan_in = out
    ctx.structure_changed = True
    changed = [f"{chain[i][0]}: {w} -> {nw}" for i, (w, nw) in enumerate(zip(widths, new_widths)) if w != nw]
    return "widened the hidden layers (" + ", ".join(changed) + " units), re-initialized"


def _search_lr(ctx, factors, label):
    """Try each learning-rate factor on a short budget (a quarter of the epochs, at least 1) from the
    current attempt's weights, keep the factor whose short run scores best (validation accuracy, else
    −validation loss; among ties within 0.01, a search down takes the lowest rate, a search up the lowest
    final training loss), and scale the attempt's
    learning rate by it. A factor search on a short budget with rollback: the full attempt then restarts
    from the same weights (Bergstra & Bengio 2012 search the rate on a log grid; seed 002: "try 0.1, 0.01,
    0.001"). The choice is memoized, so an attempt that re-applies a kept search gets the same rate."""
    from ..backend import Generator
    from ..train.trainer import Trainer
    from .checks import USUAL_LR

    if ctx.train is None or ctx.loss_fn is None:
        return None
    lr = _lr(ctx)
    factors = _search_factors(ctx, factors)
    if not factors:
        return None
    key = (label, lr, tuple(ctx.applied))
    if key not in ctx.memo:
        short = max(1, round(ctx.epochs / 4))
        results = []
        for f in factors:
            m, o, sch = copy.deepcopy((ctx.model, ctx.optimizer, ctx.scheduler))
            if ctx.structure_changed:
                o = rebuild_optimizer(o, m.parameters())
            probe = RepairContext(model=m, optimizer=o, scheduler=sch)
            _scale_lr(probe, f)
            tr = Trainer(m, ctx.loss_fn, o, scheduler=sch, clip_grad_norm=ctx.clip_grad_norm, l1=ctx.l1, l2=ctx.l2,
                         generator=Generator(0))
            try:
                with xp.errstate(all="ignore"):
                    hist = tr.fit(ctx.train, ctx.val, epochs=short, batch_size=ctx.batch_size)
                score, _ = _score(tr, ctx.train, ctx.val)
                last = hist.rows[-1].get("loss", math.inf) if hist.rows else math.inf
            except (ValueError, FloatingPointError, RuntimeError):
                score, last = -math.inf, math.inf
            results.append((f, score, last if math.isfinite(last) else math.inf))
        top_score = max(r[1] for r in results)
        if top_score == -math.inf:
            ctx.memo[key] = None
        else:
            # ties (within 0.01, about one sample of a 100-sample validation set): a search down takes the
            # lowest tied rate (a short run cannot show a divergence that comes later; a rate that is too low
            # shows as a run still improving, which the repair then trains longer); a search up takes the tied
            # rate with the lowest training loss
            near = [r for r in results if r[1] >= top_score - 0.01]
            pick = min(near, key=lambda r: r[0]) if label == "down" else min(near, key=lambda r: r[2])
            ctx.memo[key] = (pick[0], results)
    found = ctx.memo[key]
    if found is None:
        return None
    f, results = found
    _scale_lr(ctx, f)
    tried = ", ".join(f"{lr * g:.3g}: {sc:.3g}" for g, sc, _ in results)
    if f == 1.0:
        return f"searched the learning rate on a short budget ({tried}) and kept it at {lr:g}"
    return f"searched the learning rate on a short budget ({tried}) and set it to {lr * f:.3g} (was {lr:g})"


def _search_factors(ctx, factors):
    """The factors whose rate stays between a tenth of the optimizer's usual range's bottom and its top (a
    search is not a licence to leave the range further); none unless one of them changes the rate."""
    from .checks import USUAL_LR

    lr = _lr(ctx)
    low, top = USUAL_LR.get(type(getattr(ctx.optimizer, "base_optimizer", ctx.optimizer)).__name__, (1e-6, 10.0))
    kept = [f for f in factors if low / 10 <= lr * f <= top]
    return kept if any(f != 1.0 for f in kept) else []


# the current rate (factor 1) is a candidate too: when other remedies of the same attempt removed the cause
# (a re-initialization after init x5), the rate that was too high for the broken model may be right again
_SEARCHES = {"search_lr_down": (1.0, 0.1, 0.01, 0.001), "search_lr_up": (1.0, 10.0, 100.0, 1000.0)}


def search_lr_down(ctx):
    return _search_lr(ctx, _SEARCHES["search_lr_down"], "down")


def search_lr_up(ctx):
    return _search_lr(ctx, _SEARCHES["search_lr_up"], "up")


def resplit_stratified(ctx):
    """Pool the training and validation sets and split them again at random, stratified by class, with
    the same validation size (seed 003, "Unrepresentative Validation Dataset": the split, not the model,
    is at fault). Only when the validation set is the unrepresentative one: a training class missing from
    it, a validation class missing from training, or class proportions at total variation > 0.25 while the
    training set itself is not imbalanced beyond 10:1 (then the training set is to blame, and moving
    validation samples into it would hide that). The attempt's score is then measured on the new
    validation set; the repair summary says so (``data_changed``)."""
    from .checks import _classes, data_arrays

    tr, va = data_arrays(ctx.train), data_arrays(ctx.val)
    if tr is None or va is None or not isinstance(ctx.train, (tuple, list)) or ctx.data_changed:
        return None
    ct, cv = _classes(tr[1]), _classes(va[1])
    if ct is None or cv is None:
        return None
    k = max(len(ct), len(cv))
    ct, cv = xp.pad(ct, (0, k - len(ct))), xp.pad(cv, (0, k - len(cv)))
    present = ct[ct > 0]
    train_imbalanced = present.size > 0 and present.max() / present.min() > 10
    missing = bool(((ct > 0) & (cv == 0)).any() or ((cv > 0) & (ct == 0)).any())
    tv = float(0.5 * xp.abs(ct / ct.sum() - cv / cv.sum()).sum())
    if not (missing or (tv > 0.25 and not train_imbalanced)):
        return None
    X, y = xp.concatenate([tr[0], va[0]]), xp.concatenate([tr[1], va[1]])
    frac = len(va[1]) / len(y)
    from ..backend import Generator

    rng = Generator(0)  # the same split in every attempt, whatever the doctor's generator has drawn
    val_idx = []
    for c in xp.flatnonzero(xp.bincount(y.astype(xp.int64))):
        idx = xp.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        val_idx.append(idx[:int(round(frac * len(idx)))])
    val_idx = xp.sort(xp.concatenate(val_idx))
    mask = xp.zeros(len(y), dtype=bool)
    mask[val_idx] = True
    ctx.train, ctx.val = (X[~mask], y[~mask]), (X[mask], y[mask])
    ctx.data_changed = (f"pooled training and validation ({len(y)} samples) and split them again at random, "
                        f"stratified by class ({int((~mask).sum())} / {int(mask.sum())}); the score is measured "
                        f"on the new validation set")
    return ctx.data_changed


def reweight_classes(ctx):
    """Weight each class c by n/(k·n_c) (n training samples, k classes present, n_c of class c) in a
    CrossEntropyLoss that has no weights yet, when the largest/smallest training class count exceeds 10
    (SageMaker Debugger's ClassImbalance threshold): every class then carries the same total weight
    (scikit-learn's ``class_weight="balanced"``; King & Zeng 2001). It rebalances what the model predicts;
    it cannot add the information that the missing samples of the rare classes would carry."""
    from ..nn.loss import CrossEntropyLoss
    from .checks import _classes, data_arrays

    loss = ctx.loss_fn
    if type(loss) is not CrossEntropyLoss or loss.weight is not None:
        return None
    arrays = data_arrays(ctx.train)
    counts = _classes(arrays[1]) if arrays is not None else None
    if counts is None:
        return None
    present = counts[counts > 0]
    if present.size < 2 or present.max() / present.min() <= 10:
        return None
    outs = [m.out_features for m in ctx.model.modules() if hasattr(m, "out_features")]
    k = max(len(counts), outs[-1] if outs else 0)
    counts = xp.pad(counts, (0, k - len(counts)))
    w = (counts.sum() / (present.size * xp.maximum(counts, 1))).astype(xp.float32)
    ctx.loss_fn = CrossEntropyLoss(weight=w, ignore_index=loss.ignore_index, reduction=loss.reduction,
                                   label_smoothing=loss.label_smoothing)
    return (f"weighted the loss by inverse class frequency (weights {float(w[counts > 0].min()):.3g} to "
            f"{float(w[counts > 0].max()):.3g})")


def train_longer(ctx):
    ctx.epochs = ctx.epochs * 2
    return f"doubled the number of epochs to {ctx.epochs}"


REMEDIES = {
    "rollback": rollback, "reinit": reinit, "switch_to_relu": switch_to_relu,
    "switch_to_leaky_relu": switch_to_leaky_relu, "insert_batchnorm": insert_batchnorm,
    "add_residual": add_residual, "clip_gradients": clip_gradients, "scale_lr_down": scale_lr_down,
    "scale_lr_up": scale_lr_up, "lr_find": lr_find_remedy, "add_dropout": add_dropout,
    "add_weight_decay": add_weight_decay, "early_stop": early_stop, "standardize_inputs": standardize_inputs,
    "remove_final_softmax": remove_final_softmax, "lower_input_dropout": lower_input_dropout,
    "reduce_regularization": reduce_regularization, "train_longer": train_longer, "widen_model": widen_model,
    "reweight_classes": reweight_classes, "search_lr_down": search_lr_down, "search_lr_up": search_lr_up,
    "resplit_stratified": resplit_stratified,
}
# advice the doctor gives but cannot carry out itself (the data must change)
ADVICE = {
    "augment_data": "collect more training data or augment it (seed 003 'Data augmentation')",
}
_LR_CHANGES = ("scale_lr_down", "scale_lr_up", "lr_find", "search_lr_down", "search_lr_up")
# problems a change of the step size can fix: an attempt that only brings these is worth building on
_DYNAMICS = {"nan_loss", "lr_too_high", "exploding_gradients", "dead_relu"}
# remedies that only make sense together with another one for the same finding
_MODIFIERS = ("rollback",)
_STRUCTURAL = ("switch_to_relu", "switch_to_leaky_relu", "insert_batchnorm", "add_residual", "add_dropout",
               "standardize_inputs", "remove_final_softmax", "widen_model")


def apply_remedy(name: str, ctx: RepairContext):
    """Apply the remedy called ``name`` to ``ctx``; its one-sentence description, or None if it does not apply."""
    if name not in REMEDIES:
        raise ValueError(f"apply_remedy: 'name' must be one of {', '.join(REMEDIES)}; got {name!r}")
    desc = REMEDIES[name](ctx)
    if desc is not None:
        ctx.applied.append(name)
    return desc


# -------------------------------------------------------------- the repair loop
def _score(trainer, train, val):
    data = val if val is not None else train
    try:
        ev = trainer.evaluate(data)
    except (ValueError, FloatingPointError):
        return -math.inf, {}
    if "accuracy" in ev:
        s = ev["accuracy"] if math.isfinite(ev.get("loss", 0.0)) else -math.inf
    else:
        s = -ev["loss"]
    return (s if math.isfinite(s) else -math.inf), ev


def _better(new, old) -> bool:
    if old == -math.inf:
        return new > -math.inf
    return new > old + max(0.005, 0.01 * abs(old)) if old < 0 else new > old + 0.005


def _still_improving(history, epochs) -> bool:
    """Whether a run was still making progress when it ended: it ran all its ``epochs`` (early stopping
    did not end it) and, in the last quarter of its epochs (at least 2), its validation loss reached a new
    low (1% below the earlier minimum) or its validation accuracy beat the earlier best by 0.005; without
    validation data, its training loss fell ≥ 10% over that quarter."""
    rows = getattr(history, "rows", None) or []
    if len(rows) < 4 or len(rows) < epochs:
        return False
    tail = max(2, len(rows) // 4)
    va = [r.get("val_accuracy") for r in rows]
    vl = [r.get("val_loss") for r in rows]
    has_vl = all(v is not None and math.isfinite(v) for v in vl)
    if has_vl and min(vl[-tail:]) < 0.99 * min(vl[:-tail]):
        return True  # the validation loss still reaches new lows
    if all(v is not None and math.isfinite(v) for v in va):
        return max(va[-tail:]) > max(va[:-tail]) + 0.005
    if has_vl:
        return False
    tl = [r.get("loss", math.nan) for r in rows]
    return all(math.isfinite(v) for v in tl) and tl[-1] < 0.9 * tl[-tail - 1]


def _severe(findings):
    return [f for f in findings if severity_rank(f.severity) >= 1]


def _problems(findings):
    """What the repair loop still works on: the findings of warning or worse, and an overfitting that is info
    only because early stopping restored its best epoch. Early stopping cuts the run off before the symptom
    shows; the variance behind it is still there, and dropout and weight decay (the finding's next remedies)
    remove it. A round that adds them is kept only if it scores better, as every round is."""
    return [f for f in findings if severity_rank(f.severity) >= 1 or (
        f.code == "overfitting" and "early_stopping_restored_epoch" in f.evidence
        and "consequence_of" not in f.evidence)]


def _context(doctor, trainer, train, val, epochs, healthy=(None, None)):
    model, optimizer, scheduler = copy.deepcopy(doctor._initial)
    return RepairContext(
        model=model, optimizer=optimizer, scheduler=scheduler, loss_fn=trainer.loss_fn, train=train, val=val,
        epochs=epochs, clip_grad_norm=doctor._initial_settings["clip_grad_norm"],
        l1=doctor._initial_settings["l1"], l2=doctor._initial_settings["l2"],
        callbacks=[c for c in doctor._initial_settings["callbacks"]], healthy_state=healthy[0],
        healthy_epoch=healthy[1], generator=doctor.generator)


def _install(trainer, ctx):
    from ..train.callbacks import LearningRateScheduler

    trainer.model, trainer.optimizer, trainer.scheduler = ctx.model, ctx.optimizer, ctx.scheduler
    for cb in trainer.callbacks:
        if isinstance(cb, LearningRateScheduler):
            cb.scheduler = ctx.scheduler
    trainer.clip_grad_norm, trainer.l1, trainer.l2 = ctx.clip_grad_norm, ctx.l1, ctx.l2
    trainer.loss_fn = ctx.loss_fn
    trainer.callbacks = list(ctx.callbacks) + list(ctx.extra_callbacks)


def _choose(ctx, problems, tried):
    """Apply to ``ctx``, for each problem (worst first), its first remedy that is untried and applies;
    returns [(name, description, code)]."""
    plan, search = [], None
    for f in problems:
        for name in f.remedies:
            if name not in REMEDIES or name in tried or name in ctx.applied:
                continue
            if name in _LR_CHANGES and any(p[0] in _LR_CHANGES for p in plan):
                continue  # one new change of the learning rate per attempt (on top of a kept one is fine)
            if name in _SEARCHES:
                if not _search_factors(ctx, _SEARCHES[name]):
                    continue
                # a search runs last, on the attempt as the other remedies leave it (after a re-init, the
                # old rate may be right again)
                search = (name, f.code)
                plan.append((name, None, f.code))
                break
            desc = apply_remedy(name, ctx)
            if desc is None:
                continue
            plan.append((name, desc, f.code))
            if name not in _MODIFIERS:  # rollback goes with the next remedy of the same finding
                break
        if len([p for p in plan if p[0] not in _MODIFIERS]) >= 3:
            break
    if any(n == "reinit" or n in _STRUCTURAL for n in ctx.applied):
        # new weights overwrote the rolled-back ones: the rollback did nothing
        plan = [p for p in plan if p[0] != "rollback"]
        ctx.applied = [n for n in ctx.applied if n != "rollback"]
    if search is not None:
        desc = apply_remedy(search[0], ctx)
        plan = [(n, desc, c) if n == search[0] else (n, d, c) for n, d, c in plan if n != search[0] or desc]
    return plan


def _attempt(trainer, doctor, ctx, train, val, batch_size, shuffle):
    """Train the attempt in ``ctx`` on ``trainer`` (on ``ctx.train``/``ctx.val``: a data remedy may have
    split them again); returns (score, evaluation, findings, history, stats)."""
    if ctx.structure_changed:
        _replace_in_place(ctx.optimizer, rebuild_optimizer(ctx.optimizer, ctx.model.parameters()))
    train, val = ctx.train, ctx.val
    saved_callbacks = trainer.callbacks
    _install(trainer, ctx)
    doctor._in_repair = True
    try:
        with xp.errstate(all="ignore"):  # attempts may diverge; the doctor reports it
            history = trainer.fit(train, val, epochs=ctx.epochs, batch_size=batch_size, shuffle=shuffle)
    finally:
        doctor._in_repair = False
        trainer.callbacks = saved_callbacks
    score, ev = _score(trainer, train, val)
    return score, ev, list(doctor.findings), history, doctor.monitor.stats


def repair(trainer, doctor, train, val=None, epochs: int = 1, batch_size=32, shuffle: bool = True,
           max_rounds: int | None = None):
    """Repair the run ``trainer`` has just made under ``doctor`` (see the module docstring); returns the
    History of the best run. ``doctor.repairs`` lists the rounds.

    Each round starts from a fresh copy of the initial model, re-applies the remedies of the round it
    builds on, and adds the first untried remedy of each remaining problem. A round that scores better
    is kept. A round that does not, but trades the old problems for new ones (a deep ReLU net that now
    diverges at the old learning rate), is built on by the next round (which then adds, say, a lower
    learning rate); otherwise its remedies are marked as tried and the next round starts from the best.
    """
    from ..train.callbacks import LearningRateScheduler

    max_rounds = doctor.max_rounds if max_rounds is None else max_rounds
    user = doctor._user_objects
    doctor.original_findings, doctor.original_stats = list(doctor.findings), doctor.monitor.stats
    healthy = (doctor.healthy_state, doctor.healthy_epoch)  # the first run's; attempts overwrite the doctor's
    base_score, base_eval = _score(trainer, train, val)
    best = {"score": base_score, "findings": list(doctor.findings), "history": trainer.history, "objects": None,
            "stats": doctor.monitor.stats, "applied": [], "epochs": epochs,
            "settings": (trainer.clip_grad_norm, trainer.l1, trainer.l2), "loss_fn": trainer.loss_fn,
            "data": None}
    user_loss = trainer.loss_fn
    current = best
    tried, log, memo = set(), [], {}

    def fresh():
        c = _context(doctor, trainer, train, val, epochs, healthy)
        c.batch_size, c.memo = batch_size, memo
        return c

    for rnd in range(max_rounds):
        problems = _problems(current["findings"])
        if not problems:
            break
        trainer.loss_fn = user_loss  # each attempt starts from the user's loss (a remedy may weight it)
        ctx = fresh()
        kept = [(n, apply_remedy(n, ctx)) for n in current["applied"]]
        plan = _choose(ctx, problems, tried)
        if not plan or all(n in _MODIFIERS for n, _, _ in plan):
            if current is best:
                break
            current = best  # the explored branch has nothing left to try
            continue
        score, ev, findings, history, stats = _attempt(trainer, doctor, ctx, train, val, batch_size, shuffle)
        before = {f.code for f in problems}
        exposed = {f.code for f in current["findings"] if f.evidence.get("consequence_of") in before}
        after = {f.code for f in _severe(findings)}
        entry = {
            "round": rnd + 1,
            "applied": [{"remedy": n, "for": code, "change": d} for n, d, code in plan],
            "kept_from_before": [d for _, d in kept if d],
            "score_before": best["score"], "score_after": score,
            "metric": "val_accuracy" if val is not None and "accuracy" in ev else (
                "val_loss" if val is not None else "train"),
            "codes_before": sorted(before), "codes_after": sorted(after), "accepted": False,
        }
        result = {"score": score, "findings": findings, "history": history,
                  "objects": (ctx.model, ctx.optimizer, ctx.scheduler), "stats": stats, "applied": list(ctx.applied),
                  "epochs": ctx.epochs, "settings": (ctx.clip_grad_norm, ctx.l1, ctx.l2), "loss_fn": ctx.loss_fn,
                  "data": (ctx.train, ctx.val, ctx.data_changed) if ctx.data_changed else None}
        if _better(score, best["score"]):
            entry["accepted"] = True
            best = current = result
        elif current is best and after - before and not before <= after and after - before <= _DYNAMICS | exposed:
            # the old problems are gone and the new ones are the step size's, or symptoms the old cause explained
            # (a learning rate raised from 1e-5 cures lr_too_low and leaves the underfitting it hid): build on it
            current = result
            entry["explored"] = True
        else:
            tried.update(n for n, _, _ in plan if n not in _MODIFIERS)
            current = best
        log.append(entry)
    # a remedy that is still buying progress when its run ends (validation accuracy still rising, or the
    # training loss still falling without the validation loss turning) gets more epochs: twice, then four
    # times the repaired run's, up to 4x the user's, kept only when the score improves
    extensions, tried_longer = 0, []
    while (_severe(doctor.original_findings) and extensions < 2 and best["epochs"] * 2 <= 4 * epochs
           and _still_improving(best["history"], best["epochs"])):
        extensions += 1
        trainer.loss_fn = user_loss
        ctx = fresh()
        for n in best["applied"]:
            apply_remedy(n, ctx)
        d = apply_remedy("train_longer", ctx)
        score, ev, findings, history, stats = _attempt(trainer, doctor, ctx, train, val, batch_size, shuffle)
        entry = {"round": len(log) + 1, "applied": [{"remedy": "train_longer", "for": "still improving",
                                                     "change": d}],
                 "kept_from_before": [a for a in best["applied"]], "score_before": best["score"],
                 "score_after": score, "metric": log[0]["metric"] if log else (
                     "val_accuracy" if val is not None and "accuracy" in ev else "val_loss" if val is not None
                     else "train"),
                 "codes_before": sorted(f.code for f in _severe(best["findings"])),
                 "codes_after": sorted(f.code for f in _severe(findings)), "accepted": False, "extension": True}
        tried_longer.append(entry)
        if not _better(score, best["score"]):
            break  # recorded in repair_summary["extensions"]; the rounds list what the repair kept or explored
        entry["accepted"] = True
        log.append(entry)
        best = {"score": score, "findings": findings, "history": history,
                "objects": (ctx.model, ctx.optimizer, ctx.scheduler), "stats": stats, "applied": list(ctx.applied),
                "epochs": ctx.epochs, "settings": (ctx.clip_grad_norm, ctx.l1, ctx.l2), "loss_fn": ctx.loss_fn,
                "data": (ctx.train, ctx.val, ctx.data_changed) if ctx.data_changed else None}
    # leave the best run in the user's objects and in the trainer
    if best["objects"] is not None:
        m, o, s = best["objects"]
        _replace_in_place(user[0], m)
        _replace_in_place(user[1], o)
        if user[2] is not None and s is not None:
            _replace_in_place(user[2], s)
            if hasattr(user[2], "optimizer"):
                user[2].optimizer = user[1]
    trainer.model, trainer.optimizer, trainer.scheduler = user
    for cb in trainer.callbacks:
        if isinstance(cb, LearningRateScheduler):
            cb.scheduler = user[2]
    trainer.clip_grad_norm, trainer.l1, trainer.l2 = best["settings"]
    trainer.loss_fn = best["loss_fn"]
    trainer.history = best["history"]
    doctor.findings = best["findings"]
    doctor.monitor.stats = best["stats"]
    doctor.repairs = log
    doctor.repair_summary = {"rounds": len(log), "applied": best["applied"], "score_first": base_score,
                             "score_final": best["score"], "epochs": best["epochs"],
                             "metric": log[0]["metric"] if log else None,
                             "data_changed": best["data"][2] if best["data"] else None,
                             "extensions": tried_longer}
    # a kept re-split: the data the repaired model was trained and scored on (the user's split was the fault)
    doctor.repaired_data = best["data"][:2] if best["data"] else None
    return trainer.history
