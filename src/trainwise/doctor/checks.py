"""Checks before training: what is visible in the model, the loss, the optimizer and the data.

Each check returns a list of ``Finding`` with ``when="before"`` (step and
epoch None), so the doctor can say what is wrong before a minute of training
is lost:

- ``check_init``: a hidden layer whose units (weight rows and biases) are all
  identical, e.g. zero or constant initialization (symmetric_init);
- ``check_saturating_depth``: a sigmoid/tanh stack deeper than it can train
  with its init (vanishing_gradients, predicted);
- ``check_softmax_loss``: Softmax/Sigmoid at the end of a model trained with a
  loss that expects logits (softmax_before_logits_loss);
- ``check_input_dropout``: Dropout on the inputs with p > 0.5 (input_dropout);
- ``check_learning_rate``: a learning rate more than ten times outside the
  optimizer's usual range (lr_too_high / lr_too_low);
- ``check_data``: unnormalized inputs, class imbalance, too few training or
  validation samples, validation classes in other proportions.
"""
from __future__ import annotations

import math

from ..backend import xp
from .findings import (
    INPUT_DROPOUT, LR_TOO_HIGH, LR_TOO_LOW, SOFTMAX_BEFORE_LOGITS_LOSS, SYMMETRIC_INIT, UNNORMALIZED_INPUTS,
    UNREPRESENTATIVE_TRAIN, UNREPRESENTATIVE_VALIDATION, VANISHING_GRADIENTS, Finding,
)
from .monitors import activation_kind, input_summary
from .rules import input_scale_problem

__all__ = [
    "run_checks", "check_init", "check_saturating_depth", "check_softmax_loss", "check_input_dropout",
    "check_learning_rate", "check_data", "data_arrays", "leaves", "USUAL_LR", "gradient_gain_estimate",
]

# The usual learning-rate range per optimizer: a decade either side of its customary default
# (Adam 1e-3, Kingma & Ba 2015 and seed 002; RMSprop 1e-3, Hinton's lecture 6e; Adagrad 1e-2,
# Duchi et al. 2011; SGD 1e-2..1e-1 in common practice). "Far outside" = another factor of 10.
USUAL_LR = {"SGD": (1e-3, 1.0), "Adam": (1e-4, 1e-2), "AdamW": (1e-4, 1e-2), "RMSprop": (1e-4, 1e-2),
            "Adagrad": (1e-3, 1e-1)}
FAR = 10.0

# derivative gain of an activation at a zero-mean input: E[f'(z)²]^½ (sigmoid and tanh at their
# steepest point, an optimistic bound); used to estimate the backward gain of a stack
_ACT_GAIN = {"sigmoid": 0.25, "tanh": 1.0, "relu": math.sqrt(0.5), "leaky_relu": math.sqrt(0.5),
             "prelu": math.sqrt(0.5), "elu": math.sqrt(0.5), "gelu": math.sqrt(0.5), "silu": math.sqrt(0.5),
             "softplus": 0.5, "selu": 1.0}


def leaves(model):
    """[(name, module)] of the modules without children, in registration order (the forward order of
    a Sequential), descending into containers."""
    return [(n, m) for n, m in model.named_modules() if not m._modules]


def _is_weighted(m) -> bool:
    w = m._parameters.get("weight")
    return w is not None and w.data.ndim >= 2


def _layer_chain(model):
    """[(name, module, activation kind following it or None)] for the weighted layers in order."""
    chain = []
    for name, m in leaves(model):
        if _is_weighted(m):
            chain.append([name, m, None])
        else:
            kind = activation_kind(m)
            if kind is not None and chain and chain[-1][2] is None:
                chain[-1][2] = kind
    return [tuple(c) for c in chain]


def _rows(m):
    w = m._parameters["weight"].data
    rows = w.reshape(w.shape[0], -1)
    b = m._parameters.get("bias")
    if b is not None:
        rows = xp.concatenate([rows, b.data.reshape(-1, 1)], axis=1)
    return rows


