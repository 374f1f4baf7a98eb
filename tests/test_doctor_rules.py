"""The doctor's rules and checks on constructed statistics: each fires past its threshold and not before it."""
import json
import math

import numpy as np
import pytest

import trainwise as tw
from trainwise import nn, optim
from trainwise.doctor import CODES, Doctor, Finding, THRESHOLDS, evaluate
from trainwise.doctor import checks, rules
from trainwise.doctor.monitors import input_summary, new_stats


def stats_with(n=10, layers=("0", "2"), **series):
    """A statistics dict with n samples (steps 0..n-1) and the given per-layer series."""
    st = new_stats()
    st["steps"] = list(range(n))
    st["sample_epoch"] = [0] * n
    st["lr"] = [0.1] * n
    st["steps_per_epoch"] = n
    st["layers"] = [{"name": l, "type": "Linear", "shape": [4, 4], "fan_in": 4, "fan_out": 4, "activation": None,
                     "activation_layer": None} for l in layers]
    st["loss"] = [1.0] * n
    st["grad_total"] = [1.0] * n
    st["grad_finite"] = [True] * n
    st.update(series)
    return st


def codes(findings):
    return [f.code for f in findings]


# ------------------------------------------------------------------ gradients
def test_nan_loss_names_the_first_bad_step():
    st = stats_with(loss=[2.0, 1.5, 1.2, float("nan"), float("nan")], nan_step=3)
    (f,) = rules.rule_nan_loss(st)
    assert f.code == "nan_loss" and f.severity == "error" and f.step == 3
    assert f.evidence["last_finite_loss"] == 1.2
    assert rules.rule_nan_loss(stats_with(loss=[2.0, 1.5, 1.2])) == []


@pytest.mark.parametrize("ratio,fires", [(1.1e-3, False), (0.9e-3, True)])
def test_vanishing_at_autotrainer_ratio(ratio, fires):
    last = [0.05] * 10
    first = [ratio * v for v in last]  # first-layer norm 5e-5 < 1e-4
    st = stats_with(grad_norm={"0": first, "2": last})
    found = rules.rule_vanishing_gradients(st)
    assert codes(found) == (["vanishing_gradients"] if fires else [])
    if fires:
        assert found[0].layer == "0" and found[0].evidence["ratio"] == pytest.approx(ratio)
        assert found[0].evidence["threshold_ratio"] == THRESHOLDS["vanish_ratio"]


def test_vanishing_needs_a_small_first_layer_norm_too():
    # ratio 1e-4 but the first layer's gradient is 1e-3 >= beta_2 = 1e-4: AUTOTRAINER does not fire
    st = stats_with(grad_norm={"0": [1e-3] * 10, "2": [10.0] * 10})
    assert rules.rule_vanishing_gradients(st) == []


def test_vanishing_must_persist():
    first = [1e-9] * 2 + [1e-2] * 8  # two bad samples only, then healthy
    st = stats_with(grad_norm={"0": first, "2": [1.0] * 10})
    assert rules.rule_vanishing_gradients(st) == []


@pytest.mark.parametrize("ratio,fires", [(69.0, False), (71.0, True)])
def test_exploding_at_autotrainer_ratio(ratio, fires):
    st = stats_with(grad_norm={"0": [ratio] * 10, "2": [1.0] * 10})
    assert codes(rules.rule_exploding_gradients(st)) == (["exploding_gradients"] if fires else [])


@pytest.mark.parametrize("norm,fires", [(900.0, False), (1100.0, True)])
def test_exploding_at_global_norm(norm, fires):
    st = stats_with(grad_norm={"0": [1.0] * 10, "2": [1.0] * 10}, grad_total=[norm] * 10)
    assert codes(rules.rule_exploding_gradients(st)) == (["exploding_gradients"] if fires else [])


def test_exploding_just_before_nan_counts_once():
    st = stats_with(n=3, grad_norm={"0": [1.0, 1.0, 1.0], "2": [1.0, 1.0, 1.0]}, grad_total=[1.0, 5e4, 1.0],
                    loss=[2.0, 30.0, 900.0, float("nan")], nan_step=3)
    (f,) = rules.rule_exploding_gradients(st)
    assert f.step == 1 and f.evidence["nan_step"] == 3


