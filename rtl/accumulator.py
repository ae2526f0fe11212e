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

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .fixed import CombPart

__all__ = ["EventScanner", "lowest_set", "popcount", "event_stage"]


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


def _column(idx, groups: int, g):
    """``idx·groups + g`` for ``0 <= g < groups``: a concatenation when ``groups`` is a power
    of two (no adder on the scanner's address path)."""
    if groups & (groups - 1) == 0:
        return Cat(g[:ceil_log2(groups)], idx)
    return idx * groups + g


def event_stage(dp) -> None:
    """The event-driven read-modify-write of the core's shared synaptic datapath.

    The :class:`EventScanner` walks the set bits of a mask (non-zero inputs,
    spikes), ``groups`` words per event, and this stage turns each word into
    one read-modify-write one cycle later (``dp.scan_kind`` picks the sum):
    ``acc += W_in·x`` (``ACC_X``), ``acc += W_rec·s`` and ``+= b`` (``ACC_S``),
    ``oacc += W_out·s`` and ``+= b_out`` (``RO_ACC``), ``G_in += ī_{t+1}·x_{t+1}``
    (during ``BW_J``). One multiplier per lane serves ``w·x``, ``ī·x`` and the
    update's ``ī_0·x_0`` (:func:`fptt.rtl.regulariser.update_stage`).
    ``touched``/``otouched`` say whether a word already holds a partial sum of
    this step. Exports ``scan_run``, ``scan_kind`` and ``K_*`` (driven by the
    controller), ``ev_x``, ``ev_kind``, ``x_index``, ``xsel``, ``mprod``.
    """
    m, cfg, f, P, G, Go, n_in, n_h = dp.m, dp.cfg, dp.f, dp.P, dp.G, dp.Go, dp.n_in, dp.n_h
    rd, wr, BIAS = dp.rd, dp.wr, dp.BIAS
    # one generic read-modify-write stage fed by the event scanner
    ev_valid = Signal()
    ev_kind = Signal(3)      # 0 w_in->acc, 1 w_rec->acc, 2 w_out->oacc, 3 ī x->grad_in
    ev_g = Signal(range(max(G, Go, 2)))
    ev_addr = Signal(range(max(n_in, n_h) * max(G, Go) + 1))
    ev_x = Signal(signed(f.x.width))
    K_WIN, K_WREC, K_WOUT, K_GIN = range(4)
    scan_kind = Signal(3)
    scan_run = Signal()
    m.d.sync += ev_valid.eq(0)

    m.d.comb += dp.scan.groups.eq(Mux(scan_kind == K_WOUT, Go, G))
    # one multiplexer picks x_i for the event sweeps and x_0,col for the update
    xsel = Signal(signed(f.x.width))
    x_index = Signal(range(max(n_in, 2)))
    m.d.comb += [x_index.eq(dp.scan.idx), xsel.eq(dp.xr[x_index])]
    with m.If(scan_run & dp.scan.valid):
        m.d.comb += dp.scan.step.eq(1)
        col = Mux(scan_kind == K_WOUT, _column(dp.scan.idx, Go, dp.scan.g),
                  _column(dp.scan.idx, G, dp.scan.g))
        m.d.sync += [ev_valid.eq(1), ev_kind.eq(scan_kind), ev_g.eq(dp.scan.g), ev_addr.eq(col),
                     ev_x.eq(Mux((scan_kind == K_WIN) | (scan_kind == K_GIN), xsel, dp.xone))]
        with m.Switch(scan_kind):
            with m.Case(K_WIN):
                m.d.comb += [*dp.rdp(rd["w.w_in"], col), rd["acc"].addr.eq(dp.scan.g)]
            with m.Case(K_WREC):
                m.d.comb += rd["acc"].addr.eq(dp.scan.g)
                if BIAS:    # the always-active unit: b, the next column of the w memory
                    with m.If(dp.scan.idx == n_h):
                        m.d.comb += dp.rdp(rd["w.b"], dp.scan.g)
                    with m.Else():
                        m.d.comb += dp.rdp(rd["w.w_rec"], col)
                else:
                    m.d.comb += dp.rdp(rd["w.w_rec"], col)
            with m.Case(K_WOUT):
                m.d.comb += rd["oacc"].addr.eq(dp.scan.g)
                if BIAS:    # b_out, a column of W_out's memory
                    with m.If(dp.scan.idx == n_h):
                        m.d.comb += dp.rdp(rd["w.b_out"], dp.scan.g)
                    with m.Else():
                        m.d.comb += dp.rdp(rd["w.w_out"], col)
                else:
                    m.d.comb += rd["w.w_out"].addr.eq(col)
            with m.Case(K_GIN):
                # during BW_J(t): G_in += ī_{t+1} x_{t+1}ᵀ, ī_{t+1} in the bank BW_J reads
                m.d.comb += [rd["grad.w_in"].addr.eq(col),
                             dp.rd_i1.addr.eq(~dp.bank * G + dp.scan.g)]
    em = m.submodules.ev_math = CombPart()
    wword = Mux(ev_kind == K_WIN, rd["w.w_in"].data.as_value(), rd["w.w_rec"].data.as_value())
    wv = data.View(data.ArrayLayout(signed(f.w.width), P), wword)
    acc_new = [Signal(signed(cfg.acc_width), name=f"acc_new{p}") for p in range(P)]
    oacc_new = [Signal(rd["oacc"].data[0].shape(), name=f"oacc_new{p}") for p in range(P)]
    gin_new = [Signal(rd["grad.w_in"].data[0].shape(), name=f"gin_new{p}") for p in range(P)]
    # one multiplier per lane for w·x (ACC_X), ī·x (G_in sweep) and ī_0·x_0 (UPD):
    # the three never run in the same cycle (a DSP block each would need 3P)
    mul_b = Signal(signed(f.x.width))
    mul_a = [Signal(signed(max(f.w.width, f.ibar.width)), name=f"mul_a{p}") for p in range(P)]
    mprod = [Signal(signed(len(mul_a[p]) + len(mul_b)), name=f"mprod{p}") for p in range(P)]
    em.m.d.comb += mul_b.eq(ev_x)
    for p in range(P):
        em.m.d.comb += [
            mul_a[p].eq(Mux(ev_kind == K_GIN, dp.rd_i1.data[p], wv[p])),
            mprod[p].eq(mul_a[p] * mul_b),
            acc_new[p].eq(Mux(dp.touched, rd["acc"].data[p], 0)
                          + mprod[p]),
            oacc_new[p].eq(Mux(dp.otouched, rd["oacc"].data[p], 0)
                           + rd["w.w_out"].data[p]),
            gin_new[p].eq(rd["grad.w_in"].data[p] + mprod[p]),
        ]
    with m.If(ev_valid):
        with m.Switch(ev_kind):
            with m.Case(K_WIN, K_WREC):
                m.d.comb += [wr["acc"].addr.eq(ev_g), wr["acc"].en.eq(-1)]
                m.d.comb += [wr["acc"].data[p].eq(acc_new[p]) for p in range(P)]
                with m.If(ev_g == G - 1):
                    m.d.sync += dp.touched.eq(1)
            with m.Case(K_WOUT):
                m.d.comb += [wr["oacc"].addr.eq(ev_g), wr["oacc"].en.eq(-1)]
                m.d.comb += [wr["oacc"].data[p].eq(oacc_new[p]) for p in range(P)]
                with m.If(ev_g == Go - 1):
                    m.d.sync += dp.otouched.eq(1)
            with m.Case(K_GIN):
                m.d.comb += [wr["grad.w_in"].addr.eq(ev_addr), wr["grad.w_in"].en.eq(-1)]
                m.d.comb += [wr["grad.w_in"].data[p].eq(gin_new[p]) for p in range(P)]
    dp.K_GIN = K_GIN
    dp.K_WIN = K_WIN
    dp.K_WOUT = K_WOUT
    dp.K_WREC = K_WREC
    dp.ev_kind = ev_kind
    dp.ev_x = ev_x
    dp.mprod = mprod
    dp.scan_kind = scan_kind
    dp.scan_run = scan_run
    dp.x_index = x_index
    dp.xsel = xsel
