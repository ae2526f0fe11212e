"""Driving a core through whole sequences: the host's side of the step interface."""

from __future__ import annotations

import numpy as np

__all__ = ["run_sequence"]


def run_sequence(core, x, target=None, has_target=None, learn=True):
    """Run ``x [B, T, n_in]`` (or ``[T, n_in]``, shared by the batch) through ``core``.

    Step ``0`` carries ``sos``, step ``T-1`` carries ``eos`` (closing a partial
    window). ``target [B, T, n_out]`` or ``[T, n_out]``, ``has_target [B, T]`` or
    ``[T]``. ``core`` is anything with ``cfg``, ``batch`` and the ``step`` of
    :class:`~fptt.golden.fixed_core.FixedCore`. Returns readouts ``[B, T, n_out]``.
    """
    cfg, B = core.cfg, core.batch
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    T = x.shape[1]
    x = np.broadcast_to(x, (B, T, cfg.n_in))
    if target is not None:
        target = np.broadcast_to(np.asarray(target, dtype=np.float64), (B, T, cfg.n_out))
        has_target = np.broadcast_to(np.asarray(has_target, dtype=bool), (B, T))
    out = np.empty((B, T, cfg.n_out))
    for t in range(T):
        out[:, t] = core.step(x[:, t],
                              None if target is None else target[:, t],
                              None if target is None else has_target[:, t],
                              sos=(t == 0), eos=(t == T - 1), learn=learn)
    return out
