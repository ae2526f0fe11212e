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
used in that cycle (stage 1); connect them straight to the lane's
``LaneLFSR.r_*`` and drive ``LaneLFSR.en`` with ``inp.valid``.

``gsum_width`` (instance attribute, :func:`gsum_width`) is the widest of the
three exact window sums over ``window_max`` steps:
``sum_width(window_max, ibar, x)`` (``w_in``: ī·x), ``sum_width(window_max, ibar)``
(``w_rec``: ī·s, s ∈ {0, 1}), ``sum_width(window_max, obar)`` (``w_out``: ō·s);
default ``16·2**15·2**7 = 2**26`` → 28 bits.

Timing: pipelined, one synapse per cycle, no back-pressure, latency
:attr:`RegulariserUnit.LATENCY` = 4, at most two adders in series in a stage
(timing on the UP5K at 24 MHz). Stages:

1. ``g`` rounded (not yet saturated); the sums that need no ``g``:
   ``A = -ηα w + ηα w̄ + η λ + offset(w')`` at ``F_w``, ``B = λ + α w̄ + offset(λ')``
   at ``F_λ``, ``C = ½ w̄ + offset(w̄')`` at ``F_w̄`` (the draws are used here);
2. ``g`` saturated; ``R = (A - η g) >> d_w`` (``d_w = F_w - f_w``) and
   ``w' = sat(w + R)`` (``w`` is the term at ``2**d_w``: no bit of it is rounded);
3. ``λ' = sat((B - α w') >> d_λ)``; ``D = C + ½ w'``;
4. ``w̄' = sat((D - 2**(k-1) λ') >> d_w̄)``.

Every result equals golden's single exact sum and single rounding (the sums
are only regrouped). Saturation is by bit tests, not comparisons. Each synapse
is read and written once per window update and the unit keeps no state between
synapses, so the unit itself has no read-after-write hazard; the caller writes
``out.*`` back to the address it read LATENCY (+ memory latency) cycles earlier.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig
from ..golden.fixed_core import MATRICES, gradient_fracs
from .fixed import (RANDOM_BITS, align, delay, fmt_shape, saturate_bits, stage, stochastic_offset,
                    sum_width)

__all__ = ["RegulariserUnit", "MATRIX_CODE", "gsum_width"]

#: Code of each weight matrix on ``inp.matrix`` (the golden update order).
MATRIX_CODE = {name: code for code, name in enumerate(MATRICES)}


def _shift(value, d: int) -> Value:
    """``value >> d`` (floor), or ``value << -d`` for ``d <= 0``."""
    return value.shift_right(d) if d > 0 else value.shift_left(-d)


def _round_nearest(value, d: int) -> Value:
    """``round_shift(value, d)`` (nearest) as ``((value >> (d-1)) + 1) >> 1``.

    Same value; the adder spans only the bits that are kept.
    """
    value = Value.cast(value)
    if d <= 0:
        return value.shift_left(-d)
    return (value.shift_right(d - 1) + 1).shift_right(1)


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
        fw, fb, fl, fg = f.w.frac, f.wbar.frac, f.lam.frac, f.grad.frac
        i, o = self.inp, self.out
        valid = delay(m, i.valid, self.LATENCY - 1, "valid", reset_less=False)

        def offset(r, d):   # the offset that round_shift(·, d, mode, r) adds before shifting
            if d <= 0:
                return Const(0, 1)
            return Const(1 << (d - 1)) if mode == "nearest" else stochastic_offset(r, d)

        # Stage 1 (nothing here needs the gradient g):
        #   g rounded to nearest at the matrix's frac (saturated in stage 2);
        #   A = -ηα w + ηα w̄ + η λ + offset of w'   at F_w (w' = w + (A - η g) >> d_w);
        #   B = λ·2**d_λ + offset of λ' + α w̄      at F_λ (the offset fills λ's low bits);
        #   C = ½ w̄ + offset of w̄'                  at F_w̄.
        fracs = gradient_fracs(cfg)
        g_r = None
        for name in reversed(MATRICES):
            rounded = _round_nearest(i.gsum, fracs[name] - fg)
            if g_r is None:     # w_out (code 2) and any unused code
                g_r = rounded
            else:
                g_r = Mux(i.matrix == MATRIX_CODE[name], rounded, g_r)
        g_r1 = stage(m, g_r, "grad_round_1")
        F = fr["w"]
        d_w = F - fw
        diff = align(i.wbar, fb + e + k, F) - align(i.w, fw + e + k, F)
        a_tot = diff + (align(i.lam, fl + e, F) + offset(i.r_w, d_w))
        # η g = g·2**s_g: the t = min(s_g, d_w) low bits of A cannot change (A - η g) >> d_w.
        s_g = F - fg - e
        t = min(s_g, d_w)
        a1 = stage(m, _shift(a_tot, t), "a_1")
        w1 = stage(m, i.w, "w_1")
        F = fr["lam"]
        d_l = F - fl   # λ is the term at shift d_l: λ·2**d_l + offset is a concatenation
        lam_off = Cat(offset(i.r_lam, d_l), Const(0, d_l))[:d_l]
        b1 = stage(m, Cat(lam_off, i.lam).as_signed() + align(i.wbar, fb + k, F), "b_1")
        F = fr["wbar"]
        d_b = F - fb
        c1 = stage(m, align(i.wbar, fb + 1, F) + offset(i.r_wbar, d_b), "c_1")

        # Stage 2: g saturated; w' = sat(w + R) with R = (A - η g) >> d_w (w·2**d_w has
        # no bit below 2**d_w, so it is added after the rounding shift; only the bits of R
        # that survive the shift are formed).
        g_val, g_sat = saturate_bits(g_r1, f.grad)
        r = _shift(a1 - g_val.shift_left(s_g - t), d_w - t)
        w_val, w_sat = saturate_bits(w1 + r, f.w)
        w2 = stage(m, w_val, "w_2")
        w_sat2 = stage(m, w_sat, "sat_w_2")
        g2 = stage(m, g_val, "grad_2")
        g_sat2 = stage(m, g_sat, "sat_grad_2")
        b2 = stage(m, b1, "b_2")
        c2 = stage(m, c1, "c_2")

        # Stage 3: λ' = sat((B - α w') >> d_λ); D = C + ½ w' (exact at F_w̄).
        F = fr["lam"]
        lam_val, lam_sat = saturate_bits(_shift(b2 - align(w2, fw + k, F), d_l), f.lam)
        lam3 = stage(m, lam_val, "lam_3")
        lam_sat3 = stage(m, lam_sat, "sat_lam_3")
        d3 = stage(m, c2 + align(w2, fw + 1, fr["wbar"]), "d_3")
        w3 = stage(m, w2, "w_3")
        w_sat3 = stage(m, w_sat2, "sat_w_3")
        g3 = stage(m, g2, "grad_3")
        g_sat3 = stage(m, g_sat2, "sat_grad_3")

        # Stage 4: w̄' = sat((D - 2**(k-1) λ') >> d_w̄).
        F = fr["wbar"]
        wbar_val, wbar_sat = saturate_bits(_shift(d3 - align(lam3, fl - k + 1, F), d_b), f.wbar)
        m.d.sync += [
            o.valid.eq(valid),
            o.w.eq(w3),
            o.lam.eq(lam3),
            o.wbar.eq(wbar_val),
            o.grad.eq(g3),
            o.sat_grad.eq(g_sat3),
            o.sat_w.eq(w_sat3),
            o.sat_lam.eq(lam_sat3),
            o.sat_wbar.eq(wbar_sat),
        ]
        return m
