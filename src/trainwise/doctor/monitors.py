"""Monitors: hooks that record plain statistics of a training run.

``Monitor`` is a ``Callback`` plus forward hooks. It never changes the run;
it records numbers that the rules in ``trainwise.doctor.rules`` read:

- every step: the training loss;
- on sampled steps (all of the first ``warmup`` steps, then every ``every``-th):
  per weighted layer (a module with a ``weight`` of 2 or more dimensions:
  Linear, Conv) the gradient norm ‖∇W‖ (read in ``on_after_backward``,
  before clipping), the weight standard deviation and the update-to-weight
  ratio ‖W_after − W_before‖ / ‖W_before‖ of that step; per activation module (ReLU, Sigmoid, Tanh, ...) the
  mean and standard deviation of its output, the fraction of exact zeros, the
  fraction of dead units (ReLU: active, > 0, in fewer than ``inactive`` of
  the samples), and for sigmoid/tanh the fraction of saturated outputs
  (derivative below ``saturation_derivative`` of its maximum, σ' = σ(1−σ) ≤ 1/4
  and tanh' = 1 − tanh² ≤ 1) and of units saturated in more than
  1 − ``inactive`` of the samples;
  the global gradient norm and whether every gradient is finite;
- at the first sample and at the end of the fit, the unit spread
  maxᵢ‖rᵢ − r̄‖ / (‖R‖/√n) of each layer's rows rᵢ = [Wᵢ, bᵢ] (0 when all its
  units are identical);
- on the first sampled batches, the per-feature mean and standard deviation
  of the input of the first weighted layer (the check of the inputs' scale);
- per epoch, the History row (loss, metrics, validation loss and metrics, lr);
- a few activation histograms per layer (at the start, 1/3, 2/3 and the end).

``monitor.stats`` is a dict of lists and numbers only (JSON-serializable), so
the same rules could diagnose a PyTorch run through a thin adapter that fills
the same dict. Its keys are documented in ``docs/doctor.md``.

Sampling keeps the cost low: on a step that is not sampled the hooks return
at once. ``bench/doctor_overhead.py`` measures the overhead of the default.
The unit-level definitions follow SageMaker Debugger's DeadRelu and
SaturatedActivation rules (threshold_inactivity = 1%).
"""
from __future__ import annotations

import math

from ..backend import xp
from ..train.callbacks import Callback

__all__ = ["Monitor", "DEFAULT_EVERY", "input_summary", "weighted_layers", "activation_kind", "new_stats"]

# sampled every k-th step after the warm-up: measured by bench/doctor_overhead.py on the default
# MNIST-1D MLP to keep the monitoring overhead under 5% of training time
DEFAULT_EVERY = 20
DEFAULT_WARMUP = 5

_DEAD_KINDS = ("relu",)
_SATURATING = ("sigmoid", "tanh")


def activation_kind(module) -> str | None:
    """"relu", "sigmoid", "tanh", ... (the lowercase class name) for an activation module, else None."""
    from ..nn import activation as A

    kinds = {A.ReLU: "relu", A.Sigmoid: "sigmoid", A.Tanh: "tanh", A.LeakyReLU: "leaky_relu", A.ELU: "elu",
             A.SELU: "selu", A.SiLU: "silu", A.GELU: "gelu", A.Softplus: "softplus", A.PReLU: "prelu",
             A.Softmax: "softmax", A.LogSoftmax: "log_softmax"}
    return kinds.get(type(module))


def weighted_layers(model):
    """[(name, module)] of modules with a ``weight`` parameter of ≥ 2 dimensions, in registration order."""
    out = []
    for name, m in model.named_modules():
        w = m._parameters.get("weight") if hasattr(m, "_parameters") else None
        if w is not None and w.data.ndim >= 2:
            out.append((name or type(m).__name__, m))
    return out


def input_summary(X, max_rows: int = 20000) -> dict:
    """Plain summary of input scale: n, n_features, mean, rms, per-feature std min/median/max, constant fraction.

    ``X`` is an array of shape (N, ...) (flattened per sample). Used by the
    pre-training check and, from running sums, by the monitor.
    """
    a = xp.asarray(X)
    if a.ndim == 0 or a.shape[0] == 0 or a.dtype.kind not in "fiub":
        return {}
    a = a.reshape(a.shape[0], -1)[:max_rows].astype(xp.float64)
    n = a.shape[0]
    return _summary(a.sum(axis=0), (a * a).sum(axis=0), n)


