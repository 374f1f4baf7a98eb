"""trainwise against PyTorch eager on the CPU: the same training work, side by side, in one run.

Usage::

    python bench/bench.py                       # every case, scaling table, peak memory
    python bench/bench.py --quick               # shorter blocks and fewer repeats
    python bench/bench.py --cases mlp-tiny-sgd cnn-small
    python bench/bench.py --markdown docs/performance.md   # also rewrite the doc's tables

For each case both frameworks get the same threads (``torch.set_num_threads`` and
threadpoolctl's limit on NumPy's BLAS), the same float32 data, the same initial
weights (trainwise's state dict copied into the torch model by name) and the same
optimizer with the same hyper-parameters. Before timing, one step of each is run
from the same weights and their losses compared, so both are known to do the
same work. Timing interleaves blocks of steps, trainwise then torch, then torch
then trainwise, ...; each block after a pause of SETTLE_SECONDS, so that the other
framework's idle threads have stopped spinning; a case's figure is the median over the repeats of each
block's steps per second, and its ratio is the median of the per-repeat ratios
(trainwise / torch; above 1 means trainwise is faster).

GEMM share: the floating-point operations of the step's matrix products (forward
and backward, counted by hand for each case), per second, over the machine's
measured float32 GEMM peak, two ways: over the best square product at the start
(``gemm_peak.py``), and over the rate of 2048 x 2048 products run between the
case's blocks (each repeat's share, then the median; the machine's speed drifts by
up to 20% within a run here, so this compares like with like). The target is
judged on the second; both are printed.

Peak memory: each framework runs the case in a fresh subprocess (only the case
built, the other framework's objects dropped); the peak resident set size
during the training steps (VmHWM, reset through /proc/self/clear_refs after
set-up) minus the resident size before them is what training itself adds:
activations, gradients, optimizer state and allocator slack.

Environment: if OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE are set (some machines
set them for old OpenBLAS builds), a current NumPy runs a slower kernel; unset
both in the benchmark command only (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
python bench/bench.py``). The kernel threadpoolctl reports is printed.

JAX as a third column: not installed here, so not measured.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(os.path.dirname(HERE), "src"))  # if trainwise is not installed

from gemm_peak import gemm_peak  # noqa: E402


# --------------------------------------------------------------------- setup
def set_threads(n: int):
    """Both frameworks on ``n`` threads: torch's intra-op pool and NumPy's BLAS."""
    from threadpoolctl import threadpool_limits

    import torch

    import trainwise  # noqa: F401  (loads SciPy's BLAS too, so the limit reaches it)

    torch.set_num_threads(n)
    return threadpool_limits(limits=n, user_api="blas")


def blas_info() -> str:
    from threadpoolctl import threadpool_info

    parts = []
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            parts.append(f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture')}, "
                         f"{info.get('num_threads')} threads)")
    return "; ".join(parts) or "unknown"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------- GEMM counting
def linear_flops(n, i, o, first=False):
    """Forward x Wᵀ (2nio) and backward dW (2nio) and dX (2nio; not for the first layer)."""
    return 2 * n * i * o * (2 if first else 3)


def conv_flops(n, cin, cout, k, out_size, first=False):
    """im2col convolution: one (n·out, cin·k) x (cin·k, cout) product forward, two backward."""
    return 2 * n * out_size * cin * k * cout * (2 if first else 3)


# -------------------------------------------------------------------- models
def mlp_models(sizes):
    import torch

    from trainwise import nn

    tw_layers, pt_layers = [], []
    for i in range(len(sizes) - 1):
        tw_layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        pt_layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            tw_layers.append(nn.ReLU())
            pt_layers.append(torch.nn.ReLU())
    return nn.Sequential(*tw_layers), torch.nn.Sequential(*pt_layers)


def cnn2d_models():
    """28x28x1 -> conv 3x3 (8) -> ReLU -> conv 3x3 (16) -> ReLU -> max pool 2 -> dense 10."""
    import torch

    from trainwise import nn

    def build(m):
        return m.Sequential(m.Conv2d(1, 8, 3, padding=1), m.ReLU(), m.Conv2d(8, 16, 3, padding=1), m.ReLU(),
                            m.MaxPool2d(2), m.Flatten(), m.Linear(16 * 14 * 14, 10))

    return build(nn), build(torch.nn)


def cnn1d_models():
    """MNIST-1D shapes (1 x 40): conv 5 (32) -> ReLU -> conv 5 (32) -> ReLU -> max pool 2 -> dense 10."""
    import torch

    from trainwise import nn

    def build(m):
        return m.Sequential(m.Conv1d(1, 32, 5, padding=2), m.ReLU(), m.Conv1d(32, 32, 5, padding=2), m.ReLU(),
                            m.MaxPool1d(2), m.Flatten(), m.Linear(32 * 20, 10))

    return build(nn), build(torch.nn)


def gru_models(hidden=64):
    """MNIST-1D as a sequence of 40 scalars: GRU(1, H) -> last hidden state -> dense 10."""
    import torch

    from trainwise import nn

    class TwGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(1, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 10)

        def forward(self, x):
            out, h = self.gru(x)
            return self.head(h[0])

    class PtGRU(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(1, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, 10)

        def forward(self, x):
            out, h = self.gru(x)
            return self.head(h[0])

    return TwGRU(), PtGRU()


def transformer_models(width=128, heads=4, ff=512):
    """One post-norm encoder layer (dropout 0, batch first), mean over the sequence, dense 10."""
    import torch

    from trainwise import nn

    class TwEnc(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(width, heads, ff, dropout=0.0, batch_first=True)
            self.head = nn.Linear(width, 10)

        def forward(self, x):
            return self.head(self.layer(x).mean(axis=1))

    class PtEnc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.TransformerEncoderLayer(width, heads, ff, dropout=0.0, batch_first=True)
            self.head = torch.nn.Linear(width, 10)

        def forward(self, x):
            return self.head(self.layer(x).mean(dim=1))

    return TwEnc(), PtEnc()


def copy_weights(tw_model, pt_model):
    """trainwise's initial weights into the torch model, by name (strict)."""
    import torch

    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tw_model.state_dict().items()}
    pt_model.load_state_dict(state, strict=True)


