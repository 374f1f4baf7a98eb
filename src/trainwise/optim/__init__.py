"""Optimizers, learning-rate schedules and the LR range test (``trainwise.optim``)."""
from .optimizer import Optimizer  # noqa: F401
from .adagrad import *  # noqa: F401,F403
from .adam import *  # noqa: F401,F403
from .lookahead import *  # noqa: F401,F403
from .rmsprop import *  # noqa: F401,F403
from .sgd import *  # noqa: F401,F403
from . import lr_scheduler  # noqa: F401,E402
from .lr_find import *  # noqa: F401,F403,E402