def check_init(model) -> list:
    """symmetric_init: a hidden weighted layer whose units are identical (all rows [Wᵢ, bᵢ] equal), e.g.
    zero or constant init. An error when the next layer cannot tell the units apart either (its weight
    columns are equal too, as with zero init everywhere); a warning otherwise."""
    chain = _layer_chain(model)
    out = []
    for i, (name, m, _) in enumerate(chain[:-1]):
        rows = _rows(m)
        if rows.shape[0] < 2 or not (rows == rows[0]).all():
            continue
        nxt = chain[i + 1][1]._parameters["weight"].data
        cols = nxt.reshape(nxt.shape[0], nxt.shape[1], -1) if nxt.ndim > 2 else nxt[:, :, None]
        exact = cols.shape[1] == rows.shape[0] and bool((cols == cols[:, :1]).all())
        value = float(rows[0, 0])
        ev = {"units": int(rows.shape[0]), "value": value, "next_layer": chain[i + 1][0],
              "next_layer_symmetric": exact}
        msg = (f"all {rows.shape[0]} units of layer {name} ({type(m).__name__}) start identical "
               f"({'zero' if value == 0 and not rows.any() else 'constant'} weights)"
               + ("; the next layer treats them alike too, so they will stay identical" if exact else ""))
        out.append(Finding(SYMMETRIC_INIT, "error" if exact else "warning", msg, layer=name, evidence=ev,
                           when="before"))
    return out


def gradient_gain_estimate(model):
    """(estimated ||∇W_first||/||∇W_last|| at init, number of sigmoid/tanh layers) for a plain chain of
    layers, or (None, n) when normalization or residual layers make the estimate meaningless.

    Backward through layer l multiplies the gradient's scale by about
    √(n_out,l)·std(W_l)·g(f_{l−1}), where g is the activation's derivative gain
    (sigmoid 1/4 and tanh 1 at their steepest, ReLU √½): the variance
    argument of Glorot & Bengio (2010) and He et al. (2015), seed 002
    "Xavier Initialization: Derivation". The estimate is the product over
    layers 2..L.
    """
    from ..nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
    from ..nn.residual import Residual

    n_sat = 0
    for _, m in model.named_modules():
        if isinstance(m, (BatchNorm1d, BatchNorm2d, LayerNorm, Residual)):
            return None, 0
    chain = _layer_chain(model)
    n_sat = sum(1 for _, _, k in chain if k in ("sigmoid", "tanh"))
    if len(chain) < 2:
        return None, n_sat
    est = 1.0
    for (_, prev, kind), (_, m, _) in zip(chain[:-1], chain[1:]):
        w = m._parameters["weight"].data
        n_out = w.shape[0] * int(math.prod(w.shape[2:]))
        est *= math.sqrt(n_out) * float(w.std()) * _ACT_GAIN.get(kind, 1.0)
    return est, n_sat


def check_saturating_depth(model, ratio: float = 1e-3) -> list:
    """vanishing_gradients (predicted): a chain with ≥ 2 sigmoid/tanh layers whose estimated gradient ratio
    first/last layer (``gradient_gain_estimate``) is below ``ratio`` (AUTOTRAINER's β₁ = 1e-3)."""
    est, n_sat = gradient_gain_estimate(model)
    if est is None or n_sat < 2 or not est < ratio:
        return []
    chain = _layer_chain(model)
    kinds = sorted({k for _, _, k in chain if k in ("sigmoid", "tanh")})
    ev = {"estimated_ratio": est, "saturating_layers": n_sat, "layers": len(chain), "threshold_ratio": ratio,
          "weight_std": {n: float(m._parameters["weight"].data.std()) for n, m, _ in chain}}
    msg = (f"a stack of {n_sat} {'/'.join(kinds)} layers with this initialization passes about {est:.1e} of the "
           f"output layer's gradient back to the first layer (threshold {ratio:g}): too deep for its init")
    return [Finding(VANISHING_GRADIENTS, "warning", msg, layer=chain[0][0], evidence=ev, when="before")]


def check_softmax_loss(model, loss) -> list:
    """softmax_before_logits_loss: the model's last module squashes (Softmax/Sigmoid) but the loss
    expects logits (CrossEntropyLoss, BCEWithLogitsLoss), or Softmax before NLLLoss (log-probabilities)."""
    lv = leaves(model)
    if not lv:
        return []
    last_name, last = lv[-1]
    kind = activation_kind(last)
    lname = type(loss).__name__ if not callable(loss) or hasattr(loss, "forward") else getattr(loss, "__name__", "")
    lname = lname.lower()
    logits_ce = lname in ("crossentropyloss", "cross_entropy")
    logits_bce = lname in ("bcewithlogitsloss", "binary_cross_entropy_with_logits")
    nll = lname in ("nllloss", "nll_loss")
    bad = ((kind == "softmax" and (logits_ce or nll)) or (kind == "sigmoid" and logits_bce)
           or (kind == "log_softmax" and logits_ce))
    if not bad:
        return []
    expects = "log-probabilities" if nll else "logits (it applies the " + (
        "sigmoid" if logits_bce else "softmax") + " itself)"
    msg = f"the model ends in {type(last).__name__} (module {last_name}) but {lname} expects {expects}"
    ev = {"last_module": type(last).__name__, "loss": lname}
    return [Finding(SOFTMAX_BEFORE_LOGITS_LOSS, "warning", msg, layer=last_name, evidence=ev, when="before")]


