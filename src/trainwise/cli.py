"""The ``trainwise`` command line: ``train``, ``runs``."""
from __future__ import annotations

import argparse
import os
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


def main(argv=None) -> int:
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
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