def make_optimizers(kind, tw_params, pt_params):
    import torch

    from trainwise import optim

    if kind == "sgd":
        return (optim.SGD(tw_params, lr=0.01, momentum=0.9),
                torch.optim.SGD(pt_params, lr=0.01, momentum=0.9))
    if kind == "adam":
        # foreach=False: the per-parameter loop is torch's default for CPU tensors anyway
        return optim.Adam(tw_params, lr=1e-3), torch.optim.Adam(pt_params, lr=1e-3)
    raise ValueError(kind)


# --------------------------------------------------------------------- cases
class StepCase:
    """A model, a loss (cross-entropy on 10 classes), an optimizer and a few fixed batches."""

    kind = "step"

    def __init__(self, name, label, models, optimizer, x_shape, n_classes, flops, n_batches=4):
        self.name, self.label, self.models, self.optimizer = name, label, models, optimizer
        self.x_shape, self.n_classes, self.flops, self.n_batches = x_shape, n_classes, flops, n_batches

    def data(self):
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal(self.x_shape).astype(np.float32) for _ in range(self.n_batches)]
        ys = [rng.integers(0, self.n_classes, self.x_shape[0]).astype(np.int64) for _ in range(self.n_batches)]
        return xs, ys

    def build(self, which=("tw", "pt")):
        """Returns {"tw": step(i) -> loss, "pt": step(i) -> loss} with identical starting weights."""
        import torch

        import trainwise as tw
        from trainwise import nn

        tw_model, pt_model = self.models()
        copy_weights(tw_model, pt_model)
        tw_opt, pt_opt = make_optimizers(self.optimizer, tw_model.parameters(), pt_model.parameters())
        xs, ys = self.data()
        steps = {}
        if "tw" in which:
            txs, tys = [tw.Tensor(x) for x in xs], ys
            tw_loss = nn.CrossEntropyLoss()
            nb = len(txs)

            def tw_step(i):
                k = i % nb
                loss = tw_loss(tw_model(txs[k]), tys[k])
                tw_opt.zero_grad()
                loss.backward()
                tw_opt.step()
                return loss

            steps["tw"] = tw_step
        if "pt" in which:
            pxs, pys = [torch.from_numpy(x) for x in xs], [torch.from_numpy(y) for y in ys]
            pt_loss = torch.nn.CrossEntropyLoss()
            nb = len(pxs)

            def pt_step(i):
                k = i % nb
                loss = pt_loss(pt_model(pxs[k]), pys[k])
                pt_opt.zero_grad()
                loss.backward()
                pt_opt.step()
                return loss

            steps["pt"] = pt_step
        return steps


