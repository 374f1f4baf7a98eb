"""Checkpoints: one safetensors file holding arrays, with the rest as JSON metadata.

No pickle anywhere: arrays (weights, optimizer moments, early stopping's best
weights) are safetensors tensors; everything else (hyper-parameters, step
counters, RNG states, the history, callbacks' state) is JSON stored in the
file's metadata under ``"trainwise"``. Each array's CRC32 is recorded too, so
a corrupt file is caught on load, not three epochs later. Files are written to
a temporary name and renamed, so a run killed while saving leaves the previous
checkpoint intact.
"""
from __future__ import annotations

import json
import os
import zlib

import numpy as np

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt, or not a trainwise checkpoint."""


def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> ndarray) and ``meta`` (JSON-able) to ``path`` atomically."""
    from safetensors.numpy import save_file

    path = os.fspath(path)
    clean = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    crc = {k: zlib.crc32(v.tobytes()) for k, v in clean.items()}
    body = {"version": FORMAT_VERSION, "crc32": crc, "meta": meta}
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    save_file(clean, tmp, metadata={"trainwise": json.dumps(body)})
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path) -> tuple[dict, dict]:
    """Read a checkpoint; returns ``(arrays, meta)`` or raises ``CheckpointError`` saying what is wrong."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for bad headers and short files
        size = os.path.getsize(path)
        raise CheckpointError(
            f"checkpoint {path!r} ({size} bytes) is truncated or not a safetensors file: {e}"
        ) from None
    if "trainwise" not in metadata:
        raise CheckpointError(f"checkpoint {path!r} is a safetensors file but not a trainwise checkpoint "
                              f"(no 'trainwise' metadata)")
    try:
        body = json.loads(metadata["trainwise"])
        version, crc, meta = body["version"], body["crc32"], body["meta"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path!r} has unreadable trainwise metadata: {e}") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {version}; this trainwise reads {FORMAT_VERSION}")
    missing = sorted(set(crc) - set(arrays))
    if missing:
        raise CheckpointError(f"checkpoint {path!r} lacks arrays {missing[:5]}")
    for k, v in arrays.items():
        if zlib.crc32(np.ascontiguousarray(v).tobytes()) != crc.get(k):
            raise CheckpointError(f"checkpoint {path!r} is corrupt: array {k!r} does not match its checksum")
    return arrays, meta


def save_weights(path, model) -> None:
    """Only the model's state dict, as a plain safetensors file (loadable by any safetensors reader)."""
    save_checkpoint(path, dict(model.state_dict()), {"kind": "weights"})


def load_weights(path, model, strict: bool = True):
    arrays, _ = load_checkpoint(path)
    return model.load_state_dict({k[len("model/"):] if k.startswith("model/") else k: v for k, v in arrays.items()
                                  if not k.startswith(("optim/", "cb/"))}, strict=strict)


def split_arrays(obj, prefix: str, arrays: dict):
    """Replace every ndarray inside nested dicts/lists by a reference, collecting arrays.

    Dicts with non-string keys (an optimizer's state is keyed by parameter
    index) are stored as item lists so JSON keeps the key types.
    """
    if isinstance(obj, np.ndarray):
        arrays[prefix] = obj
        return {"__array__": prefix}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: split_arrays(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
        return {"__items__": [[k, split_arrays(v, f"{prefix}/{k}", arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [split_arrays(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    return obj


def join_arrays(obj, arrays: dict):
    """Inverse of ``split_arrays``."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__items__"}:
            return {k: join_arrays(v, arrays) for k, v in obj["__items__"]}
        return {k: join_arrays(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_arrays(v, arrays) for v in obj]
    return obj
