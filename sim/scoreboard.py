"""Scoreboard: the golden model stepped alongside the RTL, compared bit for bit.

:class:`Scoreboard` holds a golden :class:`~fptt.golden.fixed_core.FixedState`
(batch 1). For every frame sent to the RTL, :meth:`Scoreboard.check_output`
steps the golden model (:func:`fptt.golden.fixed_core.step`) and compares the
RTL's output frame with it: ``o[k]``, ``spikes`` (hidden spikes this step),
``status`` (window closed, learn, sos, eos) and ``steps``. At a checkpoint,
:meth:`Scoreboard.check_state` compares every array read back over the host
port with :meth:`FixedState.arrays` (and the gradient SRAM with zero), and the
WINDOW register (key ``window``, as in a golden checkpoint file) with the
golden model's window ``L``, which :meth:`Scoreboard.set_window` changes when
the host writes WINDOW (a frame's ``"window"`` key does so just before it).

The first difference raises :class:`Mismatch`, whose message gives the step,
the quantity, the address (host address for memories, field for outputs),
expected and actual value, and where the waveform was written.
"""

from __future__ import annotations

import time

import numpy as np

from ..config import CoreConfig
from ..golden.fixed_core import FixedState, step
from ..rtl.host import REG_INDEX, STATUS_BITS, checkpoint_addresses

__all__ = ["Mismatch", "Scoreboard", "expected_status"]

#: Golden counters the hardware holds in 32 bits (compared modulo 2**32).
_COUNTERS = ("steps", "windows", "lfsr")


class Mismatch(AssertionError):
    """The RTL differs from the golden model (first difference only)."""

    def __init__(self, step_index: int, quantity: str, address: str, expected, actual,
                 waves: str | None):
        self.step = step_index
        self.quantity = quantity
        self.address = address
        self.expected = expected
        self.actual = actual
        self.waves = waves
        where = waves if waves else "none recorded (rerun with --waves)"
        super().__init__(
            f"RTL != golden at step {step_index}: {quantity} at {address}: expected {expected}, "
            f"actual {actual}; waveform: {where}")


def expected_status(learn: bool, sos: bool, eos: bool, closed: bool) -> int:
    return ((int(closed) << STATUS_BITS["closed"]) | (int(learn) << STATUS_BITS["learn"])
            | (int(sos) << STATUS_BITS["sos"]) | (int(eos) << STATUS_BITS["eos"]))


class Scoreboard:
    """Golden model in lockstep with the RTL (batch 1, integer codes).

    Parameters
    ----------
    cfg : CoreConfig
    state : FixedState
        Golden state the RTL was loaded with (batch 1); stepped in place.
    waves : str, optional
        Path of the waveform being written (for the mismatch message).
    """

    def __init__(self, cfg: CoreConfig, state: FixedState, waves: str | None = None):
        self.cfg = cfg
        self.state = state
        self.waves = waves
        self.steps = 0              # frames compared
        self.golden_seconds = 0.0   # wall time spent in the golden model
        self.checkpoints = 0
        self._draws: dict = {}
        self._addresses = checkpoint_addresses(cfg, scratch=True)
        self._addresses["window"] = np.array(REG_INDEX["WINDOW"], dtype=np.int64)

    def rewind(self, state: FixedState, window: int | None = None) -> None:
        """Continue from ``state`` (e.g. a checkpoint restored into the RTL) and, when
        given, the checkpoint's window ``L``."""
        self.state = state
        if window is not None:
            self.set_window(window)

    def set_window(self, window: int) -> None:
        """The host wrote WINDOW = ``window``: golden closes windows at ``L = window`` from now."""
        if window != self.cfg.window:
            self.cfg = self.cfg.replace(window=int(window))

    def golden_step(self, frame: dict) -> dict:
        """Step the golden model on ``frame``; return the output frame it expects."""
        if frame.get("window") is not None:
            self.set_window(frame["window"])
        cfg, st = self.cfg, self.state
        t0 = time.perf_counter()
        windows = int(st.windows[0])
        tgt = np.zeros(cfg.n_out, np.int64) if frame.get("target") is None \
            else np.asarray(frame["target"], np.int64)
        learn = bool(frame.get("learn", True))
        sos, eos = bool(frame.get("sos", False)), bool(frame.get("eos", False))
        o = step(cfg, st, np.asarray(frame["x"], np.int64)[None], tgt[None],
                 np.array([bool(frame.get("has_target", False))]),
                 sos=sos, eos=eos, learn=learn, draws_cache=self._draws)
        closed = int(st.windows[0]) > windows
        exp = {"o": [int(v) for v in o[0]], "spikes": int(st.s[0].sum()),
               "status": expected_status(learn, sos, eos, closed),
               "steps": int(st.steps[0]) & 0xFFFF_FFFF}
        self.golden_seconds += time.perf_counter() - t0
        return exp

    def check_output(self, frame: dict, got: dict) -> dict:
        """Golden step on ``frame``, then compare the RTL's output beat ``got``."""
        exp = self.golden_step(frame)
        i = self.steps
        for k, (e, a) in enumerate(zip(exp["o"], got["o"])):
            if e != a:
                raise Mismatch(i, f"readout o[{k}]", f"o_frame.payload.o[{k}]", e, a, self.waves)
        for key in ("spikes", "status", "steps"):
            if exp[key] != got[key]:
                raise Mismatch(i, key, f"o_frame.payload.{key}", exp[key], got[key], self.waves)
        self.steps += 1
        return exp

    def check_state(self, arrays: dict) -> None:
        """Compare read-back ``arrays`` (host view, no batch axis) with the golden state."""
        golden = self.state.arrays()
        i = self.steps - 1
        for key, got in arrays.items():
            got = np.asarray(got, dtype=np.int64)
            if key.startswith("grad."):
                want = np.zeros_like(got)
                what = f"gradient SRAM {key} (zero between windows)"
            elif key == "window":
                want = np.asarray(self.cfg.window, dtype=np.int64)
                what = "WINDOW register (checkpoint 'window')"
            elif key in golden:
                want = np.asarray(golden[key])[0].astype(np.int64)
                what = key
            elif key.startswith(("sat_", "writes_")):
                want = np.zeros_like(got)     # golden has not counted this quantity yet
                what = key
            else:
                raise KeyError(f"read-back array {key!r} has no golden counterpart")
            if key in _COUNTERS or key.startswith(("sat_", "writes_")):
                want = want & 0xFFFF_FFFF     # 32-bit hardware counters wrap
            if want.shape != got.shape:
                raise Mismatch(i, f"shape of {key}", "-", want.shape, got.shape, self.waves)
            diff = np.argwhere(np.atleast_1d(want != got).reshape(np.shape(want) or (1,)))
            if len(diff):
                idx = tuple(int(v) for v in diff[0]) if want.ndim else ()
                addr = int(np.asarray(self._addresses[key])[idx]) if key in self._addresses \
                    else None
                where = f"{key}{list(idx)}" + (f" (host address 0x{addr:08X})"
                                               if addr is not None else "")
                raise Mismatch(i, what, where, int(want[idx]), int(got[idx]), self.waves)
        self.checkpoints += 1


def state_from_arrays(arrays: dict) -> FixedState:
    """A batch-1 golden state from checkpoint arrays with or without the batch axis."""
    sample = arrays["u"]
    if np.ndim(sample) == 1:
        arrays = {k: np.asarray(v)[None] for k, v in arrays.items()}
    return FixedState.from_arrays(arrays)
