"""Readout and error unit: leaky readout ``o_t`` and output error ``δ_t``, one unit per cycle.

Equations (golden :func:`fptt.golden.fixed_core.readout` followed by
:func:`fptt.golden.fixed_core.output_error`)::

    o_t = κ o_{t-1} + Σ_j W_out[k,j] s_j,t (+ b_out,k)   -> formats.o
    δ_t = o_t - y*_t   if has_target else 0          -> formats.delta

``κ = cfg.const_q["kappa"]`` (frac ``f_c``); the sum ``Σ_j W_out[k,j] s_j`` is
exact at frac ``f_w`` (it is formed outside, by the synaptic accumulation,
which with ``cfg.biases`` also adds the bias ``b_out,k`` as the weight of an
always-active unit: the unit itself is the same).
``δ`` is computed from the new ``o_t``; the target ``y*`` is in ``formats.o``.

Interface (``ReadoutUnit(cfg)``)
--------------------------------
=================  =====================  ======================================
port               shape                  meaning
=================  =====================  ======================================
``inp.valid``      1                      a readout unit enters this cycle
``inp.o``          signed(o.width)        ``o_{t-1}``
``inp.w_out_s``    signed(W_OUT_S_WIDTH)  exact ``Σ_j W_out[k,j] s_j`` (frac f_w)
``inp.target``     signed(o.width)        ``y*_t`` (frac ``f_o``)
``inp.has_target`` 1                      this step has a target
``out.valid``      1                      results LATENCY cycles later
``out.o``          signed(o.width)        ``o_t``
``out.delta``      signed(delta.width)    ``δ_t`` (0 without a target)
``out.sat_o``      1                      ``o_t`` was saturated (golden count "o")
``out.sat_delta``  1                      ``o_t - y*`` was saturated ("delta");
                                          like the golden counter this flag is
                                          raised even when ``has_target`` is 0
                                          (golden counts it, for every unit, on
                                          every step that has a target frame)
=================  =====================  ======================================

``W_OUT_S_WIDTH = sum_width(n_hidden + biases, formats.w)`` = bits of ``n_hidden``
(+1 with biases) terms of ``|w| <= 2**(w.width-1)`` (spikes are 0/1) plus sign; the instance attribute
``w_out_s_width`` holds it (default config: 64·2**15 = 2**21 → 23 bits).

Timing: pipelined, one unit per cycle, no back-pressure, latency
:attr:`ReadoutUnit.LATENCY` = 3 (stages: 1 ``κ o`` with ``o_t``'s rounding
offset and the exact sum with ``Σ W s``; 2 ``o_t``: the shift, saturation, and
``o_t - y*`` (so the target is carried one stage only); 3 ``δ_t`` rounded, saturated).

Arithmetic: ``κ o`` is shifts and adders (:func:`~fptt.rtl.fixed.const_mul_add`,
no DSP) with the round-to-nearest offset ``2**(d-1)`` of ``o_t`` placed in
its zero bits (:func:`~fptt.rtl.fixed.rounding_offset`), so the sum is only
shifted (:func:`~fptt.rtl.fixed.round_pre`; formats where the product cannot
take the offset round the sum as usual); saturation and its flags use
:func:`~fptt.rtl.fixed.saturate_bits`. The values are those of ``requant`` /
the golden functions, bit for bit.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out, Signature

from ..config import CoreConfig
from .constmul import const_mul_add
from .fixed import (CombPart, delay, exact_sum, fmt_shape, issue_port, round_pre, round_shift,
                    rounding_offset, saturate_bits, stage, sum_width)

__all__ = ["ReadoutUnit", "w_out_s_width", "readout_stage"]


def w_out_s_width(cfg: CoreConfig) -> int:
    """Width of the exact sum ``Σ_j W_out[k,j] s_j (+ b_out,k)``: ``n_hidden`` weight terms,
    one more with biases."""
    return sum_width(cfg.n_hidden + int(cfg.biases), cfg.formats.w)


class ReadoutUnit(wiring.Component):
    """Pipelined leaky readout and output error (golden ``readout`` + ``output_error``).

    Parameters
    ----------
    cfg : CoreConfig
        Formats, ``κ`` and ``n_hidden`` (for the width of ``w_out_s``).
    """

    #: Cycles from ``inp.valid`` to ``out.valid``.
    LATENCY = 3

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        f = cfg.formats
        self.w_out_s_width = w_out_s_width(cfg)
        super().__init__({
            "inp": In(Signature({
                "valid": Out(1),
                "o": Out(fmt_shape(f.o)),
                "w_out_s": Out(signed(self.w_out_s_width)),
                "target": Out(fmt_shape(f.o)),
                "has_target": Out(1),
            })),
            "out": Out(Signature({
                "valid": Out(1),
                "o": Out(fmt_shape(f.o)),
                "delta": Out(fmt_shape(f.delta)),
                "sat_o": Out(1),
                "sat_delta": Out(1),
            })),
        })

    def elaborate(self, platform):
        m = Module()
        f, fc = self.cfg.formats, self.cfg.formats.const.frac
        i, o = self.inp, self.out

        valid = delay(m, i.valid, self.LATENCY - 1, "valid", reset_less=False)

        # Stage 1: κ o_{t-1} from shifts and adders, with o_t's rounding offset inside.
        f_p, f_ws = fc + f.o.frac, f.w.frac
        off = rounding_offset(f_p, max(f_p, f_ws), f.o.frac)
        # The exact sum κ o + Σ W s is formed here too (one more adder), so that the
        # stage register holds the sum instead of both terms.
        total, top = exact_sum([(const_mul_add(i.o, self.cfg.const_q["kappa"], off or 0), f_p),
                                (i.w_out_s, f_ws)])
        tot1 = stage(m, total, "sum_1")
        tgt1 = stage(m, i.target, "target_1")
        has1 = stage(m, i.has_target, "has_target_1")

        # Stage 2: o_t (the shift, saturation).
        o_val, o_sat = saturate_bits(round_pre(tot1, top - f.o.frac, off is not None), f.o)
        o2 = stage(m, o_val, "o_2")
        o_sat2 = stage(m, o_sat, "sat_o_2")
        diff2 = stage(m, o_val - tgt1, "o_minus_target_2")   # exact: the target is not carried
        has2 = stage(m, has1, "has_target_2")

        # Stage 3: δ_t = o_t - y* (rounded, saturated).
        d_val, d_sat = saturate_bits(round_shift(diff2, f.o.frac - f.delta.frac), f.delta)
        m.d.sync += [
            o.valid.eq(valid),
            o.o.eq(o2),
            o.sat_o.eq(o_sat2),
            o.delta.eq(Mux(has2, d_val, 0)),
            o.sat_delta.eq(d_sat),
        ]
        return m


def readout_stage(dp) -> None:
    """The ``RO`` phase around the :class:`ReadoutUnit` lanes: issue, ``o`` and ``buf_delta[t]``.

    Exports ``r_issue``, ``r_g`` (driven by the controller), ``RL`` (latency) and
    the write strobes the saturation counters watch.
    """
    m, f, P, Go, n_out, rd, wr = dp.m, dp.f, dp.P, dp.Go, dp.n_out, dp.rd, dp.wr
    r_issue, r_g, r1_valid, r1_g = issue_port(m, Go, "r")
    with m.If(r_issue):
        m.d.comb += [rd["o"].addr.eq(r_g), rd["oacc"].addr.eq(r_g)]
    tgt = Signal(data.ArrayLayout(signed(f.o.width), Go * P))
    rm = m.submodules.ro_in = CombPart()
    rm.m.d.comb += [tgt[k].eq(dp.frame.target[k]) for k in range(n_out)]
    for p in range(P):
        u = dp.rou[p]
        rm.m.d.comb += [
            u.inp.valid.eq(r1_valid),
            u.inp.o.eq(Mux(dp.sos, 0, rd["o"].data[p])),
            u.inp.w_out_s.eq(Mux(dp.otouched, rd["oacc"].data[p], 0)),
            u.inp.target.eq(tgt[r1_g * P + p]),
            u.inp.has_target.eq(dp.frame.has_target),
        ]
    RL = ReadoutUnit.LATENCY
    r_out_g = delay(m, r1_g, RL, "ro_g")
    r_out_valid = dp.rou[0].out.valid
    r_lanes_valid = dp.lane_mask(n_out - r_out_g * P)
    with m.If(r_out_valid):
        m.d.comb += [wr["o"].addr.eq(r_out_g), wr["o"].en.eq(r_lanes_valid)]
        for p in range(P):
            m.d.comb += wr["o"].data[p].eq(dp.rou[p].out.o)
        for k in range(n_out):
            with m.If(r_out_g == k // P):
                m.d.sync += dp.o_stage[k].eq(dp.rou[k % P].out.o)
        for p in range(P):
            m.d.comb += wr["buf_delta"].data[p].eq(dp.rou[p].out.delta)
        with m.If(dp.frame.learn):
            m.d.comb += [wr["buf_delta"].addr.eq(dp.t_step * Go + r_out_g),
                         wr["buf_delta"].en.eq(r_lanes_valid)]
    dp.RL = RL
    dp.r_g = r_g
    dp.r_issue = r_issue
    dp.r_lanes_valid = r_lanes_valid
    dp.r_out_valid = r_out_valid
