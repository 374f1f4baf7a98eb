"""The doctor: names what is wrong with a training run, shows the evidence, and can repair it.

``Trainer(model, loss, optimizer, doctor="watch")`` (or ``"repair"``), or
``diagnose(model, loss, optimizer, train, val, epochs)``. The pieces:
``monitors`` (hooks recording plain statistics), ``rules`` (small functions
from statistics to findings, with documented thresholds), ``checks``
(pre-training checks), ``findings`` (``Finding`` and the codes),
``remedies`` (actions and the repair loop), ``report`` (pictures, HTML).
See ``docs/doctor.md``.
"""
from . import checks, findings, monitors, remedies, report, rules  # noqa: F401
from .core import Diagnosis, Doctor, diagnose
from .findings import (
    CODES, DEAD_RELU, EXPLODING_GRADIENTS, INPUT_DROPOUT, LR_TOO_HIGH, LR_TOO_LOW, NAN_LOSS, OVERFITTING,
    SATURATION, SEVERITIES, SOFTMAX_BEFORE_LOGITS_LOSS, SYMMETRIC_INIT, UNDERFITTING, UNNORMALIZED_INPUTS,
    UNREPRESENTATIVE_TRAIN, UNREPRESENTATIVE_VALIDATION, VANISHING_GRADIENTS, Finding,
)
from .monitors import Monitor
from .rules import THRESHOLDS, evaluate

__all__ = [
    "Doctor", "Diagnosis", "diagnose", "Finding", "Monitor", "CODES", "SEVERITIES", "THRESHOLDS", "evaluate",
    "NAN_LOSS", "EXPLODING_GRADIENTS", "VANISHING_GRADIENTS", "SYMMETRIC_INIT", "DEAD_RELU", "SATURATION",
    "LR_TOO_HIGH", "LR_TOO_LOW", "OVERFITTING", "UNDERFITTING", "UNREPRESENTATIVE_VALIDATION",
    "UNREPRESENTATIVE_TRAIN", "UNNORMALIZED_INPUTS", "SOFTMAX_BEFORE_LOGITS_LOSS", "INPUT_DROPOUT",
]
