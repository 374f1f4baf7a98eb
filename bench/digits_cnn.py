"""Digits: the small CNN of ``trainwise.models.digits_cnn`` on scikit-learn's 8×8 digits.

The split is trainwise's ``load_dataset("digits")``: a stratified 25% test
split (449 of the 1,797 images) drawn with seed 0, pixels scaled to [0, 1]. The recipe,
run with ``trainwise.train.Trainer``: AdamW (lr 3e-3, weight decay 1e-2),
batch 32, 40 epochs, cosine decay of the rate per step, dropout 0.1 before the
read-out; final test accuracy, no selection on the test set. For comparison
the script fits scikit-learn's ``MLPClassifier`` (default arguments, one
hidden layer of 100, ``max_iter=1000``) on the same split with the same seeds.

Usage: ``python bench/digits_cnn.py [--seeds 0 1 2] [--markdown docs/architectures.md]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

import trainwise as tw  # noqa: E402
from trainwise import models, nn  # noqa: E402
from trainwise.data import load_dataset  # noqa: E402
from trainwise.optim import AdamW  # noqa: E402
from trainwise.optim.lr_scheduler import CosineAnnealingLR  # noqa: E402
from trainwise.train import Trainer  # noqa: E402

EPOCHS, BATCH = 40, 32


def train_cnn(seed: int, ds) -> tuple[float, float]:
    gen = tw.Generator(seed)
    model = models.digits_cnn(dropout=0.1, generator=gen)
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    steps = EPOCHS * -(-len(ds.X_train) // BATCH)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=CosineAnnealingLR(opt, T_max=steps),
                      scheduler_interval="step", generator=tw.Generator(10_000 + seed))
    t0 = time.perf_counter()
    trainer.fit((ds.X_train, ds.y_train), epochs=EPOCHS, batch_size=BATCH)
    seconds = time.perf_counter() - t0
    acc = float((trainer.predict(ds.X_test).argmax(axis=1) == ds.y_test).mean() * 100)
    return acc, seconds


def sklearn_mlp(seed: int, ds) -> float:
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(max_iter=1000, random_state=seed).fit(ds.X_train.reshape(len(ds.X_train), -1), ds.y_train)
    return float(clf.score(ds.X_test.reshape(len(ds.X_test), -1), ds.y_test) * 100)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--markdown", help="write the result table into this Markdown file")
    args = ap.parse_args(argv)
    ds = load_dataset("digits", image=True)
    print(f"digits: {len(ds.X_train)} train / {len(ds.X_test)} test (stratified 25%)", flush=True)
    cnn, mlp, secs = {}, {}, []
    for s in args.seeds:
        cnn[s], t = train_cnn(s, ds)
        secs.append(t)
        mlp[s] = sklearn_mlp(s, ds)
        print(f"seed {s}: digits_cnn {cnn[s]:.1f}%  ({t:.1f} s)   sklearn MLPClassifier {mlp[s]:.1f}%", flush=True)
    n_params = sum(p.data.size for p in models.digits_cnn().parameters())
    cells = lambda d: ", ".join(f"{v:.1f} (s{k})" for k, v in d.items())  # noqa: E731
    body = "\n".join([
        "| model | recipe | test accuracy % per seed | mean | s / run |", "|---|---|---|---|---|",
        f"| `digits_cnn()` ({n_params:,} parameters) | AdamW 3e-3, wd 1e-2, batch {BATCH}, {EPOCHS} epochs, "
        f"cosine, dropout 0.1 | {cells(cnn)} | **{statistics.mean(cnn.values()):.1f}** | "
        f"{statistics.mean(secs):.0f} |",
        f"| scikit-learn `MLPClassifier()` (100 hidden) | its defaults, max_iter 1000 | {cells(mlp)} | "
        f"{statistics.mean(mlp.values()):.1f} | |", ""])
    print()
    print(body)
    if args.markdown:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import mnist1d_table

        mnist1d_table.MARK_BEGIN, mnist1d_table.MARK_END = "<!-- digits-table -->", "<!-- /digits-table -->"
        mnist1d_table.write_markdown(args.markdown, body, script="bench/digits_cnn.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