def _summary(s1, s2, n) -> dict:
    mean = s1 / n
    var = xp.maximum(s2 / n - mean * mean, 0.0)
    std = xp.sqrt(var)
    nonconst = std[std > 1e-12]
    med = float(xp.median(nonconst)) if nonconst.size else 0.0
    return {
        "n": int(n), "n_features": int(mean.size),
        "mean": float(mean.mean()), "abs_mean_max": float(xp.abs(mean).max()),
        "rms": float(math.sqrt(max(float(s2.sum()) / (n * mean.size), 0.0))),
        "std_min": float(nonconst.min()) if nonconst.size else 0.0,
        "std_median": med,
        "std_max": float(std.max()),
        "constant_fraction": float(1.0 - nonconst.size / mean.size),
    }


def new_stats() -> dict:
    """An empty statistics dict with every key the rules read."""
    return {
        "every": DEFAULT_EVERY, "warmup": DEFAULT_WARMUP, "steps_per_epoch": 0, "epochs_planned": 0,
        "layers": [], "activations": [],
        "steps": [], "sample_epoch": [], "lr": [],
        "grad_norm": {}, "weight_std": {}, "update_ratio": {}, "unit_spread": {}, "spread_steps": [],
        "grad_total": [], "grad_finite": [],
        "act_mean": {}, "act_std": {}, "zero_frac": {}, "dead_frac": {}, "sat_frac": {}, "sat_units": {},
        "loss": [], "epochs": [], "input": {}, "hist": {}, "nan_step": None,
        "early_stopping": None, "optimizer": None,
    }


