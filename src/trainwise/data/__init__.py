"""Data sets, loaders, splits, file loaders and augmentation (``trainwise.data``).

- ``Dataset``, ``TensorDataset``, ``Subset``, ``DataLoader``: PyTorch's names and semantics.
- ``random_split``, ``train_val_split`` (stratified), ``Standardizer`` (fit on the training split only).
- ``load_dataset(name)`` and ``DATASETS``: mnist1d, digits, spirals, moons, circles, blobs, regression.
- ``load_npz``, ``load_csv``, ``load_idx`` for the user's own files; ``check_finite``.
- ``trainwise.data.augment``: seeded batch augmentation (seed 003).
"""
from . import augment  # noqa: F401
from .augment import *  # noqa: F401,F403
from .dataset import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .files import *  # noqa: F401,F403
from .loader import *  # noqa: F401,F403
from .split import *  # noqa: F401,F403

from . import augment as _augment, dataset as _dataset, datasets as _datasets, files as _files  # noqa: E402
from . import loader as _loader, split as _split  # noqa: E402

__all__ = (list(_augment.__all__) + list(_dataset.__all__) + list(_datasets.__all__) + list(_files.__all__)
           + list(_loader.__all__) + list(_split.__all__))
