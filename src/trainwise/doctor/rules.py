"""Rules: small functions from plain statistics to findings.

Each rule reads the statistics dict that ``trainwise.doctor.monitors.Monitor``
fills (lists of numbers per layer per sampled step, the per-step loss, the
per-epoch history rows; see ``docs/doctor.md``) and returns a list of
``Finding``. No rule touches a trainwise object, so a thin adapter that fills
the same dict from a PyTorch run would be diagnosed by the same code.

The thresholds are in ``THRESHOLDS``, each with its source. They start from
the published ones, AUTOTRAINER (Zhang, Zhai, Yang, Chen & Ma, "AUTOTRAINER:
An Automatic DNN Training Problem Detection and Repair System", ICSE 2021;
its ``monitor.py`` defaults β₁ = 1e-3, β₂ = 1e-4, β₃ = 70, γ = 0.7, ζ = 0.03,
η = 0.2, δ = 0.01, Θ = 0.7) and Amazon SageMaker Debugger's built-in rules
(DeadRelu, SaturatedActivation, Overfit, LossNotDecreasing, ClassImbalance,
CheckInputImages), and were calibrated on trainwise runs where noted
(``docs/doctor.md`` lists the calibration runs).

``evaluate(stats)`` runs every rule and ranks the findings: worst first, and
a symptom that another, more fundamental finding explains (``CAUSES``: lr_too_low
and underfitting when the gradients vanish, vanishing gradients when the init is
symmetric or the inputs unscaled, a stalled or oscillating loss when the ReLUs
are dead from the start, a train/validation gap when unscaled inputs saturate
the units) is kept but lowered to ``info`` with ``evidence["consequence_of"]``
and the note "(explained by <code>)".
"""
from __future__ import annotations

import math

from ..backend import xp
from .findings import (
    DEAD_RELU, EXPLODING_GRADIENTS, INPUT_DROPOUT, LR_TOO_HIGH, LR_TOO_LOW, NAN_LOSS, OVERFITTING, SATURATION,
    SOFTMAX_BEFORE_LOGITS_LOSS, SYMMETRIC_INIT, UNDERFITTING, UNNORMALIZED_INPUTS, UNREPRESENTATIVE_TRAIN,
    UNREPRESENTATIVE_VALIDATION, VANISHING_GRADIENTS, Finding, severity_rank,
)

__all__ = [
    "THRESHOLDS", "RULES", "evaluate", "rank_findings", "rule_nan_loss", "rule_exploding_gradients",
    "rule_vanishing_gradients", "rule_symmetric_init", "rule_dead_relu", "rule_saturation", "rule_lr_too_high",
    "rule_lr_too_low", "rule_overfitting", "rule_underfitting", "rule_unnormalized_inputs", "gradient_ratio",
    "input_scale_problem",
]

THRESHOLDS = {
    # AUTOTRAINER β1, β2: ||∇W_first||/||∇W_last|| below vanish_ratio and ||∇W_first|| below vanish_first_norm
    "vanish_ratio": 1e-3,
    "vanish_first_norm": 1e-4,
    # AUTOTRAINER β3: the same ratio above explode_ratio
    "explode_ratio": 70.0,
    # trainwise: a global gradient norm above this is exploding (healthy runs here stay below ~30)
    "explode_norm": 1e3,
    # AUTOTRAINER γ: fraction of dead units in a ReLU layer
    "dead_fraction": 0.7,
    # SageMaker Debugger SaturatedActivation threshold_layer (50%), applied to the fraction of a layer's
    # outputs that are saturated (calibrated: SageMaker's unit-level test, saturated in > 99% of the
    # samples, found 2% of the units of a tanh net with N(0, 4) weights, which trains to 55%)
    "saturated_fraction": 0.5,
    # a per-sample condition must hold in persist_count of persist_window consecutive samples
    "persist_count": 3,
    "persist_window": 5,
    # symmetric units: relative unit spread below this
    "symmetric_spread": 1e-6,
    # lr_find's divergence factor (Smith 2017 / fastai): loss above this x the lowest so far ...
    "diverge_factor": 4.0,
    # ... and above this x the first loss
    "diverge_start_factor": 1.5,
    # AUTOTRAINER ζ, η: accuracy drops ≥ zeta in ≥ eta of the epochs = oscillation
    "oscillation_drop": 0.03,
    "oscillation_rate": 0.2,
    "oscillation_min_epochs": 5,
    # loss-based oscillation (no accuracy): a rise of this relative size counts as a drop
    "oscillation_loss_rise": 0.1,
    # SageMaker LossNotDecreasing over the whole run: relative fall of the loss below this is no progress
    "min_progress": 0.05,
    "min_steps_progress": 20,
    # Karpathy's update/weight ≈ 1e-3 rule of thumb: below this for every layer the steps are too small
    "update_ratio_low": 1e-4,
    # AUTOTRAINER δ (slow convergence) and Θ (satisfied accuracy)
    "slow_delta": 0.01,
    "satisfied_accuracy": 0.7,
    # underfitting: train and validation accuracy within this of each other
    "underfit_gap": 0.1,
    # regression underfitting: final training loss above this fraction of the first
    "underfit_loss_fraction": 0.5,
    # SageMaker Overfit ratio_threshold: (val − train)/train
    "overfit_ratio": 0.1,
    # overfitting: the validation loss rose this much above its minimum, for this many epochs
    "overfit_rise": 0.1,
    "overfit_patience": 2,
    # trainwise (calibrated): a rising validation loss counts only with an accuracy gap of at least this
    # (a blobs run at 99% validation accuracy has its tiny validation loss wobble up 30%)
    "overfit_min_acc_gap": 0.05,
    # the validation-loss form is a warning only when it cost validation accuracy (seed 000: "test accuracy
    # peaks and then drops"): at least AUTOTRAINER's accuracy drop ζ = 0.03 below its best (epoch-to-epoch
    # validation accuracy of clean MNIST-1D CNNs, 1,000 samples, wobbles by 1-2 points), or a wide accuracy gap;
    # a loss that rises while the accuracy holds is reported as info (the beginning of overfitting)
    "overfit_acc_drop": 0.03,
    # AUTOTRAINER test_not_well: accuracy gap (0.1, or 0.07 when training accuracy > 0.9)
    "overfit_acc_gap": 0.1,
    "overfit_acc_gap_high": 0.07,
    # input scale: rms outside [low, high], or feature std spread (max/median) above input_spread
    "input_rms_low": 0.1,
    "input_rms_high": 10.0,
    "input_spread": 100.0,
    # SageMaker CheckInputImages threshold_mean (reported as evidence only)
    "input_mean": 0.2,
}