# ---------------------------------------------------------------------- units
@pytest.mark.parametrize("spread,fires", [(1e-5, False), (1e-7, True)])
def test_symmetric_units(spread, fires):
    st = stats_with(layers=("0", "2", "4"), unit_spread={"0": [spread, spread], "2": [0.5, 0.4], "4": [0.0, 0.0]})
    found = rules.rule_symmetric_init(st)
    assert [(f.code, f.layer) for f in found] == ([("symmetric_init", "0")] if fires else [])  # never the output


@pytest.mark.parametrize("frac,fires", [(0.69, False), (0.71, True)])
def test_dead_relu_at_autotrainer_fraction(frac, fires):
    st = stats_with(dead_frac={"1": [frac] * 10})
    st["activations"] = [{"name": "1", "type": "ReLU", "kind": "relu", "after": "0"}]
    found = rules.rule_dead_relu(st)
    assert codes(found) == (["dead_relu"] if fires else [])
    if fires:
        assert found[0].layer == "1" and found[0].evidence["after_layer"] == "0"


def test_dead_relu_that_recovered_is_not_reported():
    st = stats_with(dead_frac={"1": [0.9] * 5 + [0.1] * 5})
    st["activations"] = [{"name": "1", "type": "ReLU", "kind": "relu", "after": "0"}]
    assert rules.rule_dead_relu(st) == []


@pytest.mark.parametrize("frac,fires", [(0.49, False), (0.51, True)])
def test_saturation_at_sagemaker_fraction(frac, fires):
    st = stats_with(sat_frac={"1": [frac] * 10})
    st["activations"] = [{"name": "1", "type": "Tanh", "kind": "tanh", "after": "0"}]
    assert codes(rules.rule_saturation(st)) == (["saturation"] if fires else [])


# ---------------------------------------------------------------- loss curves
def test_divergence_is_lr_too_high_before_the_nan():
    loss = [2.3, 2.0, 9.0, 80.0, float("nan")]
    st = stats_with(loss=loss, nan_step=4)
    (f,) = rules.rule_lr_too_high(st)
    assert f.step == 2 and f.severity == "error" and f.evidence["form"] == "divergence"
    # 3.9x the lowest loss is not divergence (lr_find's factor is 4)
    assert rules.rule_lr_too_high(stats_with(loss=[2.3, 1.0, 3.9, 3.9, 1.0])) == []


@pytest.mark.parametrize("drop,fires", [(0.029, False), (0.031, True)])
def test_oscillation_at_autotrainer_swing(drop, fires):
    acc = [0.5, 0.6, 0.6 - drop, 0.65, 0.65 - drop, 0.7, 0.7 - drop, 0.75]
    st = stats_with(loss=[1.0] * 10, epochs=[{"epoch": i, "loss": 1.0, "accuracy": a} for i, a in enumerate(acc)])
    found = rules.rule_lr_too_high(st)
    assert codes(found) == (["lr_too_high"] if fires else [])


@pytest.mark.parametrize("end,fires", [(0.955, True), (0.945, False)])
def test_lr_too_low_when_the_loss_barely_moves(end, fires):
    n = 40
    loss = list(np.linspace(1.0, end, n))
    st = stats_with(n=n, loss=loss, update_ratio={"0": [1e-6] * n, "2": [1e-6] * n})
    assert codes(rules.rule_lr_too_low(st)) == (["lr_too_low"] if fires else [])


def test_slow_loss_with_healthy_updates_is_not_the_learning_rate():
    n = 40
    st = stats_with(n=n, loss=[1.0] * n, update_ratio={"0": [1e-2] * n, "2": [1e-2] * n})
    assert rules.rule_lr_too_low(st) == []


def _rows(train, val, tacc=None, vacc=None):
    rows = []
    for i, (t, v) in enumerate(zip(train, val)):
        r = {"epoch": i, "loss": t, "val_loss": v}
        if tacc is not None:
            r.update(accuracy=tacc[i], val_accuracy=vacc[i])
        rows.append(r)
    return rows


