"""Frames of a sequence: the host's view of each time step, as the core's input port takes it.

A frame is ``{"x": [n_in codes], "target": [n_out codes] or None, "has_target",
"sos", "eos", "learn"}`` (``docs/host_interface.md``), exactly the arguments
of golden :func:`fptt.golden.fixed_core.step`. A sequence gets ``sos`` on its
first step and ``eos`` on its last, as in :func:`fptt.golden.sequence.run_sequence`.
What the board driver sends (:mod:`fptt.board.model`) and what the
co-simulations drive (:mod:`fptt.sim.stimulus`).
"""

from __future__ import annotations

import numpy as np

from ..config import CoreConfig
from ..golden.fixedpoint import to_codes

__all__ = ["sequence_frames"]


def sequence_frames(cfg: CoreConfig, seq, learn: bool = True, targets: bool = True) -> list[dict]:
    """Frames of one :class:`~fptt.tasks.base.Sequence` (sos first, eos last)."""
    f = cfg.formats
    xq = to_codes(np.asarray(seq.x, dtype=np.float64), f.x)
    tq = None
    if targets:
        # a core with more readouts than the task has classes learns 0 on the rest
        tgt = np.zeros((xq.shape[0], cfg.n_out))
        k = min(cfg.n_out, seq.target.shape[1])
        tgt[:, :k] = np.asarray(seq.target, dtype=np.float64)[:, :k]
        tq = to_codes(tgt, f.o)
    T = xq.shape[0]
    return [dict(x=[int(v) for v in xq[t]],
                 target=None if tq is None else [int(v) for v in tq[t]],
                 has_target=bool(targets and seq.has_target[t]),
                 sos=t == 0, eos=t == T - 1, learn=bool(learn)) for t in range(T)]
