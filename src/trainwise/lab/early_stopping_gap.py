"""Early stopping shrinks the gap between training and validation accuracy.

Seed 002 ("What is Early Stopping?": monitor validation performance and stop
when it begins to degrade; keep the best weights), seed 001 ("Early
Stopping"). The run stops on the validation *loss* (patience 10) and restores
the best weights, as Keras's default; set-up and measurements:
``trainwise.lab.overfitting``.
"""
from __future__ import annotations

import numpy as np

from .experiment import register
from .overfitting import GapExperiment
from .verdict import Verdict, fmt


@register
class EarlyStoppingGap(GapExperiment):
    name = "early_stopping_gap"
    title = "Early stopping against overfitting"
    claim = "Early stopping prevents overfitting: the model kept has a smaller train-validation gap."
    note = "seed 002 'What is Early Stopping?'; seed 001 'Early Stopping'"
    paper = "Prechelt 1998, 'Early Stopping — But When?'"
    order = 42
    variant = "early_stopping"
    label = "early stopping (val loss, patience 10)"

    def judge(self, m):
        v = super().judge(m)
        es = m["early_stopping"]
        return Verdict(v.status, v.text + f"; it stopped after {fmt(np.mean(es['epochs_run']))} of "
                       f"{max(m['none']['epochs_run'])} epochs on average and kept epoch "
                       f"{fmt(np.mean([e + 1 for e in es['best_epoch']]))}. Stopping on the validation loss stops "
                       "early: the loss of an overfitting classifier rises (over-confidence) while its accuracy "
                       "still climbs")
