"""The ``DataLoader``: seeded, resumable mini-batches of a dataset.

The notes name three ways to compute the gradient (seed 004, "Stochastic
Gradient Descent"; seed 001, "Mini Batch Gradient Descent"): from all N
points (gradient descent), from k points (mini-batch SGD) or from one point
(SGD). They are the loader's ``batch_size=None``, ``batch_size=k`` and
``batch_size=1``.
"""
from __future__ import annotations

from ..backend import Generator, get_default_dtype, get_generator, xp
from ..tensor import Tensor
from .dataset import _resolve_arrays

__all__ = ["DataLoader"]

_STATE_KEYS = ("epoch", "batches_yielded", "num_batches", "num_samples", "batch_size", "shuffle",
               "drop_last", "epoch_start_state", "generator_state")


def _collate(samples):
    """Stack a list of samples field by field: [(x0, y0), (x1, y1)] -> (stack(x), stack(y))."""
    if not isinstance(samples[0], (tuple, list)):
        samples = [(s,) for s in samples]
    out = []
    for field in zip(*samples):
        vals = [v.data if isinstance(v, Tensor) else v for v in field]
        arr = xp.stack([xp.asarray(v) for v in vals])
        if type(vals[0]) is float:  # Python floats would otherwise become float64
            arr = arr.astype(get_default_dtype())
        out.append(arr)
    return tuple(out)


