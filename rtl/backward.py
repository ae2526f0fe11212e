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

from amaranth.hdl import Const, Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig
from .fixed import (const_mul_add, delay, exact_sum, fmt_shape, round_pre, rounding_offset,
                    saturate_bits, stage, sum_width)

__all__ = ["BackwardReadoutUnit", "BackwardNeuronUnit", "wt_obar_width", "wt_ibar_width"]


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
