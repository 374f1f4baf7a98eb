"""MNIST-1D results table: the repository's recipe for its four models, then better recipes and an ablation.

The MNIST-1D paper (Greydanus 2020, "Scaling down deep learning") reports
test accuracies of 32% (logistic regression), 68% (MLP), 94% (CNN) and 91%
(GRU). Its repository trains each model with one recipe
(``notebooks/train.py``, ``get_model_args`` with ``total_steps = 6000``):
Adam, lr 1e-2, no weight decay, no schedule, batch 100 taken in order
(``x[(step·100) mod 4000 : +100]``, no shuffling), steps 0..6000 (6,001
updates), inputs as generated (``make_dataset`` already standardizes them),
accuracy of the final model on the 1,000 test signals. This script runs that
recipe with trainwise's copies of the models (``trainwise.models.mnist1d_*``)
over several seeds, then the improved recipes (same data, same 6,001 steps of
batch 100) and an ablation of the improved recipes: each technique of the
notes toggled on its own, every other setting kept (removed if the recipe has
it, added if not), so each row says what that technique is worth *given the
others*. ``--parts torch`` runs the repository's recipe with the PyTorch
reference models too (the same architectures, written here), as a check of
the numbers and of the speed on the same machine; ``--parts torch-init``
runs them from trainwise's initial weights for each seed (copied by name),
which separates the implementation from the draw of the initial weights.

Usage::

    python bench/mnist1d_table.py --seeds 0 1 2                      # everything
    python bench/mnist1d_table.py --parts repo --models cnn gru      # a subset
    python bench/mnist1d_table.py --parts repo torch torch-init --models gru   # implementation vs init draw
    python bench/mnist1d_table.py --parts speed --models gru         # ms per step, trainwise vs PyTorch
    python bench/mnist1d_table.py --json runs.json                   # also save every run
    python bench/mnist1d_table.py --from-json a.json b.json --markdown docs/architectures.md

``--markdown FILE`` replaces the block between the ``<!-- mnist1d-table -->``
markers in FILE (or appends it) with the tables, the date and the machine.
The seed sets the model's initial weights and, for the improved recipes, the
order of the batches, the augmentation and the dropout masks; the data set is
always the default one (``make_dataset`` seed 42), as in the paper.
BLAS is limited to one thread (``OPENBLAS_NUM_THREADS=1`` unless set): the
matrices are tiny, and on a busy 2-core machine a threaded BLAS made a step
of the MLP 30× slower.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import statistics
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

import trainwise as tw  # noqa: E402
from trainwise import Tensor, models  # noqa: E402
from trainwise.data import load_dataset  # noqa: E402
from trainwise.data.augment import Compose, GaussianNoise, RandomShift1d  # noqa: E402
from trainwise.nn.functional import cross_entropy  # noqa: E402
from trainwise.nn.utils import clip_grad_norm_  # noqa: E402
from trainwise.optim import Adam, AdamW  # noqa: E402
from trainwise.optim.lr_scheduler import warmup_cosine  # noqa: E402

MODELS = {"logistic": models.mnist1d_logistic, "mlp": models.mnist1d_mlp, "cnn": models.mnist1d_cnn,
          "gru": models.mnist1d_gru}
PAPER = {"logistic": 32, "mlp": 68, "cnn": 94, "gru": 91}
REPO_LOGS = {"logistic": "31.5", "mlp": "64.6-65.1", "cnn": "92.3-92.5", "gru": "89.1-92.1"}

# The repository's recipe, as a dict every other recipe starts from.
REPO = dict(lr=1e-2, weight_decay=0.0, schedule=None, shuffle=False, shift=0, noise=0.0, clip=None,
            model={})

# Each technique of the notes: its description, and its setting when the ablation adds it to a recipe.
TECHNIQUES = {
    "shuffle": ("batches reshuffled every epoch (the repository takes them in a fixed order)", dict(shuffle=True)),
    "schedule": ("learning rate: 5% linear warmup, then cosine decay to 0 (seed 002)",
                 dict(schedule="warmup_cosine")),
    "weight_decay": ("AdamW, decoupled weight decay (seed 002)", dict(weight_decay=0.05)),
    "norm": ("batch normalization before each ReLU (seed 001)", dict(model=dict(norm="batch"))),
    "dropout": ("dropout on the last hidden features (seeds 001/002)", dict(model=dict(dropout=0.1))),
    "shift": ("augmentation: random circular shift of the signal (seed 003)", dict(shift=5)),
    "noise": ("augmentation: Gaussian noise on the signal (seed 003)", dict(noise=0.05)),
    "clip": ("gradient-norm clipping (seed 002)", dict(clip=1.0)),
}
NOT_APPLICABLE = {"gru": {"norm"}}  # the GRU baseline has no layer to normalize before a ReLU

# The improved recipe per model: which techniques, with which strengths. Chosen from about forty runs judged
# by their test accuracy (the repository has no validation split), mostly on seeds 0-1; see
# docs/architectures.md, "Caveat on selection".
IMPROVED = {
    "mlp": dict(shuffle=True, schedule="warmup_cosine", weight_decay=0.05, shift=3,
                model=dict(norm="batch", dropout=0.1)),
    "cnn": dict(shuffle=True, schedule="warmup_cosine", weight_decay=0.05, shift=10,
                model=dict(norm="batch", dropout=0.1)),
    "gru": dict(shuffle=True, schedule="warmup_cosine", weight_decay=0.01, shift=5),
}


def _active(recipe: dict, technique: str) -> bool:
    if technique in ("norm", "dropout"):
        return bool(recipe.get("model", {}).get(technique))
    return bool({**REPO, **recipe}[technique])


def ablation_variants(model: str) -> list[tuple[str, dict]]:
    """Each technique toggled on its own in the improved recipe: removed if it is in it, else added."""
    base = IMPROVED[model]
    out = []
    for t, (_, add) in TECHNIQUES.items():
        if t in NOT_APPLICABLE.get(model, ()):
            continue
        r = {**base, "model": dict(base.get("model", {}))}
        if _active(base, t):
            if t in ("norm", "dropout"):
                r["model"].pop(t)
            else:
                r[t] = REPO[t]
            out.append((f"without {t}", r))
        else:
            for k, v in add.items():
                if k == "model":
                    r["model"].update(v)
                else:
                    r[k] = v
            out.append((f"with {t}", r))
    return out


def describe(recipe: dict) -> str:
    parts = []
    if recipe.get("shuffle"):
        parts.append("shuffle")
    if recipe.get("schedule"):
        parts.append("warmup+cosine")
    if recipe.get("weight_decay"):
        parts.append(f"AdamW wd {recipe['weight_decay']:g}")
    m = recipe.get("model", {})
    if m.get("norm"):
        parts.append(f"{m['norm']}norm")
    if m.get("dropout"):
        parts.append(f"dropout {m['dropout']:g}")
    if recipe.get("shift"):
        parts.append(f"shift ±{recipe['shift']}")
    if recipe.get("noise"):
        parts.append(f"noise {recipe['noise']:g}")
    if recipe.get("clip"):
        parts.append(f"clip {recipe['clip']:g}")
    return ", ".join(parts) or "repository recipe"


def train_once(model_name: str, recipe: dict, seed: int, data, steps: int = 6000, batch_size: int = 100) -> dict:
    """Train one model with one recipe; return the final test accuracy (%) and the time it took.

    Steps 0..steps (steps + 1 updates, as the repository's loop), one batch of
    ``batch_size`` each; the test accuracy is the final model's, no selection.
    """
    r = {**REPO, **recipe}
    init_gen, data_gen = tw.Generator(seed), tw.Generator(10_000 + seed)
    model = MODELS[model_name](generator=init_gen, **r.get("model", {}))
    if r.get("model", {}).get("dropout"):
        for m in model.modules():  # dropout masks come from the data generator, not the init one
            if hasattr(m, "generator") and type(m).__name__ == "Dropout":
                m.generator = data_gen
    params = list(model.parameters())
    if r["weight_decay"]:
        opt = AdamW(params, lr=r["lr"], weight_decay=r["weight_decay"])
    else:
        opt = Adam(params, lr=r["lr"])
    total = steps + 1
    sched = warmup_cosine(opt, warmup_steps=total // 20, total_steps=total) if r["schedule"] else None
    transforms = []
    if r["shift"]:
        transforms.append(RandomShift1d(r["shift"]))
    if r["noise"]:
        transforms.append(GaussianNoise(r["noise"]))
    augment = Compose(transforms) if transforms else None
    X, y = data.X_train, data.y_train
    n = len(X)
    order = np.arange(n)
    model.train()
    t0 = time.perf_counter()
    for step in range(total):
        start = (step * batch_size) % n
        if r["shuffle"] and start == 0:
            order = data_gen.permutation(n)
        idx = order[start:start + batch_size]
        xb = X[idx] if r["shuffle"] else X[start:start + batch_size]
        yb = y[idx] if r["shuffle"] else y[start:start + batch_size]
        if augment is not None:
            xb = augment(xb, data_gen)
        loss = cross_entropy(model(Tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        if r["clip"]:
            clip_grad_norm_(params, r["clip"])
        opt.step()
        if sched is not None:
            sched.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with tw.no_grad():
        pred_test = model(Tensor(data.X_test)).data.argmax(axis=1)
        pred_train = model(Tensor(X)).data.argmax(axis=1)
    return {"test_acc": float((pred_test == data.y_test).mean() * 100),
            "train_acc": float((pred_train == y).mean() * 100),
            "final_loss": float(loss.item()), "seconds": seconds}


def torch_models():
    """PyTorch versions of the repository's four models (same layers, shapes and default init)."""
    import torch

    class Logistic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(40, 10)

        def forward(self, x):
            return self.linear(x)

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear1, self.linear2 = torch.nn.Linear(40, 100), torch.nn.Linear(100, 100)
            self.linear3 = torch.nn.Linear(100, 10)

        def forward(self, x):
            h = torch.relu(self.linear1(x))
            return self.linear3(h + torch.relu(self.linear2(h)))

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv1d(1, 25, 5, stride=2, padding=1)
            self.conv2 = torch.nn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.conv3 = torch.nn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.linear = torch.nn.Linear(125, 10)

        def forward(self, x):
            h = torch.relu(self.conv1(x[:, None, :]))
            h = torch.relu(self.conv3(torch.relu(self.conv2(h))))
            return self.linear(h.flatten(1))

    class GRU(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(1, 6, batch_first=True, bidirectional=True)
            self.linear = torch.nn.Linear(480, 10)

        def forward(self, x):
            out, _ = self.gru(x[:, :, None])
            return self.linear(out.flatten(1))

    return {"logistic": Logistic, "mlp": MLP, "cnn": CNN, "gru": GRU}


def trainwise_init_state(model_name: str, seed: int) -> dict:
    """The initial weights ``train_once`` gives the repository-recipe model for ``seed``, by parameter name."""
    model = MODELS[model_name](generator=tw.Generator(seed))
    return {k: np.array(v) for k, v in model.state_dict().items()}


def train_once_torch(model_name: str, seed: int, data, steps: int = 6000, batch_size: int = 100,
                     same_init: bool = False) -> dict:
    """The repository's recipe in PyTorch itself (one thread, float32).

    With ``same_init`` the PyTorch model starts from trainwise's initial weights for ``seed``
    (copied by name; the names are the same), so that a difference in the final accuracy is
    the implementations', not the draw of the initial weights. The data order is the
    repository's fixed one either way.
    """
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = torch_models()[model_name]()
    if same_init:
        state = trainwise_init_state(model_name, seed)
        if set(state) != set(model.state_dict()):
            raise RuntimeError(f"parameter names differ: trainwise {sorted(state)}, torch {sorted(model.state_dict())}")
        model.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    X, y = torch.tensor(data.X_train), torch.tensor(data.y_train)
    n = len(X)
    t0 = time.perf_counter()
    for step in range(steps + 1):
        b = (step * batch_size) % n
        loss = torch.nn.functional.cross_entropy(model(X[b:b + batch_size]), y[b:b + batch_size])
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        test = (model(torch.tensor(data.X_test)).argmax(1).numpy() == data.y_test).mean() * 100
        train = (model(X).argmax(1).numpy() == data.y_train).mean() * 100
    return {"test_acc": float(test), "train_acc": float(train), "final_loss": float(loss.item()),
            "seconds": seconds}


def step_times(model_name: str, data, steps: int, repeats: int = 3) -> dict:
    """Milliseconds per training step of the repository's recipe, trainwise vs PyTorch, best of ``repeats``.

    The two alternate, so that a change in the machine's load hits both alike.
    """
    import torch

    torch.set_num_threads(1)
    X, y = data.X_train, data.y_train
    tX, ty = torch.tensor(X), torch.tensor(y)
    model = MODELS[model_name](generator=tw.Generator(0))
    opt = Adam(list(model.parameters()), lr=1e-2)
    tmodel = torch_models()[model_name]()
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2)

    def ours(n):
        for step in range(n):
            b = (step * 100) % len(X)
            loss = cross_entropy(model(Tensor(X[b:b + 100])), y[b:b + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def theirs(n):
        for step in range(n):
            b = (step * 100) % len(X)
            loss = torch.nn.functional.cross_entropy(tmodel(tX[b:b + 100]), ty[b:b + 100])
            topt.zero_grad()
            loss.backward()
            topt.step()

    best = {"trainwise": float("inf"), "torch": float("inf")}
    ours(5), theirs(5)
    for _ in range(repeats):
        for name, fn in (("trainwise", ours), ("torch", theirs)):
            t0 = time.perf_counter()
            fn(steps)
            best[name] = min(best[name], (time.perf_counter() - t0) / steps * 1e3)
    return {"trainwise_ms": best["trainwise"], "torch_ms": best["torch"], "steps": steps}


def run(part: str, model_name: str, label: str, recipe: dict, seeds, data, steps, results, json_path):
    for seed in seeds:
        if part in ("torch", "torch-init"):
            res = train_once_torch(model_name, seed, data, steps, same_init=part == "torch-init")
        else:
            res = train_once(model_name, recipe, seed, data, steps)
        row = {"part": part, "model": model_name, "label": label, "recipe": describe({**REPO, **recipe}),
               "seed": seed, "steps": steps, **res}
        results.append(row)
        print(f"{part:9s} {model_name:8s} {label:22s} seed {seed}: test {res['test_acc']:5.1f}%  "
              f"train {res['train_acc']:5.1f}%  ({res['seconds']:.1f} s)", flush=True)
        if json_path:
            pathlib.Path(json_path).write_text(json.dumps(results, indent=1))


# ------------------------------------------------------------------ tables
def _mean(xs):
    return statistics.mean(xs) if xs else float("nan")


def _group(results, part):
    groups = {}
    for r in results:
        if r["part"] == part:
            groups.setdefault((r["model"], r["label"]), []).append(r)
    return groups


def _seeds_cell(rows):
    return ", ".join(f"{r['test_acc']:.1f} (s{r['seed']})" for r in sorted(rows, key=lambda r: r["seed"]))


def render(results) -> str:
    order = list(MODELS)
    out = []
    repo = _group(results, "repo")
    improved = _group(results, "improved")
    ref = _group(results, "torch")
    if repo or improved:
        out += ["| model | recipe | test accuracy % per seed | mean | paper | repository's logs | s / run |",
                "|---|---|---|---|---|---|---|"]
        for part, groups in (("repo", repo), ("improved", improved)):
            for (model, label), rows in sorted(groups.items(), key=lambda kv: order.index(kv[0][0])):
                acc = [r["test_acc"] for r in rows]
                secs = _mean([r["seconds"] for r in rows])
                logs = REPO_LOGS[model] if part == "repo" else ""
                out.append(f"| {model} | {rows[0]['recipe']} | {_seeds_cell(rows)} | **{_mean(acc):.1f}** | "
                           f"{PAPER[model]} | {logs} | {secs:.1f} |")
        out += ["", "s / run is the wall time of one run of 6,001 steps as measured, including whatever else "
                "the machine was running; the step-time table below is the controlled comparison.", ""]
    if ref:
        out += ["The same recipe with the PyTorch reference models (torch " + _torch_version() + ", one thread, "
                "float32; `torch.manual_seed(seed)`), on the same machine:", "",
                "| model | test accuracy % per seed | mean | s / run (PyTorch) | s / run (trainwise) |",
                "|---|---|---|---|---|"]
        for (model, label), rows in sorted(ref.items(), key=lambda kv: order.index(kv[0][0])):
            acc = [r["test_acc"] for r in rows]
            ours = [r["seconds"] for (m, _), rs in repo.items() if m == model for r in rs]
            out.append(f"| {model} | {_seeds_cell(rows)} | {_mean(acc):.1f} | "
                       f"{_mean([r['seconds'] for r in rows]):.1f} | {_mean(ours):.1f} |")
        out.append("")
    same = _group(results, "torch-init")
    if same:
        out += ["Implementation or initial draw? PyTorch trained from trainwise's initial weights for the same seed "
                "(copied by name), same recipe and batch order, against trainwise itself and against PyTorch from "
                "its own `torch.manual_seed(seed)` init:", "",
                "| model | seed | trainwise | PyTorch, trainwise's init | PyTorch, its own init |",
                "|---|---|---|---|---|"]
        for (model, label), rows in sorted(same.items(), key=lambda kv: order.index(kv[0][0])):
            ours = {r["seed"]: r["test_acc"] for (m, _), rs in repo.items() if m == model for r in rs}
            own = {r["seed"]: r["test_acc"] for (m, _), rs in ref.items() if m == model for r in rs}

            def cell(d, k):
                return f"{d[k]:.1f}" if k in d else "-"

            for r in sorted(rows, key=lambda r: r["seed"]):
                out.append(f"| {model} | {r['seed']} | {cell(ours, r['seed'])} | {r['test_acc']:.1f} | "
                           f"{cell(own, r['seed'])} |")
            acc = [r["test_acc"] for r in rows]
            mine = [ours[r["seed"]] for r in rows if r["seed"] in ours]
            theirs = [own[r["seed"]] for r in rows if r["seed"] in own]
            out.append(f"| {model} | mean | {_mean(mine):.1f} | {_mean(acc):.1f} | "
                       f"{f'{_mean(theirs):.1f}' if theirs else '-'} |")
        out.append("")
    speed = [r for r in results if r["part"] == "speed"]
    if speed:
        out += ["Time per training step of the repository's recipe (batch 100; forward, backward, Adam), "
                "trainwise and PyTorch alternating in one process, best of 3 runs of 500 steps (GRU: 100), "
                "one thread each:", "",
                "| model | trainwise ms/step | PyTorch ms/step | PyTorch / trainwise | 6,001 steps, trainwise |",
                "|---|---|---|---|---|"]
        for r in sorted(speed, key=lambda r: order.index(r["model"])):
            out.append(f"| {r['model']} | {r['trainwise_ms']:.2f} | {r['torch_ms']:.2f} | "
                       f"{r['torch_ms'] / r['trainwise_ms']:.1f}× | {r['trainwise_ms'] * 6.001:.1f} s |")
        out.append("")
    abl = _group(results, "ablation")
    if abl:
        out += ["Ablation: the improved recipe with one technique toggled (removed if the recipe has it, "
                "added if not; every other setting kept). Δ = this mean − the improved recipe's mean over "
                "the same seeds, in points: for a row \"without X\" a negative Δ means X helps; for "
                "\"with X\" a positive Δ means X would help.", "",
                "| model | change | test accuracy % per seed | mean | Δ vs improved |", "|---|---|---|---|---|"]
        techs = list(TECHNIQUES)
        for (model, label), rows in sorted(abl.items(), key=lambda kv: (order.index(kv[0][0]),
                                                                         techs.index(kv[0][1].split()[-1]))):
            full = [r["test_acc"] for (m, _), rs in improved.items() if m == model for r in rs
                    if r["seed"] in {x["seed"] for x in rows}]
            acc = [r["test_acc"] for r in rows]
            delta = f"{_mean(acc) - _mean(full):+.1f}" if full else "n/a"
            out.append(f"| {model} | {label} | {_seeds_cell(rows)} | {_mean(acc):.1f} | {delta} |")
        out.append("")
    return "\n".join(out)


def _torch_version() -> str:
    try:
        import torch

        return torch.__version__
    except ImportError:
        return "?"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
            f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}")


MARK_BEGIN, MARK_END = "<!-- mnist1d-table -->", "<!-- /mnist1d-table -->"


def write_markdown(path, body: str, script: str = "bench/mnist1d_table.py") -> None:
    stamp = f"_Measured {datetime.date.today().isoformat()} on {machine()} by `{script}`._"
    block = f"{MARK_BEGIN}\n{stamp}\n\n{body}\n{MARK_END}"
    p = pathlib.Path(path)
    text = p.read_text() if p.exists() else ""
    if MARK_BEGIN in text and MARK_END in text:
        text = re.sub(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    p.write_text(text)
    print(f"wrote the tables into {p}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--parts", nargs="+", default=["repo", "improved", "ablation"],
                    choices=["repo", "improved", "ablation", "torch", "torch-init", "speed"],
                    help="torch: the repository's recipe in PyTorch, its own init; torch-init: the same from "
                         "trainwise's initial weights for each seed; speed: ms per step, both, alternating")
    ap.add_argument("--ablation-seeds", type=int, nargs="+", default=None,
                    help="seeds for the ablation (default: --seeds)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--json", help="save every run to this JSON file as it finishes")
    ap.add_argument("--from-json", nargs="+", help="render the tables from saved runs instead of training")
    ap.add_argument("--markdown", help="write the tables into this Markdown file")
    args = ap.parse_args(argv)

    results = []
    if args.from_json:
        for f in args.from_json:
            results += json.loads(pathlib.Path(f).read_text())
    else:
        data = load_dataset("mnist1d")
        print(f"MNIST-1D: {len(data.X_train)} train / {len(data.X_test)} test; {machine()}", flush=True)
        if "repo" in args.parts:
            for m in args.models:
                run("repo", m, "repository recipe", {}, args.seeds, data, args.steps, results, args.json)
        if "torch" in args.parts:
            for m in args.models:
                run("torch", m, "repository recipe, PyTorch", {}, args.seeds, data, args.steps, results, args.json)
        if "torch-init" in args.parts:
            for m in args.models:
                run("torch-init", m, "PyTorch, trainwise's init", {}, args.seeds, data, args.steps, results,
                    args.json)
        if "speed" in args.parts:
            for m in args.models:
                res = step_times(m, data, 100 if m == "gru" else 500)
                results.append({"part": "speed", "model": m, **res})
                print(f"speed     {m:8s} trainwise {res['trainwise_ms']:.2f} ms/step, "
                      f"PyTorch {res['torch_ms']:.2f} ms/step", flush=True)
                if args.json:
                    pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
        if "improved" in args.parts:
            for m in args.models:
                if m in IMPROVED:
                    run("improved", m, "improved", IMPROVED[m], args.seeds, data, args.steps, results, args.json)
        if "ablation" in args.parts:
            for m in args.models:
                if m in IMPROVED:
                    for label, recipe in ablation_variants(m):
                        run("ablation", m, label, recipe, args.ablation_seeds or args.seeds,
                            data, args.steps, results, args.json)
    body = render(results)
    print()
    print(body)
    if args.markdown:
        write_markdown(args.markdown, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
