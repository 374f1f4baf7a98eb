"""The lab's framework: registry, the run driver, reuse through the run store, the CLI."""
import json
import os

import pytest

from trainwise.cli import main
from trainwise.lab import EXPERIMENTS, Experiment, get_experiment, list_experiments
from trainwise.lab.experiment import Result
from trainwise.lab.verdict import HOLDS, STATUSES, bound
from trainwise.train.store import RunStore


class Toy(Experiment):
    """A cheap experiment whose jobs square the seed; counts how often a job really runs."""

    name = "toy_experiment"
    title = "toy"
    claim = "squares are non-negative"
    note = "nowhere"
    calls = 0
    fail_at = None

    def setup(self, quick):
        return "quick" if quick else "full"

    def jobs(self, quick, seeds):
        return [{"seed": s, "quick": quick} for s in seeds]

    def run_job(self, job):
        if job["seed"] == self.fail_at:
            raise RuntimeError("boom")
        type(self).calls += 1
        return {"square": job["seed"] ** 2}

    def summarize(self, jobs, outputs, quick):
        return {"squares": [o["square"] for o in outputs]}

    def judge(self, m):
        return bound(m["squares"], ">=", 0, what="squares")

    def plot(self, m, path):
        from trainwise.lab import common

        plt = common.plt()
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(m["squares"])
        return common.fig_done(fig, path)


@pytest.fixture
def toy(monkeypatch):
    Toy.calls, Toy.fail_at = 0, None
    t = Toy()
    monkeypatch.setitem(EXPERIMENTS, t.name, t)  # visible to get_experiment (and to forked workers)
    return t


def test_run_returns_a_result_with_figure_and_verdict(toy, tmp_path):
    r = toy.run(quick=True, seeds=[1, 2, 3], out_dir=str(tmp_path))
    assert isinstance(r, Result)
    assert r.verdict == HOLDS and "3 of 3 seeds" in r.verdict_text
    assert r.measurements == {"squares": [1, 4, 9]}
    assert os.path.getsize(r.figure) > 0 and r.figure.endswith("toy_experiment.png")
    assert r.setup == "quick" and r.seeds == [1, 2, 3] and r.total_jobs == 3 and r.reused_jobs == 0
    json.dumps(r.to_dict())


def test_a_second_run_reuses_the_stored_jobs(toy, tmp_path):
    store = RunStore(tmp_path / "runs")
    toy.run(quick=True, seeds=[1, 2], out_dir=str(tmp_path), store=store)
    assert Toy.calls == 2
    r = toy.run(quick=True, seeds=[1, 2, 3], out_dir=str(tmp_path), store=store)
    assert Toy.calls == 3 and r.reused_jobs == 2 and r.measurements["squares"] == [1, 4, 9]
    r = toy.run(quick=True, seeds=[1, 2, 3], out_dir=str(tmp_path), store=store)
    assert Toy.calls == 3 and r.reused_jobs == 3 and r.run_id is None  # nothing new: no new run
    # full mode, a new version, or reuse=False all run again
    toy.run(quick=False, seeds=[1], out_dir=str(tmp_path), store=store)
    assert Toy.calls == 4
    toy.run(quick=True, seeds=[1], out_dir=str(tmp_path), store=store, reuse=False)
    assert Toy.calls == 5
    toy.version = 2
    toy.run(quick=True, seeds=[1], out_dir=str(tmp_path), store=store)
    assert Toy.calls == 6
    runs = store.list_runs(kind="lab")
    assert all(x["name"] == "toy_experiment" and x["status"] == "completed" for x in runs)
    assert runs[0]["result"]["verdict"] == HOLDS


def test_a_failed_run_keeps_its_finished_jobs(toy, tmp_path):
    store = RunStore(tmp_path / "runs")
    toy.fail_at = 3
    with pytest.raises(RuntimeError, match="boom"):
        toy.run(quick=True, seeds=[1, 2, 3], out_dir=str(tmp_path), store=store)
    assert store.list_runs(kind="lab")[0]["status"] == "failed"
    toy.fail_at = None
    r = toy.run(quick=True, seeds=[1, 2, 3], out_dir=str(tmp_path), store=store)
    assert r.reused_jobs == 2 and Toy.calls == 3


def test_workers_give_the_same_numbers(toy, tmp_path):
    r = toy.run(quick=True, seeds=[4, 5, 6], out_dir=str(tmp_path), workers=2)
    assert r.measurements["squares"] == [16, 25, 36]


def test_progress_callable_sees_every_job(toy, tmp_path):
    seen = []
    toy.run(quick=True, seeds=[1, 2], out_dir=str(tmp_path), progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 2), (2, 2)]


def test_bad_arguments_are_rejected(toy, tmp_path):
    with pytest.raises(ValueError, match="'seeds' must hold at least one seed"):
        toy.run(seeds=[], out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="'workers' must be a positive int"):
        toy.run(seeds=[1], workers=0, out_dir=str(tmp_path))
    with pytest.raises(KeyError, match="no lab experiment called 'nope'"):
        get_experiment("nope")


def test_judge_must_return_a_verdict(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(toy, "judge", lambda m: "holds")
    with pytest.raises(TypeError, match="judge\\(\\) must return a Verdict"):
        toy.run(seeds=[1], out_dir=str(tmp_path))


def test_registry_covers_the_claims_and_cites_the_papers():
    exps = list_experiments()
    names = [e.name for e in exps]
    assert len(names) == len(set(names)) >= 20
    for e in exps:
        assert e.claim and e.note and e.title and e.setup(True) and e.setup(False), e.name
        assert e.expected_quick in (None, *STATUSES), e.name
        assert len(e.seeds_full) >= 3 and len(e.seeds_quick) >= 2, e.name
    for needed in ("zero_init", "small_weights", "init_by_activation", "he2015_depth30", "glorot2010_spread",
                   "ioffe2015_bn_sigmoid", "residual_depth", "momentum_ravine", "adagrad_decay", "adamw_l2",
                   "clipping", "warmup", "bn_learning_rate", "layernorm_batch_size", "dropout_gap", "l2_gap",
                   "early_stopping_gap", "augmentation_gap", "dropout_time", "learning_curves",
                   "unrepresentative_split", "notes_init_formulas"):
        assert needed in names
    papers = " ".join(e.paper or "" for e in exps)
    for cite in ("Glorot & Bengio 2010", "He et al. 2015", "He, Zhang, Ren & Sun 2015", "Ioffe & Szegedy 2015",
                 "Srivastava", "Loshchilov & Hutter 2019", "He, Zhang, Ren & Sun 2016"):
        assert cite in papers, cite


def test_cli_lists_and_rejects_unknown_names(capsys):
    assert main(["lab"]) == 0
    out = capsys.readouterr().out
    assert all(e.name in out for e in list_experiments())
    assert main(["lab", "nope"]) == 2
    assert "unknown experiment(s) nope" in capsys.readouterr().err


def test_cli_runs_one_experiment_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "lab"
    args = ["--home", str(tmp_path / "runs"), "lab", "notes_init_formulas", "--quick", "--out", str(out), "--quiet",
            "--seeds", "0", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "notes_init_formulas  does not hold" in text and "report.html" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('<img alt="figure of notes_init_formulas" src="data:image/png;base64,') == 1
    assert main(args) == 0  # the second time every run comes from the store
    assert "2/2 runs reused" in capsys.readouterr().err