def _t(thresholds, key):
    return (thresholds or {}).get(key, THRESHOLDS[key])


def _a(x):
    return xp.asarray(x, dtype=xp.float64)


def _first_persistent(cond, count: int, window: int):
    """Where ``cond`` first persisted: at the first sample i at which it held in at least ``count`` of the
    last ``window`` samples (``count`` shrinks to the number of samples for a short run), the index of
    the earliest of those samples; None if it never persisted."""
    c = xp.asarray(cond, dtype=bool)
    n = c.size
    if n == 0 or not c.any():
        return None
    need = max(1, min(count, n))
    cs = xp.concatenate([[0], xp.cumsum(c)])
    for i in range(n):
        lo = max(0, i + 1 - window)
        if c[i] and cs[i + 1] - cs[lo] >= need:
            return lo + int(xp.argmax(c[lo:i + 1]))
    return None


def _where(stats, idx):
    steps, ep = stats.get("steps", []), stats.get("sample_epoch", [])
    step = int(steps[idx]) if idx is not None and idx < len(steps) else None
    epoch = int(ep[idx]) if idx is not None and idx < len(ep) else None
    return step, epoch


def _epoch_of_step(stats, step):
    spe = stats.get("steps_per_epoch") or 0
    return int(step // spe) if spe else None


def _layers_with_grads(stats):
    # an embedding's gradient touches only the rows of the tokens seen: not comparable with a dense layer's
    names = [l["name"] for l in stats.get("layers", []) if l.get("type") != "Embedding"]
    gn = stats.get("grad_norm", {})
    return [n for n in names if n in gn and len(gn[n])]


def gradient_ratio(stats):
    """(first layer, last layer, ratio array ||∇W_first||/||∇W_last|| per sample, first norms, last norms)."""
    names = _layers_with_grads(stats)
    if len(names) < 2:
        return None
    first, last = names[0], names[-1]
    g1, gl = _a(stats["grad_norm"][first]), _a(stats["grad_norm"][last])
    with xp.errstate(divide="ignore", invalid="ignore"):
        ratio = g1 / gl
    return first, last, ratio, g1, gl


def _median(x):
    x = _a(x)
    x = x[xp.isfinite(x)]
    return float(xp.median(x)) if x.size else float("nan")


# ------------------------------------------------------------------ gradients
def rule_nan_loss(stats, thresholds=None) -> list:
    """nan_loss: the first step whose training loss is NaN or ±inf (error)."""
    loss = stats.get("loss", [])
    step = stats.get("nan_step")
    if step is None:
        bad = [i for i, v in enumerate(loss) if not math.isfinite(v)]
        step = bad[0] if bad else None
    if step is None:
        return []
    finite = [v for v in loss[:step] if math.isfinite(v)]
    ev = {"nan_step": int(step), "last_finite_loss": finite[-1] if finite else None,
          "first_loss": finite[0] if finite else None}
    gt = _a(stats.get("grad_total", []))
    steps = stats.get("steps", [])
    before = [i for i, s in enumerate(steps) if s < step and math.isfinite(gt[i])] if gt.size else []
    if before:
        ev["max_grad_norm_before"] = float(max(gt[i] for i in before))
    if stats.get("lr"):
        ev["lr"] = stats["lr"][-1]
    msg = (f"the training loss became {loss[step] if step < len(loss) else 'NaN'} at step {step}"
           + (f" (last finite loss {finite[-1]:.3g}, first {finite[0]:.3g})" if finite else " (at the first step)"))
    # a NaN out of a calm run (no loss above diverge_factor x its running minimum in the last 10 steps, no
    # gradient norm above explode_norm before it) is a bad batch or a numerical fault, not the step size:
    # roll back and clip, keep the learning rate
    remedies = []
    if len(finite) >= 2:
        runmin = xp.minimum.accumulate(_a(finite))
        recent = _a(finite[-10:]) <= _t(thresholds, "diverge_factor") * runmin[-10:]
        calm_grads = not (ev.get("max_grad_norm_before", 0.0) > _t(thresholds, "explode_norm"))
        ev["sudden"] = bool(recent.all() and calm_grads)
        if ev["sudden"]:
            msg += ", out of a calm run (no divergence, no large gradient before it)"
            remedies = ["rollback", "clip_gradients", "scale_lr_down"]
    return [Finding(NAN_LOSS, "error", msg, step=int(step), epoch=_epoch_of_step(stats, step), evidence=ev,
                    remedies=remedies)]


def rule_exploding_gradients(stats, thresholds=None) -> list:
    """exploding_gradients: ||∇W_first||/||∇W_last|| > explode_ratio (AUTOTRAINER β₃ = 70), a global
    gradient norm > explode_norm, or a non-finite gradient; persistent over the samples, or seen in the
    samples just before the loss turned NaN."""
    gt = _a(stats.get("grad_total", []))
    if gt.size == 0:
        return []
    finite = xp.asarray(stats.get("grad_finite", [True] * gt.size), dtype=bool)
    gr = gradient_ratio(stats)
    ratio = gr[2] if gr is not None else xp.full(gt.size, xp.nan)
    with xp.errstate(invalid="ignore"):
        cond = (ratio > _t(thresholds, "explode_ratio")) | (gt > _t(thresholds, "explode_norm")) | ~finite
    idx = _first_persistent(cond, _t(thresholds, "persist_count"), _t(thresholds, "persist_window"))
    nan_step = stats.get("nan_step")
    if idx is None and nan_step is not None:
        steps = stats.get("steps", [])
        cands = [i for i in range(gt.size) if cond[i] and steps[i] < nan_step]
        idx = cands[0] if cands else None
    if idx is None:
        return []
    step, epoch = _where(stats, idx)
    ev = {"grad_norm": float(gt[idx]), "threshold_norm": _t(thresholds, "explode_norm"),
          "threshold_ratio": _t(thresholds, "explode_ratio"), "finite": bool(finite[idx])}
    layer = None
    if gr is not None:
        ev.update({"ratio": float(ratio[idx]), "first_layer": gr[0], "last_layer": gr[1]})
        layer = gr[0] if ratio[idx] > _t(thresholds, "explode_ratio") else None
    ev["per_layer_grad_norm"] = {n: stats["grad_norm"][n][idx] for n in _layers_with_grads(stats)}
    if nan_step is not None:
        ev["nan_step"] = int(nan_step)
    if not finite[idx]:
        msg = f"a gradient became NaN or infinite at step {step}"
    elif gr is not None and ratio[idx] > _t(thresholds, "explode_ratio"):
        msg = (f"the gradient at the first layer {gr[0]} is {ratio[idx]:.3g} times the one at the last layer "
               f"{gr[1]} (threshold {_t(thresholds, 'explode_ratio'):g}) from step {step}")
    else:
        msg = f"the gradient norm reached {gt[idx]:.3g} at step {step} (threshold {_t(thresholds, 'explode_norm'):g})"
    if nan_step is not None and step is not None and step < nan_step:
        msg += f", before the loss turned NaN at step {nan_step}"
    return [Finding(EXPLODING_GRADIENTS, "error", msg, step=step, epoch=epoch, layer=layer, evidence=ev)]


def rule_vanishing_gradients(stats, thresholds=None) -> list:
    """vanishing_gradients: ||∇W_first||/||∇W_last|| < vanish_ratio (AUTOTRAINER β₁ = 1e-3) and
    ||∇W_first|| < vanish_first_norm (β₂ = 1e-4), persistently."""
    gr = gradient_ratio(stats)
    if gr is None:
        return []
    first, last, ratio, g1, gl = gr
    with xp.errstate(invalid="ignore"):
        cond = (ratio < _t(thresholds, "vanish_ratio")) & (g1 < _t(thresholds, "vanish_first_norm")) & (gl > 0)
    idx = _first_persistent(cond, _t(thresholds, "persist_count"), _t(thresholds, "persist_window"))
    if idx is None:
        return []
    step, epoch = _where(stats, idx)
    held = ratio[cond]
    med = float(xp.median(held))
    per_layer = {n: _median(stats["grad_norm"][n]) for n in _layers_with_grads(stats)}
    ev = {"ratio": med, "ratio_at_step": float(ratio[idx]), "first_layer": first, "last_layer": last,
          "first_layer_grad_norm": float(g1[idx]), "last_layer_grad_norm": float(gl[idx]),
          "threshold_ratio": _t(thresholds, "vanish_ratio"),
          "threshold_first_norm": _t(thresholds, "vanish_first_norm"),
          "held_fraction": float(cond.mean()), "per_layer_grad_norm": per_layer}
    msg = (f"the gradient reaching the first layer {first} is {med:.2g} times the one at the last layer {last} "
           f"(median over {int(cond.sum())} samples; threshold {_t(thresholds, 'vanish_ratio'):g}), "
           f"so the early layers barely learn")
    return [Finding(VANISHING_GRADIENTS, "error", msg, step=step, epoch=epoch, layer=first, evidence=ev)]


# ------------------------------------------------------------------- units
def rule_symmetric_init(stats, thresholds=None) -> list:
    """symmetric_init: all units (weight rows and biases) of a hidden layer identical at the first and
    the last sample (relative unit spread < symmetric_spread): they started equal and stayed equal."""
    out = []
    layers = stats.get("layers", [])
    spread = stats.get("unit_spread", {})
    thr = _t(thresholds, "symmetric_spread")
    for layer in layers[:-1]:  # the output layer's units are different classes; they need not differ at init
        s = _a(spread.get(layer["name"], []))
        if s.size == 0 or layer["fan_out"] < 2 or not (xp.isfinite(s[0]) and xp.isfinite(s[-1])):
            continue
        if s[0] < thr and s[-1] < thr:
            step, epoch = _where(stats, 0)
            ev = {"units": layer["fan_out"], "spread_first": float(s[0]), "spread_last": float(s[-1]),
                  "threshold": thr, "weight_std": stats.get("weight_std", {}).get(layer["name"], [None])[-1]}
            msg = (f"all {layer['fan_out']} units of layer {layer['name']} ({layer['type']}) are identical from the "
                   f"start to the end of training (relative spread {s[-1]:.1e}): they compute one feature")
            out.append(Finding(SYMMETRIC_INIT, "error", msg, step=step, epoch=epoch, layer=layer["name"], evidence=ev))
    return out


def _unit_rule(stats, thresholds, key, kinds, threshold_key, code, what, of="units"):
    out = []
    series = stats.get(key, {})
    acts = {a["name"]: a for a in stats.get("activations", [])}
    thr = _t(thresholds, threshold_key)
    for name, values in series.items():
        v = _a(values)
        a = acts.get(name, {"kind": None, "after": None})
        if a.get("kind") not in kinds or v.size == 0:
            continue
        with xp.errstate(invalid="ignore"):
            cond = v > thr
        idx = _first_persistent(cond, _t(thresholds, "persist_count"), _t(thresholds, "persist_window"))
        tail = v[-_t(thresholds, "persist_window"):]
        tail = tail[xp.isfinite(tail)]
        if idx is None or tail.size == 0 or not (xp.median(tail) > thr):
            continue  # must still hold at the end of the run
        step, epoch = _where(stats, idx)
        final = float(xp.median(tail))
        ev = {"fraction": final, "fraction_at_step": float(v[idx]), "threshold": thr, "kind": a["kind"],
              "after_layer": a.get("after"), "first_value": float(v[0])}
        severity = "error" if final >= 0.999 else "warning"
        msg = (f"{final:.0%} of the {of} of {a['kind']} layer {name}"
               + (f" (after layer {a['after']})" if a.get("after") else "")
               + f" are {what} (threshold {thr:.0%}), from step {step}")
        out.append(Finding(code, severity, msg, step=step, epoch=epoch, layer=name, evidence=ev))
    return out


def rule_dead_relu(stats, thresholds=None) -> list:
    """dead_relu: more than dead_fraction (AUTOTRAINER γ = 0.7) of a ReLU layer's units are dead
    (active in < 1% of the samples), persistently and still at the end."""
    return _unit_rule(stats, thresholds, "dead_frac", ("relu",), "dead_fraction", DEAD_RELU,
                      "dead (zero for every sample)")


def rule_saturation(stats, thresholds=None) -> list:
    """saturation: more than saturated_fraction (SageMaker's 50%) of a sigmoid/tanh layer's outputs are
    saturated (the derivative below 1% of its maximum), persistently and at the end."""
    found = _unit_rule(stats, thresholds, "sat_frac", ("sigmoid", "tanh"), "saturated_fraction", SATURATION,
                       "saturated (at the flat ends, derivative < 1% of its maximum)", of="outputs")
    for f in found:
        units = stats.get("sat_units", {}).get(f.layer)
        if units:
            f.evidence["units_always_saturated"] = units[-1]  # SageMaker's unit-level measure
    return found


# ------------------------------------------------------------ loss curves
def _finite_loss(stats):
    loss = _a(stats.get("loss", []))
    nan = stats.get("nan_step")
    if nan is not None:
        loss = loss[:nan]
    return loss[xp.isfinite(loss)] if loss.size else loss


def _lr_at(stats, step):
    steps, lr = stats.get("steps", []), stats.get("lr", [])
    best = None
    for s, v in zip(steps, lr):
        if s <= step:
            best = v
    return best if best is not None else (lr[0] if lr else None)


def rule_lr_too_high(stats, thresholds=None) -> list:
    """lr_too_high: divergence (a step's loss above diverge_factor x the lowest so far and
    diverge_start_factor x the first, at two steps or just before a NaN), or AUTOTRAINER's oscillation
    (epochs whose accuracy drops by ≥ ζ = 0.03 in ≥ η = 20% of the epochs)."""
    out = []
    loss = _a(stats.get("loss", []))
    nan = stats.get("nan_step")
    end = nan if nan is not None else loss.size
    if end >= 2:
        L = loss[:end]
        runmin = xp.minimum.accumulate(L)
        with xp.errstate(invalid="ignore"):
            cond = xp.zeros(end, dtype=bool)
            cond[1:] = (L[1:] > _t(thresholds, "diverge_factor") * runmin[:-1]) & (
                L[1:] > _t(thresholds, "diverge_start_factor") * L[0])
        hits = xp.flatnonzero(cond)
        fire = hits.size >= 2 or (hits.size >= 1 and nan is not None and nan - hits[0] <= 10)
        if fire:
            s = int(hits[0])
            ev = {"form": "divergence", "loss_at_step": float(L[s]), "lowest_before": float(runmin[s - 1]),
                  "first_loss": float(L[0]),
                  "diverging_steps": int(hits.size), "lr": _lr_at(stats, s),
                  "threshold_factor": _t(thresholds, "diverge_factor")}
            if nan is not None:
                ev["nan_step"] = int(nan)
            msg = (f"the loss diverged: {L[s]:.3g} at step {s}, {L[s] / max(runmin[s - 1], 1e-30):.3g} times its lowest "
                   f"value so far ({runmin[s - 1]:.3g})"
                   + (f", before turning NaN at step {nan}" if nan is not None else ""))
            sev = "error" if nan is not None else "warning"
            out.append(Finding(LR_TOO_HIGH, sev, msg, step=s, epoch=_epoch_of_step(stats, s), evidence=ev))
            return out
    rows = stats.get("epochs", [])
    if len(rows) >= _t(thresholds, "oscillation_min_epochs"):
        if all("accuracy" in r for r in rows):
            a = _a([r["accuracy"] for r in rows])
            drops = a[:-1] - a[1:]
            thr, what = _t(thresholds, "oscillation_drop"), "training accuracy"
        else:
            a = _a([r.get("loss", xp.nan) for r in rows])
            with xp.errstate(invalid="ignore", divide="ignore"):
                drops = (a[1:] - a[:-1]) / xp.abs(a[:-1])
            thr, what = _t(thresholds, "oscillation_loss_rise"), "training loss"
        with xp.errstate(invalid="ignore"):
            bad = drops >= thr
        if bad.sum() >= max(2, _t(thresholds, "oscillation_rate") * len(rows)):
            e = int(xp.flatnonzero(bad)[0]) + 1
            ev = {"form": "oscillation", "swings": int(bad.sum()), "epochs": len(rows),
                  "largest_swing": float(xp.nanmax(drops)),
                  "threshold_swing": thr, "threshold_rate": _t(thresholds, "oscillation_rate"),
                  "lr": rows[e].get("lr")}
            msg = (f"the {what} oscillates: it got worse by ≥ {thr:g} in {int(bad.sum())} of {len(rows)} epochs "
                   f"(first at epoch {e + 1})")
            out.append(Finding(LR_TOO_HIGH, "warning", msg, epoch=e, evidence=ev))
    return out


def _max_layer_update_median(stats):
    ur = stats.get("update_ratio", {})
    meds = [_median(v) for v in ur.values() if len(v)]
    meds = [m for m in meds if math.isfinite(m)]
    return max(meds) if meds else float("nan")


def rule_lr_too_low(stats, thresholds=None) -> list:
    """lr_too_low: the loss fell by less than min_progress over the run while the largest layer's median
    update-to-weight ratio stayed below update_ratio_low, or AUTOTRAINER's slow convergence (no epoch
    gains δ = 0.01 accuracy, training and validation, while both stay below Θ = 0.7)."""
    L = _finite_loss(stats)
    upd = _max_layer_update_median(stats)
    lr = stats.get("lr", [None])[-1] if stats.get("lr") else None
    if stats.get("nan_step") is not None:
        return []
    if L.size >= _t(thresholds, "min_steps_progress"):
        w = max(3, L.size // 10)
        start, end = float(xp.median(L[:w])), float(xp.median(L[-w:]))
        progress = (start - end) / abs(start) if start != 0 else 0.0
        if progress < _t(thresholds, "min_progress") and not (upd >= _t(thresholds, "update_ratio_low") * 10):
            small = upd < _t(thresholds, "update_ratio_low")
            ev = {"progress": progress, "loss_start": start, "loss_end": end, "steps": int(L.size),
                  "update_ratio": upd, "threshold_progress": _t(thresholds, "min_progress"),
                  "threshold_update_ratio": _t(thresholds, "update_ratio_low"), "lr": lr}
            msg = (f"the loss fell only {progress:.1%} in {L.size} steps ({start:.3g} to {end:.3g}); the largest "
                   f"update-to-weight ratio is {upd:.1e}"
                   + (" (healthy runs: about 1e-3)" if small else ""))
            return [Finding(LR_TOO_LOW, "warning" if small else "info", msg, epoch=None, evidence=ev)]
    rows = stats.get("epochs", [])
    if len(rows) >= 3 and all("accuracy" in r for r in rows):
        a = _a([r["accuracy"] for r in rows])
        va = _a([r["val_accuracy"] for r in rows]) if all("val_accuracy" in r for r in rows) else None
        slow = xp.max(xp.diff(a)) < _t(thresholds, "slow_delta") and a.max() < _t(thresholds, "satisfied_accuracy")
        if va is not None:
            slow = slow and xp.max(xp.diff(va)) < _t(thresholds, "slow_delta") and va.max() < _t(
                thresholds, "satisfied_accuracy")
        if slow and not (upd >= _t(thresholds, "update_ratio_low") * 10):
            ev = {"max_epoch_gain": float(xp.max(xp.diff(a))), "best_accuracy": float(a.max()),
                  "threshold_gain": _t(thresholds, "slow_delta"), "update_ratio": upd, "lr": lr}
            msg = (f"no epoch raised the accuracy by {_t(thresholds, 'slow_delta'):g} or more "
                   f"(best gain {ev['max_epoch_gain']:.3g}, best accuracy {a.max():.3g})")
            return [Finding(LR_TOO_LOW, "warning", msg, evidence=ev)]
    return []


def rule_overfitting(stats, thresholds=None) -> list:
    """overfitting: the validation loss rose ≥ overfit_rise above its minimum for ≥ overfit_patience
    epochs while the training loss kept falling and (val − train)/train > overfit_ratio (SageMaker's
    Overfit, 0.1); or AUTOTRAINER's accuracy gap in the last two epochs. The epoch is where the
    validation loss turned (its minimum). With early stopping that restored that epoch the finding is info.

    Severity: the accuracy-gap form is a warning (the gap is the cost). The validation-loss form is a
    warning where it cost something measurable: without accuracy (the loss is then the metric), or the final
    validation accuracy ≥ overfit_acc_drop (AUTOTRAINER's ζ = 0.03) below its best (seed 000: "test
    accuracy peaks and then drops"), or the final accuracy gap ≥ AUTOTRAINER's test_not_well gap; a
    validation loss that rises while the accuracy holds is the beginning of overfitting, reported as info.

    Both forms need, where accuracy is recorded, a final training accuracy ≥ Θ = satisfied_accuracy (0.7,
    AUTOTRAINER's "satisfied" level): overfitting is fitting the training set too closely, and a model
    below Θ on its own training samples has not fit it (AUTOTRAINER judges unsatisfied accuracy first; that
    is ``rule_underfitting``'s case, and a validation loss that rises there is instability, not memory)."""
    rows = stats.get("epochs", [])
    if len(rows) < 3 or not all("val_loss" in r and "loss" in r for r in rows):
        return []
    vl, tl = _a([r["val_loss"] for r in rows]), _a([r["loss"] for r in rows])
    if not (xp.isfinite(vl).all() and xp.isfinite(tl).all()):
        return []
    e = int(xp.argmin(vl))
    after = len(rows) - 1 - e
    rise = float((vl[-1] - vl[e]) / abs(vl[e])) if vl[e] != 0 else 0.0
    gap = float((vl[-1] - tl[-1]) / abs(tl[-1])) if tl[-1] != 0 else float("inf")
    ev = {"turn_epoch": e, "val_loss_min": float(vl[e]), "val_loss_final": float(vl[-1]), "rise": rise,
          "train_loss_at_turn": float(tl[e]), "train_loss_final": float(tl[-1]), "gap_ratio": gap,
          "threshold_ratio": _t(thresholds, "overfit_ratio"), "threshold_rise": _t(thresholds, "overfit_rise")}
    found = None
    has_acc = all("accuracy" in r and "val_accuracy" in r for r in rows)
    if has_acc and not rows[-1]["accuracy"] >= _t(thresholds, "satisfied_accuracy"):
        return []
    acc_gap = float(rows[-1]["accuracy"] - rows[-1]["val_accuracy"]) if has_acc else None
    if acc_gap is not None:
        ev["accuracy_gap"] = acc_gap
    if (after >= _t(thresholds, "overfit_patience") and rise >= _t(thresholds, "overfit_rise")
            and tl[-1] < tl[e] and gap > _t(thresholds, "overfit_ratio")
            and (acc_gap is None or acc_gap >= _t(thresholds, "overfit_min_acc_gap"))):
        found = (e, f"the validation loss was lowest at epoch {e + 1} ({vl[e]:.3g}) and rose {rise:.0%} by epoch "
                    f"{len(rows)} ({vl[-1]:.3g}) while the training loss fell to {tl[-1]:.3g}")
    elif has_acc and gap > _t(thresholds, "overfit_ratio"):
        ta, va = _a([r["accuracy"] for r in rows]), _a([r["val_accuracy"] for r in rows])
        need = xp.where(ta > 0.9, _t(thresholds, "overfit_acc_gap_high"), _t(thresholds, "overfit_acc_gap"))
        wide = (ta - va) >= need
        if wide[-2:].all():
            start = len(rows) - 1
            while start > 0 and wide[start - 1]:
                start -= 1
            ev.update({"train_accuracy": float(ta[-1]), "val_accuracy": float(va[-1]), "turn_epoch": start})
            found = (start, f"training accuracy {ta[-1]:.3g} is {ta[-1] - va[-1]:.3g} above validation accuracy "
                            f"{va[-1]:.3g} since epoch {start + 1}")
    if found is None:
        return []
    severity = "warning"
    if has_acc and "train_accuracy" not in ev:  # the validation-loss form, where accuracy is recorded
        va_all = _a([r["val_accuracy"] for r in rows])
        drop = float(va_all.max() - va_all[-1])
        need_gap = _t(thresholds, "overfit_acc_gap_high" if rows[-1]["accuracy"] > 0.9 else "overfit_acc_gap")
        ev.update({"val_accuracy_best": float(va_all.max()), "val_accuracy_drop": drop,
                   "threshold_acc_drop": _t(thresholds, "overfit_acc_drop")})
        if drop < _t(thresholds, "overfit_acc_drop") and not acc_gap >= need_gap:
            severity = "info"
            found = (found[0], found[1] + f"; the validation accuracy is still within {drop:.3g} of its best "
                                          f"{float(va_all.max()):.3g} (nothing lost yet)")
    rep = _represented_gap(stats.get("class_accuracy"), 10.0)  # 10: the data check's imbalance threshold
    if rep is not None:
        ev.update(rep)
        if "represented_train_accuracy" in rep:
            ev["represented_gap_threshold"] = _t(thresholds, "overfit_acc_gap_high" if
                                                 rep["represented_train_accuracy"] > 0.9 else "overfit_acc_gap")
    es = stats.get("early_stopping") or {}
    if es.get("restore_best_weights") and es.get("best_epoch") is not None:
        ev["early_stopping_restored_epoch"] = es["best_epoch"]
        severity = "info"
    return [Finding(OVERFITTING, severity, found[1], epoch=found[0], evidence=ev)]


def _represented_gap(ca, imbalance):
    """The training − validation accuracy gap over the classes the training set represents: a class c with
    n_c ≥ max_c n_c / ``imbalance`` training samples and a training share at least half its validation share
    (sample-weighted over those classes' samples). A split whose class distributions differ makes a gap on
    the under-represented classes whatever the model does; a gap that persists on the represented classes
    is the model's (it memorized its training samples). None without per-class scores or represented classes."""
    if not ca or not ca.get("train") or not ca.get("val"):
        return None
    nt, nv = _a(ca["train_counts"]), _a(ca["val_counts"])
    k = min(len(nt), len(nv))
    nt, nv = nt[:k], nv[:k]
    if nt.sum() == 0 or nv.sum() == 0:
        return None
    pt, pv = nt / nt.sum(), nv / nv.sum()
    ok = (nt > 0) & (nv > 0) & (nt >= nt.max() / imbalance) & (pt >= 0.5 * pv)
    if not ok.any():
        return {"represented_classes": []}
    at = _a([a if a is not None else 0.0 for a in ca["train"][:k]])
    av = _a([a if a is not None else 0.0 for a in ca["val"][:k]])
    tr_acc = float((at * nt)[ok].sum() / nt[ok].sum())
    va_acc = float((av * nv)[ok].sum() / nv[ok].sum())
    return {"represented_classes": [int(c) for c in xp.flatnonzero(ok)], "represented_train_accuracy": tr_acc,
            "represented_val_accuracy": va_acc, "represented_gap": tr_acc - va_acc,
            "represented_val_share": float(pv[ok].sum())}


def rule_underfitting(stats, thresholds=None) -> list:
    """underfitting: best training and validation accuracy both below Θ = 0.7 (AUTOTRAINER) and within
    underfit_gap of each other; without accuracy, a final training loss above underfit_loss_fraction
    of the first epoch's."""
    rows = stats.get("epochs", [])
    if len(rows) < 2 or stats.get("nan_step") is not None:
        return []
    tl = _a([r.get("loss", xp.nan) for r in rows])
    third = max(1, len(rows) // 3)
    with xp.errstate(invalid="ignore", divide="ignore"):
        recent = float((tl[-third - 1] - tl[-1]) / abs(tl[-third - 1])) if len(rows) > third else 0.0
    still = recent > 0.05
    if all("accuracy" in r for r in rows):
        ta = _a([r["accuracy"] for r in rows])
        va = _a([r["val_accuracy"] for r in rows]) if all("val_accuracy" in r for r in rows) else None
        theta = _t(thresholds, "satisfied_accuracy")
        if ta.max() >= theta or (va is not None and va.max() >= theta):
            return []
        if va is not None and abs(ta.max() - va.max()) > _t(thresholds, "underfit_gap"):
            return []
        ev = {"best_train_accuracy": float(ta.max()), "best_val_accuracy": None if va is None else float(va.max()),
              "threshold_accuracy": theta, "recent_loss_improvement": recent, "still_improving": still}
        msg = (f"the best training accuracy is {ta.max():.3g}" + ("" if va is None else f" and validation {va.max():.3g}")
               + f", both below {theta:g}" + ("; the loss is still falling: train longer" if still
                                               else "; the loss has levelled off: the model is too weak"))
    else:
        frac = float(tl[-1] / tl[0]) if tl[0] else 0.0
        if not frac > _t(thresholds, "underfit_loss_fraction"):
            return []
        ev = {"final_over_first_loss": frac, "threshold": _t(thresholds, "underfit_loss_fraction"),
              "recent_loss_improvement": recent, "still_improving": still}
        msg = f"the final training loss is {frac:.0%} of the first epoch's"
    # capacity evidence: a hidden layer with fewer units than the output has (a 2-unit bottleneck in front
    # of 10 classes) cannot separate the classes however long it trains
    layers = stats.get("layers", [])
    hidden = [l["fan_out"] for l in layers[:-1] if l.get("fan_out")]
    if hidden and layers[-1].get("fan_out"):
        ev["narrowest_hidden"] = int(min(hidden))
        ev["bottleneck"] = bool(min(hidden) < layers[-1]["fan_out"])
    # a loss that has levelled off (or a bottleneck) says the model is too weak: a bigger one first, then
    # longer training; a loss still falling through a wide enough model: longer training first
    if not still or ev.get("bottleneck"):
        remedies = ["widen_model", "train_longer", "reduce_regularization", "scale_lr_up"]
        if still:
            msg += f"; but a hidden layer has only {ev['narrowest_hidden']} units: widen the model first"
    else:
        remedies = []
    return [Finding(UNDERFITTING, "warning", msg, epoch=len(rows) - 1, evidence=ev, remedies=remedies)]


def input_scale_problem(summary: dict, thresholds=None):
    """(problem text or None, evidence) for an input summary (``monitors.input_summary``)."""
    if not summary:
        return None, {}
    rms, spread_den = summary["rms"], summary["std_median"]
    spread = summary["std_max"] / spread_den if spread_den > 0 else float("inf") if summary["std_max"] > 0 else 1.0
    ev = {"rms": rms, "mean": summary["mean"], "std_median": summary["std_median"], "std_max": summary["std_max"],
          "std_spread": spread, "samples": summary["n"],
          "sagemaker_mean_check": abs(summary["mean"]) > _t(thresholds, "input_mean")}
    for key, bad in (("input_rms_high", rms > _t(thresholds, "input_rms_high")),
                     ("input_rms_low", 0 < rms < _t(thresholds, "input_rms_low"))):
        if bad:
            return f"the inputs' root mean square is {rms:.3g} (expected about 1; threshold {_t(thresholds, key):g})", ev
    if spread > _t(thresholds, "input_spread"):
        return (f"the features' standard deviations span {spread:.3g}x (largest {summary['std_max']:.3g}, median "
                f"{summary['std_median']:.3g}; threshold {_t(thresholds, 'input_spread'):g}x)"), ev
    return None, ev


def rule_unnormalized_inputs(stats, thresholds=None) -> list:
    """unnormalized_inputs: inputs' rms outside [0.1, 10], or feature std spread > 100x (the notes'
    [0, 1] next to [1, 1000]); read from the monitor's input summary."""
    problem, ev = input_scale_problem(stats.get("input") or {}, thresholds)
    if problem is None:
        return []
    return [Finding(UNNORMALIZED_INPUTS, "warning", problem, step=0, epoch=0, layer="input", evidence=ev)]


RULES = [rule_nan_loss, rule_exploding_gradients, rule_vanishing_gradients, rule_symmetric_init, rule_dead_relu,
         rule_saturation, rule_lr_too_high, rule_lr_too_low, rule_overfitting, rule_underfitting,
         rule_unnormalized_inputs]

# a finding explained by another one (the cause) is kept as info. The table is a root-cause order: data and
# initialization (inputs, symmetric or dead-at-birth units) come before the dynamics they produce (vanishing or
# exploding gradients, a loss that stalls or oscillates), and those before the scores (under/overfitting)
CAUSES = {
    # unscaled inputs saturate tanh/sigmoid units or drive ReLU nets into dead units: either way the gradient
    # stops reaching the first layer
    VANISHING_GRADIENTS: (SYMMETRIC_INIT, SOFTMAX_BEFORE_LOGITS_LOSS, UNNORMALIZED_INPUTS, SATURATION, DEAD_RELU),
    EXPLODING_GRADIENTS: (UNNORMALIZED_INPUTS,),
    # a net whose ReLUs are dead from the start has a loss that stalls and wobbles whatever the step size
    LR_TOO_HIGH: (UNNORMALIZED_INPUTS, SYMMETRIC_INIT, DEAD_RELU),
    DEAD_RELU: (UNNORMALIZED_INPUTS, SYMMETRIC_INIT),
    LR_TOO_LOW: (VANISHING_GRADIENTS, SYMMETRIC_INIT, DEAD_RELU, SATURATION, SOFTMAX_BEFORE_LOGITS_LOSS,
                 INPUT_DROPOUT),
    UNDERFITTING: (LR_TOO_LOW, LR_TOO_HIGH, VANISHING_GRADIENTS, EXPLODING_GRADIENTS, SYMMETRIC_INIT, DEAD_RELU,
                   SATURATION, SOFTMAX_BEFORE_LOGITS_LOSS, INPUT_DROPOUT, NAN_LOSS, UNNORMALIZED_INPUTS,
                   UNREPRESENTATIVE_TRAIN),
    SATURATION: (UNNORMALIZED_INPUTS, SYMMETRIC_INIT),
    # saturated units from unscaled inputs act as random binary features: the net memorizes the training set
    # through them, and the train/validation gap is theirs (not of too little data or too big a model)
    OVERFITTING: (UNNORMALIZED_INPUTS, SATURATION),
}
# unit conditions that the symptom itself can cause (a too-high learning rate kills ReLUs; vanishing gradients
# leave units where the init put them): they explain such a symptom only if they held at the first sample,
# before any step could have produced them
_BORN = {(LR_TOO_HIGH, DEAD_RELU), (VANISHING_GRADIENTS, DEAD_RELU), (VANISHING_GRADIENTS, SATURATION),
         (OVERFITTING, SATURATION)}
# lr_too_high's oscillation form (not its divergence) is what a model that cannot learn looks like too
OSCILLATION_CAUSES = (SYMMETRIC_INIT, VANISHING_GRADIENTS, SOFTMAX_BEFORE_LOGITS_LOSS)
# a gap between training and validation scores is what splits with different class distributions show,
# whatever the model does: overfitting is then a consequence of the split (not of a split that is only small,
# which is a cause of real overfitting, seed 003 "Reasons behind overfitting": "Small datasets")
_DISTRIBUTION_PROBLEMS = {"imbalance", "missing_classes", "proportions"}

_ORDER = [NAN_LOSS, SYMMETRIC_INIT, EXPLODING_GRADIENTS, LR_TOO_HIGH, VANISHING_GRADIENTS, SOFTMAX_BEFORE_LOGITS_LOSS,
          DEAD_RELU, SATURATION, UNNORMALIZED_INPUTS, INPUT_DROPOUT, LR_TOO_LOW, OVERFITTING, UNDERFITTING,
          UNREPRESENTATIVE_TRAIN, UNREPRESENTATIVE_VALIDATION]


def rank_findings(findings: list) -> list:
    """Merge duplicates (same code and layer: keep the graver, then the earlier), lower explained
    symptoms to info, and sort: worst severity first, then causes before symptoms."""
    best = {}
    for f in findings:
        key = (f.code, f.layer)
        cur = best.get(key)
        if cur is None:
            best[key] = f
            continue
        keep, other = (f, cur) if (severity_rank(f.severity), -_order_step(f)) > (
            severity_rank(cur.severity), -_order_step(cur)) else (cur, f)
        for k, v in other.evidence.items():  # what the other one measured confirms the kept one
            keep.evidence.setdefault(k, v)
        best[key] = keep
    out = list(best.values())
    present = {f.code for f in out if severity_rank(f.severity) >= 1}
    born = {f.code for f in out if severity_rank(f.severity) >= 1 and _from_start(f)}
    split_causes = tuple(f.code for f in out if severity_rank(f.severity) >= 1
                         and f.code in (UNREPRESENTATIVE_TRAIN, UNREPRESENTATIVE_VALIDATION)
                         and _DISTRIBUTION_PROBLEMS & set(f.evidence.get("problems") or ()))
    # a hidden layer narrower than the output (underfitting's ``bottleneck``) cannot fit the classes whatever
    # the step size, and its training accuracy swings as its few units are pulled between them: an oscillation
    # is then the bottleneck's (the structure is a cause known before any step), not the learning rate's.
    # A divergence stays the learning rate's.
    severe = [f for f in out if severity_rank(f.severity) >= 1]
    narrow = any(f.code == UNDERFITTING and f.evidence.get("bottleneck") for f in severe)
    swings_only = all(f.evidence.get("form") == "oscillation" for f in severe if f.code == LR_TOO_HIGH)
    for f in out:
        possible = CAUSES.get(f.code, ())
        if f.code == LR_TOO_HIGH and f.evidence.get("form") == "oscillation":
            possible = possible + OSCILLATION_CAUSES + ((UNDERFITTING,) if narrow else ())
        if f.code == UNDERFITTING and narrow and swings_only:
            possible = tuple(c for c in possible if c != LR_TOO_HIGH)
        if f.code == OVERFITTING and not _gap_is_the_models(f):
            possible = possible + split_causes
        if (f.code == UNREPRESENTATIVE_VALIDATION and f.evidence.get("train_to_blame")
                and set(f.evidence.get("problems") or ()) <= {"proportions"}):
            possible = possible + (UNREPRESENTATIVE_TRAIN,)  # validation is fine; training is the skewed one
        causes = [c for c in possible if c in present and c != f.code and ((f.code, c) not in _BORN or c in born)]
        if causes and severity_rank(f.severity) >= 1:
            f.severity = "info"
            f.evidence["consequence_of"] = causes[0]
            f.message += f" (explained by {causes[0]})"
    out.sort(key=lambda f: (-severity_rank(f.severity), _ORDER.index(f.code) if f.code in _ORDER else 99,
                            _order_step(f)))
    return out


def _gap_is_the_models(f) -> bool:
    """An overfitting finding whose accuracy gap persists on the classes the training set represents
    (``represented_gap`` ≥ AUTOTRAINER's test_not_well gap: 0.07 above 0.9 training accuracy, else 0.1):
    the split's class distribution does not explain it, the model memorized (a big model on a small set
    that is also imbalanced by chance is both). Both findings then stay warnings."""
    g, need = f.evidence.get("represented_gap"), f.evidence.get("represented_gap_threshold")
    return g is not None and need is not None and g >= need


def _from_start(f) -> bool:
    """A unit finding (dead_relu, saturation) whose condition already held at the first sample."""
    first, thr = f.evidence.get("first_value"), f.evidence.get("threshold")
    return first is not None and thr is not None and first > thr


def _order_step(f):
    if f.when == "before":
        return -1
    return f.step if f.step is not None else (f.epoch if f.epoch is not None else 10**9)


def evaluate(stats: dict, thresholds=None, extra=()) -> list:
    """Run every rule on ``stats`` (plus ``extra`` findings, e.g. pre-training checks) and rank them."""
    unknown = set(thresholds or {}) - set(THRESHOLDS)
    if unknown:
        raise ValueError(f"evaluate: unknown threshold(s) {sorted(unknown)}; known: {sorted(THRESHOLDS)}")
    found = [Finding.from_dict(f.to_dict()) for f in extra]  # ranking edits findings: never the caller's
    for rule in RULES:
        found.extend(rule(stats, thresholds))
    return rank_findings(found)
