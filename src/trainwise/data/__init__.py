"""Data sets, loaders, splits, file loaders and augmentation (``trainwise.data``)."""
