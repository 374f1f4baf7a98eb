"""The Doctor: checks before training, monitors during it, rules after each epoch, repair on request.

``Trainer(model, loss, optimizer, doctor="watch")`` attaches a ``Doctor``:
it runs the pre-training checks (``checks.py``), records the statistics
(``monitors.Monitor``), evaluates the rules (``rules.evaluate``) at every
epoch's end and at the end of the fit, and keeps the findings in
``trainer.doctor.findings``. With ``doctor="repair"`` the trainer then
applies the ranked remedies, retrains and keeps what helps
(``remedies.repair``); ``trainer.doctor.repairs`` says what it changed and
what that bought.

``diagnose(model, loss, optimizer, train, val, epochs)`` does the same in one
call and returns a ``Diagnosis`` (the findings, the history, the raw
statistics), the entry point for scripts and benchmarks that run many small
runs.
"""
from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field

from ..backend import Generator
from ..train.callbacks import Callback
from .checks import run_checks
from .findings import CODES, Finding, severity_rank
from .monitors import DEFAULT_EVERY, DEFAULT_WARMUP, Monitor
from .rules import THRESHOLDS, evaluate

__all__ = ["Doctor", "Diagnosis", "diagnose"]

_MODES = ("watch", "repair")
_SPLIT_CODES = ("unrepresentative_train", "unrepresentative_validation")
_DISTRIBUTION = {"imbalance", "missing_classes", "proportions"}
# after one of these the weights are no longer a good place to restart from
_UNSOUND = {"nan_loss", "lr_too_high", "exploding_gradients", "dead_relu", "saturation"}


