"""``trainwise train``: a whole run from a validated config, recorded in the run store.

The run directory (``<home>/<run id>/``) receives ``config.yaml`` (the config
as run), ``checkpoint.safetensors``, ``history.json``, ``history.csv``,
``learning_curves.png`` and ``report.html``. The doctor watches every run: its findings go to
the run store (artifact ``"doctor"``), its statistics to ``doctor_stats.json``, its pictures to
``doctor_*.png`` and a "Doctor" section of the report (see ``trainwise doctor RUN_ID``).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import yaml

from ..backend import Generator, manual_seed
from .store import RunLogger, RunStore


def build_optimizer(params, cfg: dict):
    from .. import optim

    o = cfg["optimizer"]
    name, lr, wd = o["name"], o["lr"], o["weight_decay"]
    if name == "sgd":
        opt = optim.SGD(params, lr=lr, momentum=o["momentum"], nesterov=o["nesterov"], weight_decay=wd)
    elif name == "adam":
        opt = optim.Adam(params, lr=lr, betas=tuple(o["betas"]), weight_decay=wd)
    elif name == "adamw":
        opt = optim.AdamW(params, lr=lr, betas=tuple(o["betas"]), weight_decay=wd)
    elif name == "rmsprop":
        opt = optim.RMSprop(params, lr=lr, momentum=o["momentum"], weight_decay=wd)
    else:
        opt = optim.Adagrad(params, lr=lr, weight_decay=wd)
    return optim.Lookahead(opt) if o["lookahead"] else opt


def build_scheduler(optimizer, cfg: dict, steps_per_epoch: int):
    """Returns (scheduler or None, interval)."""
    from ..optim import lr_scheduler as S

    s, epochs = cfg["schedule"], cfg["training"]["epochs"]
    total = epochs * steps_per_epoch
    name = s["name"]
    if name == "none":
        return None, "epoch"
    if name == "warmup_cosine":
        warm = int(round(s["warmup_epochs"] * steps_per_epoch))
        return S.warmup_cosine(optimizer, warmup_steps=warm, total_steps=total, eta_min=s["min_lr"]), "step"
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=total, eta_min=s["min_lr"]), "step"
    if name == "step":
        return S.StepLR(optimizer, step_size=s["step_size"], gamma=s["gamma"]), "epoch"
    if name == "exponential":
        return S.ExponentialLR(optimizer, gamma=s["gamma"]), "epoch"
    if name == "onecycle":
        return S.OneCycleLR(optimizer, max_lr=cfg["optimizer"]["lr"], total_steps=total), "step"
    return S.ReduceLROnPlateau(optimizer, factor=s["gamma"], patience=max(1, cfg["training"]["patience"] // 3),
                               min_lr=s["min_lr"]), "epoch"


def prepare_data(cfg: dict, generator: Generator):
    """Load the dataset, split off validation data, standardize on the training split."""
    from ..data import Compose, GaussianNoise, RandomShift1d, Standardizer, load_dataset, train_val_split

    d = cfg["dataset"]
    kwargs = {"seed": cfg["seed"]}
    if d["n_samples"] is not None:
        kwargs["n_samples"] = d["n_samples"]
    ds = load_dataset(d["name"], **kwargs)
    classification = ds.task == "classification"
    X, y, Xv, yv = train_val_split(ds.X_train, ds.y_train, val_fraction=d["val_fraction"],
                                   stratify=classification, generator=generator)
    Xt, yt = ds.X_test, ds.y_test
    if d["standardize"]:
        std = Standardizer().fit(X)
        X, Xv, Xt = std.transform(X), std.transform(Xv), std.transform(Xt)
    transforms = []
    if d["augment"]["shift"] and X.ndim >= 2 and len(ds.input_shape) == 1:
        transforms.append(RandomShift1d(d["augment"]["shift"]))
    if d["augment"]["noise"]:
        transforms.append(GaussianNoise(d["augment"]["noise"]))
    transform = Compose(transforms) if transforms else None
    return ds, (X, y), (Xv, yv), (Xt, yt), transform


def build_model(cfg: dict, ds, generator=None):
    from .. import models

    m = cfg["model"]
    n_in = int(math.prod(ds.input_shape))
    n_out = ds.num_classes if ds.task == "classification" else 1
    if m["type"] == "logistic":
        return models.logistic(n_in, n_out, generator=generator)
    return models.mlp(n_in, n_out, hidden=m["hidden"], activation=m["activation"], init=m["init"], norm=m["norm"],
                      norm_position=m["norm_position"], dropout=m["dropout"], residual=m["residual"],
                      generator=generator)


def run_training(cfg: dict, home: str | None = None, progress: bool = True, out=None) -> dict:
    """Run one training job from a validated ``cfg``; returns the result dict."""
    from .. import nn
    from ..data import DataLoader, TensorDataset
    from ..report import esc, img_tag, table, write_report
    from .callbacks import CSVLogger, EarlyStopping, JSONLogger, ModelCheckpoint, TerminateOnNaN
    from .curves import plot_learning_curves
    from .trainer import Trainer

    out = out or sys.stdout
    store = RunStore(home)
    run_id = store.create_run(cfg, kind="train", name=cfg.get("name"))
    run_dir = os.path.join(store.home, run_id)
    t_start = time.time()
    try:
        with open(os.path.join(run_dir, "config.yaml"), "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        manual_seed(cfg["seed"])
        data_gen = Generator(cfg["seed"] + 1)
        ds, (X, y), (Xv, yv), (Xt, yt), transform = prepare_data(cfg, data_gen)
        model = build_model(cfg, ds)
        classification = ds.task == "classification"
        if not classification:
            y, yv, yt = (a.reshape(-1, 1).astype(X.dtype) for a in (y, yv, yt))
        loss = nn.CrossEntropyLoss() if classification else nn.MSELoss()
        metrics = ("accuracy",) if classification else ("mse",)
        bs = cfg["training"]["batch_size"]
        loader = DataLoader(TensorDataset(X, y), batch_size=bs, shuffle=True, generator=data_gen,
                            transform=transform)
        optimizer = build_optimizer(model.parameters(), cfg)
        scheduler, interval = build_scheduler(optimizer, cfg, len(loader))
        t = cfg["training"]
        ckpt = os.path.join(run_dir, "checkpoint.safetensors")
        callbacks = [TerminateOnNaN(), RunLogger(store, run_id), CSVLogger(os.path.join(run_dir, "history.csv")),
                     JSONLogger(os.path.join(run_dir, "history.json"))]
        early = None
        if t["early_stopping"]:
            early = EarlyStopping(monitor=t["monitor"], patience=t["patience"], restore_best_weights=True)
            callbacks.append(early)
        callbacks.append(ModelCheckpoint(ckpt, every_n_steps=t["checkpoint_every"]))
        from ..doctor import Doctor

        doctor = Doctor("watch")
        trainer = Trainer(model, loss, optimizer, scheduler=scheduler, scheduler_interval=interval,
                          callbacks=callbacks, metrics=metrics, clip_grad_norm=t["clip_grad_norm"],
                          clip_grad_value=t["clip_grad_value"], l1=t["l1"], l2=t["l2"], progress=progress,
                          generator=data_gen, doctor=doctor)
        print(f"run {run_id}: {ds.name} ({len(X)} train / {len(Xv)} validation / {len(Xt)} test), "
              f"{type(optimizer).__name__}, {t['epochs']} epochs max", file=out, flush=True)
        history = trainer.fit(loader, (Xv, yv), epochs=t["epochs"])
        test = trainer.evaluate((Xt, yt))
        val = trainer.evaluate((Xv, yv))
        result = {"test": test, "val": val, "epochs_run": len(history), "stop_reason": trainer.stop_reason,
                  "best_epoch": early.best_epoch if early else None, "seconds": time.time() - t_start}
        curves = plot_learning_curves(history, os.path.join(run_dir, "learning_curves.png"),
                                      title=f"{ds.name}: {cfg['model']['type']} ({run_id})")
        from ..doctor.report import doctor_plots, doctor_section

        store.set_artifact(run_id, "doctor", [f.to_dict() for f in doctor.findings])
        with open(os.path.join(run_dir, "doctor_stats.json"), "w") as f:
            json.dump(doctor.stats, f)
        doctor_images = doctor_plots(run_dir, doctor.stats, doctor.findings)
        serious = [f for f in doctor.findings if f.severity != "info"]
        result["doctor"] = [f"{f.severity}: {f.code}" for f in serious]
        summary = [{"split": "test", **test}, {"split": "validation", **val}]
        write_report(os.path.join(run_dir, "report.html"), f"trainwise run {run_id}", [
            ("Result", table(summary)
             + f"<p>{len(history)} epochs in {result['seconds']:.1f} s; best epoch "
               f"{(early.best_epoch + 1) if early and early.best_epoch is not None else '-'}"
               f"{'; stopped: ' + esc(trainer.stop_reason) if trainer.stop_reason else ''}.</p>"),
            ("Learning curves", img_tag(curves, "learning curves")),
            ("Doctor", doctor_section(doctor.findings, doctor_images)),
            ("Per epoch", table(history.rows)),
            ("Config", f"<pre>{esc(yaml.safe_dump(cfg, sort_keys=False))}</pre>"),
        ])
        failed = trainer.stop_reason is not None
        store.finish(run_id, "stopped" if failed else "completed", result)
    except KeyboardInterrupt:
        store.finish(run_id, "interrupted", error="KeyboardInterrupt")
        raise
    except BaseException as e:
        store.finish(run_id, "failed", error=f"{type(e).__name__}: {e}")
        raise
    metric = "accuracy" if classification else "mse"
    print(f"test {metric}: {test[metric]:.4f}   (validation {val[metric]:.4f}; {len(history)} epochs, "
          f"{result['seconds']:.0f} s)", file=out)
    print("doctor: " + ("; ".join(f"{f.severity} {f.code}: {f.message}" for f in serious) if serious
                        else "no warnings") + f"  (trainwise doctor {run_id})", file=out)
    print(f"run directory: {run_dir}", file=out)
    result["run_id"], result["run_dir"] = run_id, run_dir
    return result
