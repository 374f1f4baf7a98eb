"""Optimizers, learning-rate schedules and the LR range test (``trainwise.optim``)."""
from .optimizer import Optimizer  # noqa: F401
