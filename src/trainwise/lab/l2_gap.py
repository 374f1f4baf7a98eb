"""L2 regularization (weight decay) shrinks the gap between training and validation accuracy.

Seed 002 ("Method 1: Regularization", L_reg = L + (λ/2)Σw², the update
w ← (1 − ηλ)w − η∂L/∂w), seed 001 ("L2 ... weight decay"). Set-up and
measurements: ``trainwise.lab.overfitting``.
"""
from __future__ import annotations

from .experiment import register
from .overfitting import GapExperiment


@register
class L2Gap(GapExperiment):
    name = "l2_gap"
    title = "L2 regularization (weight decay) against overfitting"
    claim = "L2 regularization reduces overfitting: it shrinks the gap between training and validation accuracy."
    note = "seed 002 'Method 1: Regularization', 'Connection to Gradient Descent'; seed 001 'L2'"
    paper = "Krogh & Hertz 1992, 'A Simple Weight Decay Can Improve Generalization'"
    errata = ("seeds/ERRATA.md: seed 001's prose ('if the learning rate is high then (1 − ηλ) will be low and weights "
              "will go down') is muddled; the update w ← (1 − ηλ)w − η∂L/∂w is what trainwise computes.")
    order = 41
    variant = "l2"
    label = "L2 λ = 0.01"
