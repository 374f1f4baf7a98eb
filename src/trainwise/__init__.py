"""trainwise: a neural-network training library on NumPy that tells you what is wrong with a run."""
from . import backend, init  # noqa: F401
from .backend import Generator, get_default_dtype, manual_seed, set_default_dtype  # noqa: F401
from .factory import arange, from_numpy, full, ones, ones_like, rand, randn, zeros, zeros_like  # noqa: F401
from .tensor import (  # noqa: F401
    Tensor, as_tensor, cat, concatenate, enable_grad, is_grad_enabled, maximum, minimum, no_grad, pad,
    stack, where,
)
from . import data, functional, nn, optim, regularization  # noqa: F401,E402

__version__ = "0.1.0"
