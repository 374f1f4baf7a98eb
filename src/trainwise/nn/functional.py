"""``trainwise.nn.functional``: the same functions as ``trainwise.functional`` (PyTorch's spelling)."""
from ..functional import *  # noqa: F401,F403
from ..functional import linear  # noqa: F401
