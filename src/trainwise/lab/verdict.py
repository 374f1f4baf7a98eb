"""Verdicts computed from measurements: does a claim hold, hold only partly, or not hold?

A claim of the notes is judged on several seeds, never on one run. The rules
are deliberately plain, so that a reader can redo them from the numbers in
the report:

- ``paired(a, b, direction, margin)``: the claim is "B is larger (or smaller)
  than A". For every seed i the effect is d_i = b_i − a_i (``scale="linear"``)
  or the factor r_i = b_i / a_i (``scale="ratio"``, ``margin`` then a factor
  such as 2). It **holds** if the effect has the claimed sign and exceeds the
  margin in at least a fraction ``most`` of the seeds (all of them by
  default); it holds **only partly** if it does so in some seeds, or if it has
  the claimed sign in a majority of the seeds without clearing the margin;
  otherwise it **does not hold**.
- ``bound(values, op, limit)``: the claim is "the quantity is below (above)
  a limit", seed by seed, with the same counting.
- ``all_of(*verdicts)``: a claim with several parts holds if every part
  holds, does not hold if no part holds even partly, and holds only partly
  otherwise.

Every verdict carries a sentence with the numbers it was decided on.
NaN (a diverged run) never counts as evidence for a claim.

Example::

    v = paired([0.30, 0.31, 0.29], [0.10, 0.12, 0.09], direction="less", margin=0.05,
               names=("plain", "with dropout"), what="train-validation gap")
    v.status  # 'holds'
"""
from __future__ import annotations

import dataclasses
import math

__all__ = ["HOLDS", "PARTLY", "FAILS", "STATUSES", "Verdict", "paired", "bound", "all_of", "fmt", "mean_sd"]

HOLDS = "holds"
PARTLY = "holds only partly"
FAILS = "does not hold"
STATUSES = (HOLDS, PARTLY, FAILS)


@dataclasses.dataclass
class Verdict:
    """``status`` (one of ``STATUSES``) and ``text``, the sentence with the numbers."""

    status: str
    text: str

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"Verdict: 'status' must be one of {STATUSES}; got {self.status!r}")

    def to_dict(self) -> dict:
        return {"status": self.status, "text": self.text}


def fmt(x, digits: int = 3) -> str:
    """A number for a sentence: 3 significant digits, 'nan'/'inf' spelled out."""
    if x is None:
        return "n/a"
    x = float(x)
    if math.isnan(x):
        return "nan (diverged)"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def _floats(values, name: str, owner: str) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: '{name}' must be a sequence of numbers (one per seed); got {values!r}") from None
    if not out:
        raise ValueError(f"{owner}: '{name}' must hold at least one value (one per seed); got none")
    return out


def mean_sd(values) -> str:
    """'m ± s' over the finite values (and how many diverged)."""
    v = [float(x) for x in values]
    fin = [x for x in v if math.isfinite(x)]
    if not fin:
        return "none finite (diverged or never reached)" if v else "n/a"
    m = sum(fin) / len(fin)
    s = math.sqrt(sum((x - m) ** 2 for x in fin) / (len(fin) - 1)) if len(fin) > 1 else 0.0
    extra = f" ({len(v) - len(fin)} of {len(v)} not finite)" if len(fin) < len(v) else ""
    return f"{fmt(m)} ± {fmt(s, 2)}{extra}"


def _count_status(n_big: int, n_sign: int, n: int, most: float) -> str:
    if n_big >= math.ceil(most * n - 1e-9) and n_big > 0:
        return HOLDS
    if n_big > 0 or n_sign > n / 2:
        return PARTLY
    return FAILS


def _check_most(owner, most):
    if isinstance(most, bool) or not isinstance(most, (int, float)) or not 0 < most <= 1:
        raise ValueError(f"{owner}: 'most' must be a fraction in (0, 1]; got {most!r}")