class TrainerEpochCase:
    """One epoch of ``trainwise train``'s default config through the Trainer, against the same
    epoch written as a plain PyTorch loop.

    trainwise: MNIST-1D standardized, 20% validation, DataLoader (batch 128, shuffled, random
    circular shift of up to 3 samples), MLP 40-256-256-10 (ReLU, dropout 0.2, He normal),
    AdamW (lr 1e-2, weight decay 1e-2), warmup-cosine stepped every batch, the accuracy
    metric, callbacks TerminateOnNaN, EarlyStopping(restore_best_weights) and CSVLogger, and
    the validation pass at the epoch's end. (The run store, JSON log and checkpoint file of
    ``trainwise train`` are left out: file and SQLite writes that are no framework's work.)
    PyTorch: the same data, model, optimizer, per-step schedule (LambdaLR), shift, accuracy,
    NaN check, best-state copy, CSV line and validation pass.
    """

    kind = "epoch"

    def __init__(self):
        self.name, self.label, self.optimizer = "trainer-epoch", "Trainer epoch, `trainwise train` default", "adamw"
        bs, n = 128, 3200
        steps = math.ceil(n / bs)
        self.flops = steps * (linear_flops(bs, 40, 256, True) + linear_flops(bs, 256, 256) + linear_flops(bs, 256, 10))
        self.flops += 2 * 800 * (40 * 256 + 256 * 256 + 256 * 10)  # validation forward

    def build(self, which=("tw", "pt")):
        import torch

        from trainwise import config as twconfig
        from trainwise import nn
        from trainwise.backend import Generator, manual_seed
        from trainwise.data import DataLoader, TensorDataset
        from trainwise.train.callbacks import CSVLogger, EarlyStopping, TerminateOnNaN
        from trainwise.train.run import build_model, build_optimizer, build_scheduler, prepare_data
        from trainwise.train.trainer import Trainer

        cfg = twconfig.defaults()
        cfg["training"]["epochs"] = 100000  # the schedule's length; each timed call runs one epoch
        manual_seed(cfg["seed"])
        data_gen = Generator(cfg["seed"] + 1)
        ds, (X, y), (Xv, yv), _, transform = prepare_data(cfg, data_gen)
        self.tmp = tempfile.mkdtemp(prefix="trainwise-bench-")
        steps = {}
        tw_model = build_model(cfg, ds)
        if "tw" in which:
            loader = DataLoader(TensorDataset(X, y), batch_size=cfg["training"]["batch_size"], shuffle=True,
                                generator=data_gen, transform=transform)
            opt = build_optimizer(tw_model.parameters(), cfg)
            sched, interval = build_scheduler(opt, cfg, len(loader))
            callbacks = [TerminateOnNaN(), CSVLogger(os.path.join(self.tmp, "history.csv")),
                         EarlyStopping(monitor="val_loss", patience=15, restore_best_weights=True)]
            trainer = Trainer(tw_model, nn.CrossEntropyLoss(), opt, scheduler=sched, scheduler_interval=interval,
                              callbacks=callbacks, metrics=("accuracy",), generator=data_gen)

            def tw_epoch(i):
                h = trainer.fit(loader, (Xv, yv), epochs=1)
                return h.rows[-1]["loss"]

            steps["tw"] = tw_epoch
        if "pt" in which:
            steps["pt"] = self._torch_epoch(cfg, tw_model, X, y, Xv, yv)
        return steps

    def _torch_epoch(self, cfg, tw_model, X, y, Xv, yv):
        import copy
        import csv

        import torch

        o, t = cfg["optimizer"], cfg["training"]
        p = cfg["model"]["dropout"]
        model = torch.nn.Sequential(torch.nn.Linear(40, 256), torch.nn.ReLU(), torch.nn.Dropout(p),
                                    torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Dropout(p),
                                    torch.nn.Linear(256, 10))
        copy_weights(tw_model, model)
        opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), weight_decay=o["weight_decay"])
        bs = t["batch_size"]
        steps_per_epoch = math.ceil(len(X) / bs)
        warm = int(round(cfg["schedule"]["warmup_epochs"] * steps_per_epoch))
        total = t["epochs"] * steps_per_epoch

        def factor(s):
            if s < warm:
                return s / warm
            return 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                                             batch_size=bs, shuffle=True,
                                             generator=torch.Generator().manual_seed(cfg["seed"]))
        Xv_t, yv_t = torch.from_numpy(Xv), torch.from_numpy(yv)
        loss_fn = torch.nn.CrossEntropyLoss()
        shift = cfg["dataset"]["augment"]["shift"]
        gen = torch.Generator().manual_seed(1)
        best = [math.inf, None]
        csv_path = os.path.join(self.tmp, "torch-history.csv")
        L = X.shape[1]
        ar = torch.arange(L)

        def pt_epoch(i):
            model.train()
            n = tot = acc = 0.0
            t0 = time.perf_counter()
            for xb, yb in loader:
                k = torch.randint(-shift, shift + 1, (len(xb),), generator=gen)
                xb = torch.gather(xb, 1, (ar[None, :] - k[:, None]) % L)
                out = model(xb)
                loss = loss_fn(out, yb)
                opt.zero_grad()
                loss.backward()
                lv = loss.item()
                if not math.isfinite(lv):
                    raise FloatingPointError("NaN loss")
                opt.step()
                sched.step()
                m = len(yb)
                n += m
                tot += lv * m
                acc += (out.argmax(1) == yb).float().mean().item() * m
            model.eval()
            with torch.no_grad():
                vout = model(Xv_t)
                vloss = loss_fn(vout, yv_t).item()
                vacc = (vout.argmax(1) == yv_t).float().mean().item()
            if vloss < best[0]:
                best[0], best[1] = vloss, copy.deepcopy(model.state_dict())
            with open(csv_path, "a", newline="") as f:
                csv.writer(f).writerow([i, tot / n, acc / n, vloss, vacc, opt.param_groups[0]["lr"],
                                        time.perf_counter() - t0])
            return tot / n

        return pt_epoch