class DataLoader:
    """Iterate over ``dataset`` in batches; each batch is a tuple of ``trainwise.Tensor``.

    Arguments:
        dataset: a ``Dataset`` (``__len__``, ``__getitem__``); a
            ``TensorDataset`` (or a ``Subset`` of one) is batched by
            fancy-indexing its arrays with a slice of the permutation, with no
            Python loop over samples; other datasets are read sample by sample
            and stacked field by field.
        batch_size: samples per batch. ``None`` is full-batch gradient descent
            (one batch of all N samples per epoch), ``1`` is pure SGD, ``k`` is
            mini-batch SGD (seeds 001 and 004). Number of batches per epoch:
            ``N // k`` with ``drop_last``, else ``ceil(N / k)``.
        shuffle: draw a new permutation of the samples at the start of every
            epoch (a different order each epoch, reproducible from the seed).
        drop_last: drop the last, smaller batch (so every step sees k samples).
        generator: the ``trainwise.Generator`` used for the permutation and
            the transform. ``None`` (default) does as PyTorch does: at the start
            of each epoch a seed is drawn from the default generator
            (``trainwise.manual_seed`` sets it) and a fresh generator made from
            it. The default generator is only drawn from when the epoch needs
            randomness (``shuffle`` or ``transform``), so an evaluation loader
            does not shift the training stream.
        transform: ``transform(x_batch, generator) -> x_batch`` applied to the
            first array of each batch (the inputs), with the loader's generator:
            the augmentation of ``trainwise.data.augment`` (seed 003).

    Batches keep the arrays' dtypes: float inputs stay float32 (or float64),
    integer labels stay integer. Without shuffle a ``TensorDataset`` batch is a
    read-only view of the arrays (no copy); with shuffle it is a copy.

    Exact resume: ``state_dict()`` holds the generator state at the start of
    the current epoch, the generator state now, and the number of batches
    already yielded in the epoch; a new loader given it with
    ``load_state_dict`` yields exactly the remaining batches of that epoch and
    then continues as the uninterrupted loader would. (With ``generator=None``
    later epochs draw their seeds from the default generator, whose state the
    caller restores, e.g. with the checkpoint.) The state describes the most
    recently started iterator.

    Example: ``for xb, yb in DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True): ...``
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None, transform=None):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: 'dataset' must have __len__ and __getitem__ (a Dataset); "
                            f"got {type(dataset).__name__}")
        if batch_size is not None and (
                isinstance(batch_size, bool) or not isinstance(batch_size, (int, xp.integer)) or batch_size < 1):
            raise ValueError(f"DataLoader: 'batch_size' must be a positive int or None (full batch); got {batch_size!r}")
        for name, v in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(v, (bool, xp.bool_)):
                raise TypeError(f"DataLoader: '{name}' must be a bool; got {v!r}")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"DataLoader: 'generator' must be a trainwise.Generator or None; got {type(generator).__name__}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: 'transform' must be callable as transform(x, generator); got {transform!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: 'dataset' is empty (0 samples); there is nothing to iterate")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator
        self.transform = transform
        self._fast = _resolve_arrays(dataset)
        self.epoch = 0  # epochs started
        self._batches_yielded = 0
        self._epoch_start_state = None
        self._epoch_gen = None
        self._resume = None

    # ------------------------------------------------------------------ sizes
    def _sizes(self):
        n = len(self.dataset)
        bs = n if self.batch_size is None else self.batch_size
        nb = n // bs if self.drop_last else -(-n // bs)
        return n, bs, nb

    def __len__(self) -> int:
        """Number of batches per epoch."""
        return self._sizes()[2]

    @property
    def num_samples(self) -> int:
        return len(self.dataset)

    # ------------------------------------------------------------------ iteration
    def _needs_rng(self) -> bool:
        return self.shuffle or self.transform is not None

    def __iter__(self):
        return self._iterate()

    def _iterate(self):
        n, bs, nb = self._sizes()
        resume, self._resume = self._resume, None
        if resume is not None:
            start_state = resume["epoch_start_state"]
            gen = None
            if start_state is not None:
                gen = self.generator if self.generator is not None else Generator()
                gen.set_state(start_state)
            skip = resume["batches_yielded"]
        else:
            skip = 0
            gen = start_state = None
            if self._needs_rng():
                gen = self.generator if self.generator is not None else Generator(get_generator(None).spawn_seed())
                start_state = gen.get_state()
            self.epoch += 1
        order = gen.permutation(n) if self.shuffle else None
        if resume is not None and gen is not None:
            gen.set_state(resume["generator_state"])  # past the draws of the batches already yielded
        self._epoch_gen, self._epoch_start_state, self._batches_yielded = gen, start_state, skip

        fast, transform = self._fast, self.transform
        for b in range(skip, nb):
            start, stop = b * bs, min(b * bs + bs, n)
            if fast is not None:
                arrays, base = fast
                if order is None and base is None:
                    batch = tuple(a[start:stop] for a in arrays)
                    for a in batch:  # views of the user's data: make writes fail loudly
                        a.flags.writeable = False
                else:
                    idx = order[start:stop] if order is not None else base[start:stop]
                    if order is not None and base is not None:
                        idx = base[idx]
                    batch = tuple(a[idx] for a in arrays)
            else:
                idx = order[start:stop] if order is not None else range(start, stop)
                batch = _collate([self.dataset[int(i)] for i in idx])
            if transform is not None:
                batch = (transform(batch[0], gen),) + batch[1:]
            self._batches_yielded = b + 1
            yield tuple(Tensor(a) for a in batch)

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict:
        """JSON-serializable state for exact resume (see the class docstring)."""
        if self._resume is not None:  # loaded and not iterated yet: still the loaded state
            return dict(self._resume)
        n, bs, nb = self._sizes()
        mid_epoch = 0 < self._batches_yielded < nb
        if mid_epoch and self._epoch_gen is not None:
            gen_state = self._epoch_gen.get_state()
        elif self.generator is not None:
            gen_state = self.generator.get_state()
        else:
            gen_state = None
        return {
            "epoch": self.epoch,
            "batches_yielded": self._batches_yielded,
            "num_batches": nb,
            "num_samples": n,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "epoch_start_state": self._epoch_start_state if mid_epoch else None,
            "generator_state": gen_state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``: the next iteration yields the rest of the saved epoch."""
        if not isinstance(state, dict) or any(k not in state for k in _STATE_KEYS):
            missing = [k for k in _STATE_KEYS if not isinstance(state, dict) or k not in state]
            raise ValueError(f"DataLoader.load_state_dict: 'state' is not a DataLoader state; missing keys {missing}")
        n, bs, nb = self._sizes()
        for key, mine in (("num_samples", n), ("batch_size", self.batch_size), ("shuffle", self.shuffle),
                          ("drop_last", self.drop_last)):
            if state[key] != mine:
                raise ValueError(f"DataLoader.load_state_dict: the state was saved with {key}={state[key]!r} but this "
                                 f"loader has {key}={mine!r}; batches would not line up")
        k = int(state["batches_yielded"])
        mid_epoch = 0 < k < nb
        if mid_epoch and self._needs_rng() and state["epoch_start_state"] is None:
            raise ValueError("DataLoader.load_state_dict: this loader draws random numbers (shuffle or transform) but "
                             "the state was saved by a loader that drew none; cannot resume its epoch exactly")
        self.epoch = int(state["epoch"])
        self._batches_yielded = k
        self._epoch_gen = None
        self._epoch_start_state = state["epoch_start_state"] if mid_epoch else None
        if self.generator is not None and state["generator_state"] is not None:
            self.generator.set_state(state["generator_state"])
        self._resume = dict(state) if mid_epoch else None

    def __repr__(self):
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, {len(self)} batches)")