def check_input_dropout(model, p_max: float = 0.5) -> list:
    """input_dropout: the first module (in registration order) is Dropout with p > ``p_max``."""
    from ..nn.dropout import Dropout

    lv = leaves(model)
    if not lv or not isinstance(lv[0][1], Dropout) or not lv[0][1].p > p_max:
        return []
    name, m = lv[0]
    msg = f"Dropout(p={m.p:g}) on the inputs (module {name}) drops most of the features; use 0.1-0.2"
    return [Finding(INPUT_DROPOUT, "warning", msg, layer=name, evidence={"p": m.p, "threshold": p_max},
                    when="before")]


def check_learning_rate(optimizer) -> list:
    """lr_too_high / lr_too_low: a group's lr more than ``FAR`` times outside ``USUAL_LR`` of its optimizer."""
    base = getattr(optimizer, "base_optimizer", optimizer)
    name = type(base).__name__
    if name not in USUAL_LR:
        return []
    lo, hi = USUAL_LR[name]
    out = []
    for i, g in enumerate(optimizer.param_groups):
        lr = float(g["lr"])
        ev = {"lr": lr, "optimizer": name, "usual_range": [lo, hi], "group": i}
        if lr > hi * FAR:
            out.append(Finding(LR_TOO_HIGH, "warning", f"lr={lr:g} is far above {name}'s usual range "
                               f"[{lo:g}, {hi:g}]", evidence=ev, when="before"))
        elif 0 < lr < lo / FAR:
            out.append(Finding(LR_TOO_LOW, "warning", f"lr={lr:g} is far below {name}'s usual range "
                               f"[{lo:g}, {hi:g}]", evidence=ev, when="before"))
    return out[:1]


