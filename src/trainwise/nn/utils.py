"""Gradient clipping and other parameter utilities (``trainwise.nn.utils``)."""
