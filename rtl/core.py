"""The FPTT learning core: top-level ``FpttCore(cfg)``.

Bit-exact with :func:`fptt.golden.fixed_core.step` (forward of every step,
``close_window`` at a window's end): every output frame and, between steps,
every memory and register read back over the host port equal the golden
:class:`~fptt.golden.fixed_core.FixedState`.

Ports (see :mod:`fptt.rtl.host` and ``docs/host_interface.md``)
----------------------------------------------------------------
``i_frame``  In(stream)   one input frame per time step (x, target, flags); with
                         ``frame_bytes`` no payload: the frame came on ``i_byte``
``i_byte``   In(stream)   (``frame_bytes`` only) the input frame, byte by byte
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

Blocks (each elaborated into this module by its stage function, in this order)
------------------------------------------------------------------------------
=========================  ==========================================================
``accumulator.py``         event scanner and the event read-modify-write (1, 3, 6's G_in)
``neuron.py``              ``NEU`` around the neuron lanes (2)
``readout.py``             ``RO`` around the readout lanes (4)
``backward.py``            ``BW_OB`` and ``BW_J`` (5, 6)
``regulariser.py``         the ``UPD`` sweep (7)
``controller.py``          the FSM sequencing them; ``PERF_*`` counters; cycle model
``profile.py``             saturation profile counters
``registers.py``           host access: memories, register arrays, registers of region 0
=========================  ==========================================================

This file is the wiring: memories, units, the state the blocks share
(:class:`CoreContext`), and the calls.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .accumulator import EventScanner, event_stage
from .backward import (BackwardNeuronUnit, BackwardReadoutUnit, backward_neuron_stage,
                       backward_readout_stage)
from .controller import controller_fsm, perf_counters
from .host import (HostBusSignature, HostPort, frame_byte_input, frame_input_ports, frame_layout,
                   host_targets, out_layout)
from .lfsr import LaneLFSR
from .memories import CoreMemories, groups, memory_image, param_geometry
from .neuron import NeuronUnit, check_shared_tau, neuron_stage
from .profile import saturation_counters
from .readout import ReadoutUnit, readout_stage
from .registers import host_access
from .regulariser import RegulariserUnit, update_stage

__all__ = ["FpttCore", "CoreContext", "check_learning_rule"]


def check_learning_rule(cfg: CoreConfig) -> None:
    """``ValueError`` unless the configuration's learning rule is DESIGN section 4's, the one
    the RTL builds: ``fptt.readout = "window"``, ``fptt.error = "mse"``,
    ``fptt.hidden_step = "sgd"`` (the others are in the golden models only:
    :mod:`fptt.golden.fixed_rules`)."""
    default = {"readout": "window", "error": "mse", "hidden_step": "sgd"}
    other = [f"fptt.{k} = {getattr(cfg.fptt, k)!r}" for k, v in default.items()
             if getattr(cfg.fptt, k) != v]
    if other:
        raise ValueError(
            f"{', '.join(other)}: the learning rule's options are in the golden models only, "
            f"the RTL builds readout = 'window', error = 'mse', hidden_step = 'sgd'; set those "
            f"to build the hardware")


class CoreContext(SimpleNamespace):
    """What the blocks of one core share while it is elaborated: the module ``m``, the
    configuration and its sizes, the memories' ports ``rd``/``wr``, the units, the
    step and window state; each stage adds the signals it offers the others (its
    issue strobes and counters, which the controller drives)."""


class FpttCore(wiring.Component):
    """The whole core for one :class:`~fptt.config.CoreConfig` (see the module docstring)."""

    def __init__(self, cfg: CoreConfig, init=None, frame_bytes: bool = False):
        """``init``: optional golden checkpoint (``FixedState`` of batch 1 or its ``arrays()``)
        giving the reset contents of the memories and of ``s``, ``count``, ``steps``,
        ``windows`` (the LFSRs always reset to their seeds); default: all zero.

        ``frame_bytes``: the input frame arrives byte by byte on ``i_byte`` into the
        core's own frame registers, and ``i_frame`` (no payload) hands it over
        (:func:`fptt.rtl.host.frame_byte_input`); else ``i_frame`` carries the whole
        frame in parallel."""
        check_shared_tau(cfg)
        check_learning_rule(cfg)
        self.cfg = cfg
        self.frame_bytes = frame_bytes
        self.specs, self.targets = host_targets(cfg)
        self.specs_by_name = {s.name: s for s in self.specs}
        if init is not None and not isinstance(init, dict):
            init = init.arrays()
        self.init = init
        #: free-running cycle counter (register CYCLES), for simulation probes
        self.cycle_count = Signal(32, name="cycles")
        frame_in = frame_input_ports(cfg) if frame_bytes else {
            "i_frame": In(stream.Signature(frame_layout(cfg)))}
        super().__init__({
            **frame_in,
            "o_frame": Out(stream.Signature(out_layout(cfg))),
            "bus": In(HostBusSignature()),
            "busy": Out(1),
        })

    # ------------------------------------------------------------------ elaborate
    def elaborate(self, platform):
        # memories, units and the state the blocks share; then every block in turn
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
        frame = None if self.frame_bytes else Signal(frame_layout(cfg))
        frame_chain = None
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

        if self.frame_bytes:
            # the frame's x bytes land in xr itself, the rest in a register behind it
            frame, frame_chain = frame_byte_input(cfg, xr_raw)

        x_nz = Cat(*[xr[i] != 0 for i in range(n_in)])
        xone = Const(1 << f.x.frac, signed(f.x.width))

        def lane_mask(n_valid_expr):
            return Cat(*[(n_valid_expr > p) for p in range(P)])

        # ---------------------------------------------------------------- the blocks
        # (in this order, the order of the statements of the one elaborate() they came from:
        # the generated Verilog is the same, byte for byte)
        dp = CoreContext(core=self, ADAPT=ADAPT, BIAS=BIAS, G=G, GX=GX, Go=Go, Lmax=Lmax, P=P,
                         XW=XW, bank=bank, bne=bne, bro=bro, bx_k=bx_k, cfg=cfg, count=count,
                         cycles=cycles, f=f, frame=frame, frame_chain=frame_chain, geo=geo,
                         host=host, ini=ini,
                         lane_mask=lane_mask, last_t=last_t, lfsr=lfsr, m=m, n_h=n_h, n_in=n_in,
                         n_out=n_out, n_spikes=n_spikes, neu=neu, o_stage=o_stage,
                         obar_reg=obar_reg, otouched=otouched, rd=rd, rd_i1=rd_i1, rdp=rdp,
                         reg=reg, rou=rou, s_addr=s_addr, s_buf=s_buf, s_new=s_new, s_vec=s_vec,
                         scan=scan, steps=steps, t_b=t_b, t_step=t_step, touched=touched,
                         window_L=window_L, windows=windows, wr=wr, x_nz=x_nz, x_pad=x_pad,
                         xone=xone, xr=xr, xr_raw=xr_raw)
        event_stage(dp)                 # accumulator.py: ACC_X, ACC_S, RO_ACC, G_in sweep
        neuron_stage(dp)                # neuron.py: NEU
        readout_stage(dp)               # readout.py: RO
        backward_readout_stage(dp)      # backward.py: BW_OB
        backward_neuron_stage(dp)       # backward.py: BW_J
        update_stage(dp)                # regulariser.py: UPD
        controller_fsm(dp)              # controller.py: the FSM sequencing them
        saturation_counters(dp)         # profile.py: saturation profile
        perf_counters(dp)               # controller.py: PERF_FWD/BWD/UPD
        host_access(dp)                 # registers.py: the bus's reads and writes
        return m