def test_overfitting_names_the_epoch_where_validation_turned():
    train = [1.0, 0.7, 0.5, 0.3, 0.2, 0.1]
    val = [1.1, 0.9, 0.8, 0.95, 1.0, 1.2]
    st = stats_with(epochs=_rows(train, val, [0.5, 0.7, 0.8, 0.9, 0.95, 0.99], [0.5, 0.6, 0.7, 0.7, 0.68, 0.66]))
    (f,) = rules.rule_overfitting(st)
    assert f.code == "overfitting" and f.epoch == 2 and f.severity == "warning"
    # the same curves with validation accuracy as good as training accuracy: a wobble, not overfitting
    st = stats_with(epochs=_rows(train, val, [0.99] * 6, [0.985] * 6))
    assert rules.rule_overfitting(st) == []
    # a rise of 9% is below the threshold
    st = stats_with(epochs=_rows(train, [1.1, 0.9, 0.8, 0.85, 0.86, 0.872]))
    assert rules.rule_overfitting(st) == []


def test_overfitting_needs_a_model_that_fit_its_training_set():
    # the benchmark's 2-unit net (seed 15): validation loss up 27% and a 0.11 accuracy gap, but the model
    # never reached 0.7 on its own training samples: underfitting's case, not overfitting
    train = [2.0, 1.6, 1.4, 1.3, 1.25, 1.22, 1.21, 1.2]
    val = [2.0, 1.6, 1.4, 1.32, 1.4, 1.5, 1.6, 1.67]
    tacc = [0.27, 0.35, 0.41, 0.44, 0.46, 0.5, 0.5, 0.5]
    vacc = [0.26, 0.41, 0.43, 0.48, 0.51, 0.48, 0.45, 0.386]
    assert rules.rule_overfitting(stats_with(epochs=_rows(train, val, tacc, vacc))) == []
    # the accuracy-gap form too: 0.65 against 0.45 for the last epochs
    flat = [1.0, 0.9, 0.8, 0.75, 0.7, 0.68]
    gap_rows = _rows(flat, [1.0, 0.95, 0.92, 0.91, 0.9, 0.9], [0.5, 0.55, 0.6, 0.62, 0.64, 0.65],
                     [0.45] * 6)
    assert rules.rule_overfitting(stats_with(epochs=gap_rows)) == []
    # the same curves once training accuracy reaches Θ = 0.7: overfitting (both forms)
    (f,) = rules.rule_overfitting(stats_with(epochs=_rows(train, val, tacc[:-1] + [0.7], vacc)))
    assert f.code == "overfitting" and f.epoch == 3
    (g,) = rules.rule_overfitting(stats_with(epochs=_rows(flat, [1.0, 0.95, 0.92, 0.91, 0.9, 0.9],
                                                         [0.5, 0.55, 0.6, 0.7, 0.72, 0.75], [0.45] * 6)))
    assert g.code == "overfitting" and g.evidence["train_accuracy"] == 0.75
    # and a Θ set lower by the user admits the 0.5 model again
    (h,) = rules.rule_overfitting(stats_with(epochs=_rows(train, val, tacc, vacc)), {"satisfied_accuracy": 0.4})
    assert h.code == "overfitting"


