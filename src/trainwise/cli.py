"""The ``trainwise`` command line: ``train``, ``runs``, ``doctor``."""
from __future__ import annotations

import argparse
import os
import signal
import sys


def _cmd_train(args) -> int:
    from .config import ConfigError, load_config

    try:
        cfg = load_config(args.config, args.set or ())
    except ConfigError as e:
        print(f"trainwise train: {e}", file=sys.stderr)
        return 2
    from .train.checkpoint import CheckpointError
    from .train.run import run_training

    try:
        run_training(cfg, home=args.home, progress=not args.quiet)
    except (ValueError, TypeError, KeyError, CheckpointError, OSError) as e:
        print(f"trainwise train: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("trainwise train: interrupted", file=sys.stderr)
        return 130
    return 0


def _cmd_runs(args) -> int:
    from .train.store import RunStore

    store = RunStore(args.home)
    if args.action == "show":
        if not args.id:
            print("trainwise runs show: give a run id (see 'trainwise runs')", file=sys.stderr)
            return 2
        try:
            run = store.get_run(args.id)
        except KeyError as e:
            print(f"trainwise runs show: {e.args[0]}", file=sys.stderr)
            return 2
        print(f"run {run['id']}  [{run['status']}]  kind={run['kind']}")
        print(f"directory: {run['run_dir']}")
        if run.get("error"):
            print(f"error: {run['error']}")
        if run.get("result"):
            res = run["result"]
            for split in ("test", "val"):
                if split in res:
                    print(f"{split}: " + ", ".join(f"{k} {v:.4f}" for k, v in res[split].items()))
        if run["epochs"]:
            keys = [k for k in run["epochs"][0] if k not in ("time",)]
            print("  ".join(f"{k:>12}" for k in keys))
            for row in run["epochs"]:
                print("  ".join(f"{row.get(k):>12.5g}" if isinstance(row.get(k), float) else f"{row.get(k)!s:>12}"
                                for k in keys))
        curves = os.path.join(run["run_dir"] or "", "learning_curves.png")
        if os.path.exists(curves):
            print(f"learning curves: {curves}")
            print(f"report: {os.path.join(run['run_dir'], 'report.html')}")
        return 0
    runs = store.list_runs(limit=args.limit)
    if not runs:
        print(f"no runs yet in {store.path}")
        return 0
    print(f"{'id':<24} {'kind':<6} {'status':<10} {'epochs':>6} {'test':>8}  name")
    for r in runs:
        res = r.get("result") or {}
        test = res.get("test", {})
        score = test.get("accuracy", test.get("mse"))
        epochs = res.get("epochs_run", "")
        print(f"{r['id']:<24} {r['kind']:<6} {r['status']:<10} {epochs!s:>6} "
              f"{(f'{score:.4f}' if score is not None else ''):>8}  {r.get('name') or ''}")
    return 0


def _cmd_doctor(args) -> int:
    from .doctor.cli import doctor_command

    return doctor_command(args.id, home=args.home, min_severity=args.min_severity)


def _cmd_lab(args) -> int:
    from .lab import list_experiments
    from .lab.report import run_lab

    if not args.names:
        print("trainwise lab: the notes' claims, measured. Run 'trainwise lab NAME ...' or 'trainwise lab all' "
              "[--quick] [--out DIR].")
        for e in list_experiments():
            print(f"  {e.name:<24} {e.claim}")
        return 0
    known = {e.name for e in list_experiments()}
    names = None if args.names == ["all"] else args.names
    unknown = [n for n in (names or []) if n not in known]
    if unknown:
        print(f"trainwise lab: unknown experiment(s) {', '.join(unknown)}; run 'trainwise lab' for the list",
              file=sys.stderr)
        return 2
    if args.seeds is not None and not args.seeds:
        print("trainwise lab: '--seeds' needs at least one seed", file=sys.stderr)
        return 2
    from .train.store import RunStore

    store = None if args.no_store else RunStore(args.home)
    try:
        results, path = run_lab(names, quick=args.quick, out_dir=args.out, store=store, seeds=args.seeds,
                                reuse=not args.fresh, workers=args.workers, progress=not args.quiet)
    except KeyboardInterrupt:
        print("trainwise lab: interrupted (finished runs are kept in the run store)", file=sys.stderr)
        return 130
    except ValueError as e:
        print(f"trainwise lab: {e}", file=sys.stderr)
        return 2
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{r.name:<{width}}  {r.verdict}")
    print(f"report: {path}")
    return 0


def main(argv=None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `trainwise runs | head` ends quietly, as other command-line tools do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(prog="trainwise",
                                     description="Train, diagnose and measure neural networks on NumPy.")
    parser.add_argument("--home", default=None,
                        help="where runs are stored (default: $TRAINWISE_HOME or ./runs)")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("train", help="train a model (default: an MLP on MNIST-1D)")
    p.add_argument("config", nargs="?", default=None, help="a YAML config (see docs/config.md)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optimizer.lr=0.01 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=_cmd_train)
    p = sub.add_parser("runs", help="list runs, or 'runs show ID'")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("id", nargs="?")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(fn=_cmd_runs)
    p = sub.add_parser("lab", help="list the lab's experiments, or run 'lab NAME ...' / 'lab all'")
    p.add_argument("names", nargs="*", help="experiment names, or 'all' (none: list them)")
    p.add_argument("--quick", action="store_true", help="reduced sizes and 2 seeds: a first look in about a minute")
    p.add_argument("--out", default="lab-report", help="directory for report.html and the PNGs (default: lab-report)")
    p.add_argument("--seeds", type=int, nargs="*", default=None, help="seeds to run (default: each experiment's own)")
    p.add_argument("--fresh", action="store_true", help="run everything again instead of reusing stored runs")
    p.add_argument("--no-store", action="store_true", help="do not read or write the run store")
    p.add_argument("--workers", type=int, default=1, help="run each experiment's jobs in this many processes")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(fn=_cmd_lab)
    p = sub.add_parser("doctor", help="what went wrong in a run: findings, evidence, remedies, pictures")
    p.add_argument("id", help="a run id (or a unique prefix; see 'trainwise runs')")
    p.add_argument("--min-severity", choices=["info", "warning", "error"], default="info",
                   help="show findings at least this grave (default: all)")
    p.set_defaults(fn=_cmd_doctor)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
