"""Learning-rate schedules with PyTorch's names and step() semantics."""
__all__ = []
