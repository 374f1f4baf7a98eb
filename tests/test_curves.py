import numpy as np
import pytest

import trainwise as tw
from trainwise import nn, optim
from trainwise.train import History, Trainer
from trainwise.train.curves import learning_curve_by_size, plot_learning_curve_by_size, plot_learning_curves


def _png(path):
    import matplotlib.image as mpimg

    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert img[..., :3].std() > 0.01          # not a blank canvas


def test_plot_learning_curves_against_epochs(tmp_path):
    h = History([{"epoch": e, "loss": 1 / (e + 1), "accuracy": e / 10, "val_loss": 1.2 / (e + 1) + 0.01 * e,
                  "val_accuracy": e / 12, "lr": 0.1 * 0.9**e, "time": 0.1} for e in range(10)])
    _png(plot_learning_curves(h, tmp_path / "c.png"))


def test_learning_curve_by_training_set_size_shows_the_gap_closing(tmp_path):
    """Seed 003: with more examples the train score falls and the validation score rises."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 3))

    def sample(n):
        X = rng.normal(size=(n, 10)).astype(np.float32)
        return X, (X @ w + 0.8 * rng.normal(size=(n, 3))).argmax(1).astype(np.int64)

    X, y = sample(600)
    Xv, yv = sample(400)

    def fit_and_score(Xs, ys, Xv, yv):
        tw.manual_seed(0)
        model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 3))
        tr = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), generator=tw.Generator(0))
        tr.fit((Xs, ys), epochs=30, batch_size=32)
        return tr.evaluate((Xs, ys))["accuracy"], tr.evaluate((Xv, yv))["accuracy"]

    curve = learning_curve_by_size(fit_and_score, X, y, Xv, yv, [20, 80, 600], generator=tw.Generator(1))
    assert list(curve["sizes"]) == [20, 80, 600]
    gaps = curve["train"] - curve["val"]
    assert gaps[0] > gaps[-1] + 0.1
    assert curve["val"][-1] > curve["val"][0]
    _png(plot_learning_curve_by_size(curve, tmp_path / "size.png"))
    with pytest.raises(ValueError, match="'sizes' must give 1..600 samples; got 601"):
        learning_curve_by_size(fit_and_score, X, y, Xv, yv, [601])
