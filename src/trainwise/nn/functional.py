"""``trainwise.nn.functional``: the same functions as ``trainwise.functional`` (PyTorch's spelling)."""
from ..functional import *  # noqa: F401,F403
from ..functional import activations, attention, conv, dropout, graph, losses, normalization, pooling, recurrent  # noqa: F401
from ..functional import linear  # noqa: F401
