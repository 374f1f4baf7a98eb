"""Every lab experiment in --quick mode: it runs, draws its figure, reaches a verdict with numbers.

For the claims that are robust at small scale (``Experiment.expected_quick``)
the quick verdict must be the expected one. The HTML report must embed one
decodable PNG per experiment (the headless-browser check of the full report
is ``bench/lab_screenshot.py``).
"""
import base64
import json
import multiprocessing
import re
import struct

import pytest

from trainwise.lab import get_experiment, list_experiments
from trainwise.lab.common import mnist1d
from trainwise.lab.report import write_lab_report
from trainwise.lab.verdict import STATUSES

EXPERIMENTS = list_experiments()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes):
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _run_group(args):
    names, out = args
    return [get_experiment(n).run(quick=True, out_dir=out) for n in names]


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """All experiments in --quick mode, in two forked processes (one per core of the CI machine).

    The split keeps the regularization experiments together: they share
    their baseline runs through an in-process cache.
    """
    out = str(tmp_path_factory.mktemp("lab"))
    mnist1d()  # load once; the forked workers inherit it
    names = [e.name for e in EXPERIMENTS]
    cut = names.index("ioffe2015_bn_sigmoid")
    with multiprocessing.get_context("fork").Pool(2) as pool:
        groups = pool.map(_run_group, [(names[:cut], out), (names[cut:], out)])
    results = {r.name: r for g in groups for r in g}
    assert sorted(results) == sorted(names)
    return out, results


@pytest.mark.parametrize("name", [e.name for e in EXPERIMENTS])
def test_quick_run_gives_a_figure_and_a_verdict(quick_results, name):
    _, results = quick_results
    r = results[name]
    assert r.verdict in STATUSES
    assert re.search(r"\d", r.verdict_text), "a verdict must carry its numbers"
    with open(r.figure, "rb") as f:
        w, h = png_size(f.read())
    assert w >= 300 and h >= 200
    json.dumps(r.measurements)  # storable as it is
    expected = next(e.expected_quick for e in EXPERIMENTS if e.name == name)
    if expected is not None:
        assert r.verdict == expected, r.verdict_text


def test_the_errata_claims_are_reported_as_not_holding(quick_results):
    _, results = quick_results
    assert results["notes_init_formulas"].verdict == "does not hold"
    assert results["dropout_time"].verdict != "holds"  # the notes' reason (costlier passes) is measured false
    assert "costs ≥ 2×" in results["dropout_time"].verdict_text


def test_report_embeds_one_decodable_png_per_experiment(quick_results):
    out, results = quick_results
    path = write_lab_report(list(results.values()), f"{out}/report.html", elapsed=1.0)
    html = open(path, encoding="utf-8").read()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html)
    assert html.count('<img ') == len(images) == len(EXPERIMENTS)
    for b64 in images:
        png_size(base64.b64decode(b64))
    for r in results.values():
        assert f'<a href="#{r.name}">{r.name}</a>' in html and f'<a id="{r.name}"></a>' in html
    # the summary table lists every verdict before the first figure
    top = html[:html.index("<img ")]
    assert sum(top.count(f">{s}</b></td>") for s in STATUSES) == len(EXPERIMENTS)


def test_report_needs_results(tmp_path):
    with pytest.raises(ValueError, match="at least one Result"):
        write_lab_report([], tmp_path / "r.html")
