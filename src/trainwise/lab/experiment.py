"""The lab's experiment: a claim of the notes, the runs that test it, a verdict and a figure.

An experiment is a subclass of ``Experiment`` registered with ``@register``.
It names the claim (one sentence, as the notes make it), where the notes make
it, and the paper it comes from. Its work is split in five small methods so
that every part can be checked on its own:

- ``jobs(quick, seeds)``: the runs it needs, as JSON-able dicts (one per seed
  and setting), smaller when ``quick``;
- ``run_job(job)``: one run, returning JSON-able numbers;
- ``summarize(jobs, outputs, quick)``: the measurements (a dict);
- ``judge(measurements)``: the ``Verdict`` (``trainwise.lab.verdict``);
- ``plot(measurements, path)``: the figure, a PNG.

``Experiment.run`` drives them with a progress bar and, given a ``RunStore``,
keeps every finished job in it (kind ``"lab"``, name = the experiment's name,
one "epoch" row per finished job), so that running the lab again reuses the
jobs it finished before, keyed by experiment name, ``version``, quick/full
and the job's own settings. Bump ``version`` when an experiment changes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time

from .verdict import STATUSES, Verdict

__all__ = ["Experiment", "Result", "EXPERIMENTS", "register", "get_experiment", "list_experiments"]

EXPERIMENTS: dict[str, "Experiment"] = {}


def register(cls):
    """Class decorator: add an instance of ``cls`` to ``EXPERIMENTS`` under ``cls.name``."""
    inst = cls()
    if not inst.name or inst.name in EXPERIMENTS:
        raise ValueError(f"register: experiment name {inst.name!r} is empty or already taken")
    EXPERIMENTS[inst.name] = inst
    return cls


def list_experiments() -> list["Experiment"]:
    """Every registered experiment, in the order of the notes' topics."""
    return sorted(EXPERIMENTS.values(), key=lambda e: (e.order, e.name))


def get_experiment(name: str) -> "Experiment":
    if name not in EXPERIMENTS:
        raise KeyError(f"no lab experiment called {name!r}; known: {', '.join(e.name for e in list_experiments())}")
    return EXPERIMENTS[name]


@dataclasses.dataclass
class Result:
    """What one experiment measured and concluded.

    ``measurements`` is JSON-able; ``verdict`` one of ``trainwise.lab.verdict.STATUSES``;
    ``verdict_text`` the sentence with the numbers; ``figure`` the PNG's path;
    ``reused_jobs`` how many jobs came from the run store instead of being run.
    """

    name: str
    title: str
    claim: str
    note: str
    paper: str | None
    setup: str
    quick: bool
    seeds: list
    measurements: dict
    verdict: str
    verdict_text: str
    figure: str
    runtime: float
    reused_jobs: int = 0
    total_jobs: int = 0
    run_id: str | None = None
    errata: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@contextlib.contextmanager
