"""The ``trainwise`` command line."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="trainwise", description="Train, diagnose and measure neural networks on NumPy.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("train", help="train a model (default: an MLP on MNIST-1D)")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print("trainwise train: the training loop is not built yet (see the open issues)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
