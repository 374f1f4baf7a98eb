"""Differentiable functions with hand-written backward passes (``trainwise.nn.functional``)."""
from .activations import *  # noqa: F401,F403
from .linear import linear  # noqa: F401
from .losses import *  # noqa: F401,F403
