"""Data augmentation shrinks the gap between training and validation accuracy.

Seed 002 ("Comparison of regularization techniques": data augmentation,
effectiveness high). The augmentation is a random time shift of up to ±5
samples per signal, drawn afresh every batch (``RandomShift1d``); set-up and
measurements: ``trainwise.lab.overfitting``.
"""
from __future__ import annotations

from .experiment import register
from .overfitting import GapExperiment
from .verdict import HOLDS


@register
class AugmentationGap(GapExperiment):
    name = "augmentation_gap"
    title = "Data augmentation against overfitting"
    claim = "Data augmentation reduces overfitting: it shrinks the gap between training and validation accuracy."
    note = "seed 002 'Comparison with Other Regularization Methods' (data augmentation)"
    paper = "Simard, Steinkraus & Platt 2003; Krizhevsky, Sutskever & Hinton 2012"
    order = 43
    variant = "augmentation"
    label = "random shifts ±5"
    expected_quick = HOLDS
