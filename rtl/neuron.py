"""Neuron update unit: the ALIF step of one neuron per cycle, and its surrogate.

Equations (golden :func:`fptt.golden.fixed_core.neuron_update` followed by
:func:`fptt.golden.fixed_core.surrogate`; every line one exact sum, one
round-to-nearest, one saturation)::

    a_t = ρ a_{t-1} + (1-ρ) s_{t-1}                 -> formats.a
    B_t = θ0 + β_a a_t                              -> formats.u
    u_t = α u_{t-1} + c·acc - B_t s_{t-1}           -> formats.u
    s_t = [u_t >= B_t]
    ψ_t = max(0, H - (|u_t - B_t| >> k_ψ))          -> formats.psi (no multiplier)

with the codes ``ρ, 1-ρ, β_a, α, c`` of ``cfg.const_q`` (frac ``f_c``),
``θ0 = cfg.theta_q``, ``H = cfg.surrogate_height_q``, ``k_ψ = cfg.surrogate_shift``
(a negative shift is a left shift).

Interface (``NeuronUnit(cfg)``)
-------------------------------
Ports are grouped: inputs under ``inp``, outputs under ``out``
(``dut.inp.u``; Verilog ``inp__u``).

==============  =====================  ==========================================
port            shape                  meaning
==============  =====================  ==========================================
``inp.valid``   1                      a neuron enters the pipeline this cycle
``inp.u``       signed(u.width)        ``u_{t-1}`` (frac ``f_u``)
``inp.a``       signed(a.width)        ``a_{t-1}`` (frac ``f_a``)
``inp.s_prev``  1                      ``s_{t-1}``
``inp.acc``     signed(acc_width)      exact synaptic sum (``cfg.acc_fmt``)
``out.valid``   1                      results of the neuron entered LATENCY
                                       cycles earlier
``out.u``       signed(u.width)        ``u_t``
``out.a``       signed(a.width)        ``a_t``
``out.s``       1                      ``s_t``
``out.thr``     signed(u.width)        ``B_t`` (frac ``f_u``)
``out.psi``     signed(psi.width)      ``ψ_t`` (``0 <= ψ <= H``)
``out.sat_a``   1                      ``a_t`` was saturated (golden count "a")
``out.sat_threshold``  1               ``B_t`` was saturated ("threshold")
``out.sat_u``   1                      ``u_t`` was saturated ("u")
==============  =====================  ==========================================

Timing: fully pipelined, one neuron per cycle, no back-pressure, fixed
latency ``L`` = :attr:`NeuronUnit.LATENCY` (7; 5 for LIF): inputs sampled at
the clock edge ending cycle ``c`` (with ``inp.valid``) appear on ``out``
during cycle ``c + L`` with ``out.valid`` high. Neurons are independent, so
there is no hazard inside the unit. Stages (at most one carry chain each, for
the UP5K; a LIF core, ``cfg.adaptive`` false, has no ``a_t`` and a constant
``B_t = θ0``, and leaves out stages 3 and 4):

1. product ``ρa`` (DSP); the exact partial sum ``P = αu + c·acc`` (DSP product
   straight into one adder; only the bits of ``P`` that ``u_t`` needs are kept);
2. ``a_t`` (one adder: the reset term and the rounding offset are one selected
   constant; saturation by bit tests); ``round(P)`` to ``f_u``, clamped to
   ``u.width + 2`` bits;
3. product ``β_a a_t`` (DSP);
4. ``B_t`` (one adder: ``θ0`` and the rounding offset are one constant);
5. ``u_t = sat(round(P) - B_t s_{t-1})`` (equal to golden's single rounding:
   ``B_t s_{t-1}`` has no bit below the rounded position);
6. ``u_t - B_t`` and ``B_t - u_t`` side by side: ``s_t`` (the sign) and
   ``|u_t - B_t| >> k_ψ``;
7. ``ψ_t = max(0, H - dist)``.

Widths: every intermediate has the exact Amaranth width of its expression
(e.g. ``c·acc`` is ``acc_width + bits(c) + 1`` bits); only the stored results
are saturated to their formats, and ``round(P)`` is clamped where that cannot
change ``u_t`` (low bits that cannot change a rounding are not kept).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig, Fmt
from .accumulator import popcount
from .fixed import CombPart, delay, exact_sum, fmt_shape, issue_port, saturate_bits, stage

__all__ = ["NeuronUnit", "neuron_stage", "check_shared_tau"]


def _round_sum(value, d: int, const=0, sel=None, const_sel=0) -> Value:
    """``round_shift(value + c, d)`` (round to nearest) by one adder.

    ``c`` is the constant ``const``, or ``Mux(sel, const_sel, const)`` when ``sel``
    is given; the rounding offset ``2**(d-1)`` is folded into the constant.
    """
    rc = 1 << (d - 1) if d > 0 else 0
    c = const + rc if sel is None else Mux(sel, const_sel + rc, const + rc)
    total = value + c
    return total.shift_right(d) if d > 0 else total.shift_left(-d)


def check_shared_tau(cfg: CoreConfig) -> None:
    """``ValueError`` unless every neuron has the same membrane time constant: the RTL's ``α``
    is one constant multiplier (per-neuron ``α_j``, ``neuron.tau_mem_spread > 1``, are in the
    golden models and the references only)."""
    if cfg.per_neuron_tau:
        raise ValueError(
            f"neuron.tau_mem_spread = {cfg.neuron.tau_mem_spread!r}: per-neuron membrane time "
            f"constants are in the golden models only, the RTL multiplies by one constant alpha; "
            f"set neuron.tau_mem_spread = 1 to build the hardware")


class NeuronUnit(wiring.Component):
    """Pipelined ALIF neuron update + triangle surrogate (golden ``neuron_update`` + ``surrogate``).

    Parameters
    ----------
    cfg : CoreConfig
        Formats, neuron constants and ``acc_width``.
    """

    @staticmethod
    def latency(cfg: CoreConfig) -> int:
        """Cycles from ``inp.valid`` to ``out.valid``: 7 (ALIF), 5 (LIF: ``B_t = θ0``)."""
        return 7 if cfg.adaptive else 5

    def __init__(self, cfg: CoreConfig):
        check_shared_tau(cfg)
        self.cfg = cfg
        #: Cycles from ``inp.valid`` to ``out.valid`` (:meth:`latency`).
        self.LATENCY = self.latency(cfg)
        f = cfg.formats
        super().__init__({
            "inp": In(Signature({
                "valid": Out(1),
                "u": Out(fmt_shape(f.u)),
                "a": Out(fmt_shape(f.a)),
                "s_prev": Out(1),
                "acc": Out(signed(cfg.acc_width)),
            })),
            "out": Out(Signature({
                "valid": Out(1),
                "u": Out(fmt_shape(f.u)),
                "a": Out(fmt_shape(f.a)),
                "s": Out(1),
                "thr": Out(fmt_shape(f.u)),
                "psi": Out(fmt_shape(f.psi)),
                "sat_a": Out(1),
                "sat_threshold": Out(1),
                "sat_u": Out(1),
            })),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, f, k = self.cfg, self.cfg.formats, self.cfg.const_q
        fc, fa, fu = f.const.frac, f.a.frac, f.u.frac
        fac = cfg.acc_fmt.frac
        i, o = self.inp, self.out

        valid = delay(m, i.valid, self.LATENCY - 1, "valid", reset_less=False)

        # Stage 1: constant products.
        s1 = stage(m, i.s_prev, "s_prev_1")
        # The exact partial sum P = αu + c·acc of u_t is formed here too (the DSP's product
        # goes straight into the adder), so that only the bits of P that u_t needs are
        # registered, instead of both products.
        part, part_frac = exact_sum([(k["alpha"] * i.u, fc + fu), (k["c"] * i.acc, fc + fac)])
        d_u = part_frac - fu
        u_part1 = stage(m, part.shift_right(d_u - 1) if d_u > 0 else part, "u_part_1")

        # Stage 2: exact partial sum P = αu + c·acc of u_t.
        # Exact at frac max(f_c + f_u, f_c + f_acc) >= f_u. u_t rounds P - B_t s·2**d
        # by d = part_frac - f_u; B_t s·2**d has no bit below 2**d, so
        # u_t = sat(round(P) - B_t s) exactly, and round(P) = (P >> (d-1)) + 1 >> 1:
        # only P >> (d-1) is kept.
        # round(P) clamped to u.width + 2 bits: |B_t s| <= 2**(u.width-1), so a clamped
        # value still saturates u_t (and flags it) the same way; stage 5 adds narrow words.
        u_q = (u_part1 + 1).shift_right(1) if d_u > 0 else u_part1
        u_q2 = stage(m, saturate_bits(u_q, Fmt(f.u.width + 2, 0))[0], "u_round_2")
        s2 = stage(m, s1, "s_prev_2")

        if cfg.adaptive:
            # round(P) and s_{t-1} wait two stages for B_t.
            u_q4 = delay(m, u_q2, 2, "u_round")
            s4 = delay(m, s2, 2, "s_prev")
            # Stage 1: ρa (DSP). Stage 2: a_t (one add: the reset term and the rounding
            # offset are one selected constant; saturation by bit tests).
            p_a = stage(m, k["rho"] * i.a, "p_rho_a")
            top = max(fc + fa, fc)
            a_val, a_sat = saturate_bits(
                _round_sum(p_a.shift_left(top - fc - fa), top - fa, sel=s1,
                           const_sel=k["one_minus_rho"] << (top - fc)), f.a)
            a2 = stage(m, a_val, "a_2")
            a_sat2 = stage(m, a_sat, "sat_a_2")
            # Stage 3: β_a a_t (DSP).
            p_b = stage(m, k["beta_a"] * a2, "p_beta_a")
            # Stage 4: B_t = θ0 + β_a a_t (one add: θ0 and the rounding offset are one
            # constant).
            top = max(fu, fc + fa)
            thr_val, thr_sat = saturate_bits(_round_sum(p_b.shift_left(top - fc - fa), top - fu,
                                                        cfg.theta_q << (top - fu)), f.u)
            thr4 = stage(m, thr_val, "thr_4")
            thr5 = stage(m, thr4, "thr_5")              # stage 6 compares u_t with it
            thr6 = stage(m, thr5, "thr_6")
            thr_sat6 = delay(m, thr_sat, 3, "sat_thr")
            a6, a_sat6 = delay(m, a2, 4, "a"), delay(m, a_sat2, 4, "sat_a")
        else:
            # LIF: a_t = 0 and B_t = θ0, constants (no adaptation datapath, and stages 3
            # and 4 are left out: LATENCY 5).
            # (CoreConfig checks that θ0 fits formats.u: B_t never saturates.)
            u_q4, s4 = u_q2, s2
            thr4 = thr5 = thr6 = Const(cfg.theta_q, fmt_shape(f.u))
            thr_sat6 = Const(0, 1)
            a6, a_sat6 = Const(0, fmt_shape(f.a)), Const(0, 1)

        # Stage 5: u_t = sat(round(αu + c acc) - B_t s_{t-1}).
        u_val, u_sat = saturate_bits(u_q4 - Mux(s4, thr4, 0), f.u)
        u5 = stage(m, u_val, "u_5")
        u_sat5 = stage(m, u_sat, "sat_u_5")

        # Stage 6: u_t - B_t and B_t - u_t (exact, side by side): s_t is the sign of the
        # first; dist = |u_t - B_t| >> k_ψ. ψ = 0 wherever dist >= 2**bits(H) > H:
        # only that flag and the low bits of dist are kept.
        sh = cfg.surrogate_shift
        hb = max(1, cfg.surrogate_height_q.bit_length())
        d_pos, d_neg = u5 - thr5, thr5 - u5
        neg = d_pos[-1]

        def _dist(d):   # d >= 0
            d = d.shift_right(sh) if sh >= 0 else d.shift_left(-sh)
            return d[:hb], (d[hb:].any() if len(d) > hb else Const(0, 1))

        (lo_p, far_p), (lo_n, far_n) = _dist(d_pos), _dist(d_neg)
        far6 = stage(m, Mux(neg, far_n, far_p), "far_6")
        dist6 = stage(m, Mux(neg, lo_n, lo_p), "dist_6")
        spike6 = stage(m, ~neg, "s_6")
        u6 = stage(m, u5, "u_6")
        u_sat6 = stage(m, u_sat5, "sat_u_6")

        # Stage 7: ψ = max(0, H - dist).
        psi = cfg.surrogate_height_q - dist6
        zero = far6 | (psi < 0)
        m.d.sync += [
            o.valid.eq(valid),
            o.u.eq(u6),
            o.a.eq(a6),
            o.thr.eq(thr6),
            o.s.eq(spike6),
            o.psi.eq(Mux(zero, 0, psi)),   # 0 <= ψ <= H <= psi.max: fits
            o.sat_a.eq(a_sat6),
            o.sat_threshold.eq(thr_sat6),
            o.sat_u.eq(u_sat6),
        ]
        return m


def neuron_stage(dp) -> None:
    """The ``NEU`` phase around the :class:`NeuronUnit` lanes: issue, state write-back, ψ.

    Group ``n_g`` (issued by the controller with ``n_issue``) reads ``u``, ``a``
    and the accumulator; the results write ``u``, ``a``, ``buf_psi[t]`` and shift
    the new spikes into ``s_new``, counting them. Exports ``n_issue``, ``n_g``,
    ``n_out_g``, ``NL`` (latency), ``sos``, and the write strobes the saturation
    counters watch (``n_out_valid``, ``n_lanes_valid``).
    """
    m, P, G, n_h, rd, wr, ADAPT = dp.m, dp.P, dp.G, dp.n_h, dp.rd, dp.wr, dp.ADAPT
    n_issue, n_g, n1_valid, n1_g = issue_port(m, G, "n")
    with m.If(n_issue):
        m.d.comb += [rd["u"].addr.eq(n_g), rd["acc"].addr.eq(n_g)]
        if ADAPT:
            m.d.comb += rd["a"].addr.eq(n_g)
    sos = dp.frame.sos
    s_pad = Cat(dp.s_vec, Const(0, G * P - n_h)) if G * P > n_h else dp.s_vec
    nm = m.submodules.neu_in = CombPart()
    for p in range(P):
        u = dp.neu[p]
        nm.m.d.comb += [
            u.inp.valid.eq(n1_valid),
            u.inp.u.eq(Mux(sos, 0, rd["u"].data[p])),
            u.inp.a.eq(Mux(sos, 0, rd["a"].data[p]) if ADAPT else 0),
            u.inp.s_prev.eq(s_pad.bit_select(n1_g * P + p, 1)),
            u.inp.acc.eq(Mux(dp.touched, rd["acc"].data[p], 0)),
        ]
    NL = dp.neu[0].LATENCY
    # results leave the pipelines in issue order: their index is a counter, not a
    # delay line of the issued index (a flip-flop per bit and stage, no logic to share)
    n_out_g = Signal.like(n_g)
    with m.If(dp.neu[0].out.valid):
        m.d.sync += n_out_g.eq(n_out_g + 1)
    n_out_valid = dp.neu[0].out.valid
    n_lanes_valid = dp.lane_mask(n_h - n_out_g * P)
    with m.If(n_out_valid):
        m.d.comb += [wr["u"].addr.eq(n_out_g), wr["u"].en.eq(n_lanes_valid)]
        for p in range(P):
            m.d.comb += [wr["u"].data[p].eq(dp.neu[p].out.u),
                         wr["buf_psi"].data[p].eq(dp.neu[p].out.psi)]
        if ADAPT:
            m.d.comb += [wr["a"].addr.eq(n_out_g), wr["a"].en.eq(n_lanes_valid)]
            m.d.comb += [wr["a"].data[p].eq(dp.neu[p].out.a) for p in range(P)]
        # the groups leave the pipeline in order 0 .. G-1: shift them in from the top
        # (no address decoder) and count the spikes as they pass
        new_s = Cat(*[dp.neu[p].out.s for p in range(P)]) & n_lanes_valid
        m.d.sync += [dp.s_new.eq(Cat(dp.s_new[P:], new_s) if G > 1 else new_s),
                     dp.n_spikes.eq(dp.n_spikes + popcount(new_s))]
        with m.If(dp.frame.learn):
            m.d.comb += [wr["buf_psi"].addr.eq(dp.t_step * G + n_out_g),
                         wr["buf_psi"].en.eq(n_lanes_valid)]
    dp.NL = NL
    dp.n_g = n_g
    dp.n_issue = n_issue
    dp.n_lanes_valid = n_lanes_valid
    dp.n_out_g = n_out_g
    dp.n_out_valid = n_out_valid
    dp.sos = sos
