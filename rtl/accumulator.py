"""Event-driven synaptic accumulation: zero inputs and silent neurons cost no cycles.

Golden :func:`fptt.golden.fixed_core.accumulate`::

    acc_j = Σ_i W_in[j,i] x_i + (Σ_k W_rec[j,k] s_k,t-1) · 2**f_x      exact, cfg.acc_fmt

The core (:mod:`fptt.rtl.core`) forms it column by column: for every **non-zero**
input ``x_i`` (ascending ``i``), then for every **spiking** neuron ``k`` of the
previous step, it reads the ``G = ceil(n_hidden / P)`` words of that
presynaptic column (``P`` synapses each) and adds ``w · x_i`` (or ``w · 2**f_x``)
into the accumulator word ``acc[g]`` (read-modify-write, one word per cycle;
the read port is transparent to the write port so that ``G = 1`` needs no
stall). A zero input or a silent neuron is skipped by the scanner below: the
accumulation costs ``(nnz(x_t) + nnz(s_t-1)) · G`` cycles, never more than the
dense ``(n_in + n_hidden) · G``. Accumulator words not yet written in this step
read as 0, so ``acc`` needs no clearing pass: every event sweeps all ``G`` words
in order, so a word holds a partial sum of this step exactly when the step's
first event has finished its sweep (one ``touched`` bit per accumulator).

The same scanner drives the other event-driven sweeps of the core: the
readout sum ``Σ_j W_out[k,j] s_j`` (over the spikes of this step), and during
the backward pass the gradient sums ``G_in += ī_{t+1} x_{t+1}ᵀ`` (over the
non-zero inputs of the buffered step, concurrently with the ``Wᵀ`` products
of step ``t``).

:class:`EventScanner` (``n`` events, at most ``G`` words per event)
------------------------------------------------------------
==========  =====  ==========================================================
port        dir    meaning
==========  =====  ==========================================================
``load``    In     load ``mask`` as the set of pending events
``mask``    In     ``n`` bits, one per event source
``step``    In     the consumer takes the current ``(idx, g)`` this cycle
``groups``  In     words per event of this sweep, ``1 .. G``
``valid``   Out    an event is pending (``idx``, ``g`` are meaningful)
``idx``     Out    lowest pending event (priority encoder, combinational)
``g``       Out    word of the event's column, ``0 .. G-1``
``last``    Out    ``g == G - 1``: stepping now retires the event
==========  =====  ==========================================================

Stepping on the last word clears the event's bit, so the next cycle already
presents the next event: consecutive events follow without a bubble.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["EventScanner", "lowest_set", "popcount"]


def lowest_set(m: Module, vec, name: str):
    """Index of the lowest set bit of ``vec`` (0 when none) and its one-hot, combinational."""
    n = len(vec)
    onehot = Signal(n, name=f"{name}_onehot")
    m.d.comb += onehot.eq(vec & (~vec + 1)[:n])
    bits = max(1, (n - 1).bit_length())
    idx = Signal(bits, name=f"{name}_idx")
    for b in range(bits):
        sel = [onehot[i] for i in range(n) if (i >> b) & 1]
        m.d.comb += idx[b].eq(Cat(*sel).any() if sel else 0)
    return idx, onehot


def popcount(vec):
    """Number of set bits of ``vec`` (an adder tree)."""
    terms = [vec[i] for i in range(len(vec))]
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        nxt = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    return terms[0]


class EventScanner(wiring.Component):
    """Walk the set bits of a mask, ``G`` cycles per set bit (see the module docstring)."""

    def __init__(self, n: int, groups: int):
        self.n = n
        self.max_groups = groups
        super().__init__({
            "load": In(1),
            "mask": In(n),
            "step": In(1),
            "groups": In(range(groups + 1)),
            "valid": Out(1),
            "idx": Out(range(max(n, 2))),
            "g": Out(range(max(groups, 2))),
            "last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pending = Signal(self.n)
        idx, onehot = lowest_set(m, pending, "ev")
        m.d.comb += [
            self.valid.eq(pending.any()),
            self.idx.eq(idx),
            self.last.eq(self.g == self.groups - 1),
        ]
        with m.If(self.load):
            m.d.sync += [pending.eq(self.mask), self.g.eq(0)]
        with m.Elif(self.step & self.valid):
            with m.If(self.last):
                m.d.sync += [pending.eq(pending & ~onehot), self.g.eq(0)]
            with m.Else():
                m.d.sync += self.g.eq(self.g + 1)
        return m
