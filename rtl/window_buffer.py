"""The window buffer: what the backward pass needs of the last ``window_max`` steps.

Golden :class:`~fptt.golden.fixed_core.FixedState` arrays ``buf_x``, ``buf_s``,
``buf_psi``, ``buf_delta`` (``step`` writes them; ``close_window`` reads them).
At window position ``t = count`` a learning step writes::

    buf_x[t]     = x_t                 (all n_in inputs; one word per step)
    buf_s[t + 1] = s_t                 (all n_hidden spikes; one word per step)
    buf_s[0]     = s_{t-1}             only at t = 0: the spikes before the window
    buf_psi[t]   = ψ_t                 (n_hidden surrogate values, lane-organised)
    buf_delta[t] = δ_t                 (n_out errors; one word per step)

Entries beyond ``count`` keep whatever an earlier window wrote, exactly like
the golden arrays, so a full read-back compares bit for bit. ``x``, ``s`` and
``δ`` are stored one step per word (their scans and the readout-error
recursion want all of a step at once); ``ψ`` is read one neuron at a time by
the backward unit and is lane-organised like the neuron state (address
``t · G + j // P``, lane ``j % P``). All are :class:`amaranth.lib.memory.Memory`
with synchronous reads and per-element write enables (block RAM).

Memory depth grows with ``window_max · (n_in + n_hidden)``, never with the
sequence length.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned

from ..config import CoreConfig
from .memories import T_LANES, WORD, MemSpec, groups

__all__ = ["window_buffer_specs"]


def window_buffer_specs(cfg: CoreConfig) -> list[MemSpec]:
    """:class:`MemSpec` of ``buf_x``, ``buf_s``, ``buf_psi``, ``buf_delta`` (host regions 0x18-0x1B)."""
    f, L, P = cfg.formats, cfg.window_max, cfg.lanes
    G = groups(cfg.n_hidden, P)
    return [
        MemSpec("buf_x", 0x18, signed(f.x.width), cfg.n_in, L, L, cfg.n_in, WORD),
        MemSpec("buf_s", 0x19, unsigned(1), cfg.n_hidden, L + 1, L + 1, cfg.n_hidden, WORD),
        MemSpec("buf_psi", 0x1A, signed(f.psi.width), P, L * G, L, cfg.n_hidden, T_LANES, G),
        MemSpec("buf_delta", 0x1B, signed(f.delta.width), cfg.n_out, L, L, cfg.n_out, WORD),
    ]