def test_overfitting_is_a_warning_only_where_it_cost_validation_accuracy():
    # the validation loss rose 20% from its minimum while the training loss fell (the loss form), but the
    # validation accuracy stayed at its best and the accuracy gap is narrow: the beginning of overfitting, info
    train = [1.0, 0.7, 0.5, 0.4, 0.35, 0.3]
    val = [1.0, 0.8, 0.5, 0.55, 0.58, 0.6]
    tacc = [0.6, 0.75, 0.85, 0.9, 0.92, 0.93]
    (f,) = rules.rule_overfitting(stats_with(epochs=_rows(train, val, tacc, [0.6, 0.75, 0.86, 0.87, 0.87, 0.87])))
    assert f.severity == "info" and f.epoch == 2
    assert f.evidence["val_accuracy_drop"] == pytest.approx(0.0) and "nothing lost yet" in f.message
    # the same losses with the validation accuracy 0.04 below its best (≥ ζ = 0.03): it cost something
    (g,) = rules.rule_overfitting(stats_with(epochs=_rows(train, val, tacc, [0.6, 0.75, 0.86, 0.87, 0.85, 0.83])))
    assert g.severity == "warning" and g.evidence["val_accuracy_drop"] == pytest.approx(0.04)
    # a drop of 0.02 is within the validation accuracy's wobble; a gap ≥ 0.07 (above 0.9) is a cost by itself
    (h,) = rules.rule_overfitting(stats_with(epochs=_rows(train, val, tacc[:-1] + [0.91],
                                                         [0.6, 0.75, 0.86, 0.87, 0.86, 0.85])))
    assert h.severity == "info" and h.evidence["val_accuracy_drop"] == pytest.approx(0.02)
    (k,) = rules.rule_overfitting(stats_with(epochs=_rows(train, val, tacc, [0.6, 0.75, 0.85, 0.86, 0.86, 0.86])))
    assert k.severity == "warning" and k.evidence["accuracy_gap"] == pytest.approx(0.07)
    # without accuracy the loss is the metric: its rise is the cost
    (m,) = rules.rule_overfitting(stats_with(epochs=_rows(train, val)))
    assert m.severity == "warning"


def test_repair_keeps_working_on_an_overfitting_that_early_stopping_only_cut_short():
    from trainwise.doctor.remedies import _problems
    cut = Finding("overfitting", "info", evidence={"early_stopping_restored_epoch": 3})
    held = Finding("overfitting", "info", evidence={"val_accuracy_drop": 0.0})       # nothing lost: not a problem
    explained = Finding("overfitting", "info", evidence={"early_stopping_restored_epoch": 3,
                                                         "consequence_of": "unnormalized_inputs"})
    warn = Finding("dead_relu", "warning")
    assert _problems([cut, held, explained, warn]) == [cut, warn]


def test_overfitting_handled_by_early_stopping_is_info():
    st = stats_with(epochs=_rows([1.0, 0.7, 0.5, 0.3, 0.2], [1.1, 0.9, 1.0, 1.1, 1.3]),
                    early_stopping={"restore_best_weights": True, "best_epoch": 1})
    (f,) = rules.rule_overfitting(st)
    assert f.severity == "info" and f.evidence["early_stopping_restored_epoch"] == 1


@pytest.mark.parametrize("best,fires", [(0.69, True), (0.71, False)])
def test_underfitting_at_autotrainer_accuracy(best, fires):
    acc = [0.3, 0.5, best]
    st = stats_with(epochs=_rows([2.0, 1.5, 1.4], [2.0, 1.5, 1.45], acc, [a - 0.02 for a in acc]))
    assert codes(rules.rule_underfitting(st)) == (["underfitting"] if fires else [])


@pytest.mark.parametrize("scale,fires", [(9.0, False), (11.0, True)])
def test_unnormalized_inputs_at_rms(scale, fires):
    X = np.random.default_rng(0).normal(size=(500, 6)) * scale
    st = stats_with(input=input_summary(X))
    assert codes(rules.rule_unnormalized_inputs(st)) == (["unnormalized_inputs"] if fires else [])


@pytest.mark.parametrize("ratio,fires", [(90.0, False), (110.0, True)])
def test_unnormalized_inputs_at_feature_spread(ratio, fires):
    X = np.random.default_rng(0).normal(size=(2000, 5))
    X[:, 1:] /= ratio  # one feature on another scale than the rest (the notes' [0, 1] next to [1, 1000])
    assert 0.1 < input_summary(X)["rms"] < 10
    assert (rules.input_scale_problem(input_summary(X))[0] is not None) == fires


# -------------------------------------------------------------------- ranking
def test_ranking_merges_duplicates_and_lowers_consequences():
    pre = Finding("vanishing_gradients", "warning", layer="0", when="before", evidence={"estimated_ratio": 1e-9})
    run = Finding("vanishing_gradients", "error", step=3, layer="0", evidence={"ratio": 1e-12})
    low = Finding("lr_too_low", "warning", evidence={"progress": 0.01})
    out = rules.rank_findings([low, pre, run])
    assert [f.code for f in out] == ["vanishing_gradients", "lr_too_low"]
    assert out[0].severity == "error" and out[0].evidence["estimated_ratio"] == 1e-9  # merged evidence
    assert out[1].severity == "info" and out[1].evidence["consequence_of"] == "vanishing_gradients"


