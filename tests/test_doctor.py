"""The doctor on real (small, seeded) runs: the notes' pathologies are named, a clean run is not, repairs help."""
import json
import os

import numpy as np
import pytest

import trainwise as tw
from trainwise import init, nn, optim
from trainwise.doctor import Doctor, Finding, diagnose
from trainwise.train import Trainer

RNG = np.random.default_rng(0)
CENTERS = RNG.normal(0, 2, (3, 8))


def blobs(n, seed):
    """Three Gaussian classes in 8-D: an easy task a healthy MLP solves in a few epochs."""
    r = np.random.default_rng(seed)
    y = r.integers(0, 3, n)
    return (CENTERS[y] + r.normal(size=(n, 8))).astype(np.float32), y.astype(np.int64)


TRAIN, VAL = blobs(300, 1), blobs(120, 2)


def mlp(width=32, depth=2, act=nn.ReLU, init_name="he_normal", seed=0):
    tw.manual_seed(seed)
    layers, w = [], 8
    gain = "relu" if act is nn.ReLU else ("tanh" if act is nn.Tanh else "sigmoid")
    for _ in range(depth):
        layers += [nn.Linear(w, width, init=init_name, nonlinearity=gain), act()]
        w = width
    return nn.Sequential(*layers, nn.Linear(w, 3, init=init_name))


def deep_sigmoid(depth=10, std=0.01, seed=0):
    """The notes' vanishing-gradient example: a deep sigmoid stack with weights N(0, std²)."""
    tw.manual_seed(seed)
    layers, w = [], 8
    for _ in range(depth - 1):
        lin = nn.Linear(w, 32)
        layers += [lin, nn.Sigmoid()]
        w = 32
    layers.append(nn.Linear(w, 3))
    model = nn.Sequential(*layers)
    for m in model:
        if isinstance(m, nn.Linear):
            init.normal_(m.weight, 0.0, std)
            init.zeros_(m.bias)
    return model


def serious(findings):
    return [f for f in findings if f.severity != "info"]


def test_zero_init_leaves_units_identical_and_is_named_symmetric():
    model = mlp(width=16, act=nn.Sigmoid, init_name="zeros")
    # no pre-training check: the monitored run alone must show it
    d = diagnose(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5, momentum=0.9), TRAIN, VAL,
                 epochs=4, every=5, checks=False)
    for i in (0, 2):                                        # the hidden layers learned, but as one unit
        W, b = model[i].weight.data, model[i].bias.data
        assert np.abs(W).max() > 0 and np.array_equal(W, np.broadcast_to(W[0], W.shape))
        assert np.all(b == b[0])
    sym = [f for f in d.findings if f.code == "symmetric_init"]
    assert {f.layer for f in sym} == {"0", "2"} and all(f.severity == "error" for f in sym)
    assert sym[0].evidence["spread_last"] < 1e-6 and sym[0].evidence["units"] == 16
    assert "layer 0" in sym[0].message and "identical" in sym[0].message
    # with the pre-training check on, the doctor says it before the first step
    model = mlp(width=16, act=nn.Sigmoid, init_name="zeros")
    d = diagnose(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), TRAIN, VAL, epochs=1)
    f = d.get("symmetric_init")
    assert f.layer == "0" and f.when == "before" and f.evidence["next_layer_symmetric"]


