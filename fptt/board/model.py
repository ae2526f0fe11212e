"""The core on a board in the golden model's host views, over a serial port.

:class:`BoardCore` is the host view of :class:`~fptt.golden.fixed_core.FixedCore`
(a batch of one): ``step``, ``run_sequence`` with learning on or off, the
weights, ``state`` (every memory as a golden ``FixedState``), the profile
counters, ``save``/``restore`` in FixedCore's checkpoint format (each reads the
other's). :class:`BoardLearner`, the learner of ``fptt train --model board``,
has the interface of the trainer's golden learners
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

__all__ = ["BoardCore", "BoardLearner", "open_board", "BOARD_KEYS_VOLATILE"]

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
    from ..rtl.core import check_learning_rule
    from .serial_link import DEFAULT_BAUD, Board, SerialLink, sim_timeouts
    check_learning_rule(cfg)    # the board's core has DESIGN section 4's rule only
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


class BoardCore:
    """The core on a board with the host view of :class:`~fptt.golden.fixed_core.FixedCore`
    (a batch of one): float inputs and readouts, sequences with learning on or off, the
    weights, every memory as the golden state, checkpoints in the golden format.

    Parameters
    ----------
    board
        A :class:`~fptt.board.serial_link.Board` (:func:`open_board`: identity checked).
    cfg
        Its configuration.
    weights
        Optional initial weights (as :class:`FixedCore` takes them): written with
        ``W̄ = W``, ``λ = 0``, the neurons at rest (:meth:`load_weights`).
    """

    batch = 1

    def __init__(self, board, cfg: CoreConfig, weights: dict | None = None):
        self.board, self.cfg = board, cfg
        if weights is not None:
            self.load_weights(weights)

    def load_weights(self, weights: dict) -> None:
        """A fresh network: WINDOW = ``cfg.window``, every memory of
        :func:`~fptt.golden.fixed_core.init_state` written (the gradient SRAM zeroed)."""
        from ..golden.fixed_core import init_state
        self.state = init_state(self.cfg, weights, batch=1)

    def step(self, x, target=None, has_target=None, *, sos=False, eos=False, learn=True):
        """One step; ``x`` is ``[n_in]`` or ``[1, n_in]`` floats. The readout ``[1, n_out]``."""
        x = np.asarray(x, np.float64).reshape(1, self.cfg.n_in)
        tgt = None if target is None else np.asarray(target, np.float64).reshape(1, -1)
        ht = np.ones(1, bool) if has_target is None else np.asarray(has_target, bool).reshape(1)
        frame = self._frames(x, tgt, ht, learn)[0]
        frame.update(sos=bool(sos), eos=bool(eos))
        return self._readouts(self.board.run([frame]))

    def run_sequence(self, x, target=None, has_target=None, learn=True):
        """A whole sequence (``sos`` first, ``eos`` last), as
        :func:`fptt.golden.sequence.run_sequence`; ``x`` is ``[T, n_in]`` or ``[1, T, n_in]``.
        Returns the readouts ``[1, T, n_out]``.

        Without ``target`` the core still computes the output error (``has_target``
        low) and counts it in ``writes_delta``, as ``FixedCore`` does given zero targets
        and ``has_target`` False; ``FixedCore`` given ``target=None`` skips it (that
        profile counter then differs, nothing else)."""
        x = np.asarray(x, np.float64).reshape(-1, self.cfg.n_in)
        if target is not None:
            target = np.asarray(target, np.float64).reshape(len(x), -1)
            has_target = np.ones(len(x), bool) if has_target is None else \
                np.asarray(has_target, bool).reshape(len(x))
        frames = self._frames(x, target, has_target, learn)
        return self._readouts(self.board.run(frames))[None]

    def _frames(self, x, target, has_target, learn):
        from types import SimpleNamespace

        from ..golden.fixed_core import check_inputs
        from .frames import sequence_frames
        check_inputs("x", x)                # NaN has no code: refused as FixedCore does
        if target is not None:
            check_inputs("target", target)
        seq = SimpleNamespace(x=x, target=target, has_target=has_target)
        return sequence_frames(self.cfg, seq, learn=learn, targets=target is not None)

    def _readouts(self, outputs) -> np.ndarray:
        return np.array([o["o"] for o in outputs], np.float64) * self.cfg.formats.o.lsb

    def read(self, keys=None) -> dict:
        """Checkpoint arrays read back (all, or those named by ``keys``:
        :func:`~fptt.board.driver.select_keys`), with the batch axis of one."""
        return {k: v[None] for k, v in self.board.read_checkpoint(keys=keys).items()}

    def write(self, arrays: dict, keys=None) -> None:
        """Write checkpoint arrays (batch axis of one), all or those named by ``keys``."""
        self.board.write_checkpoint({k: np.asarray(v)[0] for k, v in arrays.items()}, keys=keys)

    @property
    def state(self):
        """Every memory of the board as a :class:`~fptt.golden.fixed_core.FixedState`."""
        from ..golden.fixed_core import FixedState
        return FixedState.from_arrays(self.read())

    @state.setter
    def state(self, st) -> None:
        from ..rtl.host import REG_INDEX
        self.board.write(REG_INDEX["WINDOW"], [self.cfg.window])
        self.write(st.arrays())

    def weights(self, core: int = 0) -> dict[str, np.ndarray]:
        """Float weights (biases as ``[post, 1]`` columns), read from the board."""
        st = self.read(keys=[f"w.{m}" for m in self.cfg.params])
        return {m: st[f"w.{m}"][core] * self.cfg.formats.w.lsb for m in self.cfg.params}

    def reset_to_mean(self) -> None:
        """``W ← W̄`` as the golden model does it (``W̄`` read, rounded, ``W`` written)."""
        from ..golden.fixed_core import FixedState, reset_to_mean
        st = FixedState.from_arrays(self.read())
        reset_to_mean(self.cfg, st)
        self.write({f"w.{m}": st.w[m] for m in self.cfg.params},
                   keys=[f"w.{m}" for m in self.cfg.params])

    def counters(self) -> dict:
        """STEPS, WINDOWS, CYCLES, PERF_FWD, PERF_BWD, PERF_UPD (the profile counters)."""
        return self.board.read_counters()

    def save(self, path) -> None:
        """The checkpoint of :meth:`FixedCore.save <fptt.golden.fixed_core.FixedCore.save>`:
        every memory read back (``FixedCore.load`` reads it)."""
        from ..golden.fixed_core import checkpoint_arrays
        np.savez(path, **checkpoint_arrays(self.cfg, self.state))

    def restore(self, path) -> None:
        """Write a checkpoint of :meth:`save` or ``FixedCore.save`` into the board (validated;
        its configuration must be this one's, but for the window ``L``, which is set)."""
        from ..golden.fixed_core import CheckpointError, FixedState, read_checkpoint
        cfg, arrays = read_checkpoint(path)
        if cfg.replace(window=self.cfg.window) != self.cfg:
            raise CheckpointError(f"checkpoint {str(path)!r} is of another configuration "
                                  f"than the board's")
        self.cfg = cfg
        self.state = FixedState.from_arrays(arrays)


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
        if port is None:
            raise ValueError("the board model needs a serial port (fptt train --port, "
                             "train(..., board=PORT))")
        if len(weights) != 1:
            raise ValueError(f"the board model trains one core: seeds must be 1, "
                             f"not {len(weights)}")
        if settings.learn != "all":
            raise ValueError(f"learn={settings.learn!r} needs frozen parameters, which the "
                             f"core does not have: use the golden models fixed and twin")
        self.cfg, self.reset_to_mean = cfg, settings.reset_to_mean
        self.n_models = 1
        from .serial_link import Board
        board = port if isinstance(port, Board) else \
            open_board(port, cfg, baud=baud, timeout=timeout, quiet=quiet)
        self.core = BoardCore(board, cfg, weights[0])
        self._saved = None          # volatile state read before an evaluation

    # ------------------------------------------------------------------ training
    def units(self, orders) -> int:
        """Steps of one epoch (sequences)."""
        return len(orders[0])

    def train_epoch(self, orders, progress, start: int = 0, after=None) -> bool:
        """Train on ``orders[0]`` from sequence ``start``; ``after(done)`` may stop the epoch.
        Returns whether the epoch finished."""
        self._restore()
        seqs = orders[0]
        for i in progress(range(start, len(seqs))):
            seq = seqs[i]
            self.core.run_sequence(seq.x, seq.target, seq.has_target)
            if after is not None and after(i + 1) and i + 1 < len(seqs):
                return False
        if self.reset_to_mean:
            self.core.reset_to_mean()
        return True

    # ------------------------------------------------------------------ evaluation
    def predict(self, xs, model: int = 0) -> np.ndarray:
        """Readouts ``[N, T, n_out]`` (floats) of ``xs [N, T, n_in]``, learning off, each
        sequence from rest, on the board."""
        if model != 0:
            raise ValueError(f"the board holds one model; model {model} does not exist")
        if self._saved is None:
            self._saved = self.core.read(keys=BOARD_KEYS_VOLATILE)
        return np.concatenate([self.core.run_sequence(x, learn=False) for x in xs])

    def _restore(self) -> None:
        """Write back what the last evaluation changed (the board as before it)."""
        if self._saved is not None:
            self.core.write(self._saved, keys=BOARD_KEYS_VOLATILE)
            self._saved = None

    # ------------------------------------------------------------------ state
    def weights(self, model: int = 0) -> dict:
        """Float weights (biases as ``[post, 1]`` columns), read from the board."""
        self._restore()
        return self.core.weights(model)

    def state_arrays(self) -> dict:
        """Every memory of the board as the golden checkpoint arrays (a batch of one)."""
        self._restore()
        return self.core.state.arrays()

    def load_state_arrays(self, arrays: dict, source=None) -> None:
        """Write a checkpoint's arrays (validated against the configuration) into the board."""
        from ..golden.fixed_core import FixedState
        self._saved = None
        self.core.state = FixedState.from_arrays(arrays, self.cfg, source)