@pytest.mark.parametrize("dead_at_start,demoted", [(0.95, True), (0.0, False)])
def test_dead_relus_explain_an_oscillating_loss_only_if_dead_from_the_start(dead_at_start, demoted):
    # ReLUs dead from the first sample (bias -3) explain the stalled, wobbling loss; ReLUs that died later
    # may have been killed by the too-high learning rate itself (lr x100), so they explain nothing
    dead = Finding("dead_relu", "error", layer="1", step=0, evidence={"first_value": dead_at_start, "threshold": 0.7})
    high = Finding("lr_too_high", "warning", epoch=2, evidence={"form": "oscillation"})
    out = {f.code: f for f in rules.rank_findings([high, dead])}
    assert out["dead_relu"].severity == "error"
    assert (out["lr_too_high"].severity == "info") == demoted
    if demoted:
        assert out["lr_too_high"].evidence["consequence_of"] == "dead_relu"
        assert "explained by dead_relu" in out["lr_too_high"].message


def test_unscaled_inputs_explain_vanishing_gradients_and_a_train_val_gap():
    inputs = Finding("unnormalized_inputs", "warning", layer="input", step=0, evidence={"rms": 120.0})
    vanish = Finding("vanishing_gradients", "error", layer="0", step=5)
    gap = Finding("overfitting", "warning", epoch=4)
    small = Finding("overfitting", "warning", epoch=4)  # the same gap with well-scaled inputs stays a warning
    out = rules.rank_findings([gap, vanish, inputs])
    assert [(f.code, f.severity) for f in out] == [
        ("unnormalized_inputs", "warning"), ("vanishing_gradients", "info"), ("overfitting", "info")]
    assert rules.rank_findings([small])[0].severity == "warning"


@pytest.mark.parametrize("widths,first", [((2, 10), "widen_model"), ((32, 10), "train_longer")])
def test_underfitting_through_a_bottleneck_widens_first(widths, first):
    # the loss still falls 10% per third of the run: train longer, unless a hidden layer is narrower than
    # the output (2 units for 10 classes), which no number of epochs can fix
    rows = [{"loss": 2.0 - 0.1 * e, "accuracy": 0.5, "val_accuracy": 0.5} for e in range(9)]
    st = stats_with(epochs=rows)
    st["layers"] = [dict(st["layers"][0], fan_out=w) for w in widths]
    f = rules.rule_underfitting(st)[0]
    assert f.evidence["still_improving"] and f.remedies[0] == first


def test_evaluate_rejects_unknown_thresholds_and_accepts_overrides():
    with pytest.raises(ValueError, match="unknown threshold"):
        evaluate(new_stats(), {"dead_fractoin": 0.5})
    st = stats_with(dead_frac={"1": [0.6] * 10})
    st["activations"] = [{"name": "1", "type": "ReLU", "kind": "relu", "after": "0"}]
    assert evaluate(st) == [] and codes(evaluate(st, {"dead_fraction": 0.5})) == ["dead_relu"]


def test_findings_serialize_to_json():
    f = Finding("nan_loss", "error", "loss NaN", step=4, epoch=0, layer=None,
                evidence={"last": np.float32(2.5), "bad": float("nan"), "per_layer": {"0": np.float64(1e-9)}})
    text = json.dumps(f.to_dict(), allow_nan=False)  # strict JSON: NaN evidence becomes "nan"
    back = Finding.from_dict(json.loads(text))
    assert back == Finding.from_dict(f.to_dict()) and back.evidence["bad"] == "nan"
    assert back.explanation.startswith("Huge gradients") and "seed 001" in back.explanation
    assert back.remedies == CODES["nan_loss"]["remedies"]
    with pytest.raises(ValueError, match="'code' must be one of"):
        Finding("exploding")
    with pytest.raises(ValueError, match="'severity' must be one of"):
        Finding("nan_loss", "fatal")


