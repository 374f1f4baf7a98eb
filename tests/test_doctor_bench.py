"""The doctor's fault-injection benchmark (bench/doctor_bench.py): its scoring, and its machinery end to end."""
import importlib.util
import math
import os
import sys

import pytest

_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "doctor_bench.py")
_spec = importlib.util.spec_from_file_location("doctor_bench", _PATH)
db = importlib.util.module_from_spec(_spec)
sys.modules["doctor_bench"] = db  # dataclasses look their module up there
_spec.loader.exec_module(db)


def _run(codes, expected=(), allowed=()):
    return {"codes": list(codes), "expected": list(expected), "allowed": list(allowed)}


def test_confusion_and_prf_from_a_constructed_case():
    faulty = [
        _run(["dead_relu"], ["dead_relu"]),                                   # TP dead_relu
        _run(["dead_relu", "lr_too_low"], ["dead_relu"], ["lr_too_low"]),    # TP, the consequence is allowed
        _run([], ["dead_relu"]),                                              # FN dead_relu
        _run(["lr_too_high", "saturation"], ["lr_too_high"]),                # TP lr_too_high, FP saturation
    ]
    clean = [_run([]), _run(["dead_relu"]), _run([])]                          # one FP dead_relu on a clean run
    c = db.confusion(faulty, clean, codes=["dead_relu", "lr_too_high", "lr_too_low", "saturation"])
    assert c["dead_relu"] == {"tp": 2, "fp": 1, "fn": 1}
    assert c["lr_too_high"] == {"tp": 1, "fp": 0, "fn": 0}
    assert c["lr_too_low"] == {"tp": 0, "fp": 0, "fn": 0}
    assert c["saturation"] == {"tp": 0, "fp": 1, "fn": 0}
    p, r, f = db.prf(**c["dead_relu"])
    assert p == pytest.approx(2 / 3) and r == pytest.approx(2 / 3) and f == pytest.approx(2 / 3)
    assert db.prf(2, 0, 2) == pytest.approx((1.0, 0.5, 2 / 3))
    assert db.prf(0, 1, 0) == (0.0, None, 0.0) and db.prf(0, 0, 0) == (None, None, None)


def test_scores_fpr_delay_and_repair_from_constructed_results():
    def fault(name, codes, expected, acc, steps=100, at=None, faulty=True, repaired=None, repairable=True):
        r = {"fault": name, "seed": 0, "codes": codes, "expected": expected, "allowed": [], "accuracy": acc,
             "steps": steps, "detected_at": at or {}, "faulty": faulty, "repairable": repairable}
        if repaired is not None:
            r["repair"] = {"success": repaired}
        return r

    raw = {"faults": [fault("a", ["nan_loss"], ["nan_loss"], math.nan, at={"nan_loss": 50}, repaired=True),
                      fault("b", ["dead_relu"], ["dead_relu"], 0.5, at={"dead_relu": 0}, repaired=False),
                      fault("c", [], ["overfitting"], 0.8, repaired=False, repairable=False),
                      fault("d", ["saturation"], ["saturation"], 0.99, faulty=False)],
           "clean": [{"codes": []}, {"codes": ["overfitting"]}, {"codes": []}, {"codes": []}]}
    s = db.scores(raw)
    assert s["faulty_runs"] == 3 and s["not_worse"] == ["d (seed 0)"]
    assert s["fpr"] == 0.25 and s["clean_runs"] == 4
    assert "saturation" not in s["per_code"]                     # the not-worse run is left out
    assert s["per_code"]["overfitting"]["fn"] == 1 and s["per_code"]["overfitting"]["fp"] == 1
    assert s["per_code"]["overfitting"]["precision"] == 0.0
    assert s["delay_median_steps"] == 25 and s["detected_before_training"] == 1
    assert s["delay_median_fraction"] == pytest.approx(0.25)
    assert s["repair_success"] == pytest.approx(1 / 3) and s["repair_success_fixable"] == 0.5
    text = db.format_table(s)
    assert "| `nan_loss` | 1 | 0 | 0 | 1.00 | 1.00 | 1.00 |" in text and "25%" in text


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_benchmark_runs_end_to_end_on_three_faults_at_tiny_size():
    faults = [f for f in db.FAULTS if f.name in ("constant init", "lr x100", "inputs x100 into tanh")]
    assert len(faults) == 3
    raw = db.run_benchmark(faults, seeds=(0,), size=0.2, repair=True, log=lambda *a: None)
    assert len(raw["faults"]) == 3 and {r["base"] for r in raw["clean"]} == {"blobs_relu", "circles_relu",
                                                                             "digits_tanh"}
    by = {r["fault"]: r for r in raw["faults"]}
    # the clean twins train; the faults that break the run are named
    assert all(c["accuracy"] > 0.85 for c in raw["clean"])
    assert by["constant init"]["faulty"] and "symmetric_init" in by["constant init"]["codes"]
    assert by["lr x100"]["faulty"] and "lr_too_high" in by["lr x100"]["codes"]
    assert "unnormalized_inputs" in by["inputs x100 into tanh"]["codes"]
    assert by["constant init"]["repair"]["success"] and "reinit" in by["constant init"]["repair"]["applied"]
    s = db.scores(raw)
    assert s["per_code"]["symmetric_init"]["tp"] == 1 and s["clean_runs"] == 3
    assert 0 <= s["fpr"] <= 1 and s["repair_tried"] == s["faulty_runs"]


