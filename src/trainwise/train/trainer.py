"""The training loop.

One step is the notes' recipe (seed 000, "Training Process of a Neural
Network"): forward pass, loss (plus L1/L2 penalties if asked), backward pass,
gradient clipping if asked, optimizer update, learning-rate schedule. The
loop's observers (early stopping, checkpoints, progress, loggers, the doctor)
are callbacks that see it through hooks only.
"""
from __future__ import annotations

import time

from ..backend import Generator, default_generator, xp
from ..tensor import Tensor, no_grad
from .callbacks import Callback, LearningRateScheduler, ProgressBar
from .checkpoint import join_arrays, load_checkpoint, save_checkpoint, split_arrays
from .history import History
from .metrics import resolve_metrics


class Trainer:
    """Fit a model: ``Trainer(model, loss, optimizer, ...).fit(train, val, epochs)``.

    Args:
        model: a ``trainwise.nn.Module``.
        loss: ``loss(output, target) -> scalar Tensor`` (e.g. ``nn.CrossEntropyLoss()``).
        optimizer: a ``trainwise.optim`` optimizer over the model's parameters.
        scheduler: a learning-rate scheduler, stepped every ``scheduler_interval``
            (``"epoch"`` or ``"step"``); ReduceLROnPlateau is stepped with
            ``val_loss`` at each epoch's end.
        callbacks: more ``Callback`` objects (EarlyStopping, ModelCheckpoint, ...).
        metrics: names ("accuracy", "mse", "mae") or ``fn(output, target) -> float``.
        clip_grad_norm / clip_grad_value: clip gradients before each step
            (global L2 norm, or elementwise), seed 002 "Gradient clipping".
        l1 / l2: add λ₁Σ|w| and (λ₂/2)Σw² over the weights (not biases) to the
            loss, see ``trainwise.regularization``.
        progress: show a progress bar and one line per epoch.
        doctor: None, ``"watch"`` (name what goes wrong: ``trainer.doctor.findings``),
            ``"repair"`` (also apply the remedies and retrain; see ``trainwise.doctor``)
            or a ``trainwise.doctor.Doctor``.
        generator: the ``Generator`` that shuffles the training data the
            trainer batches itself (default: one seeded from the default generator).
    """

    def __init__(self, model, loss, optimizer, scheduler=None, callbacks=(), metrics=("accuracy",),
                 clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
                 l1: float = 0.0, l2: float = 0.0, scheduler_interval: str = "epoch",
                 progress: bool = False, generator: Generator | None = None, doctor=None):
        from ..nn.module import Module
        from ..optim.optimizer import Optimizer

        if not isinstance(model, Module):
            raise TypeError(f"Trainer: 'model' must be a trainwise.nn.Module; got {type(model).__name__}")
        if not callable(loss):
            raise TypeError(f"Trainer: 'loss' must be callable as loss(output, target); got {loss!r}")
        if not isinstance(optimizer, Optimizer) and not hasattr(optimizer, "param_groups"):
            raise TypeError(f"Trainer: 'optimizer' must be a trainwise.optim optimizer; got {type(optimizer).__name__}")
        for name, v in (("clip_grad_norm", clip_grad_norm), ("clip_grad_value", clip_grad_value)):
            if v is not None and (not isinstance(v, (int, float)) or v <= 0):
                raise ValueError(f"Trainer: '{name}' must be a positive number or None; got {v!r}")
        for name, v in (("l1", l1), ("l2", l2)):
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"Trainer: '{name}' must be a number >= 0; got {v!r}")
        self.model, self.loss_fn, self.optimizer = model, loss, optimizer
        self.metrics = resolve_metrics(metrics)
        self.clip_grad_norm, self.clip_grad_value = clip_grad_norm, clip_grad_value
        self.l1, self.l2 = float(l1), float(l2)
        self.callbacks: list[Callback] = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: every callback must be a trainwise Callback; got {type(cb).__name__}")
        self.scheduler = scheduler
        if scheduler is not None:
            self.callbacks.insert(0, LearningRateScheduler(scheduler, interval=scheduler_interval))
        if progress:
            self.callbacks.append(ProgressBar())
        self.doctor = None
        if doctor is not None:
            from ..doctor import Doctor

            if not isinstance(doctor, Doctor) and doctor not in ("watch", "repair"):
                raise ValueError(f"Trainer: 'doctor' must be None, 'watch', 'repair' or a Doctor; got {doctor!r}")
            self.doctor = doctor if isinstance(doctor, Doctor) else Doctor(mode=doctor)
            self.callbacks.append(self.doctor)
        self.generator = generator if generator is not None else Generator(default_generator.spawn_seed())
        self.history = History()
        self.stop_training = False
        self.stop_reason = None
        self.epoch = 0
        self.global_step = 0
        self.epochs = 0
        self.steps_per_epoch = 0
        self._resuming = False
        self._pending_epoch_checkpoint = None
        self._loader = None
        self._sums = {}

    # ------------------------------------------------------------------- data
    def _as_loader(self, data, batch_size, shuffle, generator=None):
        from ..data import DataLoader, Dataset, TensorDataset

        if isinstance(data, DataLoader):
            return data
        if isinstance(data, Dataset):
            return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
        if isinstance(data, (tuple, list)) and len(data) == 2:
            return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle, generator=generator)
        raise TypeError(
            "fit: data must be a DataLoader, a Dataset, or a tuple (X, y) of arrays; "
            f"got {type(data).__name__}"
        )

    # ------------------------------------------------------------------- step
    def _penalty(self):
        from ..regularization import l1_penalty, l2_penalty

        pen = None
        if self.l1:
            pen = l1_penalty(self.model, self.l1)
        if self.l2:
            p2 = l2_penalty(self.model, self.l2)
            pen = p2 if pen is None else pen + p2
        return pen

    def train_step(self, x, y):
        """One optimizer step on a batch; returns (loss value, model output)."""
        out = self.model(x)
        loss = self.loss_fn(out, y)
        total = loss
        if self.l1 or self.l2:
            total = loss + self._penalty()
        self.optimizer.zero_grad()
        total.backward()
        for cb in self.callbacks:
            cb.on_after_backward(self, self.global_step)
        if self.clip_grad_norm is not None or self.clip_grad_value is not None:
            from ..nn.utils import clip_grad_norm_, clip_grad_value_

            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            if self.clip_grad_value is not None:
                clip_grad_value_(params, self.clip_grad_value)
            if self.clip_grad_norm is not None:
                clip_grad_norm_(params, self.clip_grad_norm)
        self.optimizer.step()
        return float(loss.data), out

    def running_logs(self) -> dict:
        n = self._sums.get("n", 0)
        if not n:
            return {}
        return {k: v / n for k, v in self._sums.items() if k != "n"}

    # -------------------------------------------------------------------- fit
    def fit(self, train, val=None, epochs: int = 1, batch_size: int | None = 32, shuffle: bool = True,
            resume=None) -> History:
        """Train for ``epochs`` epochs; returns the ``History``.

        ``train`` and ``val`` are DataLoaders, Datasets or ``(X, y)`` tuples
        (batched here with ``batch_size``; ``None`` = full batch gradient
        descent, 1 = pure SGD). ``resume`` is a checkpoint written by
        ``ModelCheckpoint`` or ``save_checkpoint``: the run continues from its
        exact position, so it ends as an uninterrupted run would.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
            raise ValueError(f"fit: 'epochs' must be a positive int; got {epochs!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"fit: 'batch_size' must be a positive int or None (full batch); got {batch_size!r}")
        loader = self._as_loader(train, batch_size, shuffle, self.generator)
        val_loader = None if val is None else self._as_loader(val, 1024 if batch_size else None, False)
        self._loader, self.epochs = loader, epochs
        if self.doctor is not None:
            self.doctor.set_data(train, val)
        self.steps_per_epoch = len(loader)
        self.stop_training, self.stop_reason = False, None
        start_epoch, skip_done = 0, False
        if resume is not None:
            start_epoch, skip_done = self.load_checkpoint(resume)
            self._resuming = True
        else:
            self.history = History()
            self.global_step = 0
        for cb in self.callbacks:
            cb.on_fit_begin(self)
        try:
            for epoch in range(start_epoch, epochs):
                if self.stop_training:
                    break
                self.epoch = epoch
                self._run_epoch(epoch, loader, val_loader, resumed=skip_done and epoch == start_epoch)
        finally:
            self._resuming = False
        for cb in self.callbacks:
            cb.on_fit_end(self)
        if self.doctor is not None and self.doctor.wants_repair():
            return self.doctor.repair(self, train, val, epochs=epochs, batch_size=batch_size, shuffle=shuffle)
        return self.history

    def _run_epoch(self, epoch, loader, val_loader, resumed):
        if not resumed:
            self._sums = {"n": 0, "loss": 0.0, **{k: 0.0 for k in self.metrics}}
            self._epoch_time = 0.0
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)
        t0 = time.perf_counter()
        self.model.train()
        sums = self._sums
        for x, y in loader:
            step = self.global_step
            for cb in self.callbacks:
                cb.on_batch_begin(self, step)
            loss, out = self.train_step(x, y)
            n = len(y)
            sums["n"] += n
            sums["loss"] += loss * n
            for name, fn in self.metrics.items():
                sums[name] += fn(out, y) * n
            self.global_step += 1
            logs = {"loss": loss}
            for cb in self.callbacks:
                cb.on_batch_end(self, step, logs)
            if self.stop_training:
                break
        self._epoch_time += time.perf_counter() - t0
        logs = {"epoch": epoch, **self.running_logs()}
        if val_loader is not None and not self.stop_training:
            for k, v in self.evaluate(val_loader).items():
                logs[f"val_{k}"] = v
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["time"] = self._epoch_time
        self.history.append(logs)
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)
        if self._pending_epoch_checkpoint:
            self.save_checkpoint(self._pending_epoch_checkpoint, epoch_complete=True)
            self._pending_epoch_checkpoint = None

    # --------------------------------------------------------------- evaluate
    @no_grad()
    def evaluate(self, data, batch_size: int = 1024) -> dict:
        """Mean loss and metrics over ``data`` in eval mode (no dropout, running BN statistics)."""
        loader = self._as_loader(data, batch_size, False)
        was_training = self.model.training
        self.model.eval()
        sums = {"n": 0, "loss": 0.0, **{k: 0.0 for k in self.metrics}}
        try:
            for x, y in loader:
                out = self.model(x)
                n = len(y)
                sums["n"] += n
                sums["loss"] += float(self.loss_fn(out, y).data) * n
                for name, fn in self.metrics.items():
                    sums[name] += fn(out, y) * n
        finally:
            self.model.train(was_training)
        if not sums["n"]:
            raise ValueError("evaluate: 'data' holds no samples")
        return {k: v / sums["n"] for k, v in sums.items() if k != "n"}

    @no_grad()
    def predict(self, x, batch_size: int = 1024):
        """Model outputs for ``x`` (an array or Tensor) in eval mode, as an ndarray."""
        data = x.data if isinstance(x, Tensor) else xp.asarray(x)
        was_training = self.model.training
        self.model.eval()
        try:
            outs = [self.model(Tensor(data[i:i + batch_size])).data for i in range(0, len(data), batch_size)]
        finally:
            self.model.train(was_training)
        return xp.concatenate(outs)

    # ------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path, epoch_complete: bool = False) -> None:
        """Write everything a resumed run needs: weights, optimizer, scheduler, callbacks,
        random generators, the data loader's position and the history."""
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        optim_state = split_arrays(self.optimizer.state_dict(), "optim", arrays)
        callbacks = []
        for i, cb in enumerate(self.callbacks):
            entry = {"type": type(cb).__name__, "state": split_arrays(cb.state_dict(), f"cb/{i}", arrays)}
            if hasattr(cb, "arrays"):
                for k, v in cb.arrays().items():
                    arrays[f"cbw/{i}/{k}"] = v
            callbacks.append(entry)
        loader_state = self._loader.state_dict() if self._loader is not None and hasattr(self._loader, "state_dict") else None
        meta = {
            "optimizer": optim_state,
            "callbacks": callbacks,
            "loop": {"epoch": self.epoch, "global_step": self.global_step, "epoch_complete": epoch_complete,
                     "sums": self._sums, "epoch_time": getattr(self, "_epoch_time", 0.0),
                     "stop_training": self.stop_training},
            "history": self.history.to_dict(),
            "rng": {"default": default_generator.get_state(), "trainer": self.generator.get_state()},
            "loader": split_arrays(loader_state, "loader", arrays),
        }
        save_checkpoint(path, arrays, meta)

    def load_checkpoint(self, path):
        """Restore a checkpoint into this trainer; returns (epoch to start at, resume mid-epoch?)."""
        arrays, meta = load_checkpoint(path)
        try:
            model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
            self.model.load_state_dict(model_state)
            self.optimizer.load_state_dict(join_arrays(meta["optimizer"], arrays))
            saved = meta["callbacks"]
            if [c["type"] for c in saved] != [type(cb).__name__ for cb in self.callbacks]:
                raise ValueError(
                    f"the checkpoint's callbacks {[c['type'] for c in saved]} differ from this trainer's "
                    f"{[type(cb).__name__ for cb in self.callbacks]}"
                )
            for i, (cb, entry) in enumerate(zip(self.callbacks, saved)):
                cb.load_state_dict(join_arrays(entry["state"], arrays))
                if hasattr(cb, "load_arrays"):
                    prefix = f"cbw/{i}/"
                    cb.load_arrays({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            loop = meta["loop"]
            self.history = History.from_dict(meta["history"])
            self.global_step = loop["global_step"]
            self._sums = loop["sums"]
            self._epoch_time = loop["epoch_time"]
            default_generator.set_state(meta["rng"]["default"])
            self.generator.set_state(meta["rng"]["trainer"])
            if meta["loader"] is not None and self._loader is not None and hasattr(self._loader, "load_state_dict"):
                self._loader.load_state_dict(join_arrays(meta["loader"], arrays))
        except (KeyError, TypeError) as e:
            from .checkpoint import CheckpointError

            raise CheckpointError(f"checkpoint {str(path)!r} is missing trainer state ({e})") from None
        if loop["epoch_complete"]:
            return loop["epoch"] + 1, False
        return loop["epoch"], True