def test_every_code_has_explanation_rule_and_remedies():
    from trainwise.doctor.remedies import ADVICE, REMEDIES

    for code, info in CODES.items():
        assert "seed 00" in info["explanation"], code
        assert info["rule"] and info["remedies"], code
        assert all(r in REMEDIES or r in ADVICE for r in info["remedies"]), code


# --------------------------------------------------------------------- checks
def test_check_data_imbalance_and_small_validation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(230, 4)).astype(np.float32)
    y = np.array([0] * 210 + [1] * 20)            # 10.5 : 1
    Xv, yv = X[:40], np.array([0, 1] * 20)
    found = checks.check_data((X, y), (Xv, yv))
    assert {f.code for f in found} == {"unrepresentative_train", "unrepresentative_validation"}
    tr = next(f for f in found if f.code == "unrepresentative_train")
    assert tr.evidence["imbalance_ratio"] == pytest.approx(10.5)
    y2 = np.array([0] * 207 + [1] * 23)           # 9 : 1
    val_ok = (rng.normal(size=(60, 4)).astype(np.float32), np.array([0] * 54 + [1] * 6))
    assert checks.check_data((X, y2), val_ok) == []


def test_check_data_validation_missing_a_class():
    X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    y = np.arange(300) % 3
    (f,) = checks.check_data((X, y), (X[:60], np.zeros(60, dtype=np.int64)))
    assert f.code == "unrepresentative_validation" and f.evidence["missing_classes"] == [1, 2]


def test_pre_training_checks_of_model_loss_and_optimizer():
    tw.manual_seed(0)
    m = nn.Sequential(nn.Dropout(0.6), nn.Linear(4, 8, init="zeros"), nn.ReLU(), nn.Linear(8, 3, init="zeros"),
                      nn.Softmax(dim=1))
    found = checks.run_checks(m, nn.CrossEntropyLoss(), optim.Adam(m.parameters(), lr=0.5))
    got = {(f.code, f.severity) for f in found}
    assert got == {("input_dropout", "warning"), ("symmetric_init", "error"),
                   ("softmax_before_logits_loss", "warning"), ("lr_too_high", "warning")}
    sym = next(f for f in found if f.code == "symmetric_init")
    assert sym.layer == "1" and sym.when == "before"
    ok = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert checks.run_checks(ok, nn.CrossEntropyLoss(), optim.Adam(ok.parameters(), lr=0.1)) == []
    assert codes(checks.check_learning_rate(optim.SGD(ok.parameters(), lr=1e-5))) == ["lr_too_low"]


def test_saturating_depth_estimate():
    tw.manual_seed(0)

    def stack(n, act, init):
        layers = []
        for _ in range(n):
            layers += [nn.Linear(32, 32, init=init, nonlinearity="tanh" if act is nn.Tanh else "sigmoid"), act()]
        return nn.Sequential(*layers, nn.Linear(32, 3, init=init))

    assert codes(checks.check_saturating_depth(stack(8, nn.Sigmoid, "xavier_normal"))) == ["vanishing_gradients"]
    assert checks.check_saturating_depth(stack(3, nn.Sigmoid, "xavier_normal")) == []   # 0.25^3 > 1e-3
    assert checks.check_saturating_depth(stack(8, nn.Tanh, "xavier_normal")) == []      # gain 5/3 keeps it
    est, n_sat = checks.gradient_gain_estimate(stack(2, nn.Tanh, "xavier_normal"))
    assert n_sat == 2 and 0.3 < est < 3   # 1.67 (tanh, gain 5/3) x 0.41 (output layer)


def test_doctor_and_trainer_argument_errors():
    m = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="'mode' must be 'watch' or 'repair'"):
        Doctor("fix")
    with pytest.raises(ValueError, match="unknown threshold"):
        Doctor(thresholds={"nope": 1})
    from trainwise.train import Trainer

    with pytest.raises(ValueError, match="'doctor' must be None, 'watch', 'repair' or a Doctor"):
        Trainer(m, nn.MSELoss(), optim.SGD(m.parameters(), lr=0.1), doctor="yes")
    assert math.isfinite(THRESHOLDS["vanish_ratio"])


