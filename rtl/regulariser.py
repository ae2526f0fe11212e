"""Eligibility/regulariser unit of one lane: window gradient and FPTT step, one synapse per cycle.

Equations (golden :func:`fptt.golden.fixed_core.gradient` then
:func:`fptt.golden.fixed_core.fptt_update`; ``η = 2**-e`` with
``e = cfg.lr_shift``, FPTT ``α = 2**-k`` with ``k = cfg.alpha_shift``)::

    g   = sat_grad(round_nearest(gsum, F_m - f_grad))                 -> formats.grad
    w'  = w - η(g + α(w - w̄) - λ)       exact at F_w,  rounded by cfg.rounding   -> formats.w
    λ'  = λ - α(w' - w̄)                 exact at F_λ,  rounded by cfg.rounding   -> formats.lam
    w̄'  = ½(w̄ + w') - 2**(k-1) λ'       exact at F_w̄,  rounded by cfg.rounding   -> formats.wbar

``gsum = Σ_t post_t·pre_t`` is the exact window sum of the synapse, at the
matrix's frac ``F_m`` (golden :func:`~fptt.golden.fixed_core.gradient_fracs`:
``w_in: f_ibar + f_x``, ``w_rec: f_ibar``, ``w_out: f_obar``), hence the
``matrix`` input. ``F_w, F_λ, F_w̄`` are ``cfg.update_fracs``. η and α are
shifts: the datapath has adders, constant shifts, comparators, no multiplier.
The gradient always rounds to nearest; the three update writes round by
``cfg.rounding`` (``stochastic``: offset from the 16-bit draws ``r_w``,
``r_lam``, ``r_wbar`` of the lane's :class:`~fptt.rtl.lfsr.LaneLFSR`).

Interface (``RegulariserUnit(cfg)``)
------------------------------------
================  =====================  ========================================
port              shape                  meaning
================  =====================  ========================================
``inp.valid``     1                      a synapse enters this cycle
``inp.matrix``    2                      0 ``w_in``, 1 ``w_rec``, 2 ``w_out``
                                         (:data:`MATRIX_CODE`; 3 acts as 2)
``inp.w``         signed(w.width)        ``w``
``inp.wbar``      signed(wbar.width)     ``w̄``
``inp.lam``       signed(lam.width)      ``λ``
``inp.gsum``      signed(gsum_width)     exact window sum at frac ``F_m``
``inp.r_w``       16                     draw for ``w'``  (stochastic only)
``inp.r_lam``     16                     draw for ``λ'``  (stochastic only)
``inp.r_wbar``    16                     draw for ``w̄'``  (stochastic only)
``out.valid``     1                      results LATENCY cycles later
``out.w``         signed(w.width)        ``w'``
``out.lam``       signed(lam.width)      ``λ'``
``out.wbar``      signed(wbar.width)     ``w̄'``
``out.grad``      signed(grad.width)     ``g`` (for observation)
``out.sat_grad``, ``out.sat_w``, ``out.sat_lam``, ``out.sat_wbar``
                  1 each                 saturation flags (golden counts
                                         "grad", "w", "lam", "wbar")
================  =====================  ========================================

The three draws enter with the synapse (same cycle as ``inp.valid``) and are
delayed inside to the stage that uses them; connect them straight to the
lane's ``LaneLFSR.r_*`` and drive ``LaneLFSR.en`` with ``inp.valid``.

``gsum_width`` (instance attribute, :func:`gsum_width`) is the widest of the
three exact window sums over ``window_max`` steps:
``sum_width(window_max, ibar, x)`` (``w_in``: ī·x), ``sum_width(window_max, ibar)``
(``w_rec``: ī·s, s ∈ {0, 1}), ``sum_width(window_max, obar)`` (``w_out``: ō·s);
default ``16·2**15·2**7 = 2**26`` → 28 bits.

Timing: pipelined, one synapse per cycle, no back-pressure, latency
:attr:`RegulariserUnit.LATENCY` = 4 (stages: 1 ``g``; 2 ``w'``; 3 ``λ'``; 4
``w̄'``). Each synapse is read and written once per window update and the
unit keeps no state between synapses, so the unit itself has no
read-after-write hazard; the caller writes ``out.*`` back to the address it
read LATENCY (+ memory latency) cycles earlier.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig
from ..golden.fixed_core import MATRICES, gradient_fracs
from .fixed import (RANDOM_BITS, delay, exact_sum, fmt_shape, overflows, round_shift, saturate,
                    stage, sum_width)

__all__ = ["RegulariserUnit", "MATRIX_CODE", "gsum_width"]

#: Code of each weight matrix on ``inp.matrix`` (the golden update order).
MATRIX_CODE = {name: code for code, name in enumerate(MATRICES)}


def gsum_width(cfg: CoreConfig) -> int:
    """Width of the exact window sums ``Σ_t post_t·pre_t`` (the widest of the three matrices)."""
    f, n = cfg.formats, cfg.window_max
    return max(sum_width(n, f.ibar, f.x),   # w_in:  ī·x
               sum_width(n, f.ibar),        # w_rec: ī·s
               sum_width(n, f.obar))        # w_out: ō·s


class RegulariserUnit(wiring.Component):
    """Pipelined window gradient + FPTT step of one synapse (golden ``gradient`` + ``fptt_update``).

    Parameters
    ----------
    cfg : CoreConfig
        Formats, ``window_max``, FPTT shifts and ``rounding``.
    """

    #: Cycles from ``inp.valid`` to ``out.valid``.
    LATENCY = 4

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        f = cfg.formats
        self.gsum_width = gsum_width(cfg)
        super().__init__({
            "inp": In(Signature({
                "valid": Out(1),
                "matrix": Out(2),
                "w": Out(fmt_shape(f.w)),
                "wbar": Out(fmt_shape(f.wbar)),
                "lam": Out(fmt_shape(f.lam)),
                "gsum": Out(signed(self.gsum_width)),
                "r_w": Out(RANDOM_BITS),
                "r_lam": Out(RANDOM_BITS),
                "r_wbar": Out(RANDOM_BITS),
            })),
            "out": Out(Signature({
                "valid": Out(1),
                "w": Out(fmt_shape(f.w)),
                "lam": Out(fmt_shape(f.lam)),
                "wbar": Out(fmt_shape(f.wbar)),
                "grad": Out(fmt_shape(f.grad)),
                "sat_grad": Out(1),
                "sat_w": Out(1),
                "sat_lam": Out(1),
                "sat_wbar": Out(1),
            })),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, f = self.cfg, self.cfg.formats
        e, k, fr, mode = cfg.lr_shift, cfg.alpha_shift, cfg.update_fracs, cfg.rounding
        stochastic = mode == "stochastic"
        i, o = self.inp, self.out
        valid = delay(m, i.valid, self.LATENCY - 1, "valid", reset_less=False)

        # Stage 1: g = round_nearest(gsum) at the matrix's frac, saturated.
        fracs = gradient_fracs(cfg)
        g_val, g_sat = None, None
        for name in reversed(MATRICES):
            rounded = round_shift(i.gsum, fracs[name] - f.grad.frac)
            val, sat = saturate(rounded, f.grad), overflows(rounded, f.grad)
            if g_val is None:   # w_out (code 2) and any unused code
                g_val, g_sat = val, sat
            else:
                sel = i.matrix == MATRIX_CODE[name]
                g_val, g_sat = Mux(sel, val, g_val), Mux(sel, sat, g_sat)
        g1 = stage(m, g_val, "grad_1")
        g_sat1 = stage(m, g_sat, "sat_grad_1")
        w1 = stage(m, i.w, "w_1")
        wbar1 = stage(m, i.wbar, "wbar_1")
        lam1 = stage(m, i.lam, "lam_1")
        if stochastic:
            r_w1 = stage(m, i.r_w, "r_w_1")
            r_lam2 = delay(m, i.r_lam, 2, "r_lam")
            r_wbar3 = delay(m, i.r_wbar, 3, "r_wbar")
        else:
            r_w1 = r_lam2 = r_wbar3 = None

        # Stage 2: w' = w - η g - η α w + η α w̄ + η λ, exact at F_w.
        F = fr["w"]
        tot, top = exact_sum([(w1, f.w.frac), (-g1, f.grad.frac + e), (-w1, f.w.frac + e + k),
                              (wbar1, f.wbar.frac + e + k), (lam1, f.lam.frac + e)], F)
        assert top == F
        w_r = round_shift(tot, F - f.w.frac, mode, r_w1)
        w2 = stage(m, saturate(w_r, f.w), "w_2")
        w_sat2 = stage(m, overflows(w_r, f.w), "sat_w_2")
        wbar2 = stage(m, wbar1, "wbar_2")
        lam2 = stage(m, lam1, "lam_2")
        g2 = stage(m, g1, "grad_2")
        g_sat2 = stage(m, g_sat1, "sat_grad_2")

        # Stage 3: λ' = λ - α w' + α w̄, exact at F_λ.
        F = fr["lam"]
        tot, top = exact_sum([(lam2, f.lam.frac), (-w2, f.w.frac + k),
                              (wbar2, f.wbar.frac + k)], F)
        assert top == F
        lam_r = round_shift(tot, F - f.lam.frac, mode, r_lam2)
        lam3 = stage(m, saturate(lam_r, f.lam), "lam_3")
        lam_sat3 = stage(m, overflows(lam_r, f.lam), "sat_lam_3")
        w3 = stage(m, w2, "w_3")
        w_sat3 = stage(m, w_sat2, "sat_w_3")
        wbar3 = stage(m, wbar2, "wbar_3")
        g3 = stage(m, g2, "grad_3")
        g_sat3 = stage(m, g_sat2, "sat_grad_3")

        # Stage 4: w̄' = ½ w̄ + ½ w' - 2**(k-1) λ', exact at F_w̄.
        F = fr["wbar"]
        tot, top = exact_sum([(wbar3, f.wbar.frac + 1), (w3, f.w.frac + 1),
                              (-lam3, f.lam.frac - k + 1)], F)
        assert top == F
        wbar_r = round_shift(tot, F - f.wbar.frac, mode, r_wbar3)
        m.d.sync += [
            o.valid.eq(valid),
            o.w.eq(w3),
            o.lam.eq(lam3),
            o.wbar.eq(saturate(wbar_r, f.wbar)),
            o.grad.eq(g3),
            o.sat_grad.eq(g_sat3),
            o.sat_w.eq(w_sat3),
            o.sat_lam.eq(lam_sat3),
            o.sat_wbar.eq(overflows(wbar_r, f.wbar)),
        ]
        return m
