"""Callbacks: code that watches the training loop through named hooks only.

The Trainer calls, in order, ``on_fit_begin``, then per epoch
``on_epoch_begin``, per batch ``on_batch_begin``, ``on_after_backward`` (the
gradients exist, before clipping and the optimizer step), ``on_batch_end``,
then ``on_epoch_end`` with the epoch's logs, and ``on_fit_end``. A callback
stops training by setting ``trainer.stop_training = True``. Callbacks that
carry state across epochs (early stopping) give it in ``state_dict`` so that a
resumed run continues exactly.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import time


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_begin(self, trainer): ...
    def on_fit_end(self, trainer): ...
    def on_epoch_begin(self, trainer, epoch: int): ...
    def on_epoch_end(self, trainer, epoch: int, logs: dict): ...
    def on_batch_begin(self, trainer, step: int): ...
    def on_after_backward(self, trainer, step: int): ...
    def on_batch_end(self, trainer, step: int, logs: dict): ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _better(mode: str, monitor: str):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"'mode' must be 'auto', 'min' or 'max'; got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has stopped improving (Keras's ``EarlyStopping``).

    Args:
        monitor: the log to watch, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: a change smaller than this does not count as an improvement.
        patience: epochs without improvement after which training stops.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies, min otherwise).
        baseline: training stops if the monitor does not beat this within ``patience`` epochs.
        restore_best_weights: at the end, put back the weights of the best epoch —
            both when patience ran out and when training ended first (Keras ≥ 2.x
            restores only on a stop; trainwise always restores, which is what a
            user asking for the best weights wants).
        start_from_epoch: epochs to wait before counting (warm-up).

    Seed 002 "Early stopping": keep part of the data for validation and stop
    when its performance starts to worsen. Example:
    ``EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)``.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, mode: str = "auto",
                 baseline: float | None = None, restore_best_weights: bool = False, start_from_epoch: int = 0,
                 verbose: int = 0):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: 'patience' must be an int >= 0; got {patience!r}")
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"EarlyStopping: 'min_delta' must be a number >= 0; got {min_delta!r}")
        self.monitor, self.min_delta, self.patience = monitor, float(min_delta), patience
        self.mode = _better(mode, monitor)
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch, self.verbose = start_from_epoch, verbose
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = None
        self.best = None
        self.best_epoch = None
        self.best_weights = None

    def _improved(self, value: float) -> bool:
        ref = self.best if self.best is not None else self.baseline
        if ref is None:
            return True
        return value < ref - self.min_delta if self.mode == "min" else value > ref + self.min_delta

    def on_fit_begin(self, trainer):
        if not getattr(trainer, "_resuming", False):
            self._reset()

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs.get(self.monitor)
        if value is None and trainer.stop_training:
            return  # another callback stopped mid-epoch, so validation was skipped
        if value is None:
            raise KeyError(
                f"EarlyStopping: 'monitor' {self.monitor!r} is not in the logs; available: {sorted(logs)}"
                + (" (pass validation data to fit() for val_* metrics)" if self.monitor.startswith("val_") else "")
            )
        if epoch < self.start_from_epoch or (isinstance(value, float) and math.isnan(value)):
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            if self.verbose:
                print(f"EarlyStopping: {self.monitor} has not improved for {self.wait} epochs "
                      f"(best {self.best:.6g} at epoch {self.best_epoch}); stopping", file=sys.stderr)

    def on_fit_end(self, trainer):
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.wait, self.best = state["wait"], state["best"]
        self.best_epoch, self.stopped_epoch = state["best_epoch"], state["stopped_epoch"]

    # the best weights travel with checkpoints as arrays, see Trainer.checkpoint
    def arrays(self):
        return self.best_weights or {}

    def load_arrays(self, arrays):
        self.best_weights = dict(arrays) if arrays else None


class TerminateOnNaN(Callback):
    """Stop as soon as the training loss is NaN or infinite (Keras's ``TerminateOnNaN``).

    The trainer records ``trainer.stop_reason`` so the run store and the doctor
    can say why the run ended.
    """

    def on_batch_end(self, trainer, step, logs):
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            trainer.stop_training = True
            trainer.stop_reason = f"loss became {loss} at step {step}"
            print(f"TerminateOnNaN: loss became {loss} at step {step}; stopping", file=sys.stderr)


class ModelCheckpoint(Callback):
    """Save a full checkpoint (weights, optimizer, scheduler, RNG and loop state).

    Args:
        path: the checkpoint file (``.safetensors``); written atomically.
        monitor / mode / save_best_only: with ``save_best_only`` only an epoch
            that improves ``monitor`` is saved (Keras's semantics).
        every_n_steps: also save every n optimizer steps, mid-epoch, so that a
            killed run can resume close to where it died.
    """

    def __init__(self, path, monitor: str = "val_loss", mode: str = "auto", save_best_only: bool = False,
                 every_n_steps: int | None = None):
        if every_n_steps is not None and (not isinstance(every_n_steps, int) or every_n_steps <= 0):
            raise ValueError(f"ModelCheckpoint: 'every_n_steps' must be a positive int or None; got {every_n_steps!r}")
        self.path, self.monitor, self.save_best_only = str(path), monitor, save_best_only
        self.mode = _better(mode, monitor)
        self.every_n_steps = every_n_steps
        self.best = None

    def on_batch_end(self, trainer, step, logs):
        if self.every_n_steps and (step + 1) % self.every_n_steps == 0 and not trainer.stop_training:
            trainer.save_checkpoint(self.path)

    def on_epoch_end(self, trainer, epoch, logs):
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(f"ModelCheckpoint: 'monitor' {self.monitor!r} is not in the logs; available: {sorted(logs)}")
            if self.best is not None and not (value < self.best if self.mode == "min" else value > self.best):
                return
            self.best = float(value)
        trainer._pending_epoch_checkpoint = self.path

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state.get("best")


class LearningRateScheduler(Callback):
    """Step a ``trainwise.optim.lr_scheduler`` scheduler per optimizer step or per epoch.

    ``interval="step"`` suits warmup and one-cycle schedules (their step counts
    are in optimizer steps); ``"epoch"`` suits StepLR-style decays.
    ``ReduceLROnPlateau`` is stepped at each epoch's end with ``monitor``.
    """

    def __init__(self, scheduler, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("epoch", "step"):
            raise ValueError(f"LearningRateScheduler: 'interval' must be 'epoch' or 'step'; got {interval!r}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        self._plateau = type(scheduler).__name__ == "ReduceLROnPlateau"

    def on_batch_end(self, trainer, step, logs):
        if self.interval == "step" and not self._plateau:
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch, logs):
        if self._plateau:
            value = logs.get(self.monitor, logs.get("loss"))
            self.scheduler.step(value)
        elif self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self):
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state["scheduler"])


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss and metrics; one summary line per epoch."""

    def __init__(self, file=None, leave: bool = False):
        self.file, self.leave = file, leave
        self._bar = None

    def on_epoch_begin(self, trainer, epoch):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=trainer.steps_per_epoch, desc=f"epoch {epoch + 1}/{trainer.epochs}",
                         file=self.file or sys.stderr, leave=self.leave, dynamic_ncols=True,
                         disable=not (self.file or sys.stderr).isatty() if self.file is None else False)

    def on_batch_end(self, trainer, step, logs):
        if self._bar is not None:
            self._bar.update(1)
            if self._bar.n % 10 == 0:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in trainer.running_logs().items()}, refresh=False)

    def on_epoch_end(self, trainer, epoch, logs):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k not in ("epoch", "time") and v is not None)
        print(f"epoch {epoch + 1}/{trainer.epochs}  {shown}  ({logs.get('time', 0):.1f}s)",
              file=self.file or sys.stderr, flush=True)


class CSVLogger(Callback):
    """Append each epoch's logs as a row of a CSV file (Keras's ``CSVLogger``)."""

    def __init__(self, path, append: bool = False):
        self.path, self.append = str(path), append

    def on_fit_begin(self, trainer):
        if not self.append and not getattr(trainer, "_resuming", False) and os.path.exists(self.path):
            os.remove(self.path)

    def on_epoch_end(self, trainer, epoch, logs):
        new = not os.path.exists(self.path)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(logs))
            if new:
                w.writeheader()
            w.writerow(logs)


class JSONLogger(Callback):
    """Write the whole history as JSON after every epoch."""

    def __init__(self, path):
        self.path = str(path)

    def on_epoch_end(self, trainer, epoch, logs):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"rows": trainer.history.rows, "written": time.time()}, f, indent=1)
        os.replace(tmp, self.path)


class LambdaCallback(Callback):
    """Build a callback from plain functions: ``LambdaCallback(on_epoch_end=lambda t, e, logs: ...)``."""

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)
