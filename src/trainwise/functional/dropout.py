"""Dropout: zero each unit with probability p while training (Srivastava et al. 2014).

Seed 002 ("The Dropout Operation"): draw a mask r_j ~ Bernoulli(1 − p) per
unit and example, multiply the layer's output by it, and, in the *inverted*
form, scale the kept units by 1/(1 − p) so that the expected output in
training equals the output at test time, where dropout does nothing:

    inverted (default, PyTorch):   train  ỹ = r ⊙ y / (1 − p)     test  ỹ = y
    scale_at_test (seeds 001/004): train  ỹ = r ⊙ y               test  ỹ = (1 − p)·y

Both keep E[ỹ_train] = ỹ_test. The second is the form of the original paper,
which the notes describe as "at test time the weights are scaled"; it is
offered as ``mode="scale_at_test"``. ``p`` is the probability of *dropping* a
unit, as in PyTorch (seed 001 reads "0.5-0.8" as a dropout ratio; as a drop
probability 0.8 is extreme, so read it as a keep probability — see
``seeds/ERRATA.md``).
"""
from __future__ import annotations

import numbers

from ..backend import get_generator, xp
from ..tensor import Tensor, make

__all__ = ["dropout"]

DROPOUT_MODES = ("inverted", "scale_at_test")


def check_dropout_args(owner: str, p, mode) -> float:
    """Validate the drop probability p ∈ [0, 1) and the mode; return p as a float."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"{owner}: 'p' (the drop probability) must be a number in [0, 1); got {p!r}")
    if mode not in DROPOUT_MODES:
        raise ValueError(f"{owner}: 'mode' must be one of {', '.join(map(repr, DROPOUT_MODES))}; got {mode!r}")
    return float(p)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator=None, mode: str = "inverted") -> Tensor:
    """Randomly zero elements of ``x`` with probability ``p`` while training, as one graph node.

    With a mask r_j ~ Bernoulli(1 − p) drawn per element (r = [u < 1 − p] for
    u ~ U[0, 1) from ``generator``):

    - ``mode="inverted"`` (default; seed 002, PyTorch): training ỹ = r ⊙ x / (1 − p);
      evaluation ỹ = x (the input itself is returned).
    - ``mode="scale_at_test"`` (seeds 001, 004; Srivastava et al. 2014):
      training ỹ = r ⊙ x; evaluation ỹ = (1 − p)·x.

    Backward: dx = r ⊙ dy / (1 − p), resp. r ⊙ dy and (1 − p)·dy; the mask is
    kept inside the node. Same numbers as ``torch.nn.functional.dropout`` for
    a given mask (PyTorch's own masks come from its generator, not ours).

    Arguments: ``p`` the drop probability in [0, 1); ``training``; ``generator``
    a ``trainwise.Generator`` (default: the global one, see ``manual_seed``);
    ``mode`` as above.

    Example: ``h = dropout(h, 0.5, training=model.training)``.
    """
    p = check_dropout_args("dropout", p, mode)
    xd = x.data
    if xd.dtype.kind != "f":
        raise TypeError(f"dropout: 'input' must be floating; got dtype {xd.dtype}")
    inverted = mode == "inverted"
    if not training:
        if inverted or p == 0.0:
            return x
        keep = 1.0 - p
        return make(xd * keep, (x,), lambda g: (g * keep,), "dropout")
    if p == 0.0:
        return x
    keep = 1.0 - p
    u = get_generator(generator).random(xd.shape, dtype=xp.float32 if xd.dtype == xp.float32 else xp.float64)
    # the mask already carries the 1/(1 − p) factor, so forward and backward are one multiply each
    mask = xp.less(u, keep).astype(xd.dtype)
    if inverted:
        mask *= 1.0 / keep
    return make(xd * mask, (x,), lambda g: (g * mask,), "dropout")
