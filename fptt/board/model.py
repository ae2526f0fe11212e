"""The core on a board as a learner of :func:`fptt.train.train` (``fptt train --model board``).

:class:`BoardLearner` has the interface of the trainer's golden learners
(``n_models``, ``units``, ``train_epoch``, ``predict``, ``weights``,
``state_arrays``, ``load_state_arrays``), and does everything on the board,
through :class:`~fptt.board.serial_link.Board` over a serial port:

- on opening: the core's ID, VERSION and size registers are checked against
  the configuration (a bitstream for another core is refused), the WINDOW
  register is set to ``cfg.window``, and the network of the initial weights
  (``W̄ = W``, ``λ = 0``, neurons at rest: :func:`fptt.golden.fixed_core.init_state`)
  is written into every memory;
- training: each sequence as frames (``sos`` first, ``eos`` last, targets as
  the trainer places them, learning on: :func:`fptt.board.frames.sequence_frames`);
- evaluation (``predict``): each sequence with learning off and no targets,
  its readouts back. The state that inference changes (neuron state, the step
  counter, the saturation counters) is read before the first evaluated
  sequence and written back before anything else is asked of the board, so the
  board's memories stay those of the golden model trained on the same data;
- ``state_arrays``/``load_state_arrays``: every memory read back / written, as
  the golden model's checkpoint arrays (a batch of one), which is what
  ``fptt train --checkpoint`` saves and ``--resume`` restores.

The same run on the golden model (``--model fixed``) and on a board (or on the
co-simulated board of ``fptt cosim --link uart --serve``) gives the same
metrics, bit for bit.
"""

from __future__ import annotations

import numpy as np

from ..config import CoreConfig

__all__ = ["BoardLearner", "open_board", "BOARD_KEYS_VOLATILE"]

#: Checkpoint arrays that running sequences with learning off changes.
BOARD_KEYS_VOLATILE = ("u", "a", "s", "o", "count", "steps", "sat_", "writes_")


def open_board(port, cfg: CoreConfig, *, baud: int | None = None, timeout: float | None = None,
               quiet: float | None = None):
    """A :class:`~fptt.board.serial_link.Board` on ``port`` (a device path, a pyserial URL
    or a :class:`~fptt.board.driver.ByteLink` whose methods block), identity checked.

    ``timeout``/``quiet`` (seconds) default to the driver's for a board, and to those
    of a simulated board, hundreds of times slower
    (:func:`~fptt.board.serial_link.sim_timeouts`), for a ``socket://`` URL or a pty
    (``/dev/pts/N``): what ``fptt cosim --link uart --serve`` serves. A real board
    behind such a port only waits longer before a retry.
    """
    from .serial_link import DEFAULT_BAUD, Board, SerialLink, sim_timeouts
    link = SerialLink(port, DEFAULT_BAUD if baud is None else baud) \
        if isinstance(port, str) else port
    kw = {}
    if isinstance(port, str) and port.startswith(("socket://", "/dev/pts/")):
        kw = sim_timeouts(cfg)
    if timeout is not None:
        kw["timeout"] = timeout
    if quiet is not None:
        kw["quiet"] = quiet
    board = Board(link, cfg, **kw)
    board.info()
    board.check_identity()
    return board


