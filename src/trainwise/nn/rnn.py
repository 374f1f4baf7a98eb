"""Recurrent layers with PyTorch's names, shapes and numbers: RNN, GRU, LSTM and their cells.

The cell equations, the gate order and how backpropagation through time runs
are in ``trainwise.functional.recurrent``. The notes (seed 002) list the RNN
as the architecture for sequential data, and name gradient clipping as
especially important for it: the gradient that reaches step t is a product of
T - t Jacobians dh_{k+1}/dh_k, which grows or shrinks geometrically with the
distance. Clip the global norm (``trainwise.nn.utils.clip_grad_norm_(params,
1.0)``, the notes' 1.0-5.0) between ``backward()`` and ``optimizer.step()`` to
train them on long sequences.

Parameters (k = layer, ``_reverse`` for the backward direction), all drawn
from U[-1/√H, 1/√H] as PyTorch does:

=================  ===============================  ========================
name               shape                            holds
=================  ===============================  ========================
weight_ih_l{k}     (G·H, I) for k = 0,              W_ih of every gate,
                   (G·H, D·H) for k > 0             stacked in gate order
weight_hh_l{k}     (G·H, H)                         W_hh, stacked
bias_ih_l{k}       (G·H,)                           b_ih
bias_hh_l{k}       (G·H,)                           b_hh
=================  ===============================  ========================

with G = 1 (RNN), 3 (GRU: r, z, n), 4 (LSTM: i, f, g, o) and D = 2 if
bidirectional else 1, so a state dict moves to and from ``torch.nn.GRU`` etc.
"""
from __future__ import annotations

import math
import warnings

from ..backend import get_default_dtype, get_generator, xp
from ..functional.dropout import dropout
from ..functional.recurrent import GATES, gru_cell, gru_layer, lstm_cell, recurrent_layer, rnn_cell
from ..tensor import Tensor, concatenate, stack
from .linear import check_size
from .module import Module, Parameter

__all__ = ["RNNBase", "RNN", "GRU", "LSTM", "RNNCellBase", "RNNCell", "GRUCell", "LSTMCell"]


def _uniform_params(module, H, generator):
    bound = 1.0 / math.sqrt(H)
    gen = get_generator(generator)
    for p in module.parameters():
        p.data[...] = gen.uniform(-bound, bound, p.data.shape)


def _as_input(x, name):
    if isinstance(x, Tensor):
        return x
    arr = xp.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: 'input' must be a floating tensor; got dtype {arr.dtype}")
    return Tensor(arr)


