"""Eligibility/regulariser unit of one lane: window gradient and FPTT step, one synapse per cycle.

Equations (golden :func:`fptt.golden.fixed_core.gradient` then
:func:`fptt.golden.fixed_core.fptt_update`; for parameter ``P`` of
``cfg.params``: ``η_P = 2**-e_P`` with ``e_P = cfg.lr_shifts[P]``, gradient
format ``formats.grad_P``, FPTT ``α = 2**-k`` with ``k = cfg.alpha_shift``)::

    g   = sat_grad_P(round_nearest(gsum, F_P - f_grad_P))        -> formats.grad_P
    w'  = w - η_P(g + α(w - w̄) - λ)    exact at F_w,  rounded by cfg.rounding   -> formats.w
    λ'  = λ - α(w' - w̄)                 exact at F_λ,  rounded by cfg.rounding   -> formats.lam
    w̄'  = ½(w̄ + w') - 2**(k-1) λ'       exact at F_w̄,  rounded by cfg.rounding   -> formats.wbar

``gsum = Σ_t post_t·pre_t`` is the exact window sum of the synapse, at the
parameter's frac ``F_P`` (golden :func:`~fptt.golden.fixed_core.gradient_fracs`:
``w_in: f_ibar + f_x``, ``w_rec, b: f_ibar``, ``w_out, b_out: f_obar``), hence
the ``param`` input. ``F_w, F_λ, F_w̄`` are ``cfg.update_fracs``: one set for
every parameter (the widest any needs), so the unit is **one datapath**; per
parameter only the constant shifts of ``η_P`` (in ``A`` below and in ``η g``)
and the gradient's rounding shift and saturation format differ, and a small
multiplexer on the parameter code picks among the (deduplicated) variants.
The shifts are generator parameters, not run-time registers: a constant shift
is wiring, a run-time one a barrel shifter on each of these wide sums, and the
iCE40 UP5K preset already uses ~97 % of its logic cells. η and α are shifts:
the datapath has adders, constant shifts, comparators, no multiplier. The
gradient always rounds to nearest; the three update writes round by
``cfg.rounding`` (``stochastic``: offset from the 16-bit draws ``r_w``,
``r_lam``, ``r_wbar`` of the lane's :class:`~fptt.rtl.lfsr.LaneLFSR`).

Parameter codes (:func:`param_codes`): the position of the parameter in
``cfg.params``, the golden update order, on ``ceil_log2(len(cfg.params))``
bits: without biases 2 bits, ``w_in`` 0, ``w_rec`` 1, ``w_out`` 2; with biases
3 bits, ``w_in`` 0, ``w_rec`` 1, ``b`` 2, ``w_out`` 3, ``b_out`` 4. An unused
code acts as the last parameter. The core's update sweep counts through the
parameters in this order, so its counter is the code.

Interface (``RegulariserUnit(cfg)``)
------------------------------------
================  =====================  ========================================
port              shape                  meaning
================  =====================  ========================================
``inp.valid``     1                      a synapse enters this cycle
``inp.param``     code_width             parameter code (see above)
``inp.w``         signed(w.width)        ``w``
``inp.wbar``      signed(wbar.width)     ``w̄``
``inp.lam``       signed(lam.width)      ``λ``
``inp.gsum``      signed(gsum_width)     exact window sum at frac ``F_P``
``inp.r_w``       16                     draw for ``w'``  (stochastic only)
``inp.r_lam``     16                     draw for ``λ'``  (stochastic only)
``inp.r_wbar``    16                     draw for ``w̄'`` (stochastic only)
``out.valid``     1                      results LATENCY cycles later
``out.w``         signed(w.width)        ``w'``
``out.lam``       signed(lam.width)      ``λ'``
``out.wbar``      signed(wbar.width)     ``w̄'``
``out.grad``      signed(max grad width) ``g`` (code of ``formats.grad_P``, for
                                         observation)
``out.sat_grad``, ``out.sat_w``, ``out.sat_lam``, ``out.sat_wbar``
                  1 each                 saturation flags (golden counts
                                         "grad", "w", "lam", "wbar")
================  =====================  ========================================

The three draws enter with the synapse (same cycle as ``inp.valid``) and are
used in that cycle (stage 1); connect them straight to the lane's
``LaneLFSR.r_*`` and drive ``LaneLFSR.en`` with ``inp.valid``.

``gsum_width`` (instance attribute, :func:`gsum_width`) is the widest of the
exact window sums over ``window_max`` steps:
``sum_width(window_max, ibar, x)`` (``w_in``: ī·x), ``sum_width(window_max, ibar)``
(``w_rec``: ī·s, s ∈ {0, 1}; ``b``: ī), ``sum_width(window_max, obar)``
(``w_out``: ō·s; ``b_out``: ō); default ``64·2**15·2**7 = 2**28`` → 30 bits.

Timing: pipelined, one synapse per cycle, no back-pressure, latency
:attr:`RegulariserUnit.LATENCY` = 4, at most two adders in series in a stage
(and the parameter multiplexer; timing on the UP5K at 24 MHz). Stages:

1. ``g`` rounded (not yet saturated); the sums that need no ``g``:
   ``A = -η_Pα w + η_Pα w̄ + η_P λ + offset(w')`` at ``F_w``, ``B = λ + α w̄ + offset(λ')``
   at ``F_λ``, ``C = ½ w̄ + offset(w̄')`` at ``F_w̄`` (the draws are used here);
2. ``g`` saturated; ``R = (A - η_P g) >> d_w`` (``d_w = F_w - f_w``) and
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

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, Signature
from amaranth.utils import ceil_log2

from ..config import CoreConfig
from ..golden.fixed_core import gradient_fracs
from .fixed import (RANDOM_BITS, CombPart, align, delay, fmt_shape, saturate_bits, stage,
                    stochastic_offset, sum_width)

__all__ = ["RegulariserUnit", "param_codes", "param_code_width", "gsum_width", "update_stage"]


def param_codes(cfg: CoreConfig) -> dict[str, int]:
    """Code of each parameter on ``inp.param``: its position in ``cfg.params`` (update order)."""
    return {name: code for code, name in enumerate(cfg.params)}


def param_code_width(cfg: CoreConfig) -> int:
    """Bits of a parameter code: 2 without biases, 3 with."""
    return max(1, ceil_log2(len(cfg.params)))


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


def _select(code, choices):
    """``choices = [(codes, value), ...]``: the value whose codes contain ``code``; the
    last choice also takes every other code (one multiplexer per further choice)."""
    out = choices[-1][1]
    for codes, value in reversed(choices[:-1]):
        out = Mux(Cat(*[code == c for c in codes]).any(), value, out)
    return out


def _groups(cfg: CoreConfig, key) -> list[tuple[tuple[int, ...], object]]:
    """The parameters' codes grouped by ``key(param)`` (first-seen order): one datapath
    variant per distinct key, however many parameters share it."""
    out: dict = {}
    for name, code in param_codes(cfg).items():
        out.setdefault(key(name), []).append(code)
    return [(tuple(codes), k) for k, codes in out.items()]


def gsum_width(cfg: CoreConfig) -> int:
    """Width of the exact window sums ``Σ_t post_t·pre_t`` (the widest of the parameters)."""
    f, n = cfg.formats, cfg.window_max
    return max(sum_width(n, f.ibar, f.x),   # w_in:  ī·x
               sum_width(n, f.ibar),        # w_rec: ī·s; b: ī
               sum_width(n, f.obar))        # w_out: ō·s; b_out: ō


class RegulariserUnit(wiring.Component):
    """Pipelined window gradient + FPTT step of one synapse (golden ``gradient`` + ``fptt_update``).

    Parameters
    ----------
    cfg : CoreConfig
        Formats, ``window_max``, parameters, FPTT shifts and ``rounding``.
    """

    #: Cycles from ``inp.valid`` to ``out.valid``.
    LATENCY = 4

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        f = cfg.formats
        self.gsum_width = gsum_width(cfg)
        self.codes = param_codes(cfg)
        self.grad_width = max(f.grad(p).width for p in cfg.params)
        super().__init__({
            "inp": In(Signature({
                "valid": Out(1),
                "param": Out(param_code_width(cfg)),
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
                "grad": Out(signed(self.grad_width)),
                "sat_grad": Out(1),
                "sat_w": Out(1),
                "sat_lam": Out(1),
                "sat_wbar": Out(1),
            })),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, f = self.cfg, self.cfg.formats
        k, fr, mode = cfg.alpha_shift, cfg.update_fracs, cfg.rounding
        fw, fb, fl = f.w.frac, f.wbar.frac, f.lam.frac
        i, o = self.inp, self.out
        valid = delay(m, i.valid, self.LATENCY - 1, "valid", reset_less=False)
        fracs, lr = gradient_fracs(cfg), cfg.lr_shifts
        F = fr["w"]
        d_w = F - fw
        # per parameter: the gradient's rounding shift, its format, and the shift s_g of
        # η_P g = g·2**s_g at F_w; the variants of A differ only by e_P
        g_vars = _groups(cfg, lambda p: (fracs[p] - f.grad(p).frac, f.grad(p),
                                         F - f.grad(p).frac - lr[p]))
        a_vars = _groups(cfg, lambda p: lr[p])
        # the t low bits of A cannot change (A - η_P g) >> d_w for any P
        t = min([d_w] + [s_g for _, (_, _, s_g) in g_vars])

        def offset(r, d):   # the offset that round_shift(·, d, mode, r) adds before shifting
            if d <= 0:
                return Const(0, 1)
            return Const(1 << (d - 1)) if mode == "nearest" else stochastic_offset(r, d)

        # Stage 1 (nothing here needs the gradient g):
        #   g rounded to nearest at the parameter's frac (saturated in stage 2);
        #   A = -η_Pα w + η_Pα w̄ + η_P λ + offset of w'   at F_w (w' = w + (A - η_P g) >> d_w);
        #   B = λ·2**d_λ + offset of λ' + α w̄      at F_λ (the offset fills λ's low bits);
        #   C = ½ w̄ + offset of w̄'                  at F_w̄.
        g_r = _select(i.param, [(codes, _round_nearest(i.gsum, d_r))
                                for codes, (d_r, _, _) in g_vars])
        g_r1 = stage(m, g_r, "grad_round_1")
        code1 = stage(m, i.param, "param_1")
        a_eta = _select(i.param, [
            (codes, align(i.wbar, fb + e + k, F) - align(i.w, fw + e + k, F)
             + align(i.lam, fl + e, F)) for codes, e in a_vars])
        a_tot = a_eta + offset(i.r_w, d_w)
        a1 = stage(m, _shift(a_tot, t), "a_1")
        w1 = stage(m, i.w, "w_1")
        F = fr["lam"]
        d_l = F - fl   # λ is the term at shift d_l: λ·2**d_l + offset is a concatenation
        lam_off = Cat(offset(i.r_lam, d_l), Const(0, d_l))[:d_l]
        b1 = stage(m, Cat(lam_off, i.lam).as_signed() + align(i.wbar, fb + k, F), "b_1")
        F = fr["wbar"]
        d_b = F - fb
        c1 = stage(m, align(i.wbar, fb + 1, F) + offset(i.r_wbar, d_b), "c_1")

        # Stage 2: g saturated to the parameter's format; w' = sat(w + R) with
        # R = (A - η_P g) >> d_w (w·2**d_w has no bit below 2**d_w, so it is added after the
        # rounding shift; only the bits of R that survive the shift are formed).
        sats = [(codes, saturate_bits(g_r1, fmt), s_g) for codes, (_, fmt, s_g) in g_vars]
        g_val = _select(code1, [(codes, val) for codes, (val, _), _ in sats])
        g_sat = _select(code1, [(codes, sat) for codes, (_, sat), _ in sats])
        eta_g = _select(code1, [(codes, val.shift_left(s_g - t)) for codes, (val, _), s_g in sats])
        r = _shift(a1 - eta_g, d_w - t)
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


def update_stage(dp) -> None:
    """``UPD``: the FPTT step of every parameter word through the :class:`RegulariserUnit` lanes.

    The sweep walks the parameters in golden update order (``u_m`` is the
    parameter code, ``u_a`` the word, ``u_g``/``u_col`` its lane group and
    presynaptic index), adds the window's first-step terms (``ī_0 x_0ᵀ``,
    ``ī_0 s_-1ᵀ``, ``ī_0``) to the stored sum, and writes w, W̄, λ back
    ``RGW`` cycles later; with single-port weights (``SINGLE``) a read every
    other cycle (``u_ph``). Exports the sweep counters (driven by the
    controller), ``per_param``, ``PARAMS``, ``RGW``, ``SINGLE`` and the
    write-back strobes the saturation counters watch.
    """
    m, cfg, P, G, Go, n_in, n_h = dp.m, dp.cfg, dp.P, dp.G, dp.Go, dp.n_in, dp.n_h
    rd, wr, BIAS = dp.rd, dp.wr, dp.BIAS
    # the sweep walks the parameters in golden update order; its counter u_m is the
    # regulariser's parameter code
    PARAMS = cfg.params
    code = param_codes(cfg)
    CW = param_code_width(cfg)

    def per_param(values, pad=0):
        """A constant per parameter code (unused codes: ``pad``)."""
        return Array([Const(v) for v in values] + [Const(pad)] * ((1 << CW) - len(values)))

    u_issue = Signal()
    u_ph = Signal()          # 1: the write-back cycle between two reads
    u_m = Signal(CW)
    u_a = Signal(range(max(max(pre * g for _, pre, g in dp.geo.values()), 2)))
    u_g = Signal(range(max(G, Go, 2)))
    u_col = Signal(range(max(n_in, n_h, 2)))     # presynaptic index of u_a
    u1_valid, u1_m = Signal(), Signal(CW)
    u1_a, u1_g = Signal.like(u_a), Signal.like(u_g)
    m.d.sync += [u1_valid.eq(u_issue), u1_m.eq(u_m), u1_a.eq(u_a), u1_g.eq(u_g)]
    with m.If(u_issue):
        m.d.comb += dp.rd_i1.addr.eq(dp.bank * G + u_g)      # ī_0 of this word's lanes
        for par in PARAMS:
            with m.If(u_m == code[par]):
                for q in ("w", "wbar", "lam", "grad"):
                    m.d.comb += dp.rdp(rd[f"{q}.{par}"], u_a)
    n_post = per_param([dp.geo[par][0] for par in PARAMS])
    u1_lanes = dp.lane_mask(n_post[u1_m] - u1_g * P)

    def pick(q, p, sel):
        """Element ``p`` of the word of ``q`` read for parameter ``sel``: one multiplexer
        input per physical memory (parameters sharing one share its read data)."""
        srcs = {}
        for par in PARAMS:
            data_ = rd[f"{q}.{par}"].data
            srcs.setdefault(id(data_), (data_, []))[1].append(code[par])
        srcs = list(srcs.values())
        out = Value.cast(srcs[-1][0][p])
        for data_, codes in reversed(srcs[:-1]):
            out = Mux(Cat(*[sel == c for c in codes]).any(), Value.cast(data_[p]), out)
        return out

    # the window's first step is folded in here: G_in += ī_0 x_0ᵀ, G_rec += ī_0 s_-1ᵀ
    # (and G_b += ī_0: the always-active unit)
    um = m.submodules.upd_math = CombPart()
    gsum = [Signal(signed(dp.reg[0].gsum_width), name=f"gsum{p}") for p in range(P)]
    # s_-1 of the column: selected at issue (buf_s word 0 is on the port from BW_LAST2
    # on) and registered, which keeps the 32:1 bit select off the path into the
    # regulariser's first adder
    s0_k = Signal()
    m.d.sync += s0_k.eq(dp.s_buf.bit_select(u_col, 1))
    with m.If(u_issue):
        # x_0 of this word's column into the event operand register, the multiplier's
        # ī operand selected (no event is written in the update)
        m.d.comb += dp.x_index.eq(u_col)
        m.d.sync += [dp.ev_x.eq(dp.xsel), dp.ev_kind.eq(dp.K_GIN)]
    add_i0 = (u1_m == code["w_rec"]) & s0_k
    if BIAS:
        add_i0 = add_i0 | (u1_m == code["b"])
    for p in range(P):
        stored = pick("grad", p, u1_m).as_signed()
        i0 = dp.rd_i1.data[p]
        um.m.d.comb += gsum[p].eq(stored + Mux(u1_m == code["w_in"], dp.mprod[p],
                                               Mux(add_i0, i0, 0)))
    for p in range(P):
        rg = dp.reg[p]
        um.m.d.comb += [
            rg.inp.valid.eq(u1_valid & u1_lanes[p]),
            rg.inp.param.eq(u1_m),
            rg.inp.w.eq(pick("w", p, u1_m)),
            rg.inp.wbar.eq(pick("wbar", p, u1_m)),
            rg.inp.lam.eq(pick("lam", p, u1_m)),
            rg.inp.gsum.eq(gsum[p]),
            rg.inp.r_w.eq(dp.lfsr[p].r_w),
            rg.inp.r_lam.eq(dp.lfsr[p].r_lam),
            rg.inp.r_wbar.eq(dp.lfsr[p].r_wbar),
            dp.lfsr[p].en.eq(u1_valid & u1_lanes[p]),
        ]
    with m.If(u1_valid):
        for par in PARAMS:
            with m.If(u1_m == code[par]):
                m.d.comb += [wr[f"grad.{par}"].addr.eq(u1_a), wr[f"grad.{par}"].en.eq(-1)]
                for p in range(P):
                    m.d.comb += wr[f"grad.{par}"].data[p].eq(0)
    # w, W̄, λ sit in single-port SRAMs: a word is read in one cycle and written back
    # in another, so the sweep issues a read every other cycle and the write-back is
    # placed on the cycles between (one extra register when the latency is odd)
    RGL = RegulariserUnit.LATENCY
    SINGLE = cfg.single_port_weights
    UPD_EXTRA = RGL % 2 if SINGLE else 0
    RGW = RGL + UPD_EXTRA
    uo_valid = delay(m, u1_valid, RGW, "upd_v")
    uo_m, uo_a = Signal.like(u1_m), Signal.like(u1_a)
    with m.If(uo_valid):
        depth_o = per_param([dp.geo[par][1] * dp.geo[par][2] - 1 for par in PARAMS])
        with m.If(uo_a == depth_o[uo_m]):
            m.d.sync += [uo_a.eq(0), uo_m.eq(uo_m + 1)]
        with m.Else():
            m.d.sync += uo_a.eq(uo_a + 1)
    uo_lanes = delay(m, u1_lanes, RGW, "upd_l")
    reg_out = [{q: delay(m, getattr(dp.reg[p].out, q), UPD_EXTRA, f"reg_{q}{p}")
                for q in ("w", "wbar", "lam", "sat_w", "sat_wbar", "sat_lam", "sat_grad")}
               for p in range(P)]
    with m.If(uo_valid):
        # the write data once per physical memory (parameters sharing an SRAM share it)
        done = set()
        for q in ("w", "wbar", "lam"):
            for par in PARAMS:
                port = wr[f"{q}.{par}"]
                if id(port.data) not in done:
                    done.add(id(port.data))
                    m.d.comb += [port.data[p].eq(reg_out[p][q]) for p in range(P)]
        for par in PARAMS:
            with m.If(uo_m == code[par]):
                for q in ("w", "wbar", "lam"):
                    m.d.comb += [wr[f"{q}.{par}"].addr.eq(uo_a),
                                 wr[f"{q}.{par}"].en.eq(uo_lanes)]
    dp.PARAMS = PARAMS
    dp.RGW = RGW
    dp.SINGLE = SINGLE
    dp.per_param = per_param
    dp.reg_out = reg_out
    dp.u_a = u_a
    dp.u_col = u_col
    dp.u_g = u_g
    dp.u_issue = u_issue
    dp.u_m = u_m
    dp.u_ph = u_ph
    dp.uo_a = uo_a
    dp.uo_lanes = uo_lanes
    dp.uo_m = uo_m
    dp.uo_valid = uo_valid
