"""How much the doctor's monitoring costs: the default MNIST-1D MLP for a few epochs, with and without it.

Usage: ``python bench/doctor_overhead.py [--epochs 5] [--repeats 5] [--every 10 1]``

Builds the model, optimizer and schedule of ``trainwise train``'s default
config (MLP 256-256, dropout 0.2, AdamW, warm-up + cosine, batch 128, shift
augmentation), then times ``Trainer.fit`` alternately without a doctor and
with ``doctor="watch"`` (one ``every`` value per variant), ``repeats`` times
each, and prints the overhead ratio (time with / time without − 1) of the
medians and of the minima; then it adds up, inside runs with the doctor, the
CPU time spent in the doctor's callbacks and hooks and divides it by the rest
of the run's time. Times are the process's CPU time, which other
programs on a busy machine disturb less than wall-clock time; the runs
alternate so that what disturbance remains hits both alike. Run it with
OMP_NUM_THREADS=1 for the steadiest figures.
"""
from __future__ import annotations

import argparse
import statistics
import time

from trainwise.backend import Generator, manual_seed
from trainwise.config import load_config
from trainwise.data import DataLoader, TensorDataset
from trainwise.doctor import Doctor
from trainwise import nn
from trainwise.train.run import build_model, build_optimizer, build_scheduler, prepare_data
from trainwise.train.trainer import Trainer


class _Clock:
    """Adds up the CPU time spent inside the doctor: its callback methods and its hooks' work."""

    def __init__(self):
        self.seconds = 0.0

    def wrap(self, obj, name):
        fn = getattr(obj, name)

        def timed(*args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - t0
        setattr(obj, name, timed)


def _clocked(doctor):
    clock = _Clock()
    for name in ("on_fit_begin", "on_epoch_begin", "on_batch_begin", "on_after_backward", "on_batch_end",
                 "on_epoch_end", "on_fit_end"):
        clock.wrap(doctor, name)
    for name in ("_activation_stats", "_input_hook"):  # what the forward hooks do on sampled steps
        clock.wrap(doctor.monitor, name)
    return clock


def one_run(cfg, epochs, every=None, clock=False):
    manual_seed(cfg["seed"])
    gen = Generator(cfg["seed"] + 1)
    ds, (X, y), (Xv, yv), _, transform = prepare_data(cfg, gen)
    model = build_model(cfg, ds)
    loader = DataLoader(TensorDataset(X, y), batch_size=cfg["training"]["batch_size"], shuffle=True,
                        generator=gen, transform=transform)
    opt = build_optimizer(model.parameters(), cfg)
    sched, interval = build_scheduler(opt, cfg, len(loader))
    doctor = None if every is None else Doctor("watch", every=every)
    timer = _clocked(doctor) if clock and doctor is not None else None
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, scheduler_interval=interval,
                 generator=gen, doctor=doctor)
    t0 = time.process_time()
    tr.fit(loader, (Xv, yv), epochs=epochs)
    total = time.process_time() - t0
    if timer is not None:
        return total, doctor, timer.seconds
    return total, doctor


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--every", type=int, nargs="+", default=[10, 1],
                   help="sampling intervals to measure (the default first)")
    args = p.parse_args(argv)
    cfg = load_config()
    cfg["training"]["epochs"] = args.epochs
    one_run(cfg, args.epochs)  # warm up: dataset cache, imports, allocator
    times = {"none": []}
    times.update({e: [] for e in args.every})
    findings = None
    for _ in range(args.repeats):
        times["none"].append(one_run(cfg, args.epochs)[0])
        for e in args.every:
            t, doc = one_run(cfg, args.epochs, every=e)
            times[e].append(t)
            if e == args.every[0]:
                findings = doc.findings
    base, base_min = statistics.median(times["none"]), min(times["none"])
    print(f"default MNIST-1D MLP, {args.epochs} epochs, CPU seconds over {args.repeats} alternating runs")
    print(f"  {'':16s} {'median':>8s} {'min':>8s}   overhead (median / min)")
    print(f"  {'no doctor':16s} {base:8.3f} {base_min:8.3f}")
    for e in args.every:
        t, tmin = statistics.median(times[e]), min(times[e])
        print(f"  {'doctor every=' + str(e):16s} {t:8.3f} {tmin:8.3f}   {t / base - 1:+.1%} / {tmin / base_min - 1:+.1%}")
    print("in-run accounting (CPU time inside the doctor / the rest of the same run; steadier on a busy machine):")
    for e in args.every:
        shares = []
        for _ in range(args.repeats):
            total, _, inside = one_run(cfg, args.epochs, every=e, clock=True)
            shares.append(inside / (total - inside))
        print(f"  {'doctor every=' + str(e):16s} overhead {statistics.median(shares):+.1%} "
              f"(min {min(shares):+.1%}, max {max(shares):+.1%})")
    print(f"findings of the default run (warning or worse): "
          f"{[f.code for f in findings if f.severity != 'info'] or 'none'}")


if __name__ == "__main__":
    main()