def all_cases():
    cases = []
    mlps = [("tiny", [64, 32, 32, 10], 32), ("small", [784, 128, 10], 64),
            ("medium", [784, 256, 256, 10], 128), ("large", [784, 1024, 1024, 1024, 10], 256)]
    for size, sizes, bs in mlps:
        flops = sum(linear_flops(bs, sizes[i], sizes[i + 1], first=(i == 0)) for i in range(len(sizes) - 1))
        for opt in ("sgd", "adam"):
            label = f"MLP {size} {'-'.join(map(str, sizes))}, batch {bs}, {'SGD-momentum' if opt == 'sgd' else 'Adam'}"
            cases.append(StepCase(f"mlp-{size}-{opt}", label, (lambda s=sizes: mlp_models(s)), opt,
                                  (bs, sizes[0]), sizes[-1], flops))
    bs = 64
    flops = (conv_flops(bs, 1, 8, 9, 28 * 28, first=True) + conv_flops(bs, 8, 16, 9, 28 * 28)
             + linear_flops(bs, 16 * 14 * 14, 10))
    cases.append(StepCase("cnn-small", "CNN 28x28x1 conv8-conv16-pool-dense10, batch 64, SGD-momentum",
                          cnn2d_models, "sgd", (bs, 1, 28, 28), 10, flops))
    bs = 128
    flops = conv_flops(bs, 1, 32, 5, 40, first=True) + conv_flops(bs, 32, 32, 5, 40) + linear_flops(bs, 640, 10)
    cases.append(StepCase("cnn1d-mnist1d", "1-D CNN on MNIST-1D shapes (1x40) conv32-conv32-pool-dense10, batch 128, "
                          "SGD-momentum", cnn1d_models, "sgd", (bs, 1, 40), 10, flops))
    H, T = 64, 40
    flops = T * (2 * bs * 1 * 3 * H * 2 + 2 * bs * H * 3 * H * 3) + linear_flops(bs, H, 10)
    cases.append(StepCase("gru-mnist1d", f"GRU(1, {H}) over MNIST-1D's 40 steps, dense 10, batch 128, Adam",
                          gru_models, "adam", (bs, T, 1), 10, flops))
    bs, T, D, FF = 32, 64, 128, 512
    n = bs * T
    flops = (linear_flops(n, D, 3 * D) + linear_flops(n, D, D) + linear_flops(n, D, FF) + linear_flops(n, FF, D)
             + 3 * 2 * bs * T * T * D * 2 + linear_flops(bs, D, 10))  # QKᵀ and AV: forward + 2 backward each
    cases.append(StepCase("transformer", f"Transformer encoder layer (seq {T}, width {D}, 4 heads, ff {FF}), "
                          f"batch {bs}, Adam", transformer_models, "adam", (bs, T, D), 10, flops))
    cases.append(TrainerEpochCase())
    return cases


