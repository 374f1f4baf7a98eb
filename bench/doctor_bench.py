"""The doctor's fault-injection benchmark: known faults in small tasks, does the doctor name them, can it repair them?

Usage: ``python bench/doctor_bench.py [--seeds 0 1 2] [--quick] [--faults NAME ...] [--no-extra] [--no-repair]
[--no-overhead] [--json out.json]``

Each fault is a function of the seed that builds a run (data, model,
optimizer, epochs) with one known cause injected, and declares the finding
code(s) that name that cause (``expected``) and the codes that are its honest
consequences (``allowed``: e.g. ``nan_loss`` after ``lr ×100``). Its clean
twin is the same run without the fault. Both are trained under
``trainwise.doctor.diagnose`` (watch mode, default sampling). A fault run
counts as faulty only where its final validation accuracy is measurably worse
than its clean twin's: at least ``--margin`` (3) points below the twin's mean
over the seeds, or not finite. Then, per code c, over the faulty runs and the
clean runs:

- TP: a faulty run whose ``expected`` holds c, and the doctor reported c (warning or worse);
- FN: a faulty run whose ``expected`` holds c, and the doctor did not report it;
- FP: a run that reported c although c is neither expected nor allowed there
  (on a clean run every reported code is an FP);

precision = TP/(TP+FP), recall = TP/(TP+FN), F1 their harmonic mean. The
false-positive rate is the fraction of clean runs with any finding of warning
or worse. A clean run whose own final validation metric is not finite (a twin that
failed by itself) still counts there and in the precision, as any clean-run
code does; the table lists such runs separately, so the reader sees why. Detection delay: for each TP, the step of the earliest finding with
the expected code (0 for a check before training), also as a fraction of the
run's steps. Repair: each faulty run again with ``mode="repair"``; success
when the repaired model's validation accuracy is within 2 points of its clean
twin's mean (AUTOTRAINER's criterion is "the problem is gone"; ours is the
metric). A repair that split the data again (``resplit_stratified``, the
remedy for the shifted validation split) is scored on its new, stratified
random validation set, as the clean twin is on its random one: the fault
injected is the split itself, and no model trained on the shifted training
split can score on the shifted validation set. All 13 faults are repairable
by design: "5% of the data" is a variance fault (a noisy task with a linear
Bayes boundary, where 500 samples carry the information and a big model
memorizes the class overlap), "skewed training set" a prior shift (as many
samples as the clean twin, from the same pool, two classes 12x rarer).
``EXTRA_FAULTS`` (``counted=False``, ``repairable=False``; ``--no-extra``
leaves them out) are round 5's data-starved variants (63 digits; ~16
MNIST-1D samples in each of five classes), whose clean twin sees data the
faulty run never does: they are run and shown per fault, marked "(not
counted)", and left out of every total (their clean runs of ``digits_big``
too). Repair success is reported over all counted faulty runs and over the
repairable ones. Overhead: ``bench/doctor_overhead.py``'s in-run accounting (CPU time
inside the doctor's callbacks and hooks / the rest of the run) on the default
MNIST-1D MLP at the default sampling.

Tasks: blobs (8-D, 3 classes), circles, digits (8×8 as 64 features),
MNIST-1D (40 features, 10 classes; subsets), Gaussian classes with fixed
centres (``GAUSS``: the seed draws only the samples) and a sequence task (3
classes of noisy sinusoids, 20 steps, a GRU with 16 units).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

import trainwise as tw
from trainwise import init, nn, optim
from trainwise.data import load_dataset
from trainwise.data.datasets import make_blobs, make_circles
from trainwise.doctor import CODES, Doctor, diagnose
from trainwise.doctor.findings import severity_rank
from trainwise.train import Trainer
from trainwise.train.callbacks import Callback

__all__ = ["Fault", "FAULTS", "EXTRA_FAULTS", "build_run", "run_benchmark", "scores", "format_table", "main"]


# --------------------------------------------------------------------------- data
def _standardize(X, Xv):
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return ((X - mu) / sd).astype(np.float32), ((Xv - mu) / sd).astype(np.float32)


def _split(X, y, seed, val_fraction=0.3):
    r = np.random.default_rng(seed + 1000)
    idx = r.permutation(len(y))
    nv = int(len(y) * val_fraction)
    return X[idx[nv:]], y[idx[nv:]], X[idx[:nv]], y[idx[:nv]]


def data_blobs(seed, size):
    X, y = make_blobs(int(600 * size) + 60, noise=3.0, seed=seed, centers=3, n_features=8)
    X, y, Xv, yv = _split(np.asarray(X), np.asarray(y), seed)
    X, Xv = _standardize(X, Xv)
    return X, y, Xv, yv


def data_circles(seed, size):
    X, y = make_circles(int(800 * size) + 80, noise=0.08, seed=seed)
    X, y, Xv, yv = _split(np.asarray(X), np.asarray(y), seed)
    X, Xv = _standardize(X, Xv)
    return X, y, Xv, yv


def _digits_raw(seed, size):
    ds = load_dataset("digits", seed=0)
    X = np.concatenate([ds.X_train, ds.X_test]).astype(np.float32)
    y = np.concatenate([ds.y_train, ds.y_test])
    n = int(len(y) * min(1.0, size)) if size < 1 else len(y)
    X, y, Xv, yv = _split(X[:max(n, 300)], y[:max(n, 300)], seed)
    return X, y, Xv, yv


def data_digits(seed, size):
    X, y, Xv, yv = _digits_raw(seed, size)
    X, Xv = _standardize(X, Xv)
    return X, y, Xv, yv


def data_mnist1d(seed, size):
    ds = load_dataset("mnist1d")
    X = np.concatenate([ds.X_train, ds.X_test]).astype(np.float32)
    y = np.concatenate([ds.y_train, ds.y_test])
    n = max(600, int(len(y) * min(1.0, size)))
    r = np.random.default_rng(seed + 2000)
    keep = r.permutation(len(y))[:n]
    X, y, Xv, yv = _split(X[keep], y[keep], seed, val_fraction=0.2)
    X, Xv = _standardize(X, Xv)
    return X, y, Xv, yv


# the Gaussian task of the prior-shift and small-data faults: class c ~ N(μ_c, I), the centres fixed (μ_c =
# (d/√2)·e_c, every pair d apart) so that only the samples change with the seed; its Bayes boundary is linear
GAUSS = {"prior": dict(classes=4, dim=8, dist=3.0, n_train=20000, n_val=3000),
         "small": dict(classes=3, dim=4, dist=2.5, n_train=10000, n_val=3000)}


def _gauss_pool(seed, classes, dim, dist, n, offset):
    r = np.random.default_rng(seed + offset)
    mu = np.zeros((classes, dim))
    mu[np.arange(classes), np.arange(classes)] = dist / math.sqrt(2)
    y = np.repeat(np.arange(classes), n // classes)
    X = mu[y] + r.normal(size=(len(y), dim))
    return X.astype(np.float32), y.astype(np.int64)


def _draw(X, y, counts, r):
    idx = np.concatenate([r.choice(np.flatnonzero(y == c), int(m), replace=False) for c, m in enumerate(counts)])
    idx = idx[r.permutation(len(idx))]
    return X[idx], y[idx]


def data_gauss(seed, size, task, weights=None):
    """The Gaussian task ``GAUSS[task]``: a validation set of n_val (balanced) from one pool, a training set of
    n_train from another, with class proportions ∝ ``weights`` (None: balanced); standardized with the
    training set's statistics. The same seed draws from the same pools whatever the weights."""
    g = GAUSS[task]
    k, n_tr, n_va = g["classes"], max(60, int(g["n_train"] * size)), max(60, int(g["n_val"] * size))
    Xv, yv = _draw(*_gauss_pool(seed, k, g["dim"], g["dist"], n_va, 6000), [n_va // k] * k,
                   np.random.default_rng(seed + 6100))
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=float)
    counts = np.floor(n_tr * w / w.sum()).astype(int)
    counts[int(np.argmax(w))] += n_tr - counts.sum()
    # a pool with n_train of every class, so that any proportions can be drawn from it
    X, y = _draw(*_gauss_pool(seed, k, g["dim"], g["dist"], n_tr * k, 6200), counts,
                 np.random.default_rng(seed + 6300))
    X, Xv = _standardize(X, Xv)
    return X, y, Xv, yv