class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrent layer shared by RNN, GRU and LSTM."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, generator=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = check_size("input_size", input_size, name)
        self.hidden_size = check_size("hidden_size", hidden_size, name)
        self.num_layers = check_size("num_layers", num_layers, name)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"{name}: 'dropout' must be a number in [0, 1); got {dropout!r}")
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between stacked layers only, "
                          "so with num_layers=1 it does nothing", UserWarning, stacklevel=3)
        self.mode = mode
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.generator = generator
        D = 2 if bidirectional else 1
        G, H = GATES[mode], self.hidden_size
        dt = dtype or get_default_dtype()
        for k in range(self.num_layers):
            I = self.input_size if k == 0 else D * H
            for sfx in ("", "_reverse")[:D]:
                setattr(self, f"weight_ih_l{k}{sfx}", Parameter(xp.empty((G * H, I), dtype=dt)))
                setattr(self, f"weight_hh_l{k}{sfx}", Parameter(xp.empty((G * H, H), dtype=dt)))
                if self.bias:
                    setattr(self, f"bias_ih_l{k}{sfx}", Parameter(xp.empty(G * H, dtype=dt)))
                    setattr(self, f"bias_hh_l{k}{sfx}", Parameter(xp.empty(G * H, dtype=dt)))
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        """Every weight and bias ~ U[-1/√H, 1/√H] (PyTorch's default for recurrent layers)."""
        _uniform_params(self, self.hidden_size, generator)

    def flatten_parameters(self) -> None:
        """Does nothing; kept so code written for PyTorch runs unchanged."""

    def _layer_params(self, k, sfx):
        return (getattr(self, f"weight_ih_l{k}{sfx}"), getattr(self, f"weight_hh_l{k}{sfx}"),
                getattr(self, f"bias_ih_l{k}{sfx}", None), getattr(self, f"bias_hh_l{k}{sfx}", None))

    def _check_state(self, h, shape, what):
        name = type(self).__name__
        if not isinstance(h, Tensor):
            h = Tensor(xp.asarray(h))
        if h.shape != shape:
            raise ValueError(f"{name}: '{what}' must have shape (num_layers*num_directions, N, hidden_size) "
                             f"= {shape}; got shape {h.shape}")
        return h

    def forward(self, input, hx=None):
        """Run the layer over a sequence.

        input: (T, N, input_size), or (N, T, input_size) with ``batch_first``,
        or unbatched (T, input_size). hx: the initial state h_0 of shape
        (num_layers·D, N, H) (unbatched: (num_layers·D, H)), zeros if None; for
        the LSTM a tuple (h_0, c_0). Returns ``(output, h_n)`` (LSTM:
        ``(output, (h_n, c_n))``) with output (T, N, D·H) holding the last
        layer's hidden state at every step (both directions concatenated).
        """
        name = type(self).__name__
        x = _as_input(input, name)
        lstm = self.mode == "lstm"
        if x.ndim not in (2, 3):
            layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
            raise ValueError(f"{name}: 'input' must be 3-D {layout} or 2-D (T, input_size); got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: 'input' last axis must be input_size={self.input_size}; got shape {x.shape}")
        batched = x.ndim == 3
        given_shape = x.shape
        if not batched:
            x = x.reshape((x.shape[0], 1, x.shape[1]))
        elif self.batch_first:
            x = x.transpose((1, 0, 2))
        T, N = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{name}: 'input' must hold at least one time step; got shape {given_shape}")
        D, L, H = (2 if self.bidirectional else 1), self.num_layers, self.hidden_size
        sshape = (L * D, N, H) if batched else (L * D, H)
        if lstm:
            if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise ValueError(f"{name}: 'hx' must be a tuple (h_0, c_0); got {type(hx).__name__}")
            h0 = None if hx is None else self._check_state(hx[0], sshape, "h_0")
            c0 = None if hx is None else self._check_state(hx[1], sshape, "c_0")
        else:
            h0 = None if hx is None else self._check_state(hx, sshape, "hx")
            c0 = None
        if h0 is not None and not batched:
            h0 = h0.reshape((L * D, 1, H))
            c0 = None if c0 is None else c0.reshape((L * D, 1, H))
        zeros = Tensor(xp.zeros((N, 2 * H if lstm else H), dtype=x.dtype))
        mode = self.mode
        finals = []
        layer_in = x
        sfxs = ("", "_reverse")[:D]
        for k in range(L):
            if mode == "gru":
                # the whole layer, both directions in one loop, as one graph node (see ``gru_layer``)
                s0 = [zeros if h0 is None else h0[k * D + d] for d in range(D)]
                layer_in, lasts = gru_layer(layer_in, s0, [self._layer_params(k, sfx) for sfx in sfxs],
                                            [False, True][:D])
                finals.extend(lasts)
            else:
                outs = []
                for d, sfx in enumerate(sfxs):
                    w_ih, w_hh, b_ih, b_hh = self._layer_params(k, sfx)
                    idx = k * D + d
                    if h0 is None:
                        s0 = zeros
                    elif lstm:
                        s0 = concatenate([h0[idx], c0[idx]], axis=-1)
                    else:
                        s0 = h0[idx]
                    out, last = recurrent_layer(mode, layer_in, s0, w_ih, w_hh, b_ih, b_hh, reverse=d == 1)
                    outs.append(out)
                    finals.append(last)
                layer_in = outs[0] if D == 1 else concatenate(outs, axis=-1)
            if self.dropout > 0 and self.training and k < L - 1:
                layer_in = dropout(layer_in, self.dropout, True, self.generator)
        output = layer_in
        if lstm:
            h_n = stack([f[:, :H] for f in finals])
            c_n = stack([f[:, H:] for f in finals])
        else:
            h_n = stack(finals)
        if not batched:
            output = output.reshape((T, D * H))
            h_n = h_n.reshape((L * D, H))
            c_n = c_n.reshape((L * D, H)) if lstm else None
        elif self.batch_first:
            output = output.transpose((1, 0, 2))
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu), stacked and optionally bidirectional.

    Arguments as ``torch.nn.RNN``: input_size, hidden_size, num_layers=1,
    nonlinearity="tanh" | "relu", bias=True, batch_first=False, dropout=0.0
    (between layers, not after the last; drawn from ``generator``),
    bidirectional=False; plus dtype and generator (init and dropout).
    The plain RNN is the one whose gradients explode or vanish over long
    sequences (seed 002): train it with ``clip_grad_norm_``.
    Example: ``out, h_n = RNN(8, 16, num_layers=2)(x)`` with x of shape (T, N, 8).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, generator=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: 'nonlinearity' must be 'tanh' or 'relu'; got {nonlinearity!r}")
        self.__dict__["nonlinearity"] = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, generator)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014), as ``torch.nn.GRU``: gates r, z, n with
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) and h' = (1 - z) ⊙ n + z ⊙ h.

    Arguments as ``RNN`` without ``nonlinearity``.
    Example: ``out, h_n = GRU(8, 16, batch_first=True)(x)`` with x of shape (N, T, 8).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, generator=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, generator)


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), as ``torch.nn.LSTM``: gates i, f, g, o,
    c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').

    ``forward(input, (h_0, c_0))`` returns ``(output, (h_n, c_n))``.
    Example: ``out, (h_n, c_n) = LSTM(8, 16, bidirectional=True)(x)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, generator=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, generator)