def single_thread_blas():
    """Run BLAS on one thread inside the block.

    The lab's matrices are small: a second BLAS thread gains little, and when
    another process competes for the 2 cores, OpenBLAS's spinning threads make
    a run 10-20 times slower. threadpoolctl comes with scikit-learn.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _run_job_in_worker(args):
    name, i, job = args
    with single_thread_blas():
        return i, get_experiment(name).run_job(job)


class Experiment:
    """Base class; see the module docstring. Subclasses set the class attributes and the five methods."""

    name: str = ""
    title: str = ""
    claim: str = ""
    note: str = ""
    paper: str | None = None
    errata: str | None = None  # where the notes are wrong, said in the report
    order: int = 100
    version: int = 1
    seeds_full: tuple = (0, 1, 2, 3, 4)
    seeds_quick: tuple = (0, 1)
    # the verdict a --quick run reaches on this machine's settings, for claims that are robust at
    # small scale (the tests check it); None where the quick scale is too small to decide
    expected_quick: str | None = None

    # ------------------------------------------------------------ to override
    def setup(self, quick: bool) -> str:
        """The runs in words (data, model, optimizer, sizes), for the report."""
        raise NotImplementedError

    def jobs(self, quick: bool, seeds) -> list[dict]:
        raise NotImplementedError

    def run_job(self, job: dict) -> dict:
        raise NotImplementedError

    def summarize(self, jobs: list[dict], outputs: list[dict], quick: bool) -> dict:
        return {"jobs": jobs, "outputs": outputs}

    def judge(self, m: dict) -> Verdict:
        raise NotImplementedError

    def plot(self, m: dict, path: str) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ driver
    def run(self, quick: bool = False, seeds=None, progress=False, out_dir: str = ".", store=None,
            reuse: bool = True, workers: int = 1) -> Result:
        """Run every job (reusing stored ones), measure, judge, plot to ``out_dir/NAME.png``.

        ``progress`` is False, True (a tqdm bar over the jobs) or a callable
        ``progress(done, total)``; ``store`` a ``trainwise.train.store.RunStore``
        or None (nothing kept); ``reuse=False`` runs every job again;
        ``workers`` > 1 runs jobs in that many forked processes (each job is
        seeded by its own settings, so the numbers do not depend on it).
        """
        if seeds is None:
            seeds = list(self.seeds_quick if quick else self.seeds_full)
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError(f"{self.name}: 'seeds' must hold at least one seed")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"{self.name}: 'workers' must be a positive int; got {workers!r}")
        jobs = self.jobs(quick, seeds)
        t0 = time.perf_counter()
        config = {"experiment": self.name, "version": self.version, "quick": bool(quick), "seeds": seeds}
        outputs: list = [None] * len(jobs)
        if store is not None and reuse:
            stored = self._stored_outputs(store, config)
            for i, job in enumerate(jobs):
                outputs[i] = next((out for j, out in stored if _same(j, job)), None)
        reused = sum(o is not None for o in outputs)
        run_id = None
        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs), desc=self.name, leave=False, dynamic_ncols=True, initial=reused, disable=None)
        done = [reused]

        def record(i, out):
            outputs[i] = out
            if run_id is not None:
                store.log_epoch(run_id, i, {"job": jobs[i], "output": out})
            done[0] += 1
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                progress(done[0], len(jobs))

        try:
            if store is not None and reused < len(jobs):
                run_id = store.create_run(config, kind="lab", name=self.name)
                for i, out in enumerate(outputs):
                    if out is not None:
                        store.log_epoch(run_id, i, {"job": jobs[i], "output": out})
            todo = [i for i, o in enumerate(outputs) if o is None]
            with single_thread_blas():
                if workers > 1 and len(todo) > 1:
                    import multiprocessing

                    with multiprocessing.get_context("fork").Pool(min(workers, len(todo))) as pool:
                        for i, out in pool.imap_unordered(_run_job_in_worker, [(self.name, i, jobs[i]) for i in todo]):
                            record(i, out)
                else:
                    for i in todo:
                        record(i, self.run_job(jobs[i]))
                measurements = self.summarize(jobs, outputs, quick)
                verdict = self.judge(measurements)
                if not isinstance(verdict, Verdict) or verdict.status not in STATUSES:
                    raise TypeError(f"{self.name}: judge() must return a Verdict; got {verdict!r}")
                os.makedirs(out_dir, exist_ok=True)
                figure = self.plot(measurements, os.path.join(out_dir, f"{self.name}.png"))
        except BaseException as e:
            if run_id is not None:
                status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
                store.finish(run_id, status, error=f"{type(e).__name__}: {e}")
            raise
        finally:
            if bar is not None:
                bar.close()
        runtime = time.perf_counter() - t0
        if run_id is not None:
            store.finish(run_id, "completed", {"verdict": verdict.status, "verdict_text": verdict.text,
                                               "runtime": runtime, "jobs": len(jobs), "reused": reused})
        return Result(self.name, self.title, self.claim, self.note, self.paper, self.setup(quick), bool(quick),
                      seeds, measurements, verdict.status, verdict.text, figure, runtime, reused, len(jobs),
                      run_id, self.errata)

    def _stored_outputs(self, store, config) -> list:
        """(job, output) pairs logged by earlier runs of this experiment with the same config."""
        found = []
        for r in store.list_runs(kind="lab", limit=1_000_000):
            cfg = r.get("config") or {}
            if r.get("name") != self.name or any(cfg.get(k) != config[k] for k in ("experiment", "version", "quick")):
                continue
            for row in store.get_run(r["id"])["epochs"]:
                if isinstance(row, dict) and "job" in row and "output" in row:
                    found.append((row["job"], row["output"]))
        return found

    def __repr__(self):
        return f"<lab experiment {self.name}: {self.claim}>"