def data_sequence(seed, size, T=20):
    """Three classes of noisy sinusoids (frequencies 1, 2, 3 cycles per sequence, random phase), (N, T, 1)."""
    r = np.random.default_rng(seed + 3000)
    n = int(900 * size) + 90
    y = r.integers(0, 3, n)
    t = np.arange(T) / T
    phase = r.uniform(0, 2 * np.pi, n)
    X = np.sin(2 * np.pi * (y[:, None] + 1) * t[None, :] + phase[:, None]) + 0.3 * r.normal(size=(n, T))
    X = X[:, :, None].astype(np.float32)
    return _split(X, y.astype(np.int64), seed)


# -------------------------------------------------------------------------- models
def mlp(sizes, act=nn.ReLU, seed=0, init_name=None):
    tw.manual_seed(seed)
    kind = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}[act]
    init_name = init_name or ("he_normal" if act is nn.ReLU else "xavier_normal")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(a, b, init=init_name, nonlinearity=None if last else kind))
        if not last:
            layers.append(act())
    return nn.Sequential(*layers)


class SeqClassifier(nn.Module):
    """GRU over the sequence, a Linear head on the last hidden state."""

    def __init__(self, hidden=16, classes=3, seed=0):
        super().__init__()
        tw.manual_seed(seed)
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        x = x if isinstance(x, tw.Tensor) else tw.Tensor(x)
        out, h = self.gru(x)
        return self.head(h[0])