def test_ten_layer_sigmoid_with_small_init_has_vanishing_gradients():
    model = deep_sigmoid(10, 0.01)
    d = diagnose(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9), TRAIN, VAL,
                 epochs=3, every=5)
    f = d.get("vanishing_gradients")
    assert f is not None and f.severity == "error" and f.layer == "0"
    assert f.evidence["ratio"] < 1e-10 and f.evidence["first_layer"] == "0" and f.evidence["last_layer"] == "18"
    assert f.evidence["threshold_ratio"] == 1e-3
    norms = f.evidence["per_layer_grad_norm"]                # the gradient shrinks layer after layer
    assert norms["0"] < norms["8"] < norms["18"]
    assert "estimated_ratio" in f.evidence                    # the pre-training check predicted it
    assert d.codes() == {"vanishing_gradients"}              # stalled loss etc. are its consequences


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the diverging forward pass overflows, on purpose
@pytest.mark.parametrize("case", ["lr", "init"])
def test_large_lr_or_init_is_named_before_the_loss_turns_nan(case):
    model = mlp(width=64, depth=5 if case == "init" else 3)
    if case == "init":
        for m in model:
            if isinstance(m, nn.Linear):
                init.normal_(m.weight, 0.0, 1.0)
    lr = 10.0 if case == "lr" else 0.01
    d = diagnose(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr, momentum=0.9), TRAIN, VAL,
                 epochs=3, every=5)
    nan = d.stats["nan_step"]
    assert nan is not None and d.get("nan_loss").step == nan
    early = [f for f in d.findings if f.code in ("exploding_gradients", "lr_too_high") and f.step is not None]
    assert early and min(f.step for f in early) < nan
    assert len(d.history) < 3                                 # the doctor stopped the hopeless run


def test_overfitting_on_a_small_set_names_the_turning_epoch():
    r = np.random.default_rng(3)
    X = r.normal(size=(40, 8)).astype(np.float32)
    y = (X[:, 0] + 0.8 * r.normal(size=40) > 0).astype(np.int64)        # a noisy rule, 40 samples
    Xv = r.normal(size=(200, 8)).astype(np.float32)
    yv = (Xv[:, 0] + 0.8 * r.normal(size=200) > 0).astype(np.int64)
    tw.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
    d = diagnose(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-3), (X, y), (Xv, yv),
                 epochs=40, batch_size=20, every=5)
    f = d.get("overfitting")
    val = [r["val_loss"] for r in d.history.rows]
    assert f is not None and f.severity == "warning"
    assert f.epoch == int(np.argmin(val)) < 30 and f.evidence["rise"] > 0.1
    assert f.remedies[0] == "early_stop"
    assert f"epoch {f.epoch + 1}" in f.message


def test_a_clean_small_run_has_no_warnings():
    model = mlp()
    d = diagnose(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), TRAIN, VAL, epochs=6,
                 every=5)
    assert d.history.rows[-1]["val_accuracy"] > 0.95
    assert serious(d.findings) == [], [str(f) for f in d.findings]


def test_monitoring_changes_nothing_and_leaves_no_hooks():
    runs = []
    for doctor in (None, "watch"):
        model = mlp(seed=1)
        tr = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), doctor=doctor,
                     generator=tw.Generator(3))
        h = tr.fit(TRAIN, VAL, epochs=2, batch_size=50)
        runs.append(([{k: v for k, v in r.items() if k != "time"} for r in h.rows], model.state_dict()))
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_stats_are_plain_json_and_report_draws_the_pictures(tmp_path):
    model = deep_sigmoid(6, 0.5)
    tr = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), doctor="watch",
                 generator=tw.Generator(0))
    tr.fit(TRAIN, VAL, epochs=2)
    st = json.loads(json.dumps(tr.doctor.stats))
    assert st["layers"][0]["name"] == "0" and st["layers"][0]["activation"] == "sigmoid"
    assert len(st["loss"]) == tr.global_step and set(st["grad_norm"]) == {"0", "2", "4", "6", "8", "10"}
    assert set(st["sat_frac"]) == {"1", "3", "5", "7", "9"} and st["hist"]["1"][0]["step"] == 0
    paths = tr.doctor.report(str(tmp_path))
    assert set(paths) == {"gradients", "activations", "units", "loss", "html"}
    with open(paths["html"]) as f:
        html = f.read()
    assert html.count("data:image/png;base64,") == 4
    assert [Finding.from_dict(d).code for d in json.loads(json.dumps(tr.doctor.to_dict()))["findings"]] == \
        [f.code for f in tr.doctor.findings]


