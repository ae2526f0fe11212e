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
``idx``     Out    lowest pending event (a register: see below)
``g``       Out    word of the event's column, ``0 .. G-1``
``last``    Out    ``g == G - 1``: stepping now retires the event
==========  =====  ==========================================================

Stepping on the last word clears the event's bit, so the next cycle already
presents the next event: consecutive events follow without a bubble. ``idx``
and ``valid`` are registers holding the priority encoder of the *next*
pending set, so the paths that start at them (weight addresses, the
multiplexer of ``x_i``) do not pass through the encoder's carry chain.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["EventScanner", "lowest_set", "popcount"]


def lowest_set(m: Module, vec, name: str, chunk: int = 8):
    """Index of the lowest set bit of ``vec`` (0 when none), combinational.

    ``vec`` is cut into chunks of ``chunk`` bits (a power of two): within a
    chunk the lowest set bit is isolated by ``v & -v`` (a short carry chain),
    and the lowest non-empty chunk is found the same way among the chunks'
    ``any`` bits, so the depth grows with ``log(len(vec))`` rather than with
    one carry chain over the whole vector.
    """
    n = len(vec)
    bits = max(1, (n - 1).bit_length())
    idx = Signal(bits, name=f"{name}_idx")
    if n <= chunk:
        onehot = Signal(n, name=f"{name}_onehot")
        m.d.comb += onehot.eq(vec & (~vec + 1)[:n])
        for b in range(bits):
            sel = [onehot[i] for i in range(n) if (i >> b) & 1]
            m.d.comb += idx[b].eq(Cat(*sel).any() if sel else 0)
        return idx
    cb = chunk.bit_length() - 1
    parts = [vec[i:i + chunk] for i in range(0, n, chunk)]
    local = [lowest_set(m, p, f"{name}_c{k}", chunk) for k, p in enumerate(parts)]
    which = lowest_set(m, Cat(*[p.any() for p in parts]), f"{name}_chunk", chunk)
    m.d.comb += idx.eq(Cat(Array([Cat(lo, Const(0, cb - len(lo))) for lo in local])[which],
                           which))
    return idx


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
        # invariant: idx = lowest set bit of pending, valid = pending != 0, registered from
        # the value pending takes at the same edge; the encoder's input depends on `load`
        # only, and whether an event retires merely enables its registers (one enable
        # condition of its own: folded into the If/Elif below, Yosys maps ~50 more LUT4)
        retire = Cat(*[self.idx == i for i in range(self.n)])
        enc_in = Signal(self.n)
        m.d.comb += [
            enc_in.eq(Mux(self.load, self.mask, pending & ~retire)),
            self.last.eq(self.g == self.groups - 1),
        ]
        idx_next = lowest_set(m, enc_in, "ev")
        with m.If(self.load):
            m.d.sync += self.g.eq(0)
        with m.Elif(self.step & self.valid):
            with m.If(self.last):
                m.d.sync += self.g.eq(0)
            with m.Else():
                m.d.sync += self.g.eq(self.g + 1)
        with m.If(self.load | (self.step & self.valid & self.last)):
            m.d.sync += [pending.eq(enc_in), self.idx.eq(idx_next), self.valid.eq(enc_in.any())]
        return m
