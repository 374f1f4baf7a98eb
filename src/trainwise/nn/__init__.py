"""Layers and models, with PyTorch's names (``trainwise.nn``)."""
from . import functional  # noqa: F401
from .activation import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .container import ModuleList, Sequential  # noqa: F401
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .graph import *  # noqa: F401,F403
from .linear import Flatten, Identity, Linear  # noqa: F401
from .loss import *  # noqa: F401,F403
from .module import Module, Parameter, RemovableHandle  # noqa: F401
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from . import utils  # noqa: F401,E402
