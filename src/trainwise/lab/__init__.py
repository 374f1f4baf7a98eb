"""The lab: every claim of the notes measured on real runs, with a verdict and a figure.

``trainwise lab`` lists the experiments; ``trainwise lab NAME`` or
``trainwise lab all`` runs them (``--quick`` for a first look) and writes one
self-contained HTML report. In Python::

    from trainwise.lab import get_experiment
    r = get_experiment("he2015_depth30").run(quick=True, out_dir="lab")
    r.verdict, r.verdict_text, r.figure

Each experiment is a module here (the claim, the notes' and the paper's
words, the runs, the measurement, the verdict and the figure); the framework
is ``experiment.py``, the verdict rules ``verdict.py``, the report ``report.py``.
"""
from .experiment import EXPERIMENTS, Experiment, Result, get_experiment, list_experiments, register  # noqa: F401
from .verdict import FAILS, HOLDS, PARTLY, Verdict  # noqa: F401

# the experiments register themselves on import, in the order of the notes' topics
from . import (  # noqa: F401,E402
    zero_init, small_weights, notes_init_formulas, init_by_activation, he2015_depth30, glorot2010_spread,
    momentum_ravine, adagrad_decay, adamw_l2, clipping, warmup,
    ioffe2015_bn_sigmoid, bn_learning_rate, layernorm_batch_size, residual_depth,
    dropout_gap, l2_gap, early_stopping_gap, augmentation_gap, dropout_scaling, dropout_time,
    learning_curves, unrepresentative_split,
)

__all__ = ["EXPERIMENTS", "Experiment", "Result", "get_experiment", "list_experiments", "register",
           "HOLDS", "PARTLY", "FAILS", "Verdict"]