# -------------------------------------------------------------------- timing
# Before each timed block the script sleeps this long, so that the block starts on a quiet
# machine: OpenBLAS's workers (NumPy's BLAS) spin for 2^28 cycles (~0.1 s at 2.6 GHz) after
# their last call, and a PyTorch block that followed a trainwise block could start with one
# core taken. (With the spin left long or cut short before each pair of blocks, PyTorch's
# medium MLP ran 560 against 633 steps/s; the pause itself, tested in run_case, moved the
# ratio by less than the run-to-run noise.) 0.15 s outlasts the spin.
SETTLE_SECONDS = 0.15


def time_block(step, n, start):
    time.sleep(SETTLE_SECONDS)
    t0 = time.perf_counter()
    for i in range(start, start + n):
        step(i)
    return n / (time.perf_counter() - t0)


def check_same_work(case, steps):
    """Two steps of each from the same weights: the losses must agree (same model, data, update)."""
    if case.kind != "step":
        return None
    a = [float(steps["tw"](i).data) for i in range(2)]
    b = [float(steps["pt"](i).item()) for i in range(2)]
    err = max(abs(x - y) / max(abs(y), 1e-6) for x, y in zip(a, b))
    if err > 1e-3:
        raise RuntimeError(f"{case.name}: trainwise and torch disagree on the first losses: {a} vs {b}")
    return err


class PeakBlock:
    """NumPy's float32 GEMM rate measured between a case's blocks: 2048 x 2048 products for about
    ``seconds``, GFLOP/s over the block (an average, as the steps' rates are). The machine's speed
    drifts by up to 20% within a run here (other tenants); a step's GEMM share is its products'
    rate over the rate the machine gave a square product at that moment, next to its block."""

    def __init__(self, n=2048):
        rng = np.random.default_rng(1)
        self.a = rng.standard_normal((n, n), dtype=np.float32)
        self.b = rng.standard_normal((n, n), dtype=np.float32)
        self.c = np.empty((n, n), dtype=np.float32)
        self.flops = 2.0 * n ** 3
        np.matmul(self.a, self.b, out=self.c)

    def __call__(self, seconds=0.15):
        time.sleep(SETTLE_SECONDS)
        k, t0 = 0, time.perf_counter()
        while True:
            np.matmul(self.a, self.b, out=self.c)
            k += 1
            if time.perf_counter() - t0 >= seconds:
                break
        return self.flops * k / (time.perf_counter() - t0) / 1e9


def run_case(case, repeats, block_seconds, warmup_seconds, peak_block=None):
    steps = case.build()
    err = check_same_work(case, steps)
    counters = {"tw": 2, "pt": 2}
    # warm up, and size the blocks so each lasts about block_seconds
    per_step = {}
    for fw in ("tw", "pt"):
        n, t_end = 0, time.perf_counter() + warmup_seconds
        t0 = time.perf_counter()
        while True:
            steps[fw](counters[fw])
            counters[fw] += 1
            n += 1
            if time.perf_counter() >= t_end and n >= 2:
                break
        per_step[fw] = (time.perf_counter() - t0) / n
    sizes = {fw: max(1, int(round(block_seconds / per_step[fw]))) for fw in steps}
    rates = {"tw": [], "pt": []}
    ratios, shares, peaks = [], [], []
    for r in range(repeats):
        order = ("tw", "pt") if r % 2 == 0 else ("pt", "tw")
        got = {}
        for fw in order:
            gc.collect()
            got[fw] = time_block(steps[fw], sizes[fw], counters[fw])
            counters[fw] += sizes[fw]
        for fw in got:
            rates[fw].append(got[fw])
        ratios.append(got["tw"] / got["pt"])
        if peak_block is not None and case.flops:
            peaks.append(peak_block())
            shares.append(case.flops * got["tw"] / (peaks[-1] * 1e9))
    return {
        "tw": statistics.median(rates["tw"]), "pt": statistics.median(rates["pt"]),
        "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "loss_check": err, "repeats": repeats, "block_steps": sizes,
        "share_live": statistics.median(shares) if shares else None,
        "peak_live": statistics.median(peaks) if peaks else None,
    }


