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
latency :attr:`NeuronUnit.LATENCY` = 6: inputs sampled at the clock edge
ending cycle ``c`` (with ``inp.valid``) appear on ``out`` during cycle
``c + 6`` with ``out.valid`` high. Neurons are independent, so there is no
hazard inside the unit. Stages: 1 products ``ρa, αu, c·acc``; 2 ``a_t`` and the
exact partial sum ``αu + c·acc``; 3 product ``β_a a_t``; 4 ``B_t``; 5 ``u_t``;
6 ``s_t, ψ_t``.

Widths: every intermediate has the exact Amaranth width of its expression
(e.g. ``c·acc`` is ``acc_width + bits(c) + 1`` bits); only the stored results
are saturated to their formats.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig
from .fixed import delay, exact_sum, fmt_shape, requant, stage

__all__ = ["NeuronUnit"]


class NeuronUnit(wiring.Component):
    """Pipelined ALIF neuron update + triangle surrogate (golden ``neuron_update`` + ``surrogate``).

    Parameters
    ----------
    cfg : CoreConfig
        Formats, neuron constants and ``acc_width``.
    """

    #: Cycles from ``inp.valid`` to ``out.valid``.
    LATENCY = 6

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
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
        p_a = stage(m, k["rho"] * i.a, "p_rho_a")
        p_u = stage(m, k["alpha"] * i.u, "p_alpha_u")
        p_acc = stage(m, k["c"] * i.acc, "p_c_acc")
        s1 = stage(m, i.s_prev, "s_prev_1")

        # Stage 2: a_t; exact partial sum of u_t (without the reset term).
        a_val, a_sat = requant([(p_a, fc + fa), (Mux(s1, k["one_minus_rho"], 0), fc)], f.a)
        a2 = stage(m, a_val, "a_2")
        a_sat2 = stage(m, a_sat, "sat_a_2")
        # Exact at frac max(f_c + f_u, f_c + f_acc) >= f_u: adding the reset term
        # later at that frac gives golden's single exact sum.
        part, part_frac = exact_sum([(p_u, fc + fu), (p_acc, fc + fac)])
        u_part2 = stage(m, part, "u_part_2")
        s2 = stage(m, s1, "s_prev_2")

        # Stage 3: β_a a_t.
        p_b = stage(m, k["beta_a"] * a2, "p_beta_a")
        a3 = stage(m, a2, "a_3")
        a_sat3 = stage(m, a_sat2, "sat_a_3")
        u_part3 = stage(m, u_part2, "u_part_3")
        s3 = stage(m, s2, "s_prev_3")

        # Stage 4: B_t = θ0 + β_a a_t.
        thr_val, thr_sat = requant([(cfg.theta_q, fu), (p_b, fc + fa)], f.u)
        thr4 = stage(m, thr_val, "thr_4")
        thr_sat4 = stage(m, thr_sat, "sat_thr_4")
        a4 = stage(m, a3, "a_4")
        a_sat4 = stage(m, a_sat3, "sat_a_4")
        u_part4 = stage(m, u_part3, "u_part_4")
        s4 = stage(m, s3, "s_prev_4")

        # Stage 5: u_t = α u + c acc - B_t s_{t-1}.
        u_val, u_sat = requant([(u_part4, part_frac), (Mux(s4, -thr4, 0), fu)], f.u)
        u5 = stage(m, u_val, "u_5")
        u_sat5 = stage(m, u_sat, "sat_u_5")
        thr5 = stage(m, thr4, "thr_5")
        thr_sat5 = stage(m, thr_sat4, "sat_thr_5")
        a5 = stage(m, a4, "a_5")
        a_sat5 = stage(m, a_sat4, "sat_a_5")

        # Stage 6: spike and surrogate ψ = max(0, H - (|u - B| >> k_ψ)).
        dist = abs(u5 - thr5)
        sh = cfg.surrogate_shift
        dist = dist.shift_right(sh) if sh >= 0 else dist.shift_left(-sh)
        diff = cfg.surrogate_height_q - dist
        m.d.sync += [
            o.valid.eq(valid),
            o.u.eq(u5),
            o.a.eq(a5),
            o.thr.eq(thr5),
            o.s.eq(u5 >= thr5),
            o.psi.eq(Mux(diff < 0, 0, diff)),   # 0 <= ψ <= H <= psi.max: fits
            o.sat_a.eq(a_sat5),
            o.sat_threshold.eq(thr_sat5),
            o.sat_u.eq(u_sat5),
        ]
        return m