def paired(a, b, direction: str = "greater", margin: float = 0.0, scale: str = "linear", most: float = 1.0,
           names=("A", "B"), what: str = "value") -> Verdict:
    """Judge "B is ``direction`` than A" seed by seed (see the module docstring).

    Args:
        a, b: one number per seed for the reference (A) and the treatment (B), paired by seed.
        direction: "greater" (B > A claimed) or "less" (B < A claimed).
        margin: how far past A the effect must go: b − a > margin (linear) or
            b / a > margin (ratio; for "less", a / b > margin). Default 0 / 1.
        scale: "linear" (differences) or "ratio" (factors; values must be > 0).
        most: the fraction of seeds that must show the effect for "holds".
        names: the display names of A and B; what: the quantity, for the sentence.

    Example: ``paired([1.0, 1.1], [3.0, 2.5], "greater", margin=2, scale="ratio")`` holds.
    """
    owner = "paired"
    a, b = _floats(a, "a", owner), _floats(b, "b", owner)
    if len(a) != len(b):
        raise ValueError(f"{owner}: 'a' and 'b' must have one value per seed each; got {len(a)} and {len(b)}")
    if direction not in ("greater", "less"):
        raise ValueError(f"{owner}: 'direction' must be 'greater' or 'less'; got {direction!r}")
    if scale not in ("linear", "ratio"):
        raise ValueError(f"{owner}: 'scale' must be 'linear' or 'ratio'; got {scale!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
        raise ValueError(f"{owner}: 'margin' must be a number >= 0; got {margin!r}")
    _check_most(owner, most)
    n = len(a)
    n_big = n_sign = 0
    effects = []
    for x, y in zip(a, b):
        if scale == "linear":
            d = (y - x) if direction == "greater" else (x - y)
            ok_sign, ok_big = d > 0, d > margin
        else:
            if x < 0 or y < 0:
                raise ValueError(f"{owner}: scale='ratio' needs positive values; got a={x}, b={y}")
            with_nan = math.isnan(x) or math.isnan(y)
            num, den = (y, x) if direction == "greater" else (x, y)
            d = math.nan if with_nan else (num / den if den > 0 else (math.inf if num > 0 else 1.0))
            ok_sign, ok_big = d > 1, d > max(margin, 1.0)
        effects.append(d)
        n_sign += bool(ok_sign)
        n_big += bool(ok_big)
    status = _count_status(n_big, n_sign, n, most)
    rel = "above" if direction == "greater" else "below"
    if scale == "linear":
        how = f"by more than {fmt(margin)}" if margin else ""
    else:
        how = f"by more than a factor {fmt(max(margin, 1.0))}" if margin > 1 else ""
    text = (f"{what}: {names[1]} {mean_sd(b)} vs {names[0]} {mean_sd(a)} (mean ± sd over {n} seeds); "
            f"{names[1]} is {rel} {names[0]} {how}".rstrip() + f" in {n_big} of {n} seeds")
    return Verdict(status, text)


def bound(values, op: str, limit: float, most: float = 1.0, what: str = "value") -> Verdict:
    """Judge "the quantity is ``op`` ``limit``" (op one of "<", "<=", ">", ">=") seed by seed.

    Example: ``bound([1e-9, 3e-9], "<", 1e-6, what="spread between units")`` holds.
    """
    owner = "bound"
    v = _floats(values, "values", owner)
    ops = {"<": lambda x: x < limit, "<=": lambda x: x <= limit, ">": lambda x: x > limit,
           ">=": lambda x: x >= limit}
    if op not in ops:
        raise ValueError(f"{owner}: 'op' must be one of {list(ops)}; got {op!r}")
    _check_most(owner, most)
    n = len(v)
    k = sum(bool(ops[op](x)) for x in v)  # NaN compares False: a diverged run is no evidence
    status = HOLDS if k >= math.ceil(most * n - 1e-9) and k > 0 else (PARTLY if k > 0 else FAILS)
    return Verdict(status, f"{what}: {mean_sd(v)} (over {n} seeds); {op} {fmt(limit)} in {k} of {n} seeds")


def all_of(*verdicts: Verdict) -> Verdict:
    """A claim with parts: holds if all hold, does not hold if none holds even partly, else partly."""
    if not verdicts or not all(isinstance(v, Verdict) for v in verdicts):
        raise TypeError("all_of: give one or more Verdict objects")
    statuses = [v.status for v in verdicts]
    if all(s == HOLDS for s in statuses):
        status = HOLDS
    elif all(s == FAILS for s in statuses):
        status = FAILS
    else:
        status = PARTLY
    return Verdict(status, "; ".join(f"{v.text} [{v.status}]" if len(verdicts) > 1 else v.text for v in verdicts))
