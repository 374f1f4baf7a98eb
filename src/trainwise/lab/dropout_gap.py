"""Dropout shrinks the gap between training and validation accuracy (Srivastava et al. 2014).

Seed 000 ("Dropout is a regularization technique ... to prevent overfitting"),
seed 002 ("Method 2: Dropout ... it dramatically reduces overfitting"), seed
003. Set-up and measurements: ``trainwise.lab.overfitting``.
"""
from __future__ import annotations

from .experiment import register
from .overfitting import GapExperiment


@register
class DropoutGap(GapExperiment):
    name = "dropout_gap"
    title = "Dropout against overfitting"
    claim = "Dropout reduces overfitting: it shrinks the gap between training and validation accuracy."
    note = "seed 000 'Dropout'; seed 002 'Method 2: Dropout'; seed 003 'Dropout'"
    paper = "Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov 2014, 'Dropout', JMLR"
    order = 40
    variant = "dropout"
    label = "dropout p = 0.5"
