"""The record of a fit: one row of numbers per epoch."""
from __future__ import annotations

import json


class History:
    """Per-epoch metrics, Keras-style: ``history.history["val_loss"]`` is a list.

    ``rows`` holds one dict per epoch: ``epoch``, ``loss`` and each training
    metric (running averages over the epoch, in training mode, as Keras),
    ``val_loss`` and ``val_<metric>`` when validation data was given, ``lr``
    (the learning rate of the first parameter group at the epoch's end) and
    ``time`` (seconds).
    """

    def __init__(self, rows=None):
        self.rows: list[dict] = list(rows or [])

    def append(self, row: dict) -> None:
        self.rows.append(dict(row))

    @property
    def history(self) -> dict:
        keys = []
        for r in self.rows:
            for k in r:
                if k not in keys:
                    keys.append(k)
        return {k: [r.get(k) for r in self.rows] for k in keys}

    @property
    def epoch(self) -> list:
        return [r["epoch"] for r in self.rows]

    def __getitem__(self, key):
        return self.history[key]

    def __len__(self):
        return len(self.rows)

    def best(self, monitor: str = "val_loss", mode: str = "auto"):
        """The row with the best ``monitor`` value (min for losses, max for accuracies)."""
        rows = [r for r in self.rows if r.get(monitor) is not None]
        if not rows:
            return None
        maximize = mode == "max" or (mode == "auto" and ("acc" in monitor))
        return (max if maximize else min)(rows, key=lambda r: r[monitor])

    def to_dict(self) -> dict:
        return {"rows": self.rows}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(d.get("rows", []))

    def to_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)

    def __repr__(self):
        return f"History({len(self.rows)} epochs, keys={list(self.history)})"