class BoardLearner:
    """One core on a board, trained and evaluated over the serial link.

    Parameters
    ----------
    cfg
        The configuration the board's core was built for.
    weights
        One dict of initial weights (one seed: a board holds one core).
    settings
        The :class:`~fptt.train.TrainSettings`; ``learn`` must be ``"all"``
        (the core has no frozen parameters); ``reset_to_mean`` is done by the
        host (``W̄`` read, rounded into ``W`` as the golden model does, written).
    port
        What :func:`open_board` takes (``baud``, ``timeout``, ``quiet`` as there), or
        a :class:`~fptt.board.serial_link.Board` it opened.
    """

    def __init__(self, cfg: CoreConfig, weights: list[dict], settings, port, *,
                 baud: int | None = None, timeout: float | None = None,
                 quiet: float | None = None):
        from ..golden.fixed_core import init_state
        if port is None:
            raise ValueError("the board model needs a serial port (fptt train --port, "
                             "train(..., board=PORT))")
        if len(weights) != 1:
            raise ValueError(f"the board model trains one core: seeds must be 1, "
                             f"not {len(weights)}")
        if settings.learn != "all":
            raise ValueError(f"learn={settings.learn!r} (the readout-only control) needs "
                             f"frozen parameters, which the core does not have: use the "
                             f"golden models fixed and twin")
        self.cfg, self.reset_to_mean = cfg, settings.reset_to_mean
        self.n_models = 1
        from .serial_link import Board
        self.board = port if isinstance(port, Board) else \
            open_board(port, cfg, baud=baud, timeout=timeout, quiet=quiet)
        from ..rtl.host import REG_INDEX
        self.board.write(REG_INDEX["WINDOW"], [cfg.window])
        state = init_state(cfg, weights[0], batch=1)
        self.board.write_checkpoint({k: v[0] for k, v in state.arrays().items()})
        self._saved = None          # volatile state read before an evaluation

    # ------------------------------------------------------------------ training
    def units(self, orders) -> int:
        """Steps of one epoch (sequences)."""
        return len(orders[0])

    def train_epoch(self, orders, progress, start: int = 0, after=None) -> bool:
        """Train on ``orders[0]`` from sequence ``start``; ``after(done)`` may stop the epoch.
        Returns whether the epoch finished."""
        from .frames import sequence_frames
        self._restore()
        seqs = orders[0]
        for i in progress(range(start, len(seqs))):
            self.board.run(sequence_frames(self.cfg, seqs[i]))
            if after is not None and after(i + 1) and i + 1 < len(seqs):
                return False
        if self.reset_to_mean:
            self._reset_to_mean()
        return True

    def _reset_to_mean(self) -> None:
        from ..golden.fixed_core import FixedState, reset_to_mean
        st = FixedState.from_arrays(self._read_state())
        reset_to_mean(self.cfg, st)
        self.board.write_checkpoint({f"w.{m}": st.w[m][0] for m in self.cfg.params},
                                    keys=[f"w.{m}" for m in self.cfg.params])

    # ------------------------------------------------------------------ evaluation
    def predict(self, xs, model: int = 0) -> np.ndarray:
        """Readouts ``[N, T, n_out]`` (floats) of ``xs [N, T, n_in]``, learning off, each
        sequence from rest, on the board."""
        from types import SimpleNamespace

        from .frames import sequence_frames
        if model != 0:
            raise ValueError(f"the board holds one model; model {model} does not exist")
        if self._saved is None:
            self._saved = self.board.read_checkpoint(keys=BOARD_KEYS_VOLATILE)
        xs = np.asarray(xs, np.float64)
        out = np.empty(xs.shape[:2] + (self.cfg.n_out,))
        for b, x in enumerate(xs):
            got = self.board.run(sequence_frames(self.cfg, SimpleNamespace(x=x), learn=False,
                                                 targets=False))
            out[b] = [o["o"] for o in got]
        return out * self.cfg.formats.o.lsb

    def _restore(self) -> None:
        """Write back what the last evaluation changed (the board as before it)."""
        if self._saved is not None:
            self.board.write_checkpoint(self._saved, keys=BOARD_KEYS_VOLATILE)
            self._saved = None

    # ------------------------------------------------------------------ state
    def _read_state(self, keys=None) -> dict:
        self._restore()
        return {k: v[None] for k, v in self.board.read_checkpoint(keys=keys).items()}

    def weights(self, model: int = 0) -> dict:
        """Float weights (biases as ``[post, 1]`` columns), read from the board."""
        lsb = self.cfg.formats.w.lsb
        st = self._read_state(keys=[f"w.{m}" for m in self.cfg.params])
        return {m: st[f"w.{m}"][0] * lsb for m in self.cfg.params}

    def state_arrays(self) -> dict:
        """Every memory of the board as the golden checkpoint arrays (a batch of one)."""
        from ..golden.fixed_core import FixedState
        return FixedState.from_arrays(self._read_state()).arrays()

    def load_state_arrays(self, arrays: dict, source=None) -> None:
        """Write a checkpoint's arrays (validated against the configuration) into the board."""
        from ..golden.fixed_core import FixedState
        self._saved = None
        st = FixedState.from_arrays(arrays, self.cfg, source)
        self.board.write_checkpoint({k: v[0] for k, v in st.arrays().items()})