# -------------------------------------------------------------------- memory
def _rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_worker(case_name, fw, seconds):
    """In a fresh process: build the case, drop the other framework, run ``seconds`` of steps;
    print the resident memory the training steps added (peak minus before), in MiB."""
    set_threads(int(os.environ.get("BENCH_THREADS", "0")) or os.cpu_count())
    case = {c.name: c for c in all_cases()}[case_name]
    step = case.build(which=(fw,))[fw]
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        resettable = True
    except OSError:
        resettable = False
    base = _rss_kb("VmRSS")
    t_end, i = time.perf_counter() + seconds, 0
    while i < 3 or time.perf_counter() < t_end:
        step(i)
        i += 1
    peak = _rss_kb("VmHWM")
    print(json.dumps({"added_mib": (peak - base) / 1024, "base_mib": base / 1024, "steps": i,
                      "resettable": resettable}))


def measure_memory(case_name, seconds, threads):
    out = {}
    for fw in ("tw", "pt"):
        env = dict(os.environ, BENCH_THREADS=str(threads))
        res = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-worker", case_name, fw,
                              str(seconds)], capture_output=True, text=True, env=env, timeout=600)
        if res.returncode != 0:
            raise RuntimeError(f"memory worker {case_name}/{fw} failed:\n{res.stderr[-2000:]}")
        out[fw] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


# ------------------------------------------------------------------- scaling
def scaling(widths, batches, block_seconds, repeats, peak):
    """MLP 784-W-W-10 with SGD-momentum: step time as batch size and width grow."""
    rows = []
    for W in widths:
        for B in batches:
            sizes = [784, W, W, 10]
            flops = sum(linear_flops(B, sizes[i], sizes[i + 1], first=(i == 0)) for i in range(3))
            case = StepCase(f"scale-{W}-{B}", "", (lambda s=sizes: mlp_models(s)), "sgd", (B, 784), 10, flops)
            r = run_case(case, repeats, block_seconds, min(0.3, block_seconds))
            gemm_ms = flops / (peak * 1e9) * 1e3
            rows.append({"width": W, "batch": B, "tw_ms": 1e3 / r["tw"], "pt_ms": 1e3 / r["pt"], "ratio": r["ratio"],
                         "gemm_ms": gemm_ms, "gemm_share": gemm_ms / (1e3 / r["tw"])})
            print(f"  W={W:5d} B={B:4d}  trainwise {1e3 / r['tw']:8.3f} ms  torch {1e3 / r['pt']:8.3f} ms  "
                  f"ratio {r['ratio']:.2f}  GEMM at peak {gemm_ms:7.3f} ms ({rows[-1]['gemm_share']:.0%} of the "
                  f"trainwise step)", flush=True)
    return rows