# ---------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """One step of a recurrent cell; parameters ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H),
    ``bias_ih``, ``bias_hh`` (G·H,), all ~ U[-1/√H, 1/√H] as PyTorch."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None, generator=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = check_size("input_size", input_size, name)
        self.hidden_size = check_size("hidden_size", hidden_size, name)
        self.bias = bool(bias)
        G, H = self._gates, self.hidden_size
        dt = dtype or get_default_dtype()
        self.weight_ih = Parameter(xp.empty((G * H, self.input_size), dtype=dt))
        self.weight_hh = Parameter(xp.empty((G * H, H), dtype=dt))
        self.bias_ih = Parameter(xp.empty(G * H, dtype=dt)) if bias else None
        self.bias_hh = Parameter(xp.empty(G * H, dtype=dt)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        _uniform_params(self, self.hidden_size, generator)

    def _prepare(self, input, hx):
        name = type(self).__name__
        x = _as_input(input, name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: 'input' must have shape (N, input_size={self.input_size}) or "
                             f"(input_size,); got shape {x.shape}")
        batched = x.ndim == 2
        if not batched:
            x = x.reshape((1, self.input_size))
        N, H = x.shape[0], self.hidden_size

        def state(h, what):
            if h is None:
                return Tensor(xp.zeros((N, H), dtype=x.dtype))
            h = h if isinstance(h, Tensor) else Tensor(xp.asarray(h))
            want = (N, H) if batched else (H,)
            if h.shape != want:
                raise ValueError(f"{name}: '{what}' must have shape {want}; got shape {h.shape}")
            return h if batched else h.reshape((1, H))

        return x, batched, state

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), one step, as ``torch.nn.RNNCell``.

    Example: ``h = RNNCell(8, 16)(x, h)`` with x (N, 8), h (N, 16).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype=None, generator=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: 'nonlinearity' must be 'tanh' or 'relu'; got {nonlinearity!r}")
        self.__dict__["nonlinearity"] = nonlinearity
        super().__init__(input_size, hidden_size, bias, dtype, generator)

    def forward(self, input, hx=None):
        x, batched, state = self._prepare(input, hx)
        h = rnn_cell(x, state(hx, "hx"), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                     self.nonlinearity)
        return h if batched else h.reshape((self.hidden_size,))


class GRUCell(RNNCellBase):
    """One GRU step, as ``torch.nn.GRUCell`` (gates r, z, n). Example: ``h = GRUCell(8, 16)(x, h)``."""

    _gates = 3

    def forward(self, input, hx=None):
        x, batched, state = self._prepare(input, hx)
        h = gru_cell(x, state(hx, "hx"), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.reshape((self.hidden_size,))


class LSTMCell(RNNCellBase):
    """One LSTM step, as ``torch.nn.LSTMCell`` (gates i, f, g, o); returns (h', c').

    Example: ``h, c = LSTMCell(8, 16)(x, (h, c))``.
    """

    _gates = 4

    def forward(self, input, hx=None):
        x, batched, state = self._prepare(input, hx)
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError(f"LSTMCell: 'hx' must be a tuple (h, c); got {type(hx).__name__}")
        h0, c0 = (None, None) if hx is None else hx
        h, c = lstm_cell(x, state(h0, "h"), state(c0, "c"), self.weight_ih, self.weight_hh,
                         self.bias_ih, self.bias_hh)
        if not batched:
            h, c = h.reshape((self.hidden_size,)), c.reshape((self.hidden_size,))
        return h, c
