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

Stages: 1 ``κ ō'``; 2 ``ō_t``.

Interface (``BackwardNeuronUnit(cfg)``), latency 7
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
signed codes; default 2·2048·32768 = 2**28 → 30 bits) and
``wt_ibar_width = sum_width(n_hidden, w, ibar)`` (default 32·2048·32768 = 2**31 → 33 bits).

Stages: 1 ``(1-ρ)ā'``; 2 ``s̄``; 3 ``ψ s̄`` (the one variable×variable
product); 4 ``v̄`` and ``αū'``; 5 ``ū``, ``β_a v̄`` and ``ρā'``; 6 ``ā`` and ``c ū``;
7 ``ī``.
All outputs of one neuron appear in the same cycle. Neurons are independent
within a step; ``ī_t``, ``ū_t``, ``ā_t`` of step ``t`` feed step ``t-1``
(through the controller), so there is no hazard inside the unit.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig
from .fixed import delay, fmt_shape, requant, stage, sum_width

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
        p = stage(m, self.cfg.const_q["kappa"] * i.obar_next, "p_kappa_obar")
        d1 = stage(m, i.delta, "delta_1")
        val, sat = requant([(d1, f.delta.frac), (p, fc + f.obar.frac)], f.obar)
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
    LATENCY = 7

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
        valid = delay(m, i.valid, self.LATENCY - 1, "valid", reset_less=False)

        # Stage 1: (1-ρ) ā'. ū' and ā' wait (narrow) for the stages that multiply them.
        p_omr = stage(m, k["one_minus_rho"] * i.abar_next, "p_omr_abar")
        wo1 = stage(m, i.wt_obar, "wt_obar_1")
        wi1 = stage(m, i.wt_ibar, "wt_ibar_1")
        psi1 = stage(m, i.psi, "psi_1")
        ubar_n3 = delay(m, i.ubar_next, 3, "ubar_next")
        abar_n4 = delay(m, i.abar_next, 4, "abar_next")

        # Stage 2: s̄.
        sbar, sbar_sat = requant([(wo1, f.w.frac + f.obar.frac), (wi1, f.w.frac + f.ibar.frac),
                                  (p_omr, fc + f.abar.frac)], f.sbar)
        sbar2 = stage(m, sbar, "sbar_2")
        sat_s = delay(m, sbar_sat, self.LATENCY - 2, "sat_sbar")
        psi2 = stage(m, psi1, "psi_2")

        # Stage 3: ψ s̄.
        p_psi = stage(m, psi2 * sbar2, "p_psi_sbar")

        # Stage 4: v̄ and α ū'.
        vbar, vbar_sat = requant([(p_psi, f.psi.frac + f.sbar.frac)], f.vbar)
        vbar4 = stage(m, vbar, "vbar_4")
        sat_v = delay(m, vbar_sat, self.LATENCY - 4, "sat_vbar")
        p_alpha4 = stage(m, k["alpha"] * ubar_n3, "p_alpha_ubar")

        # Stage 5: ū and β_a v̄.
        ubar, ubar_sat = requant([(vbar4, f.vbar.frac), (p_alpha4, fc + f.ubar.frac)], f.ubar)
        ubar5 = stage(m, ubar, "ubar_5")
        sat_u = delay(m, ubar_sat, self.LATENCY - 5, "sat_ubar")
        p_beta = stage(m, k["beta_a"] * vbar4, "p_beta_vbar")
        p_rho5 = stage(m, k["rho"] * abar_n4, "p_rho_abar")

        # Stage 6: ā and c ū.
        abar, abar_sat = requant([(-p_beta, fc + f.vbar.frac), (p_rho5, fc + f.abar.frac)], f.abar)
        abar6 = stage(m, abar, "abar_6")
        sat_a = delay(m, abar_sat, self.LATENCY - 6, "sat_abar")
        p_c = stage(m, k["c"] * ubar5, "p_c_ubar")
        ubar6 = stage(m, ubar5, "ubar_6")

        # Stage 7: ī.
        ibar, ibar_sat = requant([(p_c, fc + f.ubar.frac)], f.ibar)
        m.d.sync += [
            o.valid.eq(valid),
            o.ibar.eq(ibar),
            o.ubar.eq(ubar6),
            o.abar.eq(abar6),
            o.sat_sbar.eq(sat_s),
            o.sat_vbar.eq(sat_v),
            o.sat_ubar.eq(sat_u),
            o.sat_abar.eq(sat_a),
            o.sat_ibar.eq(ibar_sat),
        ]
        return m