class Monitor(Callback):
    """Record the statistics the doctor's rules read (see the module docstring).

    Args:
        every: sample every ``every``-th step after the warm-up (default ``DEFAULT_EVERY``).
        warmup: sample each of the first ``warmup`` steps (explosions happen early).
        inactive: a ReLU unit active in fewer than this fraction of the samples
            is dead; a sigmoid/tanh unit saturated in more than 1 − this is
            saturated (SageMaker Debugger's threshold_inactivity, 1%).
        saturation_derivative: an output counts as saturated where the
            activation's derivative is below this fraction of its maximum.
        histograms: number of activation histograms kept per layer.
        input_batches: sampled batches whose inputs enter the input-scale summary.

    Example: ``mon = Monitor(every=20); Trainer(model, loss, opt, callbacks=[mon]).fit(...); mon.stats``
    """

    def __init__(self, every: int = DEFAULT_EVERY, warmup: int = DEFAULT_WARMUP, inactive: float = 0.01,
                 saturation_derivative: float = 1e-2, histograms: int = 4, input_batches: int = 20):
        for name, v in (("every", every), ("warmup", warmup), ("histograms", histograms),
                        ("input_batches", input_batches)):
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "every" else 0):
                raise ValueError(f"Monitor: '{name}' must be an int >= {1 if name == 'every' else 0}; got {v!r}")
        for name, v in (("inactive", inactive), ("saturation_derivative", saturation_derivative)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ValueError(f"Monitor: '{name}' must be a number in (0, 1); got {v!r}")
        self.every, self.warmup = every, warmup
        self.inactive, self.saturation_derivative = float(inactive), float(saturation_derivative)
        self.n_hist, self.input_batches = histograms, input_batches
        self.stats = new_stats()
        self._handles, self._order_handles = [], []
        self._recording_order = False
        self._step = -1
        self._on = False
        self._order = None
        self._cur = {}
        self._before = {}
        self._layers = []
        self._acts = []
        self._hist_steps = set()
        self._in = None
        self._in_batches = 0

    # ----------------------------------------------------------------- hooks
    def attach(self, model) -> None:
        """Find the weighted layers and activations of ``model`` and hook them."""
        self.detach()
        self._layers = weighted_layers(model)
        self._acts = [(name or type(m).__name__, m, activation_kind(m)) for name, m in model.named_modules()
                      if activation_kind(m) is not None]
        self._order = []
        self._order_handles = [m.register_forward_hook(self._order_hook(name, "layer")) for name, m in self._layers]
        for name, m, kind in self._acts:
            self._handles.append(m.register_forward_hook(self._act_hook(name, kind)))
        # the inputs as the first weighted layer sees them (after a normalizing first layer, if any)
        first = [m for _, m in self._layers if type(m).__name__ != "Embedding"]  # token ids are no scale
        target = first[0] if first else model
        self._handles.append(target.register_forward_pre_hook(self._input_hook))

    def detach(self) -> None:
        for h in self._handles + self._order_handles:
            h.remove()
        self._handles, self._order_handles = [], []

    def _order_hook(self, name, what):
        def hook(module, inputs, output):
            if self._on and self._order is not None and self._recording_order:
                self._order.append((what, name))
        return hook

    def _act_hook(self, name, kind):
        def hook(module, inputs, output):
            if not self._on:
                return None
            if self._order is not None and self._recording_order:
                self._order.append(("act", name))
            y = output.data if hasattr(output, "data") else output
            with xp.errstate(all="ignore"):  # a diverging run overflows here; the rules report it
                self._cur[name] = self._activation_stats(y, kind, name)
            return None
        return hook

    def _input_hook(self, module, inputs):
        if not self._on or self._in_batches >= self.input_batches or not inputs:
            return None
        x = inputs[0]
        a = x.data if hasattr(x, "data") else x
        a = xp.asarray(a)
        if a.ndim == 0 or a.dtype.kind != "f":
            return None
        a = a.reshape(a.shape[0], -1).astype(xp.float64)
        if self._in is None or self._in[0].shape != (a.shape[1],):
            self._in = [xp.zeros(a.shape[1]), xp.zeros(a.shape[1]), 0]
        self._in[0] += a.sum(axis=0)
        self._in[1] += (a * a).sum(axis=0)
        self._in[2] += a.shape[0]
        self._in_batches += 1
        return None

    def _activation_stats(self, y, kind, name) -> dict:
        y = xp.asarray(y)
        flat = y.reshape(-1)
        n = max(flat.size, 1)
        mean = float(flat.sum()) / n
        out = {"mean": mean, "std": math.sqrt(max(float(xp.vdot(flat, flat)) / n - mean * mean, 0.0))}
        axes = (0,) + tuple(range(2, y.ndim)) if y.ndim >= 2 else (0,)
        per_unit = n // (y.shape[1] if y.ndim >= 2 else 1)
        if kind in _DEAD_KINDS:
            active = xp.add.reduce((y > 0).view(xp.uint8), axis=axes, dtype=xp.int32)
            out["zero"] = 1.0 - float(active.sum()) / n
            out["dead"] = float((active < self.inactive * per_unit).mean())
        elif kind in _SATURATING:
            deriv = 4.0 * y * (1.0 - y) if kind == "sigmoid" else 1.0 - y * y
            sat = xp.add.reduce((deriv < self.saturation_derivative).view(xp.uint8), axis=axes, dtype=xp.int32)
            out["sat"] = float(sat.sum()) / n
            out["sat_units"] = float((sat > (1.0 - self.inactive) * per_unit).mean())
        if self._step in self._hist_steps:
            sample = flat[::max(1, flat.size // 4096)]  # a histogram's shape needs a few thousand values
            sample = sample[xp.isfinite(sample)]
            if sample.size:
                lo, hi = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}.get(kind, (None, None))
                if lo is None:
                    lo, hi = float(sample.min()), float(sample.max())
                    if hi <= lo:
                        hi = lo + 1.0
                idx = ((sample - lo) * (30 / (hi - lo))).astype(xp.int64)
                counts = xp.bincount(xp.clip(idx, 0, 29), minlength=30)  # np.histogram's bins, 5x faster
                edges = xp.linspace(lo, hi, 31)
                self.stats["hist"].setdefault(name, []).append(
                    {"step": self._step, "edges": edges.tolist(), "counts": counts.tolist()})
        return out

    # ------------------------------------------------------------- callbacks
    def _sampled(self, step: int) -> bool:
        return step < self.warmup or step % self.every == 0

    def on_fit_begin(self, trainer):
        st = self.stats = new_stats()
        st["every"], st["warmup"] = self.every, self.warmup
        st["steps_per_epoch"], st["epochs_planned"] = int(trainer.steps_per_epoch), int(trainer.epochs)
        opt = trainer.optimizer
        base = getattr(opt, "base_optimizer", opt)
        st["optimizer"] = {"type": type(base).__name__, "lr": float(opt.param_groups[0]["lr"]),
                           "lookahead": base is not opt}
        self._in, self._in_batches = None, 0
        self._recording_order = True
        self.attach(trainer.model)
        first = int(trainer.global_step) if getattr(trainer, "_resuming", False) else 0
        total = max(1, int(trainer.epochs) * int(trainer.steps_per_epoch))
        marks = [first + int(round(f * (total - 1 - first))) for f in
                 ([0.0] if self.n_hist == 1 else [i / (self.n_hist - 1) for i in range(self.n_hist)])]
        # a histogram is taken at the last sampled step at or before each mark
        self._hist_steps = {mk if self._sampled(mk) else mk - mk % self.every for mk in marks[:self.n_hist]}
        self._step = -1

    def on_batch_begin(self, trainer, step):
        self._step = step
        self._on = self._sampled(step)
        if self._on:
            self._cur = {}

    def on_after_backward(self, trainer, step):
        if not self._on:
            return
        with xp.errstate(all="ignore"):
            self._record_grads(trainer)

    def _record_grads(self, trainer):
        total_sq, finite = 0.0, True
        grads, wstats = {}, {}
        for name, m in self._layers:
            w = m._parameters["weight"]
            wd = w.data
            w_sq = float(xp.vdot(wd, wd))
            w_mean = float(wd.sum()) / wd.size
            wstats[name] = (math.sqrt(max(w_sq / wd.size - w_mean * w_mean, 0.0)), math.sqrt(max(w_sq, 0.0)))
            g = w.grad
            if g is None:
                grads[name] = None
                continue
            sq = float(xp.vdot(g, g))
            if not math.isfinite(sq):
                finite = finite and bool(xp.isfinite(g).all())
            grads[name] = math.sqrt(sq) if sq >= 0 else float("nan")
            total_sq += sq
            self._before[name] = wd.copy()
        for p in _other_params(trainer, self._layers):
            if p.grad is not None:
                sq = float(xp.vdot(p.grad, p.grad))
                if not math.isfinite(sq):
                    finite = finite and bool(xp.isfinite(p.grad).all())
                total_sq += sq
        self._cur["__grads__"] = grads
        self._cur["__weights__"] = wstats
        self._cur["__total__"] = math.sqrt(total_sq) if total_sq >= 0 else float("nan")
        self._cur["__finite__"] = finite

    def on_batch_end(self, trainer, step, logs):
        st = self.stats
        loss = logs.get("loss")
        loss = float(loss) if loss is not None else float("nan")
        st["loss"].append(loss)
        if not math.isfinite(loss) and st["nan_step"] is None:
            st["nan_step"] = int(step)
        if not self._on:
            return
        self._on = False
        with xp.errstate(all="ignore"):
            self._record_sample(trainer, step)

    def _record_sample(self, trainer, step):
        st = self.stats
        if self._recording_order:
            self._finish_order()
        st["steps"].append(int(step))
        st["sample_epoch"].append(int(trainer.epoch))
        st["lr"].append(float(trainer.optimizer.param_groups[0]["lr"]))
        grads = self._cur.get("__grads__", {})
        st["grad_total"].append(self._cur.get("__total__", float("nan")))
        st["grad_finite"].append(bool(self._cur.get("__finite__", True)))
        wstats = self._cur.get("__weights__", {})
        for name, m in self._layers:
            w = m._parameters["weight"].data
            g = grads.get(name)
            st["grad_norm"].setdefault(name, []).append(float("nan") if g is None else g)
            w_std, w_norm = wstats.get(name, (float("nan"), float("nan")))
            st["weight_std"].setdefault(name, []).append(w_std)
            before = self._before.pop(name, None)
            if before is not None:
                xp.subtract(w, before, out=before)  # the step's update, in the copy's memory
                st["update_ratio"].setdefault(name, []).append(math.sqrt(float(xp.vdot(before, before))) / (w_norm + 1e-12))
            else:
                st["update_ratio"].setdefault(name, []).append(float("nan"))
        if len(st["steps"]) == 1:
            self._record_spread(int(step))
        for name, m, kind in self._acts:
            a = self._cur.get(name)
            for key, src in (("act_mean", "mean"), ("act_std", "std"), ("zero_frac", "zero"),
                             ("dead_frac", "dead"), ("sat_frac", "sat"), ("sat_units", "sat_units")):
                if src in ("zero", "dead") and kind not in _DEAD_KINDS:
                    continue
                if src in ("sat", "sat_units") and kind not in _SATURATING:
                    continue
                st[key].setdefault(name, []).append(float("nan") if a is None else a.get(src, float("nan")))

    def _record_spread(self, step):
        # symmetric units: the rule compares the first and the last value, so the first sample and the
        # end of the fit are enough
        st = self.stats
        if st["spread_steps"] and st["spread_steps"][-1] == step:
            return
        st["spread_steps"].append(step)
        with xp.errstate(all="ignore"):
            for name, m in self._layers:
                st["unit_spread"].setdefault(name, []).append(_unit_spread(m))

    def on_epoch_end(self, trainer, epoch, logs):
        row = {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
               for k, v in logs.items()}
        self.stats["epochs"].append(row)

    def on_fit_end(self, trainer):
        self.finalize(trainer.global_step - 1)
        for cb in trainer.callbacks:
            if type(cb).__name__ == "EarlyStopping":
                self.stats["early_stopping"] = {
                    "monitor": cb.monitor, "restore_best_weights": bool(cb.restore_best_weights),
                    "best_epoch": cb.best_epoch, "stopped_epoch": cb.stopped_epoch}
        self.detach()

    # -------------------------------------------------------------- helpers
    def finalize(self, step: int) -> None:
        """Bring the summaries up to ``step`` (the input scale, the unit spread): done at the fit's end,
        and by ``Doctor.diagnose()`` when it is asked mid-run."""
        self._update_input()
        if self._layers and self.stats["steps"]:
            self._record_spread(int(step))

    def _update_input(self):
        if self._in is not None and self._in[2] > 0:
            self.stats["input"] = _summary(self._in[0], self._in[1], self._in[2])

    def _finish_order(self):
        """Put layers and activations in the order the forward pass met them, and pair each layer
        with the activation that follows it."""
        self._recording_order = False
        order = self._order or []
        seen, seq = set(), []
        for what, name in order:
            if (what, name) not in seen:
                seen.add((what, name))
                seq.append((what, name))
        layer_pos = {n: i for i, (w, n) in enumerate(seq) if w == "layer"}
        act_pos = {n: i for i, (w, n) in enumerate(seq) if w == "act"}
        big = len(seq) + 1
        self._layers.sort(key=lambda t: layer_pos.get(t[0], big))
        self._acts.sort(key=lambda t: act_pos.get(t[0], big))
        kinds = {n: k for n, _, k in self._acts}
        after_of, act_of = {}, {}
        last_layer = None
        for what, name in seq:
            if what == "layer":
                last_layer = name
            elif last_layer is not None and name not in after_of:
                after_of[name] = last_layer
                act_of.setdefault(last_layer, name)
        self.stats["layers"] = []
        for name, m in self._layers:
            w = m._parameters["weight"].data
            self.stats["layers"].append({
                "name": name, "type": type(m).__name__, "shape": list(w.shape),
                "fan_in": int(math.prod(w.shape[1:])), "fan_out": int(w.shape[0]),
                "activation": kinds.get(act_of.get(name)), "activation_layer": act_of.get(name)})
        self.stats["activations"] = [{"name": n, "type": type(m).__name__, "kind": k, "after": after_of.get(n)}
                                     for n, m, k in self._acts]
        self._order = None
        for h in self._order_handles:  # the order is known: the layers' own hooks are no longer needed
            h.remove()
        self._order_handles = []


def _other_params(trainer, layers):
    ids = {id(m._parameters["weight"]) for _, m in layers}
    return [p for g in trainer.optimizer.param_groups for p in g["params"] if id(p) not in ids]


def _unit_spread(m) -> float:
    """maxᵢ‖rᵢ − r̄‖ / (‖R‖/√n) over the rows rᵢ = [Wᵢ, bᵢ]: 0 when the layer's units are identical."""
    w = m._parameters["weight"].data
    rows = w.reshape(w.shape[0], -1)
    b = m._parameters.get("bias")
    if b is not None:
        rows = xp.concatenate([rows, b.data.reshape(-1, 1)], axis=1)
    if rows.shape[0] < 2:
        return float("nan")
    dev = rows - rows.mean(axis=0)
    scale = math.sqrt(float(xp.vdot(rows, rows)) / rows.shape[0])
    spread = math.sqrt(float((dev * dev).sum(axis=1).max()))
    return spread / scale if scale > 0 else 0.0
