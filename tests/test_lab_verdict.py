"""The lab's verdict machinery on constructed measurements (no training)."""
import math

import pytest

from trainwise.lab.verdict import FAILS, HOLDS, PARTLY, Verdict, all_of, bound, fmt, mean_sd, paired


# ------------------------------------------------------------------ paired
def test_paired_holds_when_every_seed_clears_the_margin():
    v = paired([0.30, 0.31, 0.29], [0.10, 0.12, 0.09], direction="less", margin=0.05,
               names=("plain", "dropout"), what="gap")
    assert v.status == HOLDS
    assert "3 of 3 seeds" in v.text and "dropout" in v.text and "0.103" in v.text


def test_paired_partly_when_only_some_seeds_clear_the_margin():
    v = paired([1.0, 1.0, 1.0], [1.5, 1.01, 0.9], direction="greater", margin=0.1)
    assert v.status == PARTLY
    assert "1 of 3 seeds" in v.text


def test_paired_partly_when_the_sign_is_right_but_the_margin_is_missed():
    v = paired([1.0, 1.0, 1.0], [1.02, 1.03, 1.01], direction="greater", margin=0.1)
    assert v.status == PARTLY


def test_paired_fails_when_the_effect_goes_the_other_way():
    v = paired([1.0, 1.0, 1.0], [0.8, 0.9, 1.05], direction="greater", margin=0.1)
    assert v.status == FAILS


def test_paired_most_allows_an_outlier():
    a, b = [1.0] * 5, [2.0, 2.0, 2.0, 2.0, 0.5]
    assert paired(a, b, margin=0.5).status == PARTLY
    assert paired(a, b, margin=0.5, most=0.8).status == HOLDS


def test_paired_ratio_scale_uses_factors_in_the_claimed_direction():
    assert paired([10, 12], [100, 150], "greater", margin=2.0, scale="ratio").status == HOLDS
    assert paired([10, 12], [15, 20], "greater", margin=2.0, scale="ratio").status == PARTLY
    # "less": a / b must exceed the factor
    assert paired([100, 90], [10, 40], "less", margin=2.0, scale="ratio").status == HOLDS
    assert "factor 2" in paired([1.0], [3.0], "greater", margin=2.0, scale="ratio").text


def test_paired_inf_counts_as_evidence_but_nan_does_not():
    # a diverged reference (inf loss) is beaten by any finite treatment
    assert paired([math.inf, math.inf], [1.0, 1.2], "less", margin=0.2).status == HOLDS
    assert paired([1.0, 1.0], [math.nan, math.nan], "less", margin=0.0).status == FAILS
    assert "none finite" in paired([math.inf], [1.0], "less").text


@pytest.mark.parametrize("kwargs, match", [
    (dict(a=[1, 2], b=[1]), "one value per seed"),
    (dict(a=[1], b=[2], direction="up"), "'direction'"),
    (dict(a=[1], b=[2], scale="log"), "'scale'"),
    (dict(a=[1], b=[2], margin=-1), "'margin'"),
    (dict(a=[1], b=[2], most=0), "'most'"),
    (dict(a=[-1], b=[2], scale="ratio"), "positive"),
    (dict(a=[], b=[]), "at least one value"),
])
def test_paired_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired(**kwargs)


def test_paired_rejects_non_numbers():
    with pytest.raises(TypeError, match="'a' must be a sequence of numbers"):
        paired(["x"], [1.0])


# ------------------------------------------------------------------- bound
def test_bound_counts_seeds_and_ignores_nan():
    assert bound([1e-9, 3e-9], "<", 1e-6, what="spread").status == HOLDS
    assert bound([1e-9, 3e-3], "<", 1e-6).status == PARTLY
    assert bound([math.nan, math.nan], "<", 1e-6).status == FAILS
    assert bound([5.0, 1.0], ">=", 5.0).status == PARTLY
    v = bound([0.1, 0.2], ">", 0.05, what="gap")
    assert v.text.startswith("gap: 0.15") and "2 of 2 seeds" in v.text


def test_bound_rejects_an_unknown_operator():
    with pytest.raises(ValueError, match="'op' must be one of"):
        bound([1.0], "!=", 0.0)


# ------------------------------------------------------------------ all_of
def test_all_of_combines_parts():
    h, p, f = Verdict(HOLDS, "a"), Verdict(PARTLY, "b"), Verdict(FAILS, "c")
    assert all_of(h, h).status == HOLDS
    assert all_of(f, f).status == FAILS
    assert all_of(h, f).status == PARTLY
    assert all_of(p).status == PARTLY
    assert all_of(h, f).text == "a [holds]; c [does not hold]"
    with pytest.raises(TypeError, match="Verdict"):
        all_of("holds")


def test_verdict_status_is_checked():
    with pytest.raises(ValueError, match="'status' must be one of"):
        Verdict("maybe", "")
    assert Verdict(HOLDS, "x").to_dict() == {"status": HOLDS, "text": "x"}


def test_fmt_and_mean_sd():
    assert fmt(0.000976562) == "0.000977"
    assert fmt(math.nan).startswith("nan")
    assert fmt(math.inf) == "inf"
    assert mean_sd([1.0, 3.0]) == "2 ± 1.4"
    assert "1 of 2 not finite" in mean_sd([1.0, math.inf])