@pytest.mark.parametrize("minority,applies", [(5, True), (20, False)])
def test_reweight_classes_balances_the_loss_only_past_a_10x_imbalance(minority, applies):
    from trainwise.doctor.remedies import RepairContext, apply_remedy

    y = np.array([0] * 100 + [1] * 100 + [2] * minority)
    X = np.zeros((y.size, 3), dtype=np.float32)
    ctx = RepairContext(model=nn.Linear(3, 4), optimizer=None, loss_fn=nn.CrossEntropyLoss(), train=(X, y))
    desc = apply_remedy("reweight_classes", ctx)
    assert (desc is not None) == applies
    if applies:  # n/(k·n_c), one weight per output (class 3 has no samples), each present class weighs n/k
        w = ctx.loss_fn.weight
        assert w.shape == (4,) and w.dtype == np.float32
        np.testing.assert_allclose(w[:3] * np.array([100, 100, minority]), [y.size / 3] * 3, rtol=1e-6)
        assert ctx.applied == ["reweight_classes"] and apply_remedy("reweight_classes", ctx) is None
    else:
        assert ctx.loss_fn.weight is None


# ------------------------------------------------------- issue 7: split vs model, and the new remedies
def _class_stats(train_acc, val_acc, train_counts, val_counts):
    rows = [{"loss": 1.0 - 0.1 * e, "accuracy": 0.7 + 0.03 * e, "val_loss": 1.0, "val_accuracy": 0.6} for e in range(8)]
    return {"epochs": rows, "class_accuracy": {"train": train_acc, "val": val_acc, "train_counts": train_counts,
                                               "val_counts": val_counts}}


@pytest.mark.parametrize("represented_val_acc,model_gap", [(0.70, True), (0.97, False)])
def test_a_split_problem_explains_overfitting_only_if_the_gap_is_not_on_represented_classes(
        represented_val_acc, model_gap):
    # classes 0-2 well represented in training, class 3 rare (1 sample): the split is imbalanced. If the
    # represented classes also show the gap, the model memorized (both warnings); if only the rare class
    # does, the split explains it (overfitting lowered to info)
    st = _class_stats([1.0, 1.0, 1.0, 1.0], [represented_val_acc] * 3 + [0.0], [20, 20, 20, 1], [30, 30, 30, 30])
    (over,) = rules.rule_overfitting(st)
    assert over.evidence["represented_classes"] == [0, 1, 2]
    assert over.evidence["represented_gap"] == pytest.approx(1.0 - represented_val_acc)
    split = Finding("unrepresentative_train", "warning", layer="train", when="before",
                    evidence={"problems": ["imbalance", "too_few"]})
    out = {f.code: f for f in rules.rank_findings([over, split])}
    assert out["unrepresentative_train"].severity == "warning"
    assert (out["overfitting"].severity == "warning") == model_gap
    if not model_gap:
        assert out["overfitting"].evidence["consequence_of"] == "unrepresentative_train"


def test_resplit_stratified_fixes_a_shifted_split_and_leaves_a_skewed_training_set_alone():
    from trainwise.doctor.remedies import RepairContext, apply_remedy

    y = np.repeat(np.arange(5), 40)
    X = np.arange(y.size, dtype=np.float32)[:, None]
    # the unshuffled split of a label-sorted file: validation holds only class 4
    ctx = RepairContext(model=nn.Linear(1, 5), optimizer=None, train=(X[:160], y[:160]), val=(X[160:], y[160:]))
    desc = apply_remedy("resplit_stratified", ctx)
    assert desc is not None and "split them again" in desc and ctx.data_changed
    (Xt, yt), (Xv, yv) = ctx.train, ctx.val
    assert len(yv) == 40 and len(yt) == 160
    assert np.bincount(yv).tolist() == [8] * 5 and np.bincount(yt).tolist() == [32] * 5   # stratified
    assert sorted(np.concatenate([Xt[:, 0], Xv[:, 0]]).tolist()) == X[:, 0].tolist()   # a partition of the pool
    assert apply_remedy("resplit_stratified", ctx) is None                            # once
    # a training set skewed beyond 10:1 next to a representative validation set: the training set is at fault
    keep = (y < 3) | (np.arange(y.size) % 40 < 3)
    ctx = RepairContext(model=nn.Linear(1, 5), optimizer=None, train=(X[keep], y[keep]), val=(X, y))
    assert apply_remedy("resplit_stratified", ctx) is None and ctx.train[0].shape[0] == int(keep.sum())