class Doctor(Callback):
    """Watch a run and name what goes wrong; with ``mode="repair"`` also fix it.

    Args:
        mode: ``"watch"`` (report) or ``"repair"`` (report, then apply the
            ranked remedies, retrain, keep what helps).
        every, warmup: the monitor samples each of the first ``warmup`` steps
            and then every ``every``-th (see ``Monitor``; the default keeps the
            overhead under 5%, measured by ``bench/doctor_overhead.py``).
        checks: run the pre-training checks.
        thresholds: overrides of ``rules.THRESHOLDS`` (a dict).
        stop_on_nan: stop the run at the end of the epoch in which the loss
            became NaN/inf (nothing can be learned after it); the reason goes
            to ``trainer.stop_reason``.
        verbose: print each new finding of warning or worse when it appears (the rules
            then run at every epoch's end; otherwise once, at the end of the fit).
        max_rounds: repair rounds (each one retrains).
        generator: the ``Generator`` for re-initializations and new dropout
            layers in repairs (default: seeded 0, so repairs are reproducible).

    After a fit: ``findings`` (ranked ``Finding`` list), ``stats`` (the plain
    statistics), ``repairs`` (repair rounds), ``summary()``, ``report(dir)``.

    Example: ``Trainer(model, nn.CrossEntropyLoss(), opt, doctor="watch").fit((X, y), (Xv, yv), epochs=10)``
    """

    def __init__(self, mode: str = "watch", every: int = DEFAULT_EVERY, warmup: int = DEFAULT_WARMUP,
                 checks: bool = True, thresholds: dict | None = None, stop_on_nan: bool = True,
                 verbose: bool = False, max_rounds: int = 3, generator: Generator | None = None):
        if mode not in _MODES:
            raise ValueError(f"Doctor: 'mode' must be 'watch' or 'repair'; got {mode!r}")
        unknown = set(thresholds or {}) - set(THRESHOLDS)
        if unknown:
            raise ValueError(f"Doctor: unknown threshold(s) {sorted(unknown)} in 'thresholds'; known: {sorted(THRESHOLDS)}")
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise ValueError(f"Doctor: 'max_rounds' must be a positive int; got {max_rounds!r}")
        self.mode, self.checks, self.thresholds = mode, checks, dict(thresholds or {})
        self.stop_on_nan, self.verbose, self.max_rounds = stop_on_nan, verbose, max_rounds
        self.monitor = Monitor(every=every, warmup=warmup)
        self.generator = generator if generator is not None else Generator(0)
        self.findings: list[Finding] = []
        self.pre_findings: list[Finding] = []
        self.repairs: list[dict] = []
        self.repair_summary: dict | None = None
        self.repaired_data = None  # after a repair that split the data again: the (train, val) it used
        self.original_findings: list = []   # in repair mode: the first run's findings and statistics
        self.original_stats: dict | None = None
        self.healthy_state = None
        self.healthy_epoch = None
        self._data = (None, None)
        self._in_repair = False
        self._initial = None
        self._initial_settings = None
        self._user_objects = None
        self._announced = set()

    # ---------------------------------------------------------- the Trainer's side
    def set_data(self, train, val=None) -> None:
        """The trainer hands over its data so the data checks and repairs can see it."""
        self._data = (train, val)

    def wants_repair(self) -> bool:
        return self.mode == "repair" and not self._in_repair

    def repair(self, trainer, train, val=None, epochs: int = 1, batch_size=32, shuffle: bool = True):
        """Apply the remedies to the run just made (``remedies.repair``); returns the best History."""
        from .remedies import repair

        return repair(trainer, self, train, val, epochs=epochs, batch_size=batch_size, shuffle=shuffle)

    @property
    def stats(self) -> dict:
        return self.monitor.stats

    # ----------------------------------------------------------------- callbacks
    def on_fit_begin(self, trainer):
        if not self._in_repair:
            self.repairs, self.repair_summary, self.repaired_data = [], None, None
            if self.mode == "repair":
                self._user_objects = (trainer.model, trainer.optimizer, trainer.scheduler)
                self._initial = copy.deepcopy((trainer.model, trainer.optimizer, trainer.scheduler))
                self._initial_settings = {"clip_grad_norm": trainer.clip_grad_norm, "l1": trainer.l1,
                                          "l2": trainer.l2, "callbacks": list(trainer.callbacks)}
        self.pre_findings = []
        if self.checks:
            self.pre_findings = run_checks(trainer.model, trainer.loss_fn, trainer.optimizer, *self._data,
                                           thresholds=self.thresholds)
        self.findings = evaluate({}, self.thresholds, extra=self.pre_findings) if self.pre_findings else []
        self._announced = set()
        self._announce()
        self.healthy_state, self.healthy_epoch = (trainer.model.state_dict() if self.mode == "repair" else None), None
        self.monitor.on_fit_begin(trainer)

    def on_batch_begin(self, trainer, step):
        self.monitor.on_batch_begin(trainer, step)

    def on_after_backward(self, trainer, step):
        self.monitor.on_after_backward(trainer, step)

    def on_batch_end(self, trainer, step, logs):
        self.monitor.on_batch_end(trainer, step, logs)

    def on_epoch_end(self, trainer, epoch, logs):
        self.monitor.on_epoch_end(trainer, epoch, logs)
        st = self.monitor.stats
        if self.stop_on_nan and st["nan_step"] is not None and not trainer.stop_training:
            # at the epoch's end, not at the NaN itself, so that the epoch's logs (and the callbacks that
            # need its validation metrics) are complete; TerminateOnNaN stops at once
            trainer.stop_training = True
            trainer.stop_reason = trainer.stop_reason or f"doctor: the loss became NaN/inf at step {st['nan_step']}"
        first = st["loss"][0] if st["loss"] else math.nan
        loss = logs.get("loss", math.nan)
        if self.mode == "repair" and not self._in_repair and st["nan_step"] is None and math.isfinite(loss) \
                and loss <= 1.5 * first:
            # for rollback: the last epoch at which the run was still sound
            sick = {f.code for f in evaluate(st, self.thresholds) if severity_rank(f.severity) >= 1} & _UNSOUND
            if not sick:
                self.healthy_state, self.healthy_epoch = trainer.model.state_dict(), epoch
        if self.verbose:  # otherwise the rules run once, at the end (diagnose() runs them any time)
            self.findings = self.diagnose()
            self._announce()

    def on_fit_end(self, trainer):
        self.monitor.on_fit_end(trainer)
        if any(f.code in _SPLIT_CODES and _DISTRIBUTION & set(f.evidence.get("problems") or ())
               for f in self.pre_findings):
            # only then: whether the train/validation gap is the split's or the model's needs per-class scores
            self.monitor.stats["class_accuracy"] = class_accuracy(trainer, *self._data)
        self.findings = evaluate(self.monitor.stats, self.thresholds, extra=self.pre_findings)
        self._announce()

    def _announce(self):
        if not self.verbose:
            return
        for f in self.findings:
            key = (f.code, f.layer)
            if severity_rank(f.severity) >= 1 and key not in self._announced:
                self._announced.add(key)
                print(f"doctor: {f.severity}: {f.code} ({f.where()}): {f.message}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ results
    def diagnose(self) -> list:
        """The findings for the statistics recorded so far (also callable mid-run, e.g. from a callback)."""
        self.monitor.finalize(self.monitor._step)
        return evaluate(self.monitor.stats, self.thresholds, extra=self.pre_findings)

    def codes(self, min_severity: str = "warning") -> set:
        """The codes of the findings at least as grave as ``min_severity``."""
        r = severity_rank(min_severity)
        return {f.code for f in self.findings if severity_rank(f.severity) >= r}

    def summary(self, min_severity: str = "info") -> str:
        """The findings in plain words, one block each (worst first)."""
        r = severity_rank(min_severity)
        shown = [f for f in self.findings if severity_rank(f.severity) >= r]
        lines = [f"doctor: {len(shown)} finding(s)" + ("" if shown else ": nothing wrong found")]
        lines += [str(f) for f in shown]
        if self.repairs:
            lines.append("repairs:")
            for e in self.repairs:
                on_top = f" (on top of: {'; '.join(e['kept_from_before'])})" if e.get("kept_from_before") else ""
                verdict = "kept" if e["accepted"] else ("built on next" if e.get("explored") else "undone")
                lines.append(f"  round {e['round']}: " + "; ".join(a["change"] for a in e["applied"]) + on_top
                             + f" -> {e['metric']} {e['score_before']:.4g} -> {e['score_after']:.4g} ({verdict})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Findings and repairs as plain data (what ``trainwise train`` stores in the run store)."""
        return {"findings": [f.to_dict() for f in self.findings], "repairs": self.repairs,
                "repair_summary": self.repair_summary}

    def report(self, directory, title: str = "doctor") -> dict:
        """Write the doctor's plots into ``directory`` and a self-contained ``doctor.html`` (after a repair,
        the first run's findings and plots too); returns the paths."""
        from .report import write_doctor_report

        original = (self.original_findings, self.original_stats) if self.repairs else None
        return write_doctor_report(directory, self.findings, self.monitor.stats, self.repairs, title=title,
                                   original=original)


def class_accuracy(trainer, train, val) -> dict | None:
    """Per-class accuracy (recall) of ``trainer.model`` in eval mode on the training and validation
    arrays: {"train": [acc_c or None], "val": [...], "train_counts": [n_c], "val_counts": [...]}; None when
    the data are not class-labelled arrays. What ``rules.rule_overfitting`` reads to tell a gap that the
    split's class distribution makes from one the model makes."""
    from ..backend import xp
    from .checks import _classes, data_arrays

    tr, va = data_arrays(train), data_arrays(val)
    if tr is None or va is None or _classes(tr[1]) is None or _classes(va[1]) is None:
        return None
    k = int(max(tr[1].max(), va[1].max())) + 1
    out = {}
    for name, (X, y) in (("train", tr), ("val", va)):
        try:
            with xp.errstate(all="ignore"):
                pred = xp.argmax(trainer.predict(X), axis=-1)
        except (ValueError, FloatingPointError, RuntimeError):
            return None
        y = xp.asarray(y).astype(xp.int64)
        n = xp.bincount(y, minlength=k)
        hit = xp.bincount(y, weights=(pred == y).astype(xp.float64), minlength=k)
        out[name] = [float(h / c) if c else None for h, c in zip(hit, n)]
        out[name + "_counts"] = n.tolist()
    return out


@dataclass
class Diagnosis:
    """What ``diagnose`` returns: ``findings`` (ranked), ``history`` (the History), ``stats`` (the plain
    statistics), ``repairs`` (repair rounds, empty in watch mode), ``doctor`` and ``trainer``.
    Iterating gives the findings; ``codes()`` the codes of warning or worse."""

    findings: list
    history: object
    stats: dict
    repairs: list = field(default_factory=list)
    doctor: object = None
    trainer: object = None

    def __iter__(self):
        return iter(self.findings)

    def __len__(self):
        return len(self.findings)

    def codes(self, min_severity: str = "warning") -> set:
        r = severity_rank(min_severity)
        return {f.code for f in self.findings if severity_rank(f.severity) >= r}

    def get(self, code: str):
        """The (first, i.e. gravest) finding with ``code``, or None."""
        if code not in CODES:
            raise ValueError(f"Diagnosis.get: 'code' must be one of {', '.join(CODES)}; got {code!r}")
        return next((f for f in self.findings if f.code == code), None)

    def summary(self, min_severity: str = "info") -> str:
        return self.doctor.summary(min_severity)


def diagnose(model, loss, optimizer, train, val=None, epochs: int = 5, batch_size: int | None = 32,
             mode: str = "watch", metrics=("accuracy",), every: int = DEFAULT_EVERY, warmup: int = DEFAULT_WARMUP,
             thresholds: dict | None = None, generator: Generator | None = None, callbacks=(), verbose: bool = False,
             checks: bool = True, **trainer_kwargs) -> Diagnosis:
    """Train ``model`` under the doctor and return its ``Diagnosis``.

    ``train``/``val`` are what ``Trainer.fit`` takes ((X, y) arrays, a
    Dataset or a DataLoader). ``mode="repair"`` also repairs. Other keyword
    arguments go to ``Trainer`` (``scheduler``, ``clip_grad_norm``, ``l2``, ...); ``checks=False``
    skips the pre-training checks (the monitored run alone must then show the problem).
    ``generator`` shuffles the data (default: seeded 0, so a diagnosis is
    reproducible).

    Example: ``d = diagnose(model, nn.CrossEntropyLoss(), opt, (X, y), (Xv, yv), epochs=10); d.codes()``
    """
    from ..train.trainer import Trainer

    doctor = Doctor(mode=mode, every=every, warmup=warmup, thresholds=thresholds, verbose=verbose, checks=checks)
    trainer = Trainer(model, loss, optimizer, callbacks=callbacks, metrics=metrics, doctor=doctor,
                      generator=generator if generator is not None else Generator(0), **trainer_kwargs)
    history = trainer.fit(train, val, epochs=epochs, batch_size=batch_size)
    return Diagnosis(list(doctor.findings), history, doctor.monitor.stats, list(doctor.repairs), doctor, trainer)
