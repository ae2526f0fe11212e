"""The window buffer: what the backward pass needs of the last ``window_max`` steps.

Golden :class:`~fptt.golden.fixed_core.FixedState` arrays ``buf_x``, ``buf_s``,
``buf_psi``, ``buf_delta`` (``step`` writes them; ``close_window`` reads them).
At window position ``t = count`` a learning step writes::

    buf_x[t]     = x_t                 (n_in inputs, KX per word: GX words per step)
    buf_s[t + 1] = s_t                 (all n_hidden spikes; one word per step)
    buf_s[0]     = s_{t-1}             only at t = 0: the spikes before the window
    buf_psi[t]   = ψ_t                 (n_hidden surrogate values, lane-organised)
    buf_delta[t] = δ_t                 (n_out errors, lane-organised)

Entries beyond ``count`` keep whatever an earlier window wrote, exactly like
the golden arrays, so a full read-back compares bit for bit. ``s`` is stored
one step per word (the gradient masks want all spikes of a step at once).
``x`` is packed ``KX = 16 // width`` inputs per word (address ``t · GX + i //
KX``, element ``i % KX``, ``GX = ceil(n_in / KX)``): a whole step in one word
would be ``n_in · width`` bits wide and occupy that many 16-bit block RAMs for
a few hundred bits; the core writes and reloads it one word per cycle. ``ψ``
and ``δ`` are read one group at a time by the backward units and are
lane-organised like the neuron state (address ``t · G + j // P``, lane ``j %
P``). All are :class:`amaranth.lib.memory.Memory` with synchronous reads and
per-element write enables (block RAM).

Memory depth grows with ``window_max · (n_in + n_hidden)``, never with the
sequence length.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned

from ..config import CoreConfig
from .memories import BRAM_WORD_BITS, T_LANES, WORD, MemSpec, groups

__all__ = ["window_buffer_specs"]


def window_buffer_specs(cfg: CoreConfig) -> list[MemSpec]:
    """:class:`MemSpec` of ``buf_x``, ``buf_s``, ``buf_psi``, ``buf_delta`` (host regions 0x18-0x1B)."""
    f, L, P = cfg.formats, cfg.window_max, cfg.lanes
    G = groups(cfg.n_hidden, P)
    KX = max(1, BRAM_WORD_BITS // f.x.width)
    GX, Go = groups(cfg.n_in, KX), groups(cfg.n_out, P)
    return [
        MemSpec("buf_x", 0x18, signed(f.x.width), KX, L * GX, L, cfg.n_in, T_LANES, GX),
        MemSpec("buf_s", 0x19, unsigned(1), cfg.n_hidden, L + 1, L + 1, cfg.n_hidden, WORD),
        MemSpec("buf_psi", 0x1A, signed(f.psi.width), P, L * G, L, cfg.n_hidden, T_LANES, G),
        MemSpec("buf_delta", 0x1B, signed(f.delta.width), P, L * Go, L, cfg.n_out, T_LANES, Go),
    ]