class CNN1d(nn.Module):
    """Three Conv1d+ReLU layers (the last two with stride 2) and a Linear head, for MNIST-1D's 40 points."""

    def __init__(self, ch=32, seed=0):
        super().__init__()
        tw.manual_seed(seed)
        self.c1, self.a1 = nn.Conv1d(1, ch, 5, padding=2), nn.ReLU()
        self.c2, self.a2 = nn.Conv1d(ch, ch, 5, stride=2, padding=2), nn.ReLU()
        self.c3, self.a3 = nn.Conv1d(ch, ch, 5, stride=2, padding=2), nn.ReLU()
        self.fc = nn.Linear(ch * 10, 10)

    def forward(self, x):
        x = x if isinstance(x, tw.Tensor) else tw.Tensor(x)
        h = self.a3(self.c3(self.a2(self.c2(self.a1(self.c1(x.reshape(x.shape[0], 1, 40)))))))
        return self.fc(h.reshape(h.shape[0], -1))


class NaNInjector(Callback):
    """A transient numerical fault: one weight of ``module`` becomes NaN before step ``step``, once."""

    def __init__(self, module, step):
        self.module, self.step, self.fired = module, step, False

    def on_batch_begin(self, trainer, step):
        if not self.fired and step == self.step:
            self.fired = True
            self.module.weight.data[0, 0] = np.nan


def _linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# ------------------------------------------------------------------- runs and faults
@dataclass
class Run:
    """Everything one training run needs."""

    model: object
    optimizer: object
    train: tuple
    val: tuple
    epochs: int
    batch_size: int = 32
    callbacks: list = field(default_factory=list)


@dataclass
class Fault:
    """One injected fault: ``build(seed, size, faulty)`` makes the run (``faulty=False``: its clean twin);
    ``expected`` are the codes naming the cause, ``allowed`` its honest consequences."""

    name: str
    task: str
    base: str
    build: object
    expected: tuple
    allowed: tuple = ()
    repairable: bool = True  # False: the clean twin's score needs other data, which no remedy can make
    counted: bool = True  # False: an extra row (``EXTRA_FAULTS``), run and shown, outside the totals


def _epochs(n, size):
    return max(2, int(round(n * min(1.0, size * 2)))) if size < 1 else n


# each base is a clean setup; a fault modifies it
def base_blobs_relu(seed, size, faulty=None):
    X, y, Xv, yv = data_blobs(seed, size)
    model = mlp([8, 64, 64, 3], seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(15, size)), dict(lr=0.05)


def base_circles_relu(seed, size, faulty=None):
    X, y, Xv, yv = data_circles(seed, size)
    model = mlp([2, 64, 64, 2], seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(20, size)), dict(lr=0.05)


def base_blobs_sigmoid(seed, size, faulty=None):
    # four sigmoid layers: with Xavier init and Adam it trains; deeper clean sigmoid stacks often do not
    X, y, Xv, yv = data_blobs(seed, size)
    model = mlp([8] + [32] * 4 + [3], act=nn.Sigmoid, seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(15, size)), dict(adam=1e-2)


def base_blobs_deep(seed, size, faulty=None):
    X, y, Xv, yv = data_blobs(seed, size)
    # SGD 0.02 (momentum 0.9): at 0.05 the clean 5-layer net diverged to NaN by itself (held-out seed 15);
    # 0.02 trained all of seeds 0-16 to ≥ 0.965 without a finding, and init ×5 still diverges on it
    model = mlp([8] + [64] * 5 + [3], seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(15, size)), dict(lr=0.02)


def base_digits_tanh(seed, size, faulty=None):
    X, y, Xv, yv = data_digits(seed, size)
    model = mlp([64, 64, 64, 10], act=nn.Tanh, seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(10, size)), dict(lr=0.05)


def base_digits_relu(seed, size, faulty=None):
    X, y, Xv, yv = data_digits(seed, size)
    model = mlp([64, 64, 64, 10], seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(10, size)), dict(lr=0.05)


def base_mnist1d(seed, size, faulty=None):
    # an MLP without augmentation overfits MNIST-1D (about 0.55 validation accuracy): the clean run is a CNN
    X, y, Xv, yv = data_mnist1d(seed, size)
    model = CNN1d(32 if size >= 1 else 8, seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(12, size), batch_size=64), dict(adam=3e-3)


