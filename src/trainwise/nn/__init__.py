"""Layers and models, with PyTorch's names (``trainwise.nn``)."""
from . import functional  # noqa: F401
from .activation import *  # noqa: F401,F403
from .container import ModuleList, Sequential  # noqa: F401
from .linear import Flatten, Identity, Linear  # noqa: F401
from .loss import *  # noqa: F401,F403
from .module import Module, Parameter, RemovableHandle  # noqa: F401
