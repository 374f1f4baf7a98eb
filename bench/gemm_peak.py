"""The machine's float32 GEMM peak: the best rate of a square matrix product, in GFLOP/s.

``python bench/gemm_peak.py [--threads N]`` prints NumPy's (its BLAS) and torch.mm's
figures. ``bench.py`` divides each step's matrix-product work by NumPy's figure.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _best_rate(matmul, n, seconds):
    flops = 2.0 * n ** 3
    best, t_end = float("inf"), time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() > t_end:
            break
    return flops / best / 1e9


def gemm_peak(threads=None, sizes=(512, 1024, 2048), seconds=0.4):
    """{"numpy": GFLOP/s, "torch": GFLOP/s (nan without torch), "sizes": {...}}: best over ``sizes``."""
    from threadpoolctl import threadpool_limits

    threads = threads or os.cpu_count()
    out = {"sizes": {}}
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=threads, user_api="blas"):
        best = 0.0
        for n in sizes:
            a = rng.standard_normal((n, n), dtype=np.float32)
            b = rng.standard_normal((n, n), dtype=np.float32)
            c = np.empty((n, n), dtype=np.float32)
            r = _best_rate(lambda: np.matmul(a, b, out=c), n, seconds)
            out["sizes"][f"numpy-{n}"] = r
            best = max(best, r)
        out["numpy"] = best
    try:
        import torch

        torch.set_num_threads(threads)
        best = 0.0
        for n in sizes:
            a, b = torch.randn(n, n), torch.randn(n, n)
            c = torch.empty(n, n)
            r = _best_rate(lambda: torch.mm(a, b, out=c), n, seconds)
            out["sizes"][f"torch-{n}"] = r
            best = max(best, r)
        out["torch"] = best
    except ImportError:
        out["torch"] = float("nan")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    res = gemm_peak(args.threads)
    for k, v in res["sizes"].items():
        print(f"{k:12s} {v:7.1f} GFLOP/s")
    print(f"peak: NumPy {res['numpy']:.1f} GFLOP/s, torch {res['torch']:.1f} GFLOP/s")