def test_a_clean_run_that_failed_by_itself_is_counted_and_named():
    raw = {"faults": [{"fault": "a", "seed": 15, "codes": ["nan_loss"], "expected": ["nan_loss"], "allowed": [],
                       "accuracy": math.nan, "steps": 10, "detected_at": {"nan_loss": 3}, "faulty": True,
                       "repairable": True}],
           "clean": [{"codes": ["lr_too_high", "nan_loss"], "accuracy": math.nan, "base": "blobs_deep", "seed": 15},
                     {"codes": [], "accuracy": 0.99, "base": "blobs_deep", "seed": 14}]}
    s = db.scores(raw)
    # still a false positive (nothing hidden) ...
    assert s["fpr"] == 0.5 and s["per_code"]["nan_loss"]["fp"] == 1 and s["per_code"]["nan_loss"]["precision"] == 0.5
    # ... and named as a twin that failed by itself
    assert s["clean_failed"] == ["blobs_deep (seed 15): ['lr_too_high', 'nan_loss']"]
    text = db.format_table(s)
    assert "clean runs that failed by themselves (final metric not finite; still counted as false positives" in text
    assert "): 1: blobs_deep (seed 15)" in text
    raw["clean"][0]["accuracy"] = 0.4  # a finite (bad) score is not a failure by itself
    assert db.scores(raw)["clean_failed"] == []


def test_extra_rows_are_shown_but_left_out_of_every_total():
    def fault(name, codes, counted, faulty=True, success=False):
        return {"fault": name, "seed": 0, "codes": codes, "expected": ["overfitting"], "allowed": [],
                "accuracy": 0.5, "steps": 10, "detected_at": {"overfitting": 0} if codes else {}, "faulty": faulty,
                "repairable": counted, "counted": counted, "repair": {"success": success}}

    raw = {"faults": [fault("a", ["overfitting"], True, success=True), fault("x", [], False),
                      fault("x", ["dead_relu"], False, faulty=False)],
           "clean": [{"codes": [], "counted": True}, {"codes": ["dead_relu"], "counted": False}]}
    s = db.scores(raw)
    assert s["fault_runs"] == 1 and s["faulty_runs"] == 1 and s["clean_runs"] == 1 and s["fpr"] == 0.0
    assert s["per_code"] == {"overfitting": {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0,
                                             "f1": 1.0}}
    assert s["repair_success"] == 1.0 and s["not_worse"] == []
    assert s["per_fault"]["x"] == {"runs": 2, "faulty": 1, "detected": 0, "repaired": 0, "tried": 1,
                                   "counted": False}
    text = db.format_table(s)
    assert "| x (not counted) | 2 | 1 | 0 | 0/1 |" in text and "left out of every figure" in text
    assert all(not f.counted and not f.repairable for f in db.EXTRA_FAULTS)
    assert all(f.counted for f in db.FAULTS) and len(db.FAULTS) == 13


def test_the_skewed_training_set_is_a_prior_shift_of_the_same_size():
    import numpy as np

    skewed = next(f for f in db.FAULTS if f.name == "skewed training set")
    clean, fault = db.build_run(None, skewed.base, 3, size=0.05), db.build_run(skewed, skewed.base, 3, size=0.05)
    nc, nf = np.bincount(clean.train[1]), np.bincount(fault.train[1])
    assert len(clean.train[1]) == len(fault.train[1]) == 1000
    assert nc.tolist() == [250] * 4 and nf.max() / nf.min() > 10 and nf[2] == nf[3] == 38
    # the same balanced validation samples: each run standardizes them with its own training statistics (an
    # increasing affine map per feature), so their order along every feature is the same
    assert np.array_equal(clean.val[1], fault.val[1]) and np.bincount(fault.val[1]).tolist() == [37] * 4
    for j in range(clean.val[0].shape[1]):
        assert np.array_equal(np.argsort(clean.val[0][:, j]), np.argsort(fault.val[0][:, j]))
