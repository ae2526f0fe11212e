"""Backward units: the reverse-time recursion of one window, one unit per cycle.

:class:`BackwardReadoutUnit` (golden :func:`fptt.golden.fixed_core.backward_readout`)::

    ō_t = δ_t + κ ō_{t+1}                                -> formats.obar

:class:`BackwardNeuronUnit` (golden :func:`fptt.golden.fixed_core.backward_neuron`)::

    s̄_t = W_outᵀō_t + W_recᵀī_{t+1} + (1-ρ) ā_{t+1}      -> formats.sbar
    v̄_t = ψ_t s̄_t                                        -> formats.vbar
    ū_t = v̄_t + α ū_{t+1}                                -> formats.ubar
    ā_t = -β_a v̄_t + ρ ā_{t+1}                           -> formats.abar
    ī_t = c ū_t                                          -> formats.ibar

Each line is one exact sum, one round-to-nearest and one saturation. The
two matrix-vector products are exact sums formed outside (the weight memory
streams ``W_out`` and ``W_rec`` column-wise): ``W_outᵀō`` at frac
``f_w + f_obar``, ``W_recᵀī'`` at frac ``f_w + f_ibar``. At the window's last
step, ``ō_{t+1}``, ``ī_{t+1}``, ``ū_{t+1}``, ``ā_{t+1}`` are 0.

Arithmetic: every product by a configuration constant (κ, 1-ρ, α, -β_a, ρ,
c) is shifts and adders (:func:`~fptt.rtl.fixed.const_mul_add`, no DSP);
the one variable product ``ψ s̄`` is the only ``SB_MAC16``. Each line's
round-to-nearest offset ``2**(d-1)`` is added inside one of its products
(:func:`~fptt.rtl.fixed.rounding_offset`: in a constant product's zero bits,
in the DSP's adder for ``ψ s̄``), so the sum is only shifted
(:func:`~fptt.rtl.fixed.round_pre`); where no term can take it (other
formats) the sum is rounded as usual. Saturation and its flag use
:func:`~fptt.rtl.fixed.saturate_bits` (bit patterns, no comparators). The
values are those of ``requant`` / the golden functions, bit for bit.

Interface (``BackwardReadoutUnit(cfg)``), latency 2
---------------------------------------------------
===================  ===================  =====================================
port                 shape                meaning
===================  ===================  =====================================
``inp.valid``        1                    a readout unit enters this cycle
``inp.delta``        signed(delta.width)  ``δ_t``
``inp.obar_next``    signed(obar.width)   ``ō_{t+1}`` (0 at the window's end)
``out.valid``        1                    result LATENCY cycles later
``out.obar``         signed(obar.width)   ``ō_t``
``out.sat_obar``     1                    ``ō_t`` saturated (golden count "obar")
===================  ===================  =====================================

Stages: 1 ``κ ō'`` (with ``ō_t``'s rounding offset); 2 ``ō_t`` (one adder,
shift, saturation).

Interface (``BackwardNeuronUnit(cfg)``), latency 8
--------------------------------------------------
=====================  ==========================  ============================
port                   shape                       meaning
=====================  ==========================  ============================
``inp.valid``          1                           a neuron enters this cycle
``inp.wt_obar``        signed(wt_obar_width)       exact ``(W_outᵀō_t)_j``
``inp.wt_ibar``        signed(wt_ibar_width)       exact ``(W_recᵀī_{t+1})_j``
``inp.psi``            signed(psi.width)           ``ψ_j,t``
``inp.ubar_next``      signed(ubar.width)          ``ū_j,t+1``
``inp.abar_next``      signed(abar.width)          ``ā_j,t+1``
``out.valid``          1                           results LATENCY cycles later
``out.ibar``           signed(ibar.width)          ``ī_j,t``
``out.ubar``           signed(ubar.width)          ``ū_j,t``
``out.abar``           signed(abar.width)          ``ā_j,t``
``out.sat_sbar`` ...   1 each                      saturation of s̄, v̄, ū, ā, ī
                                                   (golden counts "sbar", "vbar",
                                                   "ubar", "abar", "ibar")
=====================  ==========================  ============================

Widths of the exact sums (instance attributes, from :func:`~fptt.rtl.fixed.sum_width`):
``wt_obar_width = sum_width(n_out, w, obar)`` (``n_out`` products of two
signed codes; default n_out = 2: 2·2**15·2**15 = 2**31 → 33 bits) and
``wt_ibar_width = sum_width(n_hidden, w, ibar)`` (default n_hidden = 64:
2**36 → 38 bits).

Stages: 1 ``W_outᵀō + W_recᵀī'`` and ``(1-ρ)ā'`` (with ``s̄``'s rounding
offset); 2 ``s̄`` rounded (one adder and the shift); 3 ``s̄`` saturated;
4 ``ψ s̄`` (the one variable×variable product, an ``SB_MAC16``, with ``v̄``'s
rounding offset); 5 ``v̄`` and ``αū'`` (with ``ū``'s offset); 6 ``ū``,
``-β_a v̄`` and ``ρā'`` (with ``ā``'s offset); 7 ``ā`` and ``c ū`` (with ``ī``'s
offset); 8 ``ī``. (Placed and routed alone on an iCE40 UP5K, default
configuration: above 33 MHz.)
All outputs of one neuron appear in the same cycle. Neurons are independent
within a step; ``ī_t``, ``ū_t``, ``ā_t`` of step ``t`` feed step ``t-1``
(through the controller), so there is no hazard inside the unit.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig
from .constmul import const_mul_add
from .fixed import (CombPart, delay, exact_sum, fmt_shape, round_pre, rounding_offset,
                    saturate_bits, stage, sum_width)
from .host import divmod_const
from .neuron import check_shared_tau

__all__ = ["BackwardReadoutUnit", "BackwardNeuronUnit", "wt_obar_width", "wt_ibar_width",
           "backward_readout_stage", "backward_neuron_stage"]


def wt_obar_width(cfg: CoreConfig) -> int:
    """Width of the exact ``(W_outᵀ ō)_j``: ``n_out`` products ``w·ō``."""
    return sum_width(cfg.n_out, cfg.formats.w, cfg.formats.obar)


def wt_ibar_width(cfg: CoreConfig) -> int:
    """Width of the exact ``(W_recᵀ ī)_j``: ``n_hidden`` products ``w·ī``."""
    return sum_width(cfg.n_hidden, cfg.formats.w, cfg.formats.ibar)


class BackwardReadoutUnit(wiring.Component):
    """Pipelined ``ō_t = δ_t + κ ō_{t+1}`` (golden ``backward_readout``).

    Parameters
    ----------
    cfg : CoreConfig
        Formats and ``κ``.
    """

    #: Cycles from ``inp.valid`` to ``out.valid``.
    LATENCY = 2

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        f = cfg.formats
        super().__init__({
            "inp": In(Signature({
                "valid": Out(1),
                "delta": Out(fmt_shape(f.delta)),
                "obar_next": Out(fmt_shape(f.obar)),
            })),
            "out": Out(Signature({
                "valid": Out(1),
                "obar": Out(fmt_shape(f.obar)),
                "sat_obar": Out(1),
            })),
        })

    def elaborate(self, platform):
        m = Module()
        f, fc = self.cfg.formats, self.cfg.formats.const.frac
        i, o = self.inp, self.out
        valid = delay(m, i.valid, self.LATENCY - 1, "valid", reset_less=False)
        # Stage 1: κ ō' from shifts and adders, with ō_t's rounding offset inside.
        f_p = fc + f.obar.frac
        off = rounding_offset(f_p, max(f_p, f.delta.frac), f.obar.frac)
        p = stage(m, const_mul_add(i.obar_next, self.cfg.const_q["kappa"], off or 0),
                  "p_kappa_obar")
        d1 = stage(m, i.delta, "delta_1")
        # Stage 2: ō_t (one adder, the shift, saturation).
        total, top = exact_sum([(d1, f.delta.frac), (p, f_p)])
        val, sat = saturate_bits(round_pre(total, top - f.obar.frac, off is not None), f.obar)
        m.d.sync += [o.valid.eq(valid), o.obar.eq(val), o.sat_obar.eq(sat)]
        return m


class BackwardNeuronUnit(wiring.Component):
    """Pipelined backward step of one neuron (golden ``backward_neuron``).

    Parameters
    ----------
    cfg : CoreConfig
        Formats, neuron constants, ``n_out`` and ``n_hidden`` (for the sum widths).
    """

    #: Cycles from ``inp.valid`` to ``out.valid``.
    LATENCY = 8

    def __init__(self, cfg: CoreConfig):
        check_shared_tau(cfg)
        self.cfg = cfg
        f = cfg.formats
        self.wt_obar_width = wt_obar_width(cfg)
        self.wt_ibar_width = wt_ibar_width(cfg)
        super().__init__({
            "inp": In(Signature({
                "valid": Out(1),
                "wt_obar": Out(signed(self.wt_obar_width)),
                "wt_ibar": Out(signed(self.wt_ibar_width)),
                "psi": Out(fmt_shape(f.psi)),
                "ubar_next": Out(fmt_shape(f.ubar)),
                "abar_next": Out(fmt_shape(f.abar)),
            })),
            "out": Out(Signature({
                "valid": Out(1),
                "ibar": Out(fmt_shape(f.ibar)),
                "ubar": Out(fmt_shape(f.ubar)),
                "abar": Out(fmt_shape(f.abar)),
                "sat_sbar": Out(1),
                "sat_vbar": Out(1),
                "sat_ubar": Out(1),
                "sat_abar": Out(1),
                "sat_ibar": Out(1),
            })),
        })

    def elaborate(self, platform):
        m = Module()
        f, k, fc = self.cfg.formats, self.cfg.const_q, self.cfg.formats.const.frac
        i, o = self.inp, self.out
        lat = self.LATENCY
        valid = delay(m, i.valid, lat - 1, "valid", reset_less=False)
        # LIF (β_a = 0): ā' = 0 and so ā = 0; every ā term below folds to a constant.
        abar_next = i.abar_next if self.cfg.adaptive else Const(0, fmt_shape(f.abar))

        def finish(terms, fmt, preadded):
            """Exact sum of registered terms, rounded (offset pre-added or not), saturated."""
            total, top = exact_sum(terms)
            return saturate_bits(round_pre(total, top - fmt.frac, preadded), fmt)

        # Stage 1: W_outᵀō + W_recᵀī' and (1-ρ)ā' (with s̄'s rounding offset inside).
        w_sum, f_w = exact_sum([(i.wt_obar, f.w.frac + f.obar.frac),
                                (i.wt_ibar, f.w.frac + f.ibar.frac)])
        f_omr = fc + f.abar.frac
        off_s = rounding_offset(f_omr, max(f_w, f_omr), f.sbar.frac)
        ws1 = stage(m, w_sum, "wt_sum_1")
        p_omr = stage(m, const_mul_add(abar_next, k["one_minus_rho"], off_s or 0), "p_omr_abar")
        psi1 = stage(m, i.psi, "psi_1")
        ubar_n4 = delay(m, i.ubar_next, 4, "ubar_next")
        abar_n5 = delay(m, abar_next, 5, "abar_next")

        # Stage 2: s̄ rounded (one adder and the shift); stage 3: s̄ saturated.
        total, top = exact_sum([(ws1, f_w), (p_omr, f_omr)])
        sbar_r = stage(m, round_pre(total, top - f.sbar.frac, off_s is not None), "sbar_r_2")
        psi2 = stage(m, psi1, "psi_2")
        sbar, sbar_sat = saturate_bits(sbar_r, f.sbar)
        sbar3 = stage(m, sbar, "sbar_3")
        sat_s = delay(m, sbar_sat, lat - 3, "sat_sbar")
        psi3 = stage(m, psi2, "psi_3")

        # Stage 4: ψ s̄ (the one variable product, an SB_MAC16) with v̄'s rounding offset.
        f_psi = f.psi.frac + f.sbar.frac
        off_v = rounding_offset(f_psi, f_psi, f.vbar.frac)
        p_psi = stage(m, psi3 * sbar3 + off_v if off_v else psi3 * sbar3, "p_psi_sbar")

        # Stage 5: v̄ and α ū' (with ū's rounding offset inside).
        vbar, vbar_sat = finish([(p_psi, f_psi)], f.vbar, True)
        vbar5 = stage(m, vbar, "vbar_5")
        sat_v = delay(m, vbar_sat, lat - 5, "sat_vbar")
        f_alpha = fc + f.ubar.frac
        off_u = rounding_offset(f_alpha, max(f_alpha, f.vbar.frac), f.ubar.frac)
        p_alpha5 = stage(m, const_mul_add(ubar_n4, k["alpha"], off_u or 0), "p_alpha_ubar")

        # Stage 6: ū, -β_a v̄ and ρ ā' (ā's rounding offset inside ρ ā', or else -β_a v̄).
        ubar, ubar_sat = finish([(vbar5, f.vbar.frac), (p_alpha5, f_alpha)], f.ubar,
                                off_u is not None)
        ubar6 = stage(m, ubar, "ubar_6")
        sat_u = delay(m, ubar_sat, lat - 6, "sat_ubar")
        f_beta, f_rho = fc + f.vbar.frac, fc + f.abar.frac
        top_a = max(f_beta, f_rho)
        off_rho = rounding_offset(f_rho, top_a, f.abar.frac)
        off_beta = None if off_rho is not None else rounding_offset(f_beta, top_a, f.abar.frac)
        p_beta = stage(m, const_mul_add(vbar5, -k["beta_a"], off_beta or 0), "p_mbeta_vbar")
        p_rho6 = stage(m, const_mul_add(abar_n5, k["rho"], off_rho or 0), "p_rho_abar")

        # Stage 7: ā and c ū (with ī's rounding offset inside).
        abar, abar_sat = finish([(p_beta, f_beta), (p_rho6, f_rho)], f.abar,
                                off_rho is not None or off_beta is not None)
        abar7 = stage(m, abar, "abar_7")
        sat_a = delay(m, abar_sat, lat - 7, "sat_abar")
        f_c = fc + f.ubar.frac
        off_i = rounding_offset(f_c, f_c, f.ibar.frac)
        p_c = stage(m, const_mul_add(ubar6, k["c"], off_i), "p_c_ubar")
        ubar7 = stage(m, ubar6, "ubar_7")

        # Stage 8: ī.
        ibar, ibar_sat = finish([(p_c, f_c)], f.ibar, True)
        m.d.sync += [
            o.valid.eq(valid),
            o.ibar.eq(ibar),
            o.ubar.eq(ubar7),
            o.abar.eq(abar7),
            o.sat_sbar.eq(sat_s),
            o.sat_vbar.eq(sat_v),
            o.sat_ubar.eq(sat_u),
            o.sat_abar.eq(sat_a),
            o.sat_ibar.eq(ibar_sat),
        ]
        return m


def backward_readout_stage(dp) -> None:
    """``BW_OB``: ``ō_t`` of every readout from ``buf_delta[t]`` (:class:`BackwardReadoutUnit`).

    Exports ``ob_issue``, ``ob_g`` (driven by the controller) and ``ob_out_g``.
    """
    m, P, Go, rd = dp.m, dp.P, dp.Go, dp.rd
    ob_issue = Signal()
    ob_g = Signal(range(max(Go, 2)))
    ob1_valid, ob1_g = Signal(), Signal.like(ob_g)
    m.d.sync += [ob1_valid.eq(ob_issue), ob1_g.eq(ob_g)]
    with m.If(ob_issue):
        m.d.comb += rd["buf_delta"].addr.eq(dp.t_b * Go + ob_g)
    obm = m.submodules.ob_in = CombPart()
    for p in range(P):
        obm.m.d.comb += [
            dp.bro[p].inp.valid.eq(ob1_valid),
            dp.bro[p].inp.delta.eq(rd["buf_delta"].data[p]),
            dp.bro[p].inp.obar_next.eq(Mux(dp.last_t, 0, dp.obar_reg[ob1_g * P + p])),
        ]
    ob_out_g = delay(m, ob1_g, BackwardReadoutUnit.LATENCY, "ob_g")
    with m.If(dp.bro[0].out.valid):
        for p in range(P):
            m.d.sync += dp.obar_reg[ob_out_g * P + p].eq(dp.bro[p].out.obar)
    dp.ob_g = ob_g
    dp.ob_issue = ob_issue
    dp.ob_out_g = ob_out_g


def backward_neuron_stage(dp) -> None:
    """``BW_J``: per hidden neuron ``j`` the transposed products, gradient sums and ``ī, ū, ā``.

    Streams column ``j`` of ``W_out`` and ``W_rec`` (``j_c`` of ``j_C`` words),
    forms ``(W_outᵀō_t)_j`` and ``(W_recᵀī_{t+1})_j``, adds ``ō_t s_t,j`` and
    ``ī_{t+1} s_t,j`` to the gradient SRAM in the same cycles, then feeds the
    :class:`BackwardNeuronUnit` and writes ``ū``, ``ā`` and ``ī`` (bank ``bank``).
    With biases ``j = n_hidden`` is the always-active unit (its sums only).
    Exports ``j_issue``, ``j_j``, ``j_c``, ``j_C``, ``bj`` (driven by the controller).
    """
    m, cfg, f, P, G, Go, n_h, rd = dp.m, dp.cfg, dp.f, dp.P, dp.G, dp.Go, dp.n_h, dp.rd
    wr, BIAS, ADAPT = dp.wr, dp.BIAS, dp.ADAPT
    j_issue = Signal()
    # with biases j = n_h is the always-active unit: only its gradient sums
    # (G_b += ī_{t+1}, G_b_out += ō_t, s = 1), no backward neuron (s̄ has no bias term)
    j_j = Signal(range(max(n_h + BIAS, 2)))
    j_c = Signal(range(max(G, Go, 2)))
    j_C = Signal(range(max(G, Go) + 1))
    use_o = j_c < Go
    use_r = ~dp.last_t & (j_c < G)
    jq, _ = divmod_const(j_j, P)
    j1_valid, j1_j, j1_c = Signal(), Signal.like(j_j), Signal.like(j_c)
    j1_use_o, j1_use_r, j1_first, j1_last = Signal(), Signal(), Signal(), Signal()
    m.d.sync += [j1_valid.eq(j_issue), j1_j.eq(j_j), j1_c.eq(j_c), j1_use_o.eq(use_o),
                 j1_use_r.eq(use_r), j1_first.eq(j_c == 0), j1_last.eq(j_c == j_C - 1)]
    with m.If(j_issue):
        if BIAS:
            with m.If(j_j == n_h):
                m.d.comb += [*dp.rdp(rd["grad.b_out"], j_c), *dp.rdp(rd["grad.b"], j_c)]
            with m.Else():
                m.d.comb += [*dp.rdp(rd["w.w_out"], j_j * Go + j_c),
                             *dp.rdp(rd["grad.w_out"], j_j * Go + j_c),
                             *dp.rdp(rd["grad.w_rec"], j_j * G + j_c)]
        else:
            m.d.comb += [rd["w.w_out"].addr.eq(j_j * Go + j_c),
                         rd["grad.w_out"].addr.eq(j_j * Go + j_c),
                         rd["grad.w_rec"].addr.eq(j_j * G + j_c)]
        m.d.comb += [
            *dp.rdp(rd["w.w_rec"], j_j * G + j_c),
            rd["bw_i"].addr.eq(~dp.bank * G + j_c),
            rd["buf_psi"].addr.eq(dp.t_b * G + jq),
            rd["bw_u"].addr.eq(jq),
        ]
        if ADAPT:
            m.d.comb += rd["bw_a"].addr.eq(jq)
    jm = m.submodules.bw_math = CombPart()
    ow = Signal(data.ArrayLayout(signed(f.obar.width), P))
    jm.m.d.comb += [ow[p].eq(dp.obar_reg[j1_c * P + p]) for p in range(P)]
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
    s_j = (Cat(dp.s_buf, Const(1, 1)) if BIAS else dp.s_buf).bit_select(j1_j, 1)
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
        dp.bne.inp.valid.eq(bne_go),
        dp.bne.inp.wt_obar.eq(dot_o),
        dp.bne.inp.wt_ibar.eq(dot_r),
        dp.bne.inp.psi.eq(psi_h),
        dp.bne.inp.ubar_next.eq(Mux(dp.last_t, 0, ub_h)),
        dp.bne.inp.abar_next.eq(Mux(dp.last_t, 0, ab_h)),
    ]
    bj = Signal.like(j_j)
    with m.If(dp.bne.out.valid):
        m.d.sync += bj.eq(bj + 1)
    bjq, bjr = divmod_const(bj, P)
    with m.If(dp.bne.out.valid):
        onehot = Cat(*[bjr == p for p in range(P)])
        m.d.comb += [
            wr["bw_u"].addr.eq(bjq), wr["bw_u"].en.eq(onehot),
            wr["bw_i"].addr.eq(dp.bank * G + bjq), wr["bw_i"].en.eq(onehot),
        ]
        for p in range(P):
            m.d.comb += [wr["bw_u"].data[p].eq(dp.bne.out.ubar),
                         wr["bw_i"].data[p].eq(dp.bne.out.ibar)]
        if ADAPT:
            m.d.comb += [wr["bw_a"].addr.eq(bjq), wr["bw_a"].en.eq(onehot)]
            m.d.comb += [wr["bw_a"].data[p].eq(dp.bne.out.abar) for p in range(P)]
    dp.bj = bj
    dp.j_C = j_C
    dp.j_c = j_c
    dp.j_issue = j_issue
    dp.j_j = j_j