def base_digits_big(seed, size, faulty=None):
    X, y, Xv, yv = data_digits(seed, size)
    model = mlp([64, 512, 512, 10], seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(10, size)), dict(adam=1e-3)


def base_gauss_prior(seed, size, faulty=None):
    # 4 Gaussian classes, 8-D, centres 3 apart (overlapping: the class prior matters), 20,000 balanced training
    # samples: the prior-shift fault draws as many with classes 2 and 3 twelve times rarer (769 each, still plenty)
    X, y, Xv, yv = data_gauss(seed, size, "prior")
    model = mlp([8, 64, 64, 4], seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(10, size)), dict(adam=1e-3)


def base_gauss_big(seed, size, faulty=None):
    # 3 Gaussian classes, 4-D, centres 2.5 apart (strong overlap, a linear Bayes boundary), 10,000 training
    # samples, an MLP 256-256 (67k weights; 512 units left 71% of the second layer dead on this 4-D input): with
    # all the data it cannot memorize the overlap; on 5% (500 samples) it can
    X, y, Xv, yv = data_gauss(seed, size, "small")
    model = mlp([4, 256, 256, 3], seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(5, size)), dict(adam=1e-3)


def base_sequence(seed, size, faulty=None):
    X, y, Xv, yv = data_sequence(seed, size)
    model = SeqClassifier(16, 3, seed=seed)
    return Run(model, None, (X, y), (Xv, yv), _epochs(12, size)), dict(adam=1e-2)


BASES = {"blobs_relu": base_blobs_relu, "blobs_deep": base_blobs_deep, "circles_relu": base_circles_relu,
         "blobs_sigmoid": base_blobs_sigmoid, "digits_tanh": base_digits_tanh, "digits_relu": base_digits_relu,
         "digits_big": base_digits_big, "mnist1d": base_mnist1d, "sequence": base_sequence,
         "gauss_prior": base_gauss_prior, "gauss_big": base_gauss_big}


def _optimizer(model, opt):
    if "adam" in opt:
        return optim.Adam(model.parameters(), lr=opt["adam"])
    return optim.SGD(model.parameters(), lr=opt["lr"], momentum=0.9)


def _finish(run, opt):
    run.optimizer = _optimizer(run.model, opt)
    return run


# ---- the faults: each takes the base run and its optimizer settings and injects one cause
def f_sigmoid_tiny_init(run, opt, seed):
    for m in _linears(run.model):
        init.normal_(m.weight, 0.0, 0.01)
        init.zeros_(m.bias)


def f_init_x5(run, opt, seed):
    for m in _linears(run.model):
        m.weight.data *= 5


def f_constant_init(run, opt, seed):
    for m in _linears(run.model):
        init.constant_(m.weight, 0.1)
        init.zeros_(m.bias)


def f_relu_bias(run, opt, seed):
    for m in _linears(run.model)[:-1]:
        init.constant_(m.bias, -3.0)


def f_inputs_x100(run, opt, seed):
    run.train = (run.train[0] * 100, run.train[1])
    run.val = (run.val[0] * 100, run.val[1])


def f_raw_0_255(run, opt, seed):
    X, y, Xv, yv = _digits_raw(seed, run._size)  # the loader's pixels in [0, 1] as raw 0..255, not standardized
    run.train, run.val = (X * 255, y), (Xv * 255, yv)


def f_lr_x100(run, opt, seed):
    for k in opt:
        opt[k] *= 100


def f_lr_div1000(run, opt, seed):
    for k in opt:
        opt[k] /= 1000


MULT_SMALL = 16  # the "5% of the data" run's epochs over its clean twin's: 1,280 steps against 1,565


def _subsample(run, seed, fraction=0.05):
    X, y = run.train
    n = max(30, int(fraction * len(y)))
    r = np.random.default_rng(seed + 4000)
    keep = r.permutation(len(y))[:n]
    run.train = (X[keep], y[keep])


def f_small_data(run, opt, seed):
    _subsample(run, seed)
    run.epochs = run.epochs * MULT_SMALL  # long enough to memorize the 500 samples' class overlap


def f_small_data_digits(run, opt, seed):
    _subsample(run, seed)
    run.epochs = run.epochs * 4  # round 5's variant: as many steps as a bigger set would get


def f_too_small(run, opt, seed):
    run.model = mlp([64, 2, 10], seed=seed)  # two hidden units


def f_shifted_val(run, opt, seed):
    # the classic unshuffled split of a label-sorted file: the last 20% are the last classes
    X = np.concatenate([run.train[0], run.val[0]])
    y = np.concatenate([run.train[1], run.val[1]])
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    nv = len(run.val[1])
    run.train, run.val = (X[:-nv], y[:-nv]), (X[-nv:], y[-nv:])