def test_repair_fixes_a_deep_sigmoid_net_with_tiny_init():
    broken = deep_sigmoid(10, 0.01)
    d0 = diagnose(broken, nn.CrossEntropyLoss(), optim.SGD(broken.parameters(), lr=0.1, momentum=0.9), TRAIN, VAL,
                  epochs=6, every=5)
    acc_broken = d0.trainer.evaluate(VAL)["accuracy"]
    model = deep_sigmoid(10, 0.01)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, doctor=Doctor("repair", every=5), generator=tw.Generator(0))
    tr.fit(TRAIN, VAL, epochs=6)
    acc_repaired = tr.evaluate(VAL)["accuracy"]
    assert acc_broken < 0.5 and acc_repaired > 0.9
    rounds = tr.doctor.repairs
    assert rounds and rounds[-1]["accepted"] and rounds[0]["codes_before"] == ["vanishing_gradients"]
    applied = tr.doctor.repair_summary["applied"]
    assert "switch_to_relu" in applied or "reinit" in applied
    # the user's own objects hold the repaired model and its optimizer
    assert tr.model is model and tr.optimizer is opt
    assert not any(isinstance(m, nn.Sigmoid) for m in model.modules()) or "reinit" in applied
    assert model(tw.Tensor(VAL[0])).data.argmax(1).tolist() == tr.predict(VAL[0]).argmax(1).tolist()
    assert {p.data.ctypes.data for p in model.parameters()} == {p.data.ctypes.data for g in opt.param_groups
                                                                 for p in g["params"]}
    assert "round 1" in tr.doctor.summary() and serious(tr.doctor.findings) == []


def test_cli_doctor_prints_the_stored_findings(tmp_path, capsys):
    from trainwise.cli import main
    from trainwise.train.store import RunStore

    cfg = tmp_path / "blobs.yaml"
    cfg.write_text("dataset: {name: blobs, n_samples: 300}\nmodel: {hidden: [16], dropout: 0.0}\n"
                   "training: {epochs: 6, batch_size: 32}\n")
    assert main(["--home", str(tmp_path), "train", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "doctor: no warnings" in out
    run = RunStore(tmp_path).list_runs()[0]
    stored = RunStore(tmp_path).get_run(run["id"])["artifacts"]["doctor"]
    assert isinstance(stored, list)
    assert main(["--home", str(tmp_path), "doctor", run["id"][:15]]) == 0
    out = capsys.readouterr().out
    assert "no warnings" in out and "doctor_gradients.png" in out
    assert os.path.exists(os.path.join(run["run_dir"], "doctor.html"))
    with open(os.path.join(run["run_dir"], "report.html")) as f:
        assert "<h2>Doctor</h2>" in f.read()
    assert main(["--home", str(tmp_path), "doctor", "nope"]) == 2


def test_per_class_scores_only_when_a_split_has_a_class_distribution_problem():
    # a balanced split: no extra pass; a training set without class 2: per-class scores on both splits
    d = diagnose(mlp(), nn.CrossEntropyLoss(), optim.SGD(mlp().parameters(), lr=0.1), TRAIN, VAL, epochs=2)
    assert "class_accuracy" not in d.stats
    X, y = TRAIN
    keep = y != 2
    model = mlp()
    d = diagnose(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X[keep], y[keep]), VAL,
                 epochs=3)
    ca = d.stats["class_accuracy"]
    assert ca["train_counts"][2] == 0 and ca["train"][2] is None and ca["val_counts"] == np.bincount(VAL[1]).tolist()
    assert ca["val"][2] == 0.0            # a class never seen in training is never predicted right
    assert "unrepresentative_train" in d.codes()
    json.dumps(d.stats)                   # still plain data


def test_repair_splits_a_shifted_validation_set_again_and_scores_on_it():
    X = np.concatenate([TRAIN[0], VAL[0]])
    y = np.concatenate([TRAIN[1], VAL[1]])
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    tr_, va_ = (X[:-120], y[:-120]), (X[-120:], y[-120:])   # validation: (almost) only class 2
    model = mlp()
    tr = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), doctor="repair",
                 generator=tw.Generator(0))
    tr.fit(tr_, va_, epochs=4)
    assert "resplit_stratified" in tr.doctor.repair_summary["applied"]
    assert tr.doctor.repair_summary["data_changed"] and tr.doctor.repaired_data is not None
    (Xt, yt), (Xv, yv) = tr.doctor.repaired_data
    assert len(yv) == 120 and set(np.unique(yv)) == {0, 1, 2}
    assert tr.evaluate((Xv, yv))["accuracy"] > 0.9