def data_arrays(data):
    """(X, y) arrays from a tuple, a TensorDataset or a DataLoader over one; None when not reachable."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        X = X.data if hasattr(X, "data") and not isinstance(X, xp.ndarray) else X
        y = y.data if hasattr(y, "data") and not isinstance(y, xp.ndarray) else y
        return xp.asarray(X), xp.asarray(y)
    ds = getattr(data, "dataset", data)
    arrays = getattr(ds, "arrays", None)
    if arrays is not None and len(arrays) == 2:
        return arrays[0], arrays[1]
    return None


def _classes(y):
    y = xp.asarray(y)
    if y.ndim == 1 and y.dtype.kind in "iub" and y.size:
        return xp.bincount(y.astype(xp.int64), minlength=int(y.max()) + 1)
    return None


def _normalizes_inputs(model) -> bool:
    """Whether the model's first module standardizes its input itself (the inputs' scale is then
    harmless), or embeds token ids (which have no scale)."""
    from ..nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
    from .remedies import InputStandardizer

    from ..nn.embedding import Embedding

    lv = leaves(model) if model is not None else []
    return bool(lv) and isinstance(lv[0][1], (InputStandardizer, BatchNorm1d, BatchNorm2d, LayerNorm, Embedding))


def check_data(train=None, val=None, min_per_class: int = 10, min_val_regression: int = 30,
               imbalance: float = 10.0, tv_distance: float = 0.25, thresholds=None, model=None) -> list:
    """unnormalized_inputs, unrepresentative_train and unrepresentative_validation from the arrays.

    Thresholds: ``imbalance`` largest/smallest class count (SageMaker Debugger's ClassImbalance, 10);
    ``min_per_class`` samples per class; ``min_val_regression`` validation samples without classes;
    ``tv_distance`` total variation distance between the class proportions of train and validation.
    The input scale is not checked when ``model`` starts with a normalizing layer.
    """
    out = []
    tr, va = data_arrays(train), data_arrays(val)
    if tr is not None and not _normalizes_inputs(model):
        problem, ev = input_scale_problem(input_summary(tr[0]), thresholds)
        if problem is not None:
            out.append(Finding(UNNORMALIZED_INPUTS, "warning", problem, layer="input", evidence=ev, when="before"))
    ct = _classes(tr[1]) if tr is not None else None
    cv = _classes(va[1]) if va is not None else None
    ev_train_ratio = None
    n_tr = len(tr[1]) if tr is not None else None
    n_va = len(va[1]) if va is not None else None
    if ct is not None:
        k = max(len(ct), len(cv) if cv is not None else 0)
        ct = xp.pad(ct, (0, k - len(ct)))
        present = ct[ct > 0]
        reasons, ev = [], {"train_samples": int(n_tr), "classes": int(k), "class_counts": ct.tolist()}
        ratio = float(present.max() / present.min()) if present.size else float("inf")
        ev["imbalance_ratio"] = ev_train_ratio = ratio
        kinds = []  # what is wrong: the class distribution ("imbalance", "missing_classes") or the size
        if ratio > imbalance:
            reasons.append(f"the largest class has {ratio:.3g}x the samples of the smallest (threshold {imbalance:g})")
            kinds.append("imbalance")
        if cv is not None:
            cv = xp.pad(cv, (0, k - len(cv)))
            missing = [int(c) for c in xp.flatnonzero((ct == 0) & (cv > 0))]
            if missing:
                reasons.append(f"classes {missing} appear in validation but not in training")
                ev["missing_classes"] = missing
                kinds.append("missing_classes")
        if n_va is not None and n_tr < n_va:
            reasons.append(f"it has fewer samples ({n_tr}) than the validation set ({n_va})")
            kinds.append("smaller_than_validation")
        if n_tr < min_per_class * k:
            reasons.append(f"it has {n_tr} samples for {k} classes (fewer than {min_per_class} per class)")
            kinds.append("too_few")
        ev["problems"] = kinds
        if reasons:
            out.append(Finding(UNREPRESENTATIVE_TRAIN, "warning", "the training set is unrepresentative: "
                               + "; ".join(reasons), layer="train", evidence=ev, when="before"))
    elif tr is not None and n_va is not None and n_tr < n_va:
        out.append(Finding(UNREPRESENTATIVE_TRAIN, "warning", f"the training set ({n_tr} samples) is smaller than "
                           f"the validation set ({n_va})", layer="train",
                           evidence={"train_samples": n_tr, "val_samples": n_va}, when="before"))
    if va is not None:
        reasons, ev, kinds = [], {"val_samples": int(n_va)}, []
        if ct is not None and cv is not None:
            k = len(ct)
            cv = xp.pad(cv, (0, max(0, k - len(cv))))
            pt, pv = ct / max(ct.sum(), 1), cv / max(cv.sum(), 1)
            tv = float(0.5 * xp.abs(pt - pv).sum())
            ev.update({"class_counts": cv.tolist(), "tv_distance": tv})
            missing = [int(c) for c in xp.flatnonzero((ct > 0) & (cv == 0))]
            if missing:
                reasons.append(f"training classes {missing} are missing from it")
                ev["missing_classes"] = missing
                kinds.append("missing_classes")
            # the distance is symmetric: when the training set is the skewed one (imbalanced beyond the
            # threshold) and the validation set is not, the training set is to blame (the ranking then
            # keeps this finding as a consequence of unrepresentative_train)
            pv_present = cv[cv > 0]
            val_ratio = float(pv_present.max() / pv_present.min()) if pv_present.size else float("inf")
            train_ratio = ev_train_ratio if ev_train_ratio is not None else 1.0
            ev["train_to_blame"] = bool(train_ratio > imbalance and val_ratio <= imbalance and not missing)
            if tv > tv_distance:
                reasons.append(f"its class proportions differ from the training set's (total variation {tv:.2f}, "
                               f"threshold {tv_distance:g})")
                kinds.append("proportions")
            if n_va < min_per_class * k:
                reasons.append(f"it has {n_va} samples for {k} classes (fewer than {min_per_class} per class)")
                kinds.append("too_few")
        elif n_va < min_val_regression:
            reasons.append(f"it has only {n_va} samples (fewer than {min_val_regression})")
            kinds.append("too_few")
        ev["problems"] = kinds
        if reasons:
            out.append(Finding(UNREPRESENTATIVE_VALIDATION, "warning", "the validation set is unrepresentative: "
                               + "; ".join(reasons), layer="validation", evidence=ev, when="before"))
    return out


def run_checks(model, loss=None, optimizer=None, train=None, val=None, thresholds=None) -> list:
    """Every pre-training check that the given objects allow."""
    out = check_init(model) + check_saturating_depth(model) + check_input_dropout(model)
    if loss is not None:
        out += check_softmax_loss(model, loss)
    if optimizer is not None:
        out += check_learning_rate(optimizer)
    out += check_data(train, val, thresholds=thresholds, model=model)
    return out
