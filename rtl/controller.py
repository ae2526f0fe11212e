"""Controller of the core: the phases of a time step and of a window's end, and their cycles.

The controller is the finite-state machine ``ctrl`` (:func:`controller_fsm`,
elaborated into the core's module by :class:`fptt.rtl.core.FpttCore`): it
drives the issue strobes and address counters of the stages that share the
memories (the context ``dp`` of :class:`fptt.rtl.core.CoreContext` is its
signature to the datapath) and :func:`perf_counters` counts its phases. This
module also holds its specification: the phase sequence, the schedule flags,
and the cycle model used by the generator report (:mod:`fptt.rtl.report`) and
the bench. The model is exact: ``tests/test_controller.py`` runs the core and
compares it with the core's counters ``CYCLES``, ``PERF_FWD``, ``PERF_BWD``,
``PERF_UPD`` cycle for cycle (:func:`window_cycles` on the activity of every
step; :func:`cycle_model` is it at uniform activity).

Schedule (golden :func:`fptt.golden.fixed_core.step`)
-----------------------------------------------------
A frame is accepted only in ``IDLE``. ``sos`` zeroes ``s`` and ``count`` at
once and masks the stored ``u``, ``a``, ``o`` to 0 for this step (no clearing
pass). The step's window position is ``t = count``. With ``learn`` the step
writes ``buf_x[t]``, ``buf_s[0]`` (at ``t = 0``), ``buf_psi[t]``,
``buf_delta[t]``, ``buf_s[t+1]``, and the window closes when ``t + 1 >= L``
(``L``: the run-time register ``WINDOW``, ``1 <= L <= window_max``) or at
``eos``; without ``learn`` ``count`` returns to 0 (the partial window is
discarded).

Phases (FSM states)
-------------------
========================  =====================================================  =====================
state                     work                                                   cycles
========================  =====================================================  =====================
``IDLE``                  serve the bus; accept a frame                          1
``START``                 write ``buf_x[t]`` one packed word per cycle (and      ``GX`` (learning),
                          ``buf_s[0]``); load scanner                            else 1
``ACC_X`` / ``ACC_S``     event-driven ``acc += W_in x`` / ``+= W_rec s_{t-1}``  ``nnz·G + 1`` each
``NEU`` + drain           neuron update, ψ → ``buf_psi[t]``                      ``G + L_neuron + 2``
``RO_ACC``                event-driven ``Σ_j W_out s_j``                         ``nnz(s_t)·G_o + 1``
``RO`` + drain            readout, δ → ``buf_delta[t]``                          ``G_o + L_readout + 2``
``EMIT``                  output frame, ``buf_s[t+1]``, counters; close?         1
``BW_T``, ``BW_T2``       read ``buf_s[t+1]``, ``buf_x[t+1]`` (GX words)         ``GX + 2``
``BW_OB`` + drain         ``ō_t``                                                ``G_o + L_bw_readout + 2``
``BW_J`` + drain          per neuron j: W_outᵀō, W_recᵀī' (parallel), gradient  ``max(n_h·C + L_bw_neuron
                          SRAM G_out, G_rec; backward neuron unit; in parallel    + 3, nnz(x_{t+1})·G + 2)``
                          the event-driven ``G_in += ī_{t+1} x_{t+1}ᵀ``           ``C = G_o`` at the last
                                                                                 step, else ``max(G, G_o)``
``BW_LAST``, ``BW_LAST2``  (after t = 0) read ``x_0``, ``s_-1`` for the update   ``GX + 2``
``UPD`` + drain           FPTT step of every synapse, ``k`` cycles per word:    ``k·Σ pre·ceil(post/P)
                          ``k = 2`` when w, W̄, λ are single-port SRAMs           − (k−1) + L_reg' + 2``
                          (``single_port_weights``: read, then write back in     (``L_reg'``: the
                          the cycle between two reads), ``k = 1`` with dual-     regulariser latency,
                          port block RAM; the window's first-step terms          rounded up to even
                          ``ī_0 x_0ᵀ`` (w_in) and ``ī_0 s_-1ᵀ`` (w_rec) are       when ``k = 2``)
                          added to the stored sums on the fly
========================  =====================================================  =====================

Biases (``cfg.biases``) are the weights of an always-active presynaptic unit
at index ``n_hidden``: the spike masks of ``ACC_S`` and ``RO_ACC`` carry one
more, always-set bit (its column is ``b`` / ``b_out``: one more event of ``G`` /
``G_o`` cycles), ``BW_J`` runs one more ``j`` for it (its gradient sums
``G_b += ī_{t+1}``, ``G_b_out += ō_t`` with ``s = 1``, and no backward neuron:
``s̄`` has no bias term), and ``UPD`` sweeps ``b`` after ``w_rec`` and ``b_out``
after ``w_out`` (``G_b`` gets ``ī_0`` there, like ``w_rec`` with ``s_-1 = 1``).
In the cycle formulas ``nnz(s)`` then counts the unit and ``n_h`` is ``n_h + 1``
in ``BW_J``.

The backward states ``BW_T`` … ``BW_J_DRAIN`` repeat for ``t`` = last … first
of the window. The gradient SRAM therefore receives ``G_out`` and ``G_rec``
terms while the weight columns stream for the ``Wᵀ`` products (same addresses,
same operands), and ``G_in`` terms in a second, concurrent sweep over another
memory; none of them costs a cycle of its own except the ``G_in`` sweep when
``nnz(x)·G > n_hidden·max(G, G_o)`` (dense inputs with ``n_in > n_hidden``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal

from ..config import CoreConfig
from .backward import BackwardNeuronUnit, BackwardReadoutUnit
from .memories import BRAM_WORD_BITS, groups, param_geometry
from .neuron import NeuronUnit
from .readout import ReadoutUnit
from .regulariser import RegulariserUnit

__all__ = ["FORWARD_STATES", "BACKWARD_STATES", "UPDATE_STATES", "cycle_model", "step_cycles",
           "backward_cycles", "update_cycles", "window_cycles", "bound", "controller_fsm", "perf_counters"]

FORWARD_STATES = ("START", "ACC_X", "ACC_S", "NEU", "NEU_DRAIN", "RO_ACC", "RO", "RO_DRAIN",
                  "EMIT")
BACKWARD_STATES = ("BW_T", "BW_T2", "BW_OB", "BW_OB_DRAIN", "BW_J", "BW_J_DRAIN", "BW_LAST",
                   "BW_LAST2")
UPDATE_STATES = ("UPD", "UPD_DRAIN")


def step_cycles(cfg: CoreConfig, nx: float, ns_prev: float, ns: float, learn: bool = True) -> float:
    """Cycles of one time step, ``IDLE`` included (one cycle: the frame is waiting).

    ``nx``: non-zero inputs of the step; ``ns_prev``: spikes of ``s_{t-1}`` (0 at
    ``sos``); ``ns``: spikes of ``s_t``. With biases the always-active unit adds
    one event to ``ACC_S`` and ``RO_ACC`` (counted here, not in the arguments).
    ``PERF_FWD`` counts these cycles but the ``IDLE`` one.
    """
    P, n_h = cfg.lanes, cfg.n_hidden
    G, Go = groups(n_h, P), groups(cfg.n_out, P)
    NL, RL = NeuronUnit.latency(cfg), ReadoutUnit.LATENCY
    GX = groups(cfg.n_in, max(1, BRAM_WORD_BITS // cfg.formats.x.width))
    B = int(cfg.biases)     # the always-active unit: one more event per sweep, one more j
    return ((nx + ns_prev + B) * G + (ns + B) * Go + G + Go + NL + RL + 10
            + (GX - 1 if learn else 0))


def backward_cycles(cfg: CoreConfig, nx_next) -> float:
    """Cycles of the backward pass of a window (``BW_T`` .. ``BW_LAST2``, ``PERF_BWD``).

    ``nx_next``: for ``t`` = first .. last but one step of the window, the
    non-zero inputs of step ``t + 1`` (the ``G_in`` sweep of ``BW_J``); the
    window has ``len(nx_next) + 1`` steps.
    """
    P, n_h = cfg.lanes, cfg.n_hidden
    G, Go = groups(n_h, P), groups(cfg.n_out, P)
    GX = groups(cfg.n_in, max(1, BRAM_WORD_BITS // cfg.formats.x.width))
    B = int(cfg.biases)
    LB, LN = BackwardReadoutUnit.LATENCY, BackwardNeuronUnit.LATENCY
    L = len(nx_next) + 1
    bw = L * (GX + 2 + Go + LB + 2) + ((n_h + B) * Go + LN + 3) + GX + 2
    return bw + sum(max((n_h + B) * max(G, Go) + LN + 3, nx * G + 2) for nx in nx_next)


def update_cycles(cfg: CoreConfig) -> int:
    """Cycles of the update sweep (``UPD``, ``UPD_DRAIN``, ``PERF_UPD``): ``k`` cycles per word,
    ``k = 2`` with single-port weight SRAMs (``single_port_weights``), else 1."""
    k = 2 if cfg.single_port_weights else 1     # cycles per word of the sweep
    rgw = RegulariserUnit.LATENCY + (RegulariserUnit.LATENCY % 2 if k == 2 else 0)
    return k * sum(pre * g for _, pre, g in param_geometry(cfg).values()) - (k - 1) + rgw + 2


def window_cycles(cfg: CoreConfig, nx, ns_prev, ns) -> dict:
    """Cycles of one learning window from the activity of each of its steps.

    ``nx``, ``ns_prev``, ``ns``: per step of the window, as :func:`step_cycles`
    takes them. Returns ``forward`` (``IDLE`` included), ``backward``,
    ``update`` and ``total``.
    """
    out = {"forward": sum(step_cycles(cfg, a, b, c) for a, b, c in zip(nx, ns_prev, ns)),
           "backward": backward_cycles(cfg, list(nx[1:])), "update": update_cycles(cfg)}
    out["total"] = out["forward"] + out["backward"] + out["update"]
    return out


def cycle_model(cfg: CoreConfig, L: int, nx: float | None = None, ns: float | None = None,
                learn: bool = True) -> dict:
    """Cycles of the controller for one window of ``L`` steps (the table above).

    ``nx`` non-zero inputs and ``ns`` spikes per step (default: all, the dense
    worst case). Returns the cycles of the forward steps (``IDLE`` included),
    the backward pass, the update sweep and their total (``learn = False``:
    forward only). :func:`window_cycles` with the same activity on every step.
    """
    nx = cfg.n_in if nx is None else nx
    ns = cfg.n_hidden if ns is None else ns
    if learn:
        return window_cycles(cfg, [nx] * L, [ns] * L, [ns] * L)
    out = {"forward": L * step_cycles(cfg, nx, ns, ns, learn=False), "backward": 0, "update": 0}
    out["total"] = out["forward"]
    return out


def bound(cfg: CoreConfig, L: int) -> float:
    """Weight-memory bound of DESIGN section 6: cycles per window of ``L`` steps.

    Every weight read once per forward step, ``W_rec`` once more per backward
    step but the last, ``W_out`` once per backward step, every weight once in
    the update, over ``lanes`` lanes::

        bound = (L·S + (L-1)·n_hidden² + L·n_out·n_hidden + S) / lanes,
        S = (n_in + n_hidden + n_out)·n_hidden
    """
    S = (cfg.n_in + cfg.n_hidden + cfg.n_out) * cfg.n_hidden
    return (L * S + (L - 1) * cfg.n_hidden ** 2 + L * cfg.n_out * cfg.n_hidden + S) / cfg.lanes


def controller_fsm(dp) -> None:
    """The controller: the FSM ``ctrl`` sequencing the phases of a step and of a window's end.

    It accepts a frame in ``IDLE``, runs ``START`` .. ``EMIT`` (forward),
    ``BW_T`` .. ``BW_LAST2`` (backward, ``t`` = last .. first) and ``UPD``,
    ``UPD_DRAIN`` (update) as the module docstring's table lists them, and
    drives the datapath through the context ``dp`` (its signature to the
    datapath): the issue strobes and counters of every stage (``n_issue``/
    ``n_g``, ``r_issue``/``r_g``, ``ob_issue``/``ob_g``, ``j_issue``/``j_j``/
    ``j_c``, ``u_issue``/``u_m``/``u_a``), the event scanner (``scan.load``,
    ``scan.mask``, ``scan_run``, ``scan_kind``), the step state (``frame``,
    ``s_vec``, ``count``, ``t_step``, ``t_b``, ``bank``, ``steps``, ``windows``),
    the frame streams and ``busy``. Exports ``fsm`` (for :func:`perf_counters`).
    """
    m, G, Go, n_h, rd, wr, BIAS = dp.m, dp.G, dp.Go, dp.n_h, dp.rd, dp.wr, dp.BIAS
    core, host = dp.core, dp.host
    drain = Signal(range(64))
    o_frame = core.o_frame
    # the step counter after this step: STEPS itself, which changes only at the next
    # frame's EMIT (which waits for this one to be taken) or by a host write
    m.d.comb += o_frame.payload.steps.eq(dp.steps)
    with m.If(o_frame.valid & o_frame.ready):
        m.d.sync += o_frame.valid.eq(0)

    def load_x(t, next_state):
        """buf_x[t] -> x, one packed word per cycle (the data one cycle later); then
        ``next_state``. ``bx_k`` counts from 0 on entry."""
        m.d.sync += dp.bx_k.eq(dp.bx_k + 1)
        with m.If(dp.bx_k < dp.GX):
            m.d.comb += rd["buf_x"].addr.eq(t * dp.GX + dp.bx_k)
        with m.If(dp.bx_k != 0):
            # shifted in from the top: after GX words, word k sits at k
            m.d.sync += dp.xr_raw.eq(Cat(dp.xr_raw[dp.XW:], rd["buf_x"].data.as_value()))
        with m.If(dp.bx_k == dp.GX):
            m.next = next_state

    def issue_groups(name, issue, g, last, latency, done):
        """States ``name`` (``issue`` groups ``g`` = 0 .. ``last``, one a cycle) and
        ``name_DRAIN`` (``latency`` + 1 cycles for the pipeline to empty); then ``done()``."""
        with m.State(name):
            m.d.comb += [core.busy.eq(1), issue.eq(1)]
            m.d.sync += g.eq(g + 1)
            with m.If(g == last):
                m.d.sync += drain.eq(latency + 1)
                m.next = name + "_DRAIN"
        with m.State(name + "_DRAIN"):
            m.d.comb += core.busy.eq(1)
            m.d.sync += drain.eq(drain - 1)
            with m.If(drain == 0):
                done()

    with m.FSM(name="ctrl") as fsm:
        with m.State("IDLE"):
            m.d.comb += host.grant.eq(1)
            if dp.frame_chain is not None:
                # byte-serial input (fptt.rtl.host.frame_byte_input): the frame's bytes
                # shift into x's own register and the frame register behind it
                with m.If(core.i_byte.valid):
                    m.d.sync += dp.frame_chain.eq(Cat(dp.frame_chain[8:], core.i_byte.payload))
            with m.If(~host.busy & ~core.bus.stb):
                m.d.comb += core.i_frame.ready.eq(1)
                with m.If(core.i_frame.valid):
                    if dp.frame_chain is None:
                        pl = core.i_frame.payload
                        m.d.sync += [dp.frame.eq(pl), dp.touched.eq(0), dp.otouched.eq(0),
                                     dp.n_spikes.eq(0),
                                     dp.xr_raw.eq(Cat(pl.x.as_value(), dp.x_pad))]
                    else:
                        pl = dp.frame          # x is in place; the words above it zero
                        m.d.sync += [dp.touched.eq(0), dp.otouched.eq(0), dp.n_spikes.eq(0)]
                        if len(dp.x_pad):
                            m.d.sync += dp.xr_raw[-len(dp.x_pad):].eq(0)
                    with m.If(pl.sos):
                        m.d.sync += [dp.s_vec.eq(0), dp.count.eq(0), dp.t_step.eq(0)]
                    with m.Else():
                        m.d.sync += dp.t_step.eq(dp.count)
                    m.d.sync += dp.bx_k.eq(0)
                    m.next = "START"
        with m.State("START"):
            # buf_x[t] <- x_t, one packed word (KX inputs) per cycle
            m.d.comb += core.busy.eq(1)
            m.d.sync += dp.bx_k.eq(dp.bx_k + 1)
            with m.If(dp.frame.learn):
                # rotate x by one word per cycle: GX words later it is back in place
                m.d.comb += [wr["buf_x"].addr.eq(dp.t_step * dp.GX + dp.bx_k),
                             wr["buf_x"].en.eq(-1),
                             wr["buf_x"].data.as_value().eq(dp.xr_raw[:dp.XW])]
                m.d.sync += dp.xr_raw.eq(Cat(dp.xr_raw[dp.XW:], dp.xr_raw[:dp.XW]))
                with m.If((dp.t_step == 0) & (dp.bx_k == 0)):
                    m.d.comb += [wr["buf_s"].addr.eq(0), wr["buf_s"].en.eq(-1),
                                 wr["buf_s"].data.as_value().eq(dp.s_vec)]
            with m.If(dp.bx_k == 0):
                # x is in place only before the rotation starts
                m.d.comb += [dp.scan.load.eq(1), dp.scan.mask.eq(dp.x_nz)]
            with m.If(~dp.frame.learn | (dp.bx_k == dp.GX - 1)):
                m.next = "ACC_X"
        with m.State("ACC_X"):
            m.d.comb += [core.busy.eq(1), dp.scan_run.eq(1), dp.scan_kind.eq(dp.K_WIN)]
            with m.If(~dp.scan.valid):
                m.d.comb += [dp.scan_run.eq(0), dp.scan.load.eq(1),
                             dp.scan.mask.eq(Cat(dp.s_vec, Const(1, 1)) if BIAS else dp.s_vec)]
                m.next = "ACC_S"
        with m.State("ACC_S"):
            m.d.comb += [core.busy.eq(1), dp.scan_run.eq(1), dp.scan_kind.eq(dp.K_WREC)]
            with m.If(~dp.scan.valid):
                m.d.comb += dp.scan_run.eq(0)
                m.d.sync += [dp.n_g.eq(0), dp.n_out_g.eq(0)]
                m.next = "NEU"
        def neu_done():
            m.d.comb += [dp.scan.load.eq(1), dp.scan.mask.eq(
                Cat(dp.s_new[:n_h], Const(1, 1)) if BIAS else dp.s_new[:n_h])]
            m.next = "RO_ACC"
        issue_groups("NEU", dp.n_issue, dp.n_g, G - 1, dp.NL, neu_done)
        with m.State("RO_ACC"):
            m.d.comb += [core.busy.eq(1), dp.scan_run.eq(1), dp.scan_kind.eq(dp.K_WOUT)]
            with m.If(~dp.scan.valid):
                m.d.comb += dp.scan_run.eq(0)
                m.d.sync += dp.r_g.eq(0)
                m.next = "RO"
        def ro_done():
            m.next = "EMIT"
        issue_groups("RO", dp.r_issue, dp.r_g, Go - 1, dp.RL, ro_done)
        with m.State("EMIT"):
            m.d.comb += core.busy.eq(1)
            close = dp.frame.learn & ((dp.t_step + 1 >= dp.window_L) | dp.frame.eos)
            with m.If(~o_frame.valid):
                m.d.sync += [
                    o_frame.valid.eq(1),
                    o_frame.payload.o.eq(dp.o_stage),
                    o_frame.payload.spikes.eq(dp.n_spikes),
                    o_frame.payload.status.eq(Cat(close, dp.frame.learn, dp.frame.sos,
                                                  dp.frame.eos)),
                    dp.steps.eq(dp.steps + 1),
                    dp.s_vec.eq(dp.s_new[:n_h]),
                ]
                with m.If(dp.frame.learn):
                    m.d.comb += [wr["buf_s"].addr.eq(dp.t_step + 1), wr["buf_s"].en.eq(-1),
                                 wr["buf_s"].data.as_value().eq(dp.s_new[:n_h])]
                    m.d.sync += dp.count.eq(dp.t_step + 1)
                with m.Else():
                    m.d.sync += dp.count.eq(0)
                with m.If(close):
                    m.d.sync += [dp.t_b.eq(dp.t_step), dp.last_t.eq(1), dp.bx_k.eq(0)]
                    m.next = "BW_T"
                with m.Else():
                    m.next = "IDLE"
        # ---------------------------------------------------------- backward
        with m.State("BW_T"):
            m.d.comb += core.busy.eq(1)
            load_x(dp.t_b + 1, "BW_T2")
        with m.State("BW_T2"):
            m.d.comb += core.busy.eq(1)
            m.d.sync += [dp.ob_g.eq(0), dp.bx_k.eq(0)]
            # G_in += ī_{t+1} x_{t+1}ᵀ runs during BW_J (nothing after the last step)
            m.d.comb += [dp.scan.load.eq(1),
                         dp.scan.mask.eq(Mux(dp.last_t, 0, dp.x_nz))]
            m.next = "BW_OB"
        with m.State("BW_OB"):
            m.d.comb += [core.busy.eq(1), dp.ob_issue.eq(1)]
            m.d.sync += dp.ob_g.eq(dp.ob_g + 1)
            with m.If(dp.ob_g == Go - 1):
                m.d.sync += drain.eq(BackwardReadoutUnit.LATENCY + 1)
                m.next = "BW_OB_DRAIN"
        with m.State("BW_OB_DRAIN"):
            m.d.comb += core.busy.eq(1)
            m.d.sync += drain.eq(drain - 1)
            with m.If(drain == 0):
                m.d.sync += [dp.j_j.eq(0), dp.j_c.eq(0), dp.j_C.eq(Mux(dp.last_t, Go, max(G, Go))),
                             dp.bj.eq(0)]
                m.next = "BW_J"
        with m.State("BW_J"):
            m.d.comb += [core.busy.eq(1), dp.j_issue.eq(1), dp.scan_run.eq(1),
                         dp.scan_kind.eq(dp.K_GIN)]
            with m.If(dp.j_c == dp.j_C - 1):
                m.d.sync += [dp.j_c.eq(0), dp.j_j.eq(dp.j_j + 1)]
                with m.If(dp.j_j == n_h - 1 + BIAS):
                    m.d.sync += drain.eq(BackwardNeuronUnit.LATENCY + 2)
                    m.next = "BW_J_DRAIN"
            with m.Else():
                m.d.sync += dp.j_c.eq(dp.j_c + 1)
        with m.State("BW_J_DRAIN"):
            m.d.comb += [core.busy.eq(1), dp.scan_run.eq(1), dp.scan_kind.eq(dp.K_GIN)]
            with m.If(drain != 0):
                m.d.sync += drain.eq(drain - 1)
            with m.Elif(~dp.scan.valid):
                with m.If(dp.t_b == 0):
                    m.next = "BW_LAST"
                with m.Else():
                    m.d.sync += [dp.t_b.eq(dp.t_b - 1), dp.last_t.eq(0), dp.bank.eq(~dp.bank)]
                    m.next = "BW_T"
        # x_0 and s_-1 for the update sweep's t = 0 gradient terms
        with m.State("BW_LAST"):
            m.d.comb += [core.busy.eq(1), dp.s_addr.eq(0)]
            load_x(0, "BW_LAST2")
        with m.State("BW_LAST2"):
            m.d.comb += [core.busy.eq(1), dp.s_addr.eq(0)]
            m.d.sync += [
                         dp.u_m.eq(0), dp.u_a.eq(0), dp.u_g.eq(0), dp.u_col.eq(0), dp.u_ph.eq(0),
                         dp.uo_m.eq(0), dp.uo_a.eq(0)]
            m.next = "UPD"
        # ---------------------------------------------------------- update
        with m.State("UPD"):
            m.d.comb += [core.busy.eq(1), dp.u_issue.eq(~dp.u_ph), dp.s_addr.eq(0)]
            depth = dp.per_param([dp.geo[par][1] * dp.geo[par][2] for par in dp.PARAMS])
            gm = dp.per_param([dp.geo[par][2] for par in dp.PARAMS])
            if dp.SINGLE:          # else a read every cycle (u_ph stays 0)
                m.d.sync += dp.u_ph.eq(~dp.u_ph)
            with m.If(~dp.u_ph):
                m.d.sync += [dp.u_a.eq(dp.u_a + 1),
                             dp.u_g.eq(Mux(dp.u_g == gm[dp.u_m] - 1, 0, dp.u_g + 1)),
                             dp.u_col.eq(Mux(dp.u_g == gm[dp.u_m] - 1, dp.u_col + 1, dp.u_col))]
                with m.If(dp.u_a == depth[dp.u_m] - 1):
                    m.d.sync += [dp.u_a.eq(0), dp.u_g.eq(0), dp.u_col.eq(0), dp.u_m.eq(dp.u_m + 1)]
                    with m.If(dp.u_m == len(dp.PARAMS) - 1):
                        m.d.sync += drain.eq(dp.RGW + 1)
                        m.next = "UPD_DRAIN"
        with m.State("UPD_DRAIN"):
            m.d.comb += [core.busy.eq(1), dp.s_addr.eq(0)]
            m.d.sync += drain.eq(drain - 1)
            with m.If(drain == 0):
                m.d.sync += [dp.count.eq(0), dp.windows.eq(dp.windows + 1), dp.bank.eq(0)]
                m.next = "IDLE"
    dp.fsm = fsm


def perf_counters(dp) -> None:
    """``PERF_FWD``, ``PERF_BWD``, ``PERF_UPD``: cycles spent in each group of controller states
    (with ``profile_counters``; the cycle model must equal them, ``tests/test_controller.py``)."""
    m, cfg = dp.m, dp.cfg
    perf_fwd, perf_bwd, perf_upd = Signal(32), Signal(32), Signal(32)
    in_fwd = Cat(*[dp.fsm.ongoing(st) for st in FORWARD_STATES]).any()
    in_bwd = Cat(*[dp.fsm.ongoing(st) for st in BACKWARD_STATES]).any()
    in_upd = Cat(*[dp.fsm.ongoing(st) for st in UPDATE_STATES]).any()
    if cfg.profile_counters:
        m.d.sync += [perf_fwd.eq(perf_fwd + in_fwd), perf_bwd.eq(perf_bwd + in_bwd),
                     perf_upd.eq(perf_upd + in_upd)]
    dp.perf_bwd = perf_bwd
    dp.perf_fwd = perf_fwd
    dp.perf_upd = perf_upd
