"""The FPTT learning core: top-level ``FpttCore(cfg)``.

Bit-exact with :func:`fptt.golden.fixed_core.step` (forward of every step,
``close_window`` at a window's end): every output frame and, between steps,
every memory and register read back over the host port equal the golden
:class:`~fptt.golden.fixed_core.FixedState`.

Ports (see :mod:`fptt.rtl.host` and ``docs/host_interface.md``)
----------------------------------------------------------------
``i_frame``  In(stream)   one input frame per time step (x, target, flags)
``o_frame``  Out(stream)  one output frame per time step (o, spike count, status)
``bus``      In(bus)      memory-mapped checkpoint port
``busy``     Out(1)       a step, backward pass, update or host access is running

Phases (controller, :mod:`fptt.rtl.controller`)
-----------------------------------------------
Per step, ``P`` lanes wide (``G = ceil(n_hidden/P)``, ``G_o = ceil(n_out/P)``):

1. ``ACC_X``/``ACC_S`` event-driven synaptic accumulation
   (:mod:`fptt.rtl.accumulator`): ``G`` cycles per non-zero input and per
   spike of the previous step.
2. ``NEU`` neuron update (:class:`~fptt.rtl.neuron.NeuronUnit` × P): ``G``
   cycles + latency; writes u, a, s and ψ (window buffer).
3. ``RO_ACC`` event-driven ``Σ_j W_out[k,j] s_j``: ``G_o`` cycles per spike.
4. ``RO`` readout and error (:class:`~fptt.rtl.readout.ReadoutUnit` × P):
   o, δ (window buffer); the output frame is emitted (``EMIT``).

At a window's end (``count = L`` or ``eos``), for ``t`` = last .. first:

5. ``BW_OB`` ``ō_t = δ_t + κ ō_{t+1}`` (:class:`~fptt.rtl.backward.BackwardReadoutUnit` × P).
6. ``BW_J`` for every hidden neuron ``j``: stream column ``j`` of ``W_out``
   (``G_o`` words) and of ``W_rec`` (``G`` words, not at the last step) in
   parallel, forming ``(W_outᵀō_t)_j`` and ``(W_recᵀī_{t+1})_j``; in the same
   cycles read-modify-write the gradient SRAM ``G_out[:,j] += ō_t s_t,j`` and
   ``G_rec[:,j] += ī_{t+1} s_t,j``; then the backward neuron unit gives
   ``ī_t, ū_t, ā_t`` of ``j``. ``max(G_o, G)`` cycles per neuron. Concurrently
   (second read port of the ī memory, another SRAM) the event scanner adds
   ``G_in += ī_{t+1} x_{t+1}ᵀ`` over the non-zero inputs of step ``t+1``.
7. ``UPD`` one sweep over every parameter in golden order (``cfg.params``;
   pre; post across lanes): read w, W̄, λ and the exact window sum, add the
   window's first-step terms ``ī_0 x_0ᵀ`` (w_in), ``ī_0 s_-1ᵀ`` (w_rec) and
   ``ī_0`` (b) on the fly, round the sum to ``formats.grad_<p>`` and apply the
   FPTT step with ``η_p`` (:class:`~fptt.rtl.regulariser.RegulariserUnit` × P,
   the sweep's parameter counter is its parameter code; draws from
   :class:`~fptt.rtl.lfsr.LaneLFSR` × P), write w, W̄, λ back and clear the
   sum. One word per two cycles when w, W̄ and λ are single-port SRAMs
   (``single_port_weights``, the iCE40 SPRAM: read in one cycle, written back
   in the next), else one word per cycle (dual-port block RAM).

Biases (``cfg.biases``) are the weights of an always-active presynaptic unit,
index ``n_hidden`` of the spike masks: ``ACC_S`` adds ``b`` (the next column of
the ``w`` memory) as a spike of weight ``x = 1.0``, ``RO_ACC`` adds ``b_out`` (a
column of W_out's memory), ``BW_J`` runs one more ``j`` for the unit (gradient
sums only: ``G_b += ī_{t+1}``, ``G_b_out += ō_t``; the backward neuron unit is
not fed, so ``s̄ = W_outᵀō + …`` has no bias term) and ``UPD`` sweeps ``b`` after
``w_rec`` and ``b_out`` after ``w_out``. No arithmetic is added for them.

The gradient is thus the exact window sum of the golden :func:`gradient`,
rounded once in the update.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Elaboratable, Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..config import CoreConfig
from .accumulator import EventScanner, popcount
from .controller import BACKWARD_STATES, FORWARD_STATES, UPDATE_STATES
from .backward import BackwardNeuronUnit, BackwardReadoutUnit, wt_ibar_width, wt_obar_width
from .fixed import delay
from .host import (DATA_WIDTH, ID_VALUE, REG, SAT_NAMES, HostBusSignature, HostPort,
                   divmod_const, frame_layout, host_targets, out_layout, register_specs)
from .lfsr import LaneLFSR
from .memories import CoreMemories, groups, memory_image, param_geometry
from .neuron import NeuronUnit
from .readout import ReadoutUnit
from .regulariser import RegulariserUnit, param_code_width, param_codes

__all__ = ["FpttCore"]


def _column(idx, groups: int, g):
    """``idx·groups + g`` for ``0 <= g < groups``: a concatenation when ``groups`` is a power
    of two (no adder on the scanner's address path)."""
    if groups & (groups - 1) == 0:
        return Cat(g[:ceil_log2(groups)], idx)
    return idx * groups + g


class _Comb(Elaboratable):
    """A submodule holding part of the core's combinational logic.

    Purely structural: the statements could live in the core's own module. Kept
    apart so that Amaranth's simulator re-evaluates each part only when its
    own inputs change (several times faster simulation of the whole core).
    """

    def __init__(self):
        self.m = Module()

    def elaborate(self, platform):
        return self.m


class FpttCore(wiring.Component):
    """The whole core for one :class:`~fptt.config.CoreConfig` (see the module docstring)."""

    def __init__(self, cfg: CoreConfig, init=None):
        """``init``: optional golden checkpoint (``FixedState`` of batch 1 or its ``arrays()``)
        giving the reset contents of the memories and of ``s``, ``count``, ``steps``,
        ``windows`` (the LFSRs always reset to their seeds); default: all zero."""
        self.cfg = cfg
        self.specs, self.targets = host_targets(cfg)
        self.specs_by_name = {s.name: s for s in self.specs}
        if init is not None and not isinstance(init, dict):
            init = init.arrays()
        self.init = init
        #: free-running cycle counter (register CYCLES), for simulation probes
        self.cycle_count = Signal(32, name="cycles")
        super().__init__({
            "i_frame": In(stream.Signature(frame_layout(cfg))),
            "o_frame": Out(stream.Signature(out_layout(cfg))),
            "bus": In(HostBusSignature()),
            "busy": Out(1),
        })

    # ------------------------------------------------------------------ elaborate
    def elaborate(self, platform):  # noqa: C901  (one controller, many phases)
        cfg, f = self.cfg, self.cfg.formats
        P, n_in, n_h, n_out, Lmax = cfg.lanes, cfg.n_in, cfg.n_hidden, cfg.n_out, cfg.window_max
        G, Go = groups(n_h, P), groups(n_out, P)
        geo = param_geometry(cfg)
        BIAS = cfg.biases           # b, b_out: the weights of an always-active unit
        m = Module()

        images, ini = {}, {}
        if self.init is not None:
            import numpy as np
            arrs = {k: np.asarray(v)[0] for k, v in self.init.items()}
            for spec in self.specs:
                if spec.checkpoint and spec.name in arrs:
                    images[spec.name] = memory_image(spec, arrs[spec.name])
            ini = {"s": sum(int(b) << j for j, b in enumerate(arrs["s"])),
                   "count": int(arrs["count"]), "steps": int(arrs["steps"]) & 0xFFFF_FFFF,
                   "windows": int(arrs["windows"]) & 0xFFFF_FFFF}
            for k, v in arrs.items():
                if k.startswith(("sat_", "writes_")):
                    ini[k] = int(v) & 0xFFFF_FFFF
        mems = m.submodules.mems = CoreMemories(self.specs, images)
        rd = {k: v[0] for k, v in mems.rd.items()}
        rd_i1 = mems.rd["bw_i"][1]          # ī for the G_in sweep and the update's t = 0 terms
        wr = mems.wr
        ADAPT = cfg.adaptive        # a LIF core has no a and ā memories

        def rdp(port, addr):
            """Read ``port`` at ``addr`` (the enable selects a memory sharing its SRAM)."""
            return [port.addr.eq(addr), port.en.eq(1)]

        host = m.submodules.host = HostPort(cfg, self.targets)
        wiring.connect(m, wiring.flipped(self.bus), host.bus)

        lfsr = [LaneLFSR(cfg, p) for p in range(P)]
        neu = [NeuronUnit(cfg) for _ in range(P)]
        rou = [ReadoutUnit(cfg) for _ in range(P)]
        bro = [BackwardReadoutUnit(cfg) for _ in range(P)]
        reg = [RegulariserUnit(cfg) for _ in range(P)]
        bne = m.submodules.bw_neuron = BackwardNeuronUnit(cfg)
        for p in range(P):
            m.submodules[f"lfsr{p}"] = lfsr[p]
            m.submodules[f"neuron{p}"] = neu[p]
            m.submodules[f"readout{p}"] = rou[p]
            m.submodules[f"bw_readout{p}"] = bro[p]
            m.submodules[f"regulariser{p}"] = reg[p]
        # with biases the spike masks carry one more, always-set bit: the unit at index n_h
        scan = m.submodules.scan = EventScanner(max(n_in, n_h + BIAS), max(G, Go))

        # ---------------------------------------------------------------- state
        frame = Signal(frame_layout(cfg))
        s_vec = Signal(n_h, init=ini.get("s", 0))   # s_{t-1} (golden st.s)
        s_new = Signal(G * P)               # s_t being formed
        n_spikes = Signal(range(n_h + 1))   # spikes of s_t so far
        count = Signal(range(Lmax + 1), init=ini.get("count", 0))
        steps = Signal(32, init=ini.get("steps", 0))
        windows = Signal(32, init=ini.get("windows", 0))
        cycles = self.cycle_count
        window_L = Signal(range(Lmax + 1), init=cfg.window)
        # every event sweeps all G (G_o) words in order, so a word already holds a partial
        # sum of this step exactly when the step's first event has finished its sweep:
        # one bit per accumulator instead of one per word
        touched = Signal()
        otouched = Signal()
        t_step = Signal(range(Lmax + 1))     # window position of the current step
        o_stage = Signal(data.ArrayLayout(signed(f.o.width), n_out))
        if cfg.profile_counters:
            m.d.sync += cycles.eq(cycles + 1)

        # backward state
        t_b = Signal(range(Lmax + 1))
        last_t = Signal()                   # t_b is the window's last step (nothing after it)
        bank = Signal()                     # bw_i bank receiving ī_t
        # s_t of the backward step (buf_s[t+1]) and s_-1 (buf_s[0], for the update's t = 0
        # terms) are read straight off the buf_s read port, its address held through the
        # phase that uses them (no 2 × n_hidden flip-flops copying a block RAM word)
        s_buf = rd["buf_s"].data.as_value()
        s_addr = Signal.like(rd["buf_s"].addr)
        m.d.comb += [rd["buf_s"].addr.eq(s_addr), s_addr.eq(t_b + 1)]   # 0: BW_LAST .. UPD
        # x_t of the step (forward), x_{t+1} (backward, loaded from buf_x one packed word of
        # KX inputs per cycle), then x_0 (update): one register and one multiplexer for all
        KX, GX = self.specs_by_name["buf_x"].elems, self.specs_by_name["buf_x"].groups
        xr_raw = Signal(GX * KX * f.x.width)
        xr = data.View(data.ArrayLayout(signed(f.x.width), n_in), xr_raw[:n_in * f.x.width])
        x_pad = Const(0, (GX * KX - n_in) * f.x.width)
        bx_k = Signal(range(GX + 1))
        XW = KX * f.x.width
        obar_reg = Signal(data.ArrayLayout(signed(f.obar.width), Go * P))

        x_nz = Cat(*[xr[i] != 0 for i in range(n_in)])
        xone = Const(1 << f.x.frac, signed(f.x.width))

        def lane_mask(n_valid_expr):
            return Cat(*[(n_valid_expr > p) for p in range(P)])

        # ------------------------------------------------------ ACC / RO_ACC / grad sweeps
        # one generic read-modify-write stage fed by the event scanner
        ev_valid = Signal()
        ev_kind = Signal(3)      # 0 w_in->acc, 1 w_rec->acc, 2 w_out->oacc, 3 ī x->grad_in, 4 ī->grad_rec
        ev_g = Signal(range(max(G, Go, 2)))
        ev_addr = Signal(range(max(n_in, n_h) * max(G, Go) + 1))
        ev_x = Signal(signed(f.x.width))
        K_WIN, K_WREC, K_WOUT, K_GIN = range(4)
        scan_kind = Signal(3)
        scan_run = Signal()
        m.d.sync += ev_valid.eq(0)

        m.d.comb += scan.groups.eq(Mux(scan_kind == K_WOUT, Go, G))
        # one multiplexer picks x_i for the event sweeps and x_0,col for the update
        xsel = Signal(signed(f.x.width))
        x_index = Signal(range(max(n_in, 2)))
        m.d.comb += [x_index.eq(scan.idx), xsel.eq(xr[x_index])]
        with m.If(scan_run & scan.valid):
            m.d.comb += scan.step.eq(1)
            col = Mux(scan_kind == K_WOUT, _column(scan.idx, Go, scan.g),
                      _column(scan.idx, G, scan.g))
            m.d.sync += [ev_valid.eq(1), ev_kind.eq(scan_kind), ev_g.eq(scan.g), ev_addr.eq(col),
                         ev_x.eq(Mux((scan_kind == K_WIN) | (scan_kind == K_GIN), xsel, xone))]
            with m.Switch(scan_kind):
                with m.Case(K_WIN):
                    m.d.comb += [*rdp(rd["w.w_in"], col), rd["acc"].addr.eq(scan.g)]
                with m.Case(K_WREC):
                    m.d.comb += rd["acc"].addr.eq(scan.g)
                    if BIAS:    # the always-active unit: b, the next column of the w memory
                        with m.If(scan.idx == n_h):
                            m.d.comb += rdp(rd["w.b"], scan.g)
                        with m.Else():
                            m.d.comb += rdp(rd["w.w_rec"], col)
                    else:
                        m.d.comb += rdp(rd["w.w_rec"], col)
                with m.Case(K_WOUT):
                    m.d.comb += rd["oacc"].addr.eq(scan.g)
                    if BIAS:    # b_out, a column of W_out's memory
                        with m.If(scan.idx == n_h):
                            m.d.comb += rdp(rd["w.b_out"], scan.g)
                        with m.Else():
                            m.d.comb += rdp(rd["w.w_out"], col)
                    else:
                        m.d.comb += rd["w.w_out"].addr.eq(col)
                with m.Case(K_GIN):
                    # during BW_J(t): G_in += ī_{t+1} x_{t+1}ᵀ, ī_{t+1} in the bank BW_J reads
                    m.d.comb += [rd["grad.w_in"].addr.eq(col), rd_i1.addr.eq(~bank * G + scan.g)]
        em = m.submodules.ev_math = _Comb()
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
                mul_a[p].eq(Mux(ev_kind == K_GIN, rd_i1.data[p], wv[p])),
                mprod[p].eq(mul_a[p] * mul_b),
                acc_new[p].eq(Mux(touched, rd["acc"].data[p], 0)
                              + mprod[p]),
                oacc_new[p].eq(Mux(otouched, rd["oacc"].data[p], 0)
                               + rd["w.w_out"].data[p]),
                gin_new[p].eq(rd["grad.w_in"].data[p] + mprod[p]),
            ]
        with m.If(ev_valid):
            with m.Switch(ev_kind):
                with m.Case(K_WIN, K_WREC):
                    m.d.comb += [wr["acc"].addr.eq(ev_g), wr["acc"].en.eq(-1)]
                    m.d.comb += [wr["acc"].data[p].eq(acc_new[p]) for p in range(P)]
                    with m.If(ev_g == G - 1):
                        m.d.sync += touched.eq(1)
                with m.Case(K_WOUT):
                    m.d.comb += [wr["oacc"].addr.eq(ev_g), wr["oacc"].en.eq(-1)]
                    m.d.comb += [wr["oacc"].data[p].eq(oacc_new[p]) for p in range(P)]
                    with m.If(ev_g == Go - 1):
                        m.d.sync += otouched.eq(1)
                with m.Case(K_GIN):
                    m.d.comb += [wr["grad.w_in"].addr.eq(ev_addr), wr["grad.w_in"].en.eq(-1)]
                    m.d.comb += [wr["grad.w_in"].data[p].eq(gin_new[p]) for p in range(P)]

        # ------------------------------------------------------------ NEU pipeline
        n_issue = Signal()
        n_g = Signal(range(max(G, 2)))
        n1_valid = Signal()
        n1_g = Signal.like(n_g)
        m.d.sync += [n1_valid.eq(n_issue), n1_g.eq(n_g)]
        with m.If(n_issue):
            m.d.comb += [rd["u"].addr.eq(n_g), rd["acc"].addr.eq(n_g)]
            if ADAPT:
                m.d.comb += rd["a"].addr.eq(n_g)
        sos = frame.sos
        s_pad = Cat(s_vec, Const(0, G * P - n_h)) if G * P > n_h else s_vec
        nm = m.submodules.neu_in = _Comb()
        for p in range(P):
            u = neu[p]
            nm.m.d.comb += [
                u.inp.valid.eq(n1_valid),
                u.inp.u.eq(Mux(sos, 0, rd["u"].data[p])),
                u.inp.a.eq(Mux(sos, 0, rd["a"].data[p]) if ADAPT else 0),
                u.inp.s_prev.eq(s_pad.bit_select(n1_g * P + p, 1)),
                u.inp.acc.eq(Mux(touched, rd["acc"].data[p], 0)),
            ]
        NL = neu[0].LATENCY
        # results leave the pipelines in issue order: their index is a counter, not a
        # delay line of the issued index (a flip-flop per bit and stage, no logic to share)
        n_out_g = Signal.like(n_g)
        with m.If(neu[0].out.valid):
            m.d.sync += n_out_g.eq(n_out_g + 1)
        n_out_valid = neu[0].out.valid
        n_lanes_valid = lane_mask(n_h - n_out_g * P)
        with m.If(n_out_valid):
            m.d.comb += [wr["u"].addr.eq(n_out_g), wr["u"].en.eq(n_lanes_valid)]
            for p in range(P):
                m.d.comb += [wr["u"].data[p].eq(neu[p].out.u),
                             wr["buf_psi"].data[p].eq(neu[p].out.psi)]
            if ADAPT:
                m.d.comb += [wr["a"].addr.eq(n_out_g), wr["a"].en.eq(n_lanes_valid)]
                m.d.comb += [wr["a"].data[p].eq(neu[p].out.a) for p in range(P)]
            # the groups leave the pipeline in order 0 .. G-1: shift them in from the top
            # (no address decoder) and count the spikes as they pass
            new_s = Cat(*[neu[p].out.s for p in range(P)]) & n_lanes_valid
            m.d.sync += [s_new.eq(Cat(s_new[P:], new_s) if G > 1 else new_s),
                         n_spikes.eq(n_spikes + popcount(new_s))]
            with m.If(frame.learn):
                m.d.comb += [wr["buf_psi"].addr.eq(t_step * G + n_out_g),
                             wr["buf_psi"].en.eq(n_lanes_valid)]

        # ------------------------------------------------------------ RO pipeline
        r_issue = Signal()
        r_g = Signal(range(max(Go, 2)))
        r1_valid = Signal()
        r1_g = Signal.like(r_g)
        m.d.sync += [r1_valid.eq(r_issue), r1_g.eq(r_g)]
        with m.If(r_issue):
            m.d.comb += [rd["o"].addr.eq(r_g), rd["oacc"].addr.eq(r_g)]
        tgt = Signal(data.ArrayLayout(signed(f.o.width), Go * P))
        rm = m.submodules.ro_in = _Comb()
        rm.m.d.comb += [tgt[k].eq(frame.target[k]) for k in range(n_out)]
        for p in range(P):
            u = rou[p]
            rm.m.d.comb += [
                u.inp.valid.eq(r1_valid),
                u.inp.o.eq(Mux(sos, 0, rd["o"].data[p])),
                u.inp.w_out_s.eq(Mux(otouched, rd["oacc"].data[p], 0)),
                u.inp.target.eq(tgt[r1_g * P + p]),
                u.inp.has_target.eq(frame.has_target),
            ]
        RL = ReadoutUnit.LATENCY
        r_out_g = delay(m, r1_g, RL, "ro_g")
        r_out_valid = rou[0].out.valid
        r_lanes_valid = lane_mask(n_out - r_out_g * P)
        with m.If(r_out_valid):
            m.d.comb += [wr["o"].addr.eq(r_out_g), wr["o"].en.eq(r_lanes_valid)]
            for p in range(P):
                m.d.comb += wr["o"].data[p].eq(rou[p].out.o)
            for k in range(n_out):
                with m.If(r_out_g == k // P):
                    m.d.sync += o_stage[k].eq(rou[k % P].out.o)
            for p in range(P):
                m.d.comb += wr["buf_delta"].data[p].eq(rou[p].out.delta)
            with m.If(frame.learn):
                m.d.comb += [wr["buf_delta"].addr.eq(t_step * Go + r_out_g),
                             wr["buf_delta"].en.eq(r_lanes_valid)]

        # ------------------------------------------------------------ BW_OB pipeline
        ob_issue = Signal()
        ob_g = Signal(range(max(Go, 2)))
        ob1_valid, ob1_g = Signal(), Signal.like(ob_g)
        m.d.sync += [ob1_valid.eq(ob_issue), ob1_g.eq(ob_g)]
        with m.If(ob_issue):
            m.d.comb += rd["buf_delta"].addr.eq(t_b * Go + ob_g)
        obm = m.submodules.ob_in = _Comb()
        for p in range(P):
            obm.m.d.comb += [
                bro[p].inp.valid.eq(ob1_valid),
                bro[p].inp.delta.eq(rd["buf_delta"].data[p]),
                bro[p].inp.obar_next.eq(Mux(last_t, 0, obar_reg[ob1_g * P + p])),
            ]
        ob_out_g = delay(m, ob1_g, BackwardReadoutUnit.LATENCY, "ob_g")
        with m.If(bro[0].out.valid):
            for p in range(P):
                m.d.sync += obar_reg[ob_out_g * P + p].eq(bro[p].out.obar)

        # ------------------------------------------------------------ BW_J pipeline
        j_issue = Signal()
        # with biases j = n_h is the always-active unit: only its gradient sums
        # (G_b += ī_{t+1}, G_b_out += ō_t, s = 1), no backward neuron (s̄ has no bias term)
        j_j = Signal(range(max(n_h + BIAS, 2)))
        j_c = Signal(range(max(G, Go, 2)))
        j_C = Signal(range(max(G, Go) + 1))
        use_o = j_c < Go
        use_r = ~last_t & (j_c < G)
        jq, _ = divmod_const(j_j, P)
        j1_valid, j1_j, j1_c = Signal(), Signal.like(j_j), Signal.like(j_c)
        j1_use_o, j1_use_r, j1_first, j1_last = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [j1_valid.eq(j_issue), j1_j.eq(j_j), j1_c.eq(j_c), j1_use_o.eq(use_o),
                     j1_use_r.eq(use_r), j1_first.eq(j_c == 0), j1_last.eq(j_c == j_C - 1)]
        with m.If(j_issue):
            if BIAS:
                with m.If(j_j == n_h):
                    m.d.comb += [*rdp(rd["grad.b_out"], j_c), *rdp(rd["grad.b"], j_c)]
                with m.Else():
                    m.d.comb += [*rdp(rd["w.w_out"], j_j * Go + j_c),
                                 *rdp(rd["grad.w_out"], j_j * Go + j_c),
                                 *rdp(rd["grad.w_rec"], j_j * G + j_c)]
            else:
                m.d.comb += [rd["w.w_out"].addr.eq(j_j * Go + j_c),
                             rd["grad.w_out"].addr.eq(j_j * Go + j_c),
                             rd["grad.w_rec"].addr.eq(j_j * G + j_c)]
            m.d.comb += [
                *rdp(rd["w.w_rec"], j_j * G + j_c),
                rd["bw_i"].addr.eq(~bank * G + j_c),
                rd["buf_psi"].addr.eq(t_b * G + jq),
                rd["bw_u"].addr.eq(jq),
            ]
            if ADAPT:
                m.d.comb += rd["bw_a"].addr.eq(jq)
        jm = m.submodules.bw_math = _Comb()
        ow = Signal(data.ArrayLayout(signed(f.obar.width), P))
        jm.m.d.comb += [ow[p].eq(obar_reg[j1_c * P + p]) for p in range(P)]
        wt_o_w, wt_i_w = wt_obar_width(cfg), wt_ibar_width(cfg)
        dot_o = Signal(signed(wt_o_w))
        dot_r = Signal(signed(wt_i_w))
        part_o = sum(rd["w.w_out"].data[p] * ow[p] for p in range(P))
        part_r = sum(rd["w.w_rec"].data[p] * rd["bw_i"].data[p] for p in range(P))
        sum_o = Signal(signed(wt_o_w))
        sum_r = Signal(signed(wt_i_w))
        jm.m.d.comb += [
            sum_o.eq(Mux(j1_first, 0, dot_o) + Mux(j1_use_o, part_o, 0)),
            sum_r.eq(Mux(j1_first, 0, dot_r) + Mux(j1_use_r, part_r, 0)),
        ]
        _, j1r = divmod_const(j1_j, P)
        psi_h = Signal(signed(f.psi.width))
        ub_h = Signal(signed(f.ubar.width))
        ab_h = Signal(signed(f.abar.width))
        psi_v, ub_v, ab_v = Signal.like(psi_h), Signal.like(ub_h), Signal.like(ab_h)
        gout_new = [Signal(rd["grad.w_out"].data[0].shape(), name=f"gout_new{p}") for p in range(P)]
        grec_new = [Signal(rd["grad.w_rec"].data[0].shape(), name=f"grec_new{p}") for p in range(P)]
        jm.m.d.comb += [
            psi_v.eq(Mux(j1_first, rd["buf_psi"].data[j1r], psi_h)),
            ub_v.eq(Mux(j1_first, rd["bw_u"].data[j1r], ub_h)),
            ab_v.eq(Mux(j1_first, rd["bw_a"].data[j1r], ab_h) if ADAPT else 0),
        ]
        for p in range(P):
            jm.m.d.comb += [gout_new[p].eq(rd["grad.w_out"].data[p] + ow[p]),
                            grec_new[p].eq(rd["grad.w_rec"].data[p] + rd["bw_i"].data[p])]
        s_j = (Cat(s_buf, Const(1, 1)) if BIAS else s_buf).bit_select(j1_j, 1)
        j1_bias = (j1_j == n_h) if BIAS else Const(0, 1)
        with m.If(j1_valid):
            m.d.sync += [dot_o.eq(sum_o), dot_r.eq(sum_r)]
            with m.If(j1_first):
                m.d.sync += [psi_h.eq(psi_v), ub_h.eq(ub_v), ab_h.eq(ab_v)]
            for use, mat, bias, gw_ in ((j1_use_o, "w_out", "b_out", Go),
                                        (j1_use_r, "w_rec", "b", G)):
                new_ = gout_new if mat == "w_out" else grec_new
                with m.If(use & s_j):
                    mat_wr = [wr[f"grad.{mat}"].addr.eq(j1_j * gw_ + j1_c),
                              wr[f"grad.{mat}"].en.eq(-1)]
                    if BIAS:    # the unit's sums: the bias's segment of the same memory
                        with m.If(j1_bias):
                            m.d.comb += [wr[f"grad.{bias}"].addr.eq(j1_c),
                                         wr[f"grad.{bias}"].en.eq(-1)]
                        with m.Else():
                            m.d.comb += mat_wr
                    else:
                        m.d.comb += mat_wr
                    m.d.comb += [wr[f"grad.{mat}"].data[p].eq(new_[p]) for p in range(P)]
        # the backward neuron unit takes neuron j one cycle after its last word, from the
        # registers (the sums' adders then feed one flip-flop each: one logic cell per bit)
        bne_go = Signal()
        m.d.sync += bne_go.eq(j1_valid & j1_last & ~j1_bias)
        jm.m.d.comb += [
            bne.inp.valid.eq(bne_go),
            bne.inp.wt_obar.eq(dot_o),
            bne.inp.wt_ibar.eq(dot_r),
            bne.inp.psi.eq(psi_h),
            bne.inp.ubar_next.eq(Mux(last_t, 0, ub_h)),
            bne.inp.abar_next.eq(Mux(last_t, 0, ab_h)),
        ]
        bj = Signal.like(j_j)
        with m.If(bne.out.valid):
            m.d.sync += bj.eq(bj + 1)
        bjq, bjr = divmod_const(bj, P)
        with m.If(bne.out.valid):
            onehot = Cat(*[bjr == p for p in range(P)])
            m.d.comb += [
                wr["bw_u"].addr.eq(bjq), wr["bw_u"].en.eq(onehot),
                wr["bw_i"].addr.eq(bank * G + bjq), wr["bw_i"].en.eq(onehot),
            ]
            for p in range(P):
                m.d.comb += [wr["bw_u"].data[p].eq(bne.out.ubar),
                             wr["bw_i"].data[p].eq(bne.out.ibar)]
            if ADAPT:
                m.d.comb += [wr["bw_a"].addr.eq(bjq), wr["bw_a"].en.eq(onehot)]
                m.d.comb += [wr["bw_a"].data[p].eq(bne.out.abar) for p in range(P)]

        # ------------------------------------------------------------ UPD pipeline
        # the sweep walks the parameters in golden update order; its counter u_m is the
        # regulariser's parameter code
        PARAMS = cfg.params
        code = param_codes(cfg)
        CW = param_code_width(cfg)

        def per_param(values, pad=0):
            """A constant per parameter code (unused codes: ``pad``)."""
            return Array([Const(v) for v in values] + [Const(pad)] * ((1 << CW) - len(values)))

        u_issue = Signal()
        u_ph = Signal()          # 1: the write-back cycle between two reads
        u_m = Signal(CW)
        u_a = Signal(range(max(max(pre * g for _, pre, g in geo.values()), 2)))
        u_g = Signal(range(max(G, Go, 2)))
        u_col = Signal(range(max(n_in, n_h, 2)))     # presynaptic index of u_a
        u1_valid, u1_m = Signal(), Signal(CW)
        u1_a, u1_g = Signal.like(u_a), Signal.like(u_g)
        m.d.sync += [u1_valid.eq(u_issue), u1_m.eq(u_m), u1_a.eq(u_a), u1_g.eq(u_g)]
        with m.If(u_issue):
            m.d.comb += rd_i1.addr.eq(bank * G + u_g)      # ī_0 of this word's lanes
            for par in PARAMS:
                with m.If(u_m == code[par]):
                    for q in ("w", "wbar", "lam", "grad"):
                        m.d.comb += rdp(rd[f"{q}.{par}"], u_a)
        n_post = per_param([geo[par][0] for par in PARAMS])
        u1_lanes = lane_mask(n_post[u1_m] - u1_g * P)

        def pick(q, p, sel):
            """Element ``p`` of the word of ``q`` read for parameter ``sel``: one multiplexer
            input per physical memory (parameters sharing one share its read data)."""
            srcs = {}
            for par in PARAMS:
                data_ = rd[f"{q}.{par}"].data
                srcs.setdefault(id(data_), (data_, []))[1].append(code[par])
            srcs = list(srcs.values())
            out = Value.cast(srcs[-1][0][p])
            for data_, codes in reversed(srcs[:-1]):
                out = Mux(Cat(*[sel == c for c in codes]).any(), Value.cast(data_[p]), out)
            return out

        # the window's first step is folded in here: G_in += ī_0 x_0ᵀ, G_rec += ī_0 s_-1ᵀ
        # (and G_b += ī_0: the always-active unit)
        um = m.submodules.upd_math = _Comb()
        gsum = [Signal(signed(reg[0].gsum_width), name=f"gsum{p}") for p in range(P)]
        # s_-1 of the column: selected at issue (buf_s word 0 is on the port from BW_LAST2
        # on) and registered, which keeps the 32:1 bit select off the path into the
        # regulariser's first adder
        s0_k = Signal()
        m.d.sync += s0_k.eq(s_buf.bit_select(u_col, 1))
        with m.If(u_issue):
            # x_0 of this word's column into the event operand register, the multiplier's
            # ī operand selected (no event is written in the update)
            m.d.comb += x_index.eq(u_col)
            m.d.sync += [ev_x.eq(xsel), ev_kind.eq(K_GIN)]
        add_i0 = (u1_m == code["w_rec"]) & s0_k
        if BIAS:
            add_i0 = add_i0 | (u1_m == code["b"])
        for p in range(P):
            stored = pick("grad", p, u1_m).as_signed()
            i0 = rd_i1.data[p]
            um.m.d.comb += gsum[p].eq(stored + Mux(u1_m == code["w_in"], mprod[p],
                                                   Mux(add_i0, i0, 0)))
        for p in range(P):
            rg = reg[p]
            um.m.d.comb += [
                rg.inp.valid.eq(u1_valid & u1_lanes[p]),
                rg.inp.param.eq(u1_m),
                rg.inp.w.eq(pick("w", p, u1_m)),
                rg.inp.wbar.eq(pick("wbar", p, u1_m)),
                rg.inp.lam.eq(pick("lam", p, u1_m)),
                rg.inp.gsum.eq(gsum[p]),
                rg.inp.r_w.eq(lfsr[p].r_w),
                rg.inp.r_lam.eq(lfsr[p].r_lam),
                rg.inp.r_wbar.eq(lfsr[p].r_wbar),
                lfsr[p].en.eq(u1_valid & u1_lanes[p]),
            ]
        with m.If(u1_valid):
            for par in PARAMS:
                with m.If(u1_m == code[par]):
                    m.d.comb += [wr[f"grad.{par}"].addr.eq(u1_a), wr[f"grad.{par}"].en.eq(-1)]
                    for p in range(P):
                        m.d.comb += wr[f"grad.{par}"].data[p].eq(0)
        # w, W̄, λ sit in single-port SRAMs: a word is read in one cycle and written back
        # in another, so the sweep issues a read every other cycle and the write-back is
        # placed on the cycles between (one extra register when the latency is odd)
        RGL = RegulariserUnit.LATENCY
        SINGLE = cfg.single_port_weights
        UPD_EXTRA = RGL % 2 if SINGLE else 0
        RGW = RGL + UPD_EXTRA
        uo_valid = delay(m, u1_valid, RGW, "upd_v")
        uo_m, uo_a = Signal.like(u1_m), Signal.like(u1_a)
        with m.If(uo_valid):
            depth_o = per_param([geo[par][1] * geo[par][2] - 1 for par in PARAMS])
            with m.If(uo_a == depth_o[uo_m]):
                m.d.sync += [uo_a.eq(0), uo_m.eq(uo_m + 1)]
            with m.Else():
                m.d.sync += uo_a.eq(uo_a + 1)
        uo_lanes = delay(m, u1_lanes, RGW, "upd_l")
        reg_out = [{q: delay(m, getattr(reg[p].out, q), UPD_EXTRA, f"reg_{q}{p}")
                    for q in ("w", "wbar", "lam", "sat_w", "sat_wbar", "sat_lam", "sat_grad")}
                   for p in range(P)]
        with m.If(uo_valid):
            # the write data once per physical memory (parameters sharing an SRAM share it)
            done = set()
            for q in ("w", "wbar", "lam"):
                for par in PARAMS:
                    port = wr[f"{q}.{par}"]
                    if id(port.data) not in done:
                        done.add(id(port.data))
                        m.d.comb += [port.data[p].eq(reg_out[p][q]) for p in range(P)]
            for par in PARAMS:
                with m.If(uo_m == code[par]):
                    for q in ("w", "wbar", "lam"):
                        m.d.comb += [wr[f"{q}.{par}"].addr.eq(uo_a),
                                     wr[f"{q}.{par}"].en.eq(uo_lanes)]

        # ------------------------------------------------------------ controller FSM
        drain = Signal(range(64))
        o_frame = self.o_frame
        # the step counter after this step: STEPS itself, which changes only at the next
        # frame's EMIT (which waits for this one to be taken) or by a host write
        m.d.comb += o_frame.payload.steps.eq(steps)
        with m.If(o_frame.valid & o_frame.ready):
            m.d.sync += o_frame.valid.eq(0)

        def load_x(t, next_state):
            """buf_x[t] -> x, one packed word per cycle (the data one cycle later); then
            ``next_state``. ``bx_k`` counts from 0 on entry."""
            m.d.sync += bx_k.eq(bx_k + 1)
            with m.If(bx_k < GX):
                m.d.comb += rd["buf_x"].addr.eq(t * GX + bx_k)
            with m.If(bx_k != 0):
                # shifted in from the top: after GX words, word k sits at k
                m.d.sync += xr_raw.eq(Cat(xr_raw[XW:], rd["buf_x"].data.as_value()))
            with m.If(bx_k == GX):
                m.next = next_state

        with m.FSM(name="ctrl") as fsm:
            with m.State("IDLE"):
                m.d.comb += host.grant.eq(1)
                with m.If(~host.busy & ~self.bus.stb):
                    m.d.comb += self.i_frame.ready.eq(1)
                    with m.If(self.i_frame.valid):
                        pl = self.i_frame.payload
                        m.d.sync += [frame.eq(pl), touched.eq(0), otouched.eq(0), n_spikes.eq(0),
                                     xr_raw.eq(Cat(pl.x.as_value(), x_pad))]
                        with m.If(pl.sos):
                            m.d.sync += [s_vec.eq(0), count.eq(0), t_step.eq(0)]
                        with m.Else():
                            m.d.sync += t_step.eq(count)
                        m.d.sync += bx_k.eq(0)
                        m.next = "START"
            with m.State("START"):
                # buf_x[t] <- x_t, one packed word (KX inputs) per cycle
                m.d.comb += self.busy.eq(1)
                m.d.sync += bx_k.eq(bx_k + 1)
                with m.If(frame.learn):
                    # rotate x by one word per cycle: GX words later it is back in place
                    m.d.comb += [wr["buf_x"].addr.eq(t_step * GX + bx_k), wr["buf_x"].en.eq(-1),
                                 wr["buf_x"].data.as_value().eq(xr_raw[:XW])]
                    m.d.sync += xr_raw.eq(Cat(xr_raw[XW:], xr_raw[:XW]))
                    with m.If((t_step == 0) & (bx_k == 0)):
                        m.d.comb += [wr["buf_s"].addr.eq(0), wr["buf_s"].en.eq(-1),
                                     wr["buf_s"].data.as_value().eq(s_vec)]
                with m.If(bx_k == 0):
                    # x is in place only before the rotation starts
                    m.d.comb += [scan.load.eq(1), scan.mask.eq(x_nz)]
                with m.If(~frame.learn | (bx_k == GX - 1)):
                    m.next = "ACC_X"
            with m.State("ACC_X"):
                m.d.comb += [self.busy.eq(1), scan_run.eq(1), scan_kind.eq(K_WIN)]
                with m.If(~scan.valid):
                    m.d.comb += [scan_run.eq(0), scan.load.eq(1),
                                 scan.mask.eq(Cat(s_vec, Const(1, 1)) if BIAS else s_vec)]
                    m.next = "ACC_S"
            with m.State("ACC_S"):
                m.d.comb += [self.busy.eq(1), scan_run.eq(1), scan_kind.eq(K_WREC)]
                with m.If(~scan.valid):
                    m.d.comb += scan_run.eq(0)
                    m.d.sync += [n_g.eq(0), n_out_g.eq(0)]
                    m.next = "NEU"
            with m.State("NEU"):
                m.d.comb += [self.busy.eq(1), n_issue.eq(1)]
                m.d.sync += n_g.eq(n_g + 1)
                with m.If(n_g == G - 1):
                    m.d.sync += drain.eq(NL + 1)
                    m.next = "NEU_DRAIN"
            with m.State("NEU_DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.comb += [scan.load.eq(1), scan.mask.eq(
                        Cat(s_new[:n_h], Const(1, 1)) if BIAS else s_new[:n_h])]
                    m.next = "RO_ACC"
            with m.State("RO_ACC"):
                m.d.comb += [self.busy.eq(1), scan_run.eq(1), scan_kind.eq(K_WOUT)]
                with m.If(~scan.valid):
                    m.d.comb += scan_run.eq(0)
                    m.d.sync += r_g.eq(0)
                    m.next = "RO"
            with m.State("RO"):
                m.d.comb += [self.busy.eq(1), r_issue.eq(1)]
                m.d.sync += r_g.eq(r_g + 1)
                with m.If(r_g == Go - 1):
                    m.d.sync += drain.eq(RL + 1)
                    m.next = "RO_DRAIN"
            with m.State("RO_DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += self.busy.eq(1)
                close = frame.learn & ((t_step + 1 >= window_L) | frame.eos)
                with m.If(~o_frame.valid):
                    m.d.sync += [
                        o_frame.valid.eq(1),
                        o_frame.payload.o.eq(o_stage),
                        o_frame.payload.spikes.eq(n_spikes),
                        o_frame.payload.status.eq(Cat(close, frame.learn, frame.sos, frame.eos)),
                        steps.eq(steps + 1),
                        s_vec.eq(s_new[:n_h]),
                    ]
                    with m.If(frame.learn):
                        m.d.comb += [wr["buf_s"].addr.eq(t_step + 1), wr["buf_s"].en.eq(-1),
                                     wr["buf_s"].data.as_value().eq(s_new[:n_h])]
                        m.d.sync += count.eq(t_step + 1)
                    with m.Else():
                        m.d.sync += count.eq(0)
                    with m.If(close):
                        m.d.sync += [t_b.eq(t_step), last_t.eq(1), bx_k.eq(0)]
                        m.next = "BW_T"
                    with m.Else():
                        m.next = "IDLE"
            # ---------------------------------------------------------- backward
            with m.State("BW_T"):
                m.d.comb += self.busy.eq(1)
                load_x(t_b + 1, "BW_T2")
            with m.State("BW_T2"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [ob_g.eq(0), bx_k.eq(0)]
                # G_in += ī_{t+1} x_{t+1}ᵀ runs during BW_J (nothing after the last step)
                m.d.comb += [scan.load.eq(1),
                             scan.mask.eq(Mux(last_t, 0, x_nz))]
                m.next = "BW_OB"
            with m.State("BW_OB"):
                m.d.comb += [self.busy.eq(1), ob_issue.eq(1)]
                m.d.sync += ob_g.eq(ob_g + 1)
                with m.If(ob_g == Go - 1):
                    m.d.sync += drain.eq(BackwardReadoutUnit.LATENCY + 1)
                    m.next = "BW_OB_DRAIN"
            with m.State("BW_OB_DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.sync += [j_j.eq(0), j_c.eq(0), j_C.eq(Mux(last_t, Go, max(G, Go))),
                                 bj.eq(0)]
                    m.next = "BW_J"
            with m.State("BW_J"):
                m.d.comb += [self.busy.eq(1), j_issue.eq(1), scan_run.eq(1),
                             scan_kind.eq(K_GIN)]
                with m.If(j_c == j_C - 1):
                    m.d.sync += [j_c.eq(0), j_j.eq(j_j + 1)]
                    with m.If(j_j == n_h - 1 + BIAS):
                        m.d.sync += drain.eq(BackwardNeuronUnit.LATENCY + 2)
                        m.next = "BW_J_DRAIN"
                with m.Else():
                    m.d.sync += j_c.eq(j_c + 1)
            with m.State("BW_J_DRAIN"):
                m.d.comb += [self.busy.eq(1), scan_run.eq(1), scan_kind.eq(K_GIN)]
                with m.If(drain != 0):
                    m.d.sync += drain.eq(drain - 1)
                with m.Elif(~scan.valid):
                    with m.If(t_b == 0):
                        m.next = "BW_LAST"
                    with m.Else():
                        m.d.sync += [t_b.eq(t_b - 1), last_t.eq(0), bank.eq(~bank)]
                        m.next = "BW_T"
            # x_0 and s_-1 for the update sweep's t = 0 gradient terms
            with m.State("BW_LAST"):
                m.d.comb += [self.busy.eq(1), s_addr.eq(0)]
                load_x(0, "BW_LAST2")
            with m.State("BW_LAST2"):
                m.d.comb += [self.busy.eq(1), s_addr.eq(0)]
                m.d.sync += [
                             u_m.eq(0), u_a.eq(0), u_g.eq(0), u_col.eq(0), u_ph.eq(0),
                             uo_m.eq(0), uo_a.eq(0)]
                m.next = "UPD"
            # ---------------------------------------------------------- update
            with m.State("UPD"):
                m.d.comb += [self.busy.eq(1), u_issue.eq(~u_ph), s_addr.eq(0)]
                depth = per_param([geo[par][1] * geo[par][2] for par in PARAMS])
                gm = per_param([geo[par][2] for par in PARAMS])
                if SINGLE:          # else a read every cycle (u_ph stays 0)
                    m.d.sync += u_ph.eq(~u_ph)
                with m.If(~u_ph):
                    m.d.sync += [u_a.eq(u_a + 1), u_g.eq(Mux(u_g == gm[u_m] - 1, 0, u_g + 1)),
                                 u_col.eq(Mux(u_g == gm[u_m] - 1, u_col + 1, u_col))]
                    with m.If(u_a == depth[u_m] - 1):
                        m.d.sync += [u_a.eq(0), u_g.eq(0), u_col.eq(0), u_m.eq(u_m + 1)]
                        with m.If(u_m == len(PARAMS) - 1):
                            m.d.sync += drain.eq(RGW + 1)
                            m.next = "UPD_DRAIN"
            with m.State("UPD_DRAIN"):
                m.d.comb += [self.busy.eq(1), s_addr.eq(0)]
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.sync += [count.eq(0), windows.eq(windows + 1), bank.eq(0)]
                    m.next = "IDLE"

        # ------------------------------------------------------------ phase counters
        # saturation profile (golden SaturationCounter): per quantity, saturated and total writes
        sat_cnt, wr_cnt = {}, {}
        if cfg.profile_counters:
            sat_cnt = {n: Signal(32, name=f"sat_{n}", init=ini.get(f"sat_{n}", 0)) for n in SAT_NAMES}
            wr_cnt = {n: Signal(32, name=f"writes_{n}", init=ini.get(f"writes_{n}", 0))
                      for n in SAT_NAMES}
            ob_lanes = lane_mask(n_out - ob_out_g * P)
            uo_l = Signal(P)
            m.d.comb += uo_l.eq(uo_lanes)
            sources = {}   # name -> (valid, flags, lane mask)
            for n in ("a", "threshold", "u"):
                sources[n] = (n_out_valid, Cat(*[getattr(neu[p].out, f"sat_{n}") for p in range(P)]),
                              n_lanes_valid)
            for n in ("o", "delta"):
                sources[n] = (r_out_valid, Cat(*[getattr(rou[p].out, f"sat_{n}") for p in range(P)]),
                              r_lanes_valid)
            sources["obar"] = (bro[0].out.valid, Cat(*[bro[p].out.sat_obar for p in range(P)]),
                               ob_lanes)
            for n in ("sbar", "vbar", "ubar", "abar", "ibar"):
                sources[n] = (bne.out.valid, getattr(bne.out, f"sat_{n}"), Const(1, 1))
            for n in ("grad", "w", "lam", "wbar"):
                sources[n] = (uo_valid, Cat(*[reg_out[p][f"sat_{n}"] for p in range(P)]),
                              uo_l)
            sm = m.submodules.sat_count = _Comb()
            for n in SAT_NAMES:
                valid, flags, mask = sources[n]
                inc_s, inc_w = Signal(range(P + 2), name=f"inc_sat_{n}"), \
                    Signal(range(P + 2), name=f"inc_wr_{n}")
                sm.m.d.comb += [inc_s.eq(Mux(valid, popcount(flags & mask), 0)),
                                inc_w.eq(Mux(valid, popcount(mask), 0))]
                m.d.sync += [sat_cnt[n].eq(sat_cnt[n] + inc_s), wr_cnt[n].eq(wr_cnt[n] + inc_w)]

        perf_fwd, perf_bwd, perf_upd = Signal(32), Signal(32), Signal(32)
        in_fwd = Cat(*[fsm.ongoing(st) for st in FORWARD_STATES]).any()
        in_bwd = Cat(*[fsm.ongoing(st) for st in BACKWARD_STATES]).any()
        in_upd = Cat(*[fsm.ongoing(st) for st in UPDATE_STATES]).any()
        if cfg.profile_counters:
            m.d.sync += [perf_fwd.eq(perf_fwd + in_fwd), perf_bwd.eq(perf_bwd + in_bwd),
                         perf_upd.eq(perf_upd + in_upd)]

        # ------------------------------------------------------------ host access
        tnames = [t.name for t in self.targets]
        regs_i, s_i, lfsr_i = tnames.index("regs"), tnames.index("s"), tnames.index("lfsr")
        sat_i = tnames.index("sat") if cfg.profile_counters else None
        wrc_i = tnames.index("writes") if cfg.profile_counters else None
        regspecs = {r.index: r for r in register_specs(cfg)}
        reg_values = {
            0x00: Const(ID_VALUE, 32), 0x01: Const(1, 32), 0x02: Const(n_in, 32),
            0x03: Const(n_h, 32), 0x04: Const(n_out, 32), 0x05: Const(Lmax, 32),
            0x06: Const(P, 32), 0x07: Const(int(cfg.rounding == "stochastic"), 32),
            0x08: window_L, 0x09: count, 0x0A: steps, 0x0B: windows, 0x0C: cycles,
            0x0D: perf_fwd, 0x0E: perf_bwd, 0x0F: perf_upd,
        }
        sel1 = Signal.like(host.sel)
        elem1 = Signal.like(host.elem)
        addr1 = Signal.like(host.addr)
        m.d.sync += [sel1.eq(host.sel), elem1.eq(host.elem), addr1.eq(host.addr)]
        rdata = Signal(DATA_WIDTH)
        hm = m.submodules.host_rd = _Comb()
        by_phys = {}    # targets in one physical memory share its data: one case, one write
        for i, t in enumerate(self.targets):
            if t.layout != REG:
                by_phys.setdefault(self.specs_by_name[t.name].physical, []).append(i)
        for idxs in by_phys.values():
            t0 = self.targets[idxs[0]]
            w0 = wr[t0.name]
            with m.If(host.we & Cat(*[host.sel == i for i in idxs]).any()):
                m.d.comb += [w0.data[e].eq(host.wdata[:t0.width]) for e in range(len(w0.en))]
            for i in idxs:
                t = self.targets[i]
                with m.If(host.sel == i):
                    with m.If(host.re):
                        m.d.comb += rdp(rd[t.name], host.addr)
                    with m.If(host.we):
                        w = wr[t.name]
                        m.d.comb += [w.addr.eq(host.addr),
                                     w.en.eq(Const(1, len(w.en)) << host.elem)]
        # one parallel multiplexer (Switch, not an If chain: a chain of 30 priority levels
        # costs ~1.5k LUT4)
        with hm.m.Switch(sel1):
            for idxs in by_phys.values():
                t = self.targets[idxs[0]]
                i = idxs[0]
                with hm.m.Case(*idxs):
                    word = rd[t.name].data
                    n_el = len(wr[t.name].en)
                    ev = Signal(signed(t.width) if t.signed else t.width, name=f"host_rd_{i}")
                    if n_el == 1:
                        hm.m.d.comb += ev.eq(word[0])
                    else:
                        hm.m.d.comb += ev.eq(Array([Value.cast(word[e])
                                                    for e in range(n_el)])[elem1])
                    hm.m.d.comb += rdata.eq(ev)
            with hm.m.Case(regs_i):
                with hm.m.Switch(addr1):
                    for idx, val in reg_values.items():
                        with hm.m.Case(idx):
                            hm.m.d.comb += rdata.eq(val)
            with hm.m.Case(s_i):
                hm.m.d.comb += rdata.eq(s_vec.bit_select(addr1, 1))
            with hm.m.Case(lfsr_i):
                hm.m.d.comb += rdata.eq(Array([lf.state for lf in lfsr])[addr1])
            if cfg.profile_counters:
                with hm.m.Case(sat_i):
                    hm.m.d.comb += rdata.eq(Array([sat_cnt[n] for n in SAT_NAMES])[addr1])
                with hm.m.Case(wrc_i):
                    hm.m.d.comb += rdata.eq(Array([wr_cnt[n] for n in SAT_NAMES])[addr1])
        m.d.comb += host.rdata.eq(rdata)
        # register writes and their range check
        wd = host.wdata
        with m.If(host.sel == regs_i):
            with m.Switch(host.addr):
                for idx, r in regspecs.items():
                    with m.Case(idx):
                        if r.writable:
                            ok = Const(1, 1)
                            # compare only the bits the bound has (the rest must be 0):
                            # no 32-bit comparators
                            nb = max(1, r.hi.bit_length())
                            low = wd[:nb]
                            if r.hi < (1 << DATA_WIDTH) - 1:
                                ok = ok & (wd[nb:] == 0)
                                if r.hi < (1 << nb) - 1:     # else the compare is constant
                                    ok = ok & (low <= r.hi)
                            if r.lo > 0:
                                ok = ok & (low >= r.lo)
                            m.d.comb += host.reg_ok.eq(ok)
        with m.Elif(Cat(*[host.sel == i for i in (s_i, lfsr_i, sat_i, wrc_i)
                          if i is not None]).any()):
            m.d.comb += host.reg_ok.eq(1)
        for i, n in enumerate(SAT_NAMES if cfg.profile_counters else ()):
            with m.If(host.we & (host.sel == sat_i) & (host.addr == i)):
                m.d.sync += sat_cnt[n].eq(wd)
            with m.If(host.we & (host.sel == wrc_i) & (host.addr == i)):
                m.d.sync += wr_cnt[n].eq(wd)
        with m.If(host.we & (host.sel == regs_i)):
            with m.Switch(host.addr):
                with m.Case(0x08):
                    m.d.sync += window_L.eq(wd)
                with m.Case(0x09):
                    m.d.sync += count.eq(wd)
                with m.Case(0x0A):
                    m.d.sync += steps.eq(wd)
                with m.Case(0x0B):
                    m.d.sync += windows.eq(wd)
                if cfg.profile_counters:
                    with m.Case(0x0C):
                        m.d.sync += cycles.eq(wd)
                    with m.Case(0x0D):
                        m.d.sync += perf_fwd.eq(wd)
                    with m.Case(0x0E):
                        m.d.sync += perf_bwd.eq(wd)
                    with m.Case(0x0F):
                        m.d.sync += perf_upd.eq(wd)
        with m.If(host.we & (host.sel == s_i)):
            m.d.sync += s_vec.bit_select(host.addr, 1).eq(wd[0])
        for p in range(P):
            m.d.comb += lfsr[p].load_value.eq(wd)
            with m.If(host.we & (host.sel == lfsr_i) & (host.addr == p)):
                m.d.comb += lfsr[p].load.eq(1)
        with m.If(host.busy):
            m.d.comb += self.busy.eq(1)
        return m