def f_skewed_train(run, opt, seed):
    X, y = run.train
    r = np.random.default_rng(seed + 5000)
    keep = (y < 5) | (r.random(len(y)) < 0.04)  # classes 5-9 keep 4% of their samples
    run.train = (X[keep], y[keep])


def f_prior_shift(run, opt, seed):
    # the same number of training samples from the same pool, classes 2 and 3 twelve times rarer than 0 and 1
    # (imbalance 12 > SageMaker's 10); validation stays the balanced one of the clean twin
    X, y, Xv, yv = data_gauss(seed, run._size, "prior", weights=[12, 12, 1, 1])
    run.train, run.val = (X, y), (Xv, yv)


def f_forced_nan(run, opt, seed):
    # (NaN in the data is refused by TensorDataset before training; so a weight turns NaN mid-run)
    steps = math.ceil(len(run.train[1]) / run.batch_size) * run.epochs
    run.callbacks.append(NaNInjector(run.model.head, steps // 3 + seed))


_DIVERGE = ("nan_loss", "exploding_gradients", "lr_too_high", "dead_relu")
FAULTS = [
    Fault("deep sigmoid, N(0, 0.01) init", "blobs", "blobs_sigmoid", f_sigmoid_tiny_init,
          ("vanishing_gradients",), ("lr_too_low", "underfitting", "saturation")),
    Fault("init x5", "blobs", "blobs_deep", f_init_x5, ("exploding_gradients",), _DIVERGE),
    Fault("constant init", "blobs", "blobs_relu", f_constant_init, ("symmetric_init",),
          ("vanishing_gradients", "lr_too_low", "underfitting")),
    Fault("ReLU bias -3", "circles", "circles_relu", f_relu_bias, ("dead_relu",), ("lr_too_low", "underfitting")),
    Fault("inputs x100 into tanh", "digits", "digits_tanh", f_inputs_x100, ("unnormalized_inputs",),
          ("saturation",) + _DIVERGE),
    Fault("raw 0-255 inputs", "digits", "digits_relu", f_raw_0_255, ("unnormalized_inputs",),
          _DIVERGE + ("saturation",)),
    Fault("lr x100", "circles", "circles_relu", f_lr_x100, ("lr_too_high",), _DIVERGE),
    Fault("lr / 1000", "sequence", "sequence", f_lr_div1000, ("lr_too_low",), ("underfitting",)),
    # variance: 5% (500 samples) of a noisy task with a linear Bayes boundary, a 256-256 MLP trained 16x as many
    # epochs memorizes the class overlap; the clean twin is the same model on all 10,000 samples
    Fault("5% of the data, big model", "gauss", "gauss_big", f_small_data, ("overfitting",),
          ("unrepresentative_train",)),
    Fault("model too small", "digits", "digits_relu", f_too_small, ("underfitting",), ()),
    # repairable: the fault is the split itself, and splitting train+validation again (stratified, at random,
    # the clean twin's way) removes it; the repaired run is then scored on that new validation set
    Fault("shifted validation split", "mnist1d", "mnist1d", f_shifted_val, ("unrepresentative_validation",),
          ("unrepresentative_train", "overfitting")),
    # a prior shift: as many training samples as the clean twin's, from the same pool, classes 2 and 3 12x rarer
    Fault("skewed training set", "gauss", "gauss_prior", f_prior_shift, ("unrepresentative_train",), ()),
    Fault("forced NaN mid-run", "sequence", "sequence", f_forced_nan, ("nan_loss",), ("exploding_gradients",)),
]


# round 5's data-starved variants, kept as extra rows outside the totals: their clean twin sees data the faulty
# run never does (63 digits against 1,257; ~16 samples of each of five MNIST-1D classes), so no change of the
# model or the training can reach it
EXTRA_FAULTS = [
    Fault("(extra) 5% of digits, big model", "digits", "digits_big", f_small_data_digits, ("overfitting",),
          ("unrepresentative_train",), repairable=False, counted=False),
    Fault("(extra) skewed MNIST-1D, 4% of 5 classes", "mnist1d", "mnist1d", f_skewed_train,
          ("unrepresentative_train",), (), repairable=False, counted=False),
]


def build_run(fault: Fault | None, base: str, seed: int, size: float = 1.0) -> Run:
    """The run of ``fault`` (or, with ``fault=None``, the clean run of ``base``) for ``seed``."""
    run, opt = BASES[base](seed, size)
    run._size = size
    if fault is not None:
        fault.build(run, opt, seed)
    return _finish(run, opt)


# ----------------------------------------------------------------------- running
def _accuracy(trainer, val):
    try:
        with np.errstate(all="ignore"):
            ev = trainer.evaluate(val)
    except (ValueError, FloatingPointError):
        return float("nan")
    a, loss = ev.get("accuracy", float("nan")), ev.get("loss", float("nan"))
    return float(a) if math.isfinite(loss) else float("nan")


def _delay(finding, stats, total_steps):
    if finding.when == "before":
        return 0
    if finding.step is not None:
        return int(finding.step)
    spe = stats.get("steps_per_epoch") or 0
    if finding.epoch is not None and spe:
        return int((finding.epoch + 1) * spe)
    return total_steps


def watch(run: Run, seed: int) -> dict:
    """Train ``run`` under the doctor (watch mode); its codes, accuracy and detection steps."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        d = diagnose(run.model, nn.CrossEntropyLoss(), run.optimizer, run.train, run.val, epochs=run.epochs,
                     batch_size=run.batch_size, generator=tw.Generator(seed), callbacks=run.callbacks)
    total = len(d.stats.get("loss", []))
    first = {}
    for f in d.findings:
        if severity_rank(f.severity) >= 1:
            s = _delay(f, d.stats, total)
            first[f.code] = min(first.get(f.code, s), s)
    return {"codes": sorted(d.codes()), "accuracy": _accuracy(d.trainer, run.val), "steps": total,
            "detected_at": first, "seconds": time.perf_counter() - t0,
            "findings": [f"{f.severity}:{f.code}" for f in d.findings]}


def repair_run(run: Run, seed: int) -> dict:
    t0 = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        tr = Trainer(run.model, nn.CrossEntropyLoss(), run.optimizer, doctor=Doctor("repair"),
                     generator=tw.Generator(seed), callbacks=run.callbacks)
        tr.fit(run.train, run.val, epochs=run.epochs, batch_size=run.batch_size)
    summary = tr.doctor.repair_summary or {}
    # a repair that split the data again is scored on its new (stratified, random) validation set: the
    # user's validation set was the fault, and no model trained on its training split can score on it
    val = tr.doctor.repaired_data[1] if tr.doctor.repaired_data is not None else run.val
    return {"accuracy": _accuracy(tr, val), "applied": summary.get("applied", []), "rounds": len(tr.doctor.repairs),
            "resplit": tr.doctor.repaired_data is not None, "seconds": time.perf_counter() - t0}


def run_benchmark(faults=None, seeds=(0, 1, 2), size: float = 1.0, margin: float = 0.03, repair: bool = True,
                  log=print) -> dict:
    """Run every fault and its clean twin for every seed; returns the raw results (``scores`` turns them
    into the table)."""
    faults = FAULTS if faults is None else faults
    clean = {}
    for base in sorted({f.base for f in faults}):
        for seed in seeds:
            r = watch(build_run(None, base, seed, size), seed)
            # a base that only extra rows use (digits_big) is shown but is no clean run of the 13 faults
            r["counted"] = any(f.counted for f in faults if f.base == base)
            clean[(base, seed)] = r
            log(f"  clean {base:14s} seed {seed}: acc {r['accuracy']:.3f} codes {r['codes']} ({r['seconds']:.1f}s)")
    clean_mean = {b: float(np.nanmean([clean[(b, s)]["accuracy"] for s in seeds]))
                  for b in {f.base for f in faults}}
    results = []
    for fault in faults:
        for seed in seeds:
            r = watch(build_run(fault, fault.base, seed, size), seed)
            acc = r["accuracy"]
            r.update({"fault": fault.name, "task": fault.task, "base": fault.base, "seed": seed,
                      "expected": list(fault.expected), "allowed": list(fault.allowed),
                      "repairable": fault.repairable, "counted": fault.counted,
                      "clean_accuracy": clean_mean[fault.base],
                      "faulty": (not math.isfinite(acc)) or acc <= clean_mean[fault.base] - margin})
            if repair and r["faulty"]:
                rep = repair_run(build_run(fault, fault.base, seed, size), seed)
                rep["success"] = math.isfinite(rep["accuracy"]) and rep["accuracy"] >= clean_mean[fault.base] - 0.02
                r["repair"] = rep
            results.append(r)
            rep = r.get("repair")
            log(f"  {fault.name:28s} seed {seed}: acc {acc:.3f} (clean {clean_mean[fault.base]:.3f})"
                f"{'' if r['faulty'] else ' NOT WORSE'} codes {r['codes']}"
                + (f" | repair {rep['accuracy']:.3f} {'ok' if rep['success'] else 'FAIL'} {rep['applied']}"
                   if rep else "") + f" ({r['seconds']:.1f}s)")
    return {"clean": [dict(v, base=k[0], seed=k[1]) for k, v in clean.items()], "faults": results,
            "clean_mean": clean_mean, "seeds": list(seeds), "size": size, "margin": margin}


# ----------------------------------------------------------------------- scoring
def confusion(faulty_runs, clean_runs, codes=None):
    """{code: {"tp", "fp", "fn"}} from faulty runs (dicts with "codes", "expected", "allowed") and clean
    runs (dicts with "codes")."""
    codes = sorted(CODES) if codes is None else codes
    c = {k: {"tp": 0, "fp": 0, "fn": 0} for k in codes}
    for r in faulty_runs:
        got, exp, ok = set(r["codes"]), set(r["expected"]), set(r["expected"]) | set(r["allowed"])
        for k in codes:
            if k in exp:
                c[k]["tp" if k in got else "fn"] += 1
            elif k in got and k not in ok:
                c[k]["fp"] += 1
    for r in clean_runs:
        for k in r["codes"]:
            if k in c:
                c[k]["fp"] += 1
    return c


def prf(tp, fp, fn):
    """(precision, recall, F1); None where a denominator is 0."""
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else (0.0 if p == 0 or r == 0 else None)
    return p, r, f


def scores(raw: dict) -> dict:
    """The benchmark's figures from ``run_benchmark``'s results."""
    # extra rows (``counted=False``: round 5's data-starved variants) are shown per fault, outside every total
    counted = [r for r in raw["faults"] if r.get("counted", True)]
    faulty = [r for r in counted if r["faulty"]]
    clean = [r for r in raw["clean"] if r.get("counted", True)]
    conf = confusion(faulty, clean)
    per_code = {}
    for k, v in conf.items():
        if v["tp"] + v["fp"] + v["fn"] == 0:
            continue
        p, r, f = prf(v["tp"], v["fp"], v["fn"])
        per_code[k] = dict(v, precision=p, recall=r, f1=f)
    fpr = sum(1 for r in clean if r["codes"]) / len(clean) if clean else None
    # a clean twin whose own final metric is not finite failed by itself (a defect of the base, not of the
    # doctor); it stays in the FPR and precision (nothing hidden), and the table names it
    failed = [r for r in clean if not _finite(r.get("accuracy", 0.0))]
    delays, fractions, before = [], [], 0
    for r in faulty:
        for k in r["expected"]:
            if k in r["detected_at"]:
                s = r["detected_at"][k]
                delays.append(s)
                fractions.append(s / max(1, r["steps"]))
                before += s == 0
    repaired = [r for r in faulty if "repair" in r]
    ok = [r for r in repaired if r["repair"]["success"]]
    fixable = [r for r in repaired if r.get("repairable", True)]
    per_fault = {}
    for r in raw["faults"]:
        e = per_fault.setdefault(r["fault"], {"runs": 0, "faulty": 0, "detected": 0, "repaired": 0, "tried": 0,
                                              "counted": r.get("counted", True)})
        e["runs"] += 1
        if r["faulty"]:
            e["faulty"] += 1
            e["detected"] += set(r["expected"]) <= set(r["codes"])
            if "repair" in r:
                e["tried"] += 1
                e["repaired"] += r["repair"]["success"]
    return {
        "per_code": per_code, "fpr": fpr, "clean_runs": len(clean), "fault_runs": len(counted),
        "clean_failed": [f"{r.get('base', '?')} (seed {r.get('seed', '?')}): {sorted(r['codes'])}" for r in failed],
        "faulty_runs": len(faulty), "not_worse": [f"{r['fault']} (seed {r['seed']})" for r in counted
                                                  if not r["faulty"]],
        "delay_median_steps": statistics.median(delays) if delays else None,
        "delay_median_fraction": statistics.median(fractions) if fractions else None,
        "delay_mean_fraction": statistics.mean(fractions) if fractions else None,
        "detected_before_training": before, "detections": len(delays),
        "repair_success": len(ok) / len(repaired) if repaired else None, "repair_tried": len(repaired),
        "repair_success_fixable": (sum(r["repair"]["success"] for r in fixable) / len(fixable)) if fixable else None,
        "repair_fixable": len(fixable), "per_fault": per_fault,
        "macro_precision": _mean([v["precision"] for v in per_code.values()]),
        "macro_recall": _mean([v["recall"] for v in per_code.values()]),
    }


def _finite(x):
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _f(x, pct=False):
    if x is None:
        return "-"
    return f"{x:.0%}" if pct else f"{x:.2f}"


def format_table(s: dict, overhead=None) -> str:
    """The benchmark's result as Markdown."""
    lines = ["| code | TP | FP | FN | precision | recall | F1 |", "|---|---|---|---|---|---|---|"]
    for k, v in s["per_code"].items():
        lines.append(f"| `{k}` | {v['tp']} | {v['fp']} | {v['fn']} | {_f(v['precision'])} | {_f(v['recall'])} | "
                     f"{_f(v['f1'])} |")
    lines.append("")
    lines.append("| fault | runs | faulty | detected | repaired |")
    lines.append("|---|---|---|---|---|")
    extra = [n for n, e in s["per_fault"].items() if not e.get("counted", True)]
    for name, e in s["per_fault"].items():
        lines.append(f"| {name}{' (not counted)' if name in extra else ''} | {e['runs']} | {e['faulty']} | "
                     f"{e['detected']} | {e['repaired']}/{e['tried']} |")
    lines.append("")
    if extra:
        lines.append(f"- rows marked (not counted): {', '.join(extra)}: round 5's data-starved variants, whose clean "
                     f"twin sees data the faulty run never does; shown for comparison, left out of every figure "
                     f"below and of the per-code table")
    lines.append(f"- fault runs {s['fault_runs']}, measurably worse than the clean twin (counted) {s['faulty_runs']}; "
                 f"clean runs {s['clean_runs']}")
    if s["not_worse"]:
        lines.append(f"- not measurably worse (left out): {', '.join(s['not_worse'])}")
    lines.append(f"- false-positive rate on clean runs (any warning or worse): {_f(s['fpr'], True)}")
    failed = s.get("clean_failed", [])
    lines.append(f"- clean runs that failed by themselves (final metric not finite; still counted as false "
                 f"positives in the FPR and the precision): {len(failed)}" + (f": {'; '.join(failed)}" if failed else ""))
    lines.append(f"- macro precision {_f(s['macro_precision'])}, macro recall {_f(s['macro_recall'])}")
    lines.append(f"- detection delay: median {s['delay_median_steps']} steps, median {_f(s['delay_median_fraction'], True)} "
                 f"of the run (mean {_f(s['delay_mean_fraction'], True)}); {s['detected_before_training']} of "
                 f"{s['detections']} detections before the first step")
    lines.append(f"- repair success (final validation accuracy within 2 points of the clean twin): "
                 f"{_f(s['repair_success'], True)} of {s['repair_tried']} faulty runs; "
                 f"{_f(s['repair_success_fixable'], True)} of the {s['repair_fixable']} marked repairable")
    if overhead is not None:
        lines.append(f"- monitoring overhead (default MNIST-1D MLP, default sampling, CPU time inside the doctor / "
                     f"the rest): median {overhead['median']:+.1%} (min {overhead['min']:+.1%}, "
                     f"max {overhead['max']:+.1%}, {overhead['runs']} runs of {overhead['epochs']} epochs)")
    return "\n".join(lines)


def measure_overhead(epochs=5, repeats=3) -> dict:
    """``bench/doctor_overhead.py``'s in-run accounting at the default sampling."""
    from trainwise.config import load_config
    from trainwise.doctor.monitors import DEFAULT_EVERY

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "doctor_overhead.py")
    spec = importlib.util.spec_from_file_location("doctor_overhead", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg = load_config()
    cfg["training"]["epochs"] = epochs
    shares = []
    for _ in range(repeats):
        total, _, inside = mod.one_run(cfg, epochs, every=DEFAULT_EVERY, clock=True)
        shares.append(inside / (total - inside))
    return {"median": statistics.median(shares), "min": min(shares), "max": max(shares), "runs": repeats,
            "epochs": epochs, "every": DEFAULT_EVERY}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="one seed, smaller data and fewer epochs")
    p.add_argument("--size", type=float, default=1.0, help="data and epoch scale (quick: 0.3)")
    p.add_argument("--margin", type=float, default=0.03, help="'measurably worse': this far below the clean twin")
    p.add_argument("--faults", nargs="+", default=None, help="substrings of fault names to run")
    p.add_argument("--no-extra", action="store_true", help="leave out the extra (not counted) rows")
    p.add_argument("--no-repair", action="store_true")
    p.add_argument("--no-overhead", action="store_true")
    p.add_argument("--json", default=None, help="write the raw results and the scores here")
    args = p.parse_args(argv)
    seeds = args.seeds[:1] if args.quick else args.seeds
    size = 0.3 if args.quick and args.size == 1.0 else args.size
    pool = FAULTS + ([] if args.no_extra else EXTRA_FAULTS)
    faults = pool if not args.faults else [f for f in pool if any(s in f.name for s in args.faults)]
    t0 = time.perf_counter()
    print(f"doctor benchmark: {len(faults)} faults x seeds {seeds}, size {size}")
    raw = run_benchmark(faults, seeds, size, args.margin, repair=not args.no_repair)
    s = scores(raw)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"raw": raw, "scores": s}, f, indent=1, default=str)
    overhead = None if args.no_overhead else measure_overhead()
    print()
    print(format_table(s, overhead))
    print(f"\n(total {time.perf_counter() - t0:.0f} s; command: python bench/doctor_bench.py "
          + " ".join(argv if argv is not None else sys.argv[1:]) + ")")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"raw": raw, "scores": s, "overhead": overhead}, f, indent=1, default=str)
    return s


if __name__ == "__main__":
    main()