def test_learning_rate_search_picks_a_working_rate_and_repeats_its_choice():
    from trainwise.doctor.remedies import RepairContext, apply_remedy

    r = np.random.default_rng(0)
    X = r.normal(size=(128, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    tw.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.SGD(m.parameters(), lr=1e-5)
    ctx = RepairContext(model=m, optimizer=opt, loss_fn=nn.CrossEntropyLoss(), train=(X, y), val=(X, y), epochs=8)
    w0 = m[0].weight.data.copy()
    desc = apply_remedy("search_lr_up", ctx)
    assert desc is not None and "short budget" in desc
    lr = opt.param_groups[0]["lr"]
    assert lr in (pytest.approx(1e-4), pytest.approx(1e-3), pytest.approx(1e-2)) and lr > 1e-5
    np.testing.assert_array_equal(m[0].weight.data, w0)     # the search trains copies, not the attempt's model
    assert len(ctx.memo) == 1
    # a fresh attempt with the same history re-applies the same choice without searching again
    opt2 = optim.SGD(m.parameters(), lr=1e-5)
    ctx2 = RepairContext(model=m, optimizer=opt2, loss_fn=ctx.loss_fn, train=(X, y), val=(X, y), epochs=8,
                         memo=ctx.memo)
    assert apply_remedy("search_lr_up", ctx2) == desc and opt2.param_groups[0]["lr"] == lr


@pytest.mark.parametrize("curve,more", [([0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9], True),
                                        ([0.5, 0.9, 0.95, 0.96, 0.96, 0.955, 0.96, 0.958], False)])
def test_repair_trains_longer_only_while_the_validation_score_still_rises(curve, more):
    from trainwise.doctor.remedies import _still_improving
    from trainwise.train.history import History

    h = History()
    h.rows = [{"loss": 1.0 / (e + 1), "val_accuracy": a} for e, a in enumerate(curve)]
    assert _still_improving(h, len(curve)) == more
    assert not _still_improving(h, len(curve) + 5)   # stopped early: not still improving


@pytest.mark.parametrize("form,root", [("oscillation", "underfitting"), ("divergence", "lr_too_high")])
def test_a_bottleneck_explains_an_oscillation_but_not_a_divergence(form, root):
    # a 2-unit hidden layer in front of 10 classes cannot fit them whatever the step size: its training
    # accuracy swings, and the doctor names the bottleneck (underfitting, widen_model) rather than the
    # learning rate; a loss that diverges is still the learning rate's
    osc = Finding("lr_too_high", "warning", "the training accuracy oscillates", epoch=6, evidence={"form": form})
    under = Finding("underfitting", "warning", "accuracy 0.52", epoch=9,
                    evidence={"bottleneck": True, "best_train_accuracy": 0.55})
    ranked = {f.code: f for f in rules.rank_findings([osc, under])}
    other = "lr_too_high" if root == "underfitting" else "underfitting"
    assert ranked[root].severity == "warning" and "consequence_of" not in ranked[root].evidence
    assert ranked[other].severity == "info" and ranked[other].evidence["consequence_of"] == root
    # without a bottleneck an oscillation stays the learning rate's, and underfitting its consequence
    wide = Finding("underfitting", "warning", "accuracy 0.52", epoch=9, evidence={"bottleneck": False})
    osc2 = Finding("lr_too_high", "warning", "oscillates", epoch=6, evidence={"form": "oscillation"})
    ranked = {f.code: f for f in rules.rank_findings([osc2, wide])}
    assert ranked["lr_too_high"].severity == "warning" and ranked["underfitting"].severity == "info"