# ------------------------------------------------------------------ markdown
def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def results_table(results, cases, peak):
    lines = ["| case | trainwise steps/s | PyTorch steps/s | ratio (min-max) | GEMM share: of the start's peak "
             "/ of the peak between its blocks | peak memory added, trainwise / PyTorch (MiB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for case in cases:
        r = results.get(case.name)
        if r is None:
            continue
        unit = "epochs/s" if case.kind == "epoch" else ""
        share = case.flops * r["tw"] / (peak * 1e9)
        mem = r.get("memory")
        mem_s = f"{mem['tw']['added_mib']:.1f} / {mem['pt']['added_mib']:.1f}" if mem else "-"
        lines.append(f"| {case.label} (`{case.name}`) | {fmt_rate(r['tw'])}{' ' + unit if unit else ''} | "
                     f"{fmt_rate(r['pt'])} | **{r['ratio']:.2f}x** ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | "
                     f"{share:.0%} / {_pct(r.get('share_live'))} | {mem_s} |")
    return "\n".join(lines)


def _pct(x):
    return "-" if x is None else f"{x:.0%}"


TARGETS = {  # case name -> the ratio trainwise / PyTorch it must reach (the targets)
    "mlp-tiny-sgd": 3.0, "mlp-tiny-adam": 3.0, "mlp-small-sgd": 1.5, "mlp-small-adam": 1.5,
    "mlp-medium-sgd": 1.2, "mlp-medium-adam": 1.2, "mlp-large-sgd": 1.0, "mlp-large-adam": 1.0,
    "cnn-small": 1.0, "gru-mnist1d": 1.0, "transformer": 1.0,
}
GEMM_TARGET = ("mlp-large-sgd", "mlp-large-adam"), 0.70


def targets_table(results, cases, peak):
    """Each target of the issue against this run: met or missed."""
    by_name = {c.name: c for c in cases}
    lines = ["| target | measured | met? |", "| --- | ---: | :---: |"]
    for name, want in TARGETS.items():
        r = results.get(name)
        if r is not None:
            ok = r["ratio"] >= want
            lines.append(f"| `{name}` ratio >= {want:.1f}x | {r['ratio']:.2f}x | {'yes' if ok else '**no**'} |")
    names, want = GEMM_TARGET
    for name in names:
        r = results.get(name)
        if r is not None:
            start = by_name[name].flops * r["tw"] / (peak * 1e9)
            live = r.get("share_live")
            share = start if live is None else live
            lines.append(f"| `{name}` at >= {want:.0%} of the GEMM peak (measured between its blocks; of the "
                         f"start's best: {start:.0%}) | {share:.0%} | {'yes' if share >= want else '**no**'} |")
    mem = [(n, r["memory"]) for n, r in results.items() if r.get("memory")]
    if mem:
        worse = [n for n, m in mem if m["tw"]["added_mib"] > m["pt"]["added_mib"]]
        lines.append(f"| peak memory added by training <= PyTorch's, every case | "
                     f"{len(mem) - len(worse)} of {len(mem)} cases"
                     f"{' (over: ' + ', '.join(worse) + ')' if worse else ''} | {'yes' if not worse else '**no**'} |")
    return "\n".join(lines)


def scaling_table(rows):
    lines = ["| width W | batch B | trainwise ms/step | PyTorch ms/step | ratio | GEMM time at peak (ms) | "
             "GEMM share of the trainwise step |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['width']} | {r['batch']} | {r['tw_ms']:.3f} | {r['pt_ms']:.3f} | {r['ratio']:.2f}x | "
                     f"{r['gemm_ms']:.3f} | {r['gemm_share']:.0%} |")
    return "\n".join(lines)


def replace_block(text, tag, body):
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        return head + block + tail
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_markdown(path, header, table, scale, targets, tag=""):
    """Rewrite the blocks ``bench``, ``scaling`` and ``targets`` of ``path`` (with ``tag``: ``bench-TAG``
    and ``targets-TAG``, so that a second run, e.g. at another thread count, has blocks of its own)."""
    sfx = f"-{tag}" if tag else ""
    text = open(path).read() if os.path.exists(path) else "# Performance\n"
    text = replace_block(text, "bench" + sfx, header + "\n\n" + table)
    if scale is not None:
        text = replace_block(text, "scaling" + sfx, scale)
    text = replace_block(text, "targets" + sfx, targets)
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short blocks, 3 repeats, short memory runs, no scaling")
    ap.add_argument("--cases", nargs="*", help="case names (default: all); see --list")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--markdown", help="rewrite the tables of this Markdown file (e.g. docs/performance.md)")
    ap.add_argument("--tag", default="", help="with --markdown: write the blocks bench-TAG, targets-TAG (and "
                    "scaling-TAG) instead of bench, targets, scaling")
    ap.add_argument("--repeats", type=int, help="interleaved repeats per case (default 7, --quick 3)")
    ap.add_argument("--block", type=float, help="seconds per timed block (default 0.5, --quick 0.2)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both frameworks")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--scaling", choices=("auto", "yes", "no"), default="auto",
                    help="the batch/width scaling table (auto: on unless --quick or --cases)")
    ap.add_argument("--memory-worker", nargs=3, metavar=("CASE", "FW", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_worker:
        memory_worker(args.memory_worker[0], args.memory_worker[1], float(args.memory_worker[2]))
        return 0

    cases = all_cases()
    if args.list:
        for c in cases:
            print(f"{c.name:16s} {c.label}")
        return 0
    if args.cases:
        known = {c.name for c in cases}
        bad = [c for c in args.cases if c not in known]
        if bad:
            ap.error(f"unknown case(s) {bad}; known: {sorted(known)}")
        cases = [c for c in cases if c.name in args.cases]
    repeats = args.repeats or (3 if args.quick else 7)
    block = args.block or (0.2 if args.quick else 0.5)
    warm = 0.3 if args.quick else 1.0
    do_scaling = args.scaling == "yes" or (args.scaling == "auto" and not args.quick and not args.cases)

    set_threads(args.threads)
    import torch

    import trainwise

    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(var):
            print(f"note: {var}={os.environ[var]} is set; NumPy's BLAS may run a slower kernel "
                  f"(unset it for this command only)", file=sys.stderr)
    peak = gemm_peak(threads=args.threads)
    date = datetime.date.today().isoformat()
    machine = (f"{cpu_name()}, {os.cpu_count()} cores, {args.threads} threads for both; "
               f"Python {platform.python_version()}, NumPy {np.__version__} with {blas_info()}; "
               f"PyTorch {torch.__version__}; trainwise {getattr(trainwise, '__version__', 'dev')}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine += f"; load average {load:.1f} at the start"
    print(f"{date}: {machine}")
    print(f"float32 GEMM peak (NumPy, best square product): {peak['numpy']:.1f} GFLOP/s "
          f"(torch.mm: {peak['torch']:.1f} GFLOP/s)", flush=True)

    results = {}
    peak_block = PeakBlock()
    for case in cases:
        print(f"{case.name} ...", end=" ", flush=True)
        r = run_case(case, repeats, block, warm, peak_block)
        if not args.no_memory:
            r["memory"] = measure_memory(case.name, 0.5 if args.quick else 1.5, args.threads)
        results[case.name] = r
        share = case.flops * r["tw"] / (peak["numpy"] * 1e9)
        mem = r.get("memory")
        mem_s = f"  memory +{mem['tw']['added_mib']:.1f} / +{mem['pt']['added_mib']:.1f} MiB" if mem else ""
        print(f"trainwise {fmt_rate(r['tw'])}/s  torch {fmt_rate(r['pt'])}/s  ratio {r['ratio']:.2f} "
              f"({r['ratio_min']:.2f}-{r['ratio_max']:.2f})  GEMM {share:.0%} of the start's peak, "
              f"{_pct(r['share_live'])} of {r['peak_live'] or float('nan'):.0f} GFLOP/s between its blocks"
              f"{mem_s}", flush=True)

    scale_rows = None
    if do_scaling:
        print("scaling (MLP 784-W-W-10, SGD-momentum):", flush=True)
        scale_rows = scaling([64, 256, 1024], [16, 64, 256, 1024], 0.2 if args.quick else 0.3, 3, peak["numpy"])

    table = results_table(results, all_cases(), peak["numpy"])
    targets = targets_table(results, all_cases(), peak["numpy"])
    print()
    print(table)
    print()
    print(targets)
    if scale_rows:
        print()
        print(scaling_table(scale_rows))
    if args.markdown:
        command = " ".join(["python bench/bench.py"] + list(sys.argv[1:] if argv is None else argv))
        header = (f"Measured {date} by `{command}` on: {machine}. "
                  f"float32 GEMM peak {peak['numpy']:.0f} GFLOP/s (NumPy; torch.mm {peak['torch']:.0f}). "
                  f"Medians of {repeats} interleaved repeats of ~{block:g} s blocks; the ratio is trainwise / PyTorch "
                  f"(above 1: trainwise faster), with the range over the repeats.")
        write_markdown(args.markdown, header, table, scaling_table(scale_rows) if scale_rows else None,
                       f"From the run above ({date}, {args.threads} thread(s)):\n\n" + targets, tag=args.tag)
        print(f"\nwrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
