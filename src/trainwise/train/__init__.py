"""The training loop, callbacks, metrics, history, checkpoints and the run store."""
from .callbacks import (  # noqa: F401
    Callback, CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, LearningRateScheduler, ModelCheckpoint,
    ProgressBar, TerminateOnNaN,
)
from .checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint, save_weights  # noqa: F401
from .history import History  # noqa: F401
from .metrics import accuracy, mae, mse  # noqa: F401
from .store import RunStore  # noqa: F401
from .trainer import Trainer  # noqa: F401
