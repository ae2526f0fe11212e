"""RTL datapath units against their golden functions, bit-exact, in Amaranth's simulator.

Every unit streams a few hundred seeded random vectors (uniform codes mixed
with format extremes, small values and saturating cases) through its pipeline
in one simulation, checks that results come out exactly ``LATENCY`` cycles
after their inputs, and compares every output and saturation flag with the
golden function of :mod:`fptt.golden.fixed_core` (saturation flags against the
golden :class:`~fptt.golden.fixedpoint.SaturationCounter`, one core per vector).
Configurations: the default, nearest rounding, narrow formats (weights 7 bits,
small fracs, left-shift rounding cases), and a LIF core with ``c = 1 - α``, a
left-shifting surrogate and three lanes.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.sim import Simulator

from fptt.config import CoreConfig, Fmt
from fptt.golden import fixed_core as G
from fptt.golden.fixedpoint import SaturationCounter
from fptt.golden.lfsr import UpdateDraws, lane_seeds, stream
from fptt.rtl.backward import BackwardNeuronUnit, BackwardReadoutUnit
from fptt.rtl.fixed import sum_width
from fptt.rtl.lfsr import LaneLFSR
from fptt.rtl.neuron import NeuronUnit
from fptt.rtl.readout import ReadoutUnit
from fptt.rtl.regulariser import RegulariserUnit, gsum_width, param_codes

N_VEC = 300


def _narrow(**core):
    # a < 1 with ρ < ½ (a saturates upwards), β_a·a_max + θ0 > u_max (B saturates),
    # ibar narrower than ubar (ī saturates), grad.frac above the w_out sum's frac.
    fmts = dict(x=Fmt(4, 2), w=Fmt(7, 4), wbar=Fmt(8, 5), lam=Fmt(8, 6), u=Fmt(8, 4),
                a=Fmt(6, 5), o=Fmt(8, 4), psi=Fmt(4, 2), delta=Fmt(7, 4), obar=Fmt(8, 4),
                sbar=Fmt(8, 4), vbar=Fmt(8, 5), ubar=Fmt(8, 4), abar=Fmt(8, 5), ibar=Fmt(8, 5),
                grad=Fmt(8, 5), const=Fmt(12, 8))
    base = CoreConfig().replace(n_in=5, n_hidden=7, n_out=3, window=4, window_max=6,
                                fptt=dict(alpha=0.25, lr=0.125), formats=fmts,
                                neuron=dict(tau_adp=1.0, beta_a=7.5), **core)
    return base.replace(acc_width=base.acc_bits_needed)   # the tightest legal accumulator


def _lif():
    return CoreConfig().replace(
        n_in=4, n_hidden=5, n_out=2, window=3, window_max=5, lanes=3, rounding="stochastic",
        lfsr_seed=0xDEADBEEF, fptt=dict(alpha=1.0, lr=2.0 ** -4),
        neuron=dict(beta_a=0.0, input_scale="1-alpha", surrogate_height=1.0, surrogate_width=0.25,
                    tau_mem=5.0, tau_out=3.0),
        formats=dict(u=Fmt(12, 4), psi=Fmt(8, 5), grad=Fmt(12, 9), lam=Fmt(14, 6)))


CONFIGS = {
    "default": CoreConfig(),                      # stochastic rounding
    "nearest": CoreConfig(rounding="nearest"),
    "narrow": _narrow(rounding="nearest"),
    "narrow_stoch": _narrow(rounding="stochastic", lanes=2),
    "lif": _lif(),
    # a distinct η and gradient format per parameter (biases included), no biases
    "per_param": CoreConfig().replace(
        rounding="stochastic", lanes=2,
        fptt=dict(alpha=0.25, lr=dict(w_in=2.0 ** -6, w_rec=2.0 ** -9, b=2.0 ** -3,
                                      w_out=2.0 ** -12, b_out=2.0 ** -1)),
        formats=dict(grad_w_in=Fmt(16, 12), grad_w_rec=Fmt(14, 13), grad_b=Fmt(12, 6),
                     grad_w_out=Fmt(16, 10), grad_b_out=Fmt(10, 4))),
    "per_param_nobias": CoreConfig().replace(
        rounding="nearest", biases=False,
        fptt=dict(lr=dict(w_in=2.0 ** -4, w_rec=2.0 ** -7, w_out=2.0 ** -12)),
        formats=dict(grad_w_in=Fmt(12, 11), grad_w_out=Fmt(16, 8))),
}


def test_configs_cover_the_corner_cases():
    lif, narrow = CONFIGS["lif"], CONFIGS["narrow"]
    assert lif.const_q["beta_a"] == 0 and lif.const_q["c"] != 1 << lif.formats.const.frac
    assert lif.surrogate_shift < 0                      # left-shifting surrogate
    assert narrow.formats.w.width <= 8
    fr = G.gradient_fracs(narrow)
    assert min(fr.values()) < narrow.formats.grad("w_out").frac  # a left-shifting gradient


# ---------------------------------------------------------------------------- helpers

def codes(rng, fmt_or_range, n, small=0.33):
    """Random codes: uniform, extremes (min, max, 0, ±1, min+1, max-1) and small values.

    A fraction ``small`` is shrunk towards zero by a random shift.
    """
    lo, hi = (fmt_or_range.min, fmt_or_range.max) if isinstance(fmt_or_range, Fmt) \
        else fmt_or_range
    v = rng.integers(lo, hi + 1, n, dtype=np.int64)
    if small:   # shrink a third towards zero so that not everything saturates
        pick = rng.random(n) < small
        v[pick] >>= rng.integers(0, max(1, (hi - lo).bit_length()), pick.sum())
    ext = np.array([lo, hi, 0, -1 if lo < 0 else 0, 1, lo + 1, hi - 1], dtype=np.int64)
    pick = rng.random(n) < 0.2
    v[pick] = rng.choice(ext, pick.sum())
    return v


def signed_range(width):
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def run_stream(dut, inputs, outputs, n=None):
    """Stream ``inputs`` (name -> array) through ``dut``, one per cycle; collect ``outputs``.

    Checks that the i-th result comes out exactly ``dut.LATENCY`` cycles after
    the i-th input, in order.
    """
    n = len(next(iter(inputs.values()))) if n is None else n
    res = {k: [] for k in outputs}
    seen = []
    lat = dut.LATENCY

    async def bench(ctx):
        for c in range(n + lat + 2):
            ctx.set(dut.inp.valid, int(c < n))
            if c < n:
                for name, arr in inputs.items():
                    ctx.set(getattr(dut.inp, name), int(arr[c]))
            await ctx.tick()
            if ctx.get(dut.out.valid):
                seen.append(c)
                for k in outputs:
                    res[k].append(ctx.get(getattr(dut.out, k)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == list(range(lat - 1, lat - 1 + n)), "results must come LATENCY cycles later"
    return {k: np.array(v, dtype=np.int64) for k, v in res.items()}


def check(got, want, label):
    want = np.asarray(want, dtype=np.int64).reshape(-1)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{label}: {bad.size} of {want.size} differ, first at {bad[0]}: "
                           f"rtl {got[bad[0]]} golden {want[bad[0]]}")


def check_sat(res, sat, names, label):
    for name in names:
        want = sat.counts.get(name, np.zeros(sat.batch, np.int64))
        check(res[f"sat_{name}"], want, f"{label} sat_{name}")


def col(v):
    return np.asarray(v, dtype=np.int64)[:, None]


# ---------------------------------------------------------------------------- fixed.py

def test_fixed_helpers_match_golden_fixedpoint():
    """round_shift (both rules, d <= 0, d <= 16, d > 16), saturate, overflows, sum_at."""
    from amaranth.hdl import Signal, signed

    from fptt.golden import fixedpoint as FP
    from fptt.rtl import fixed

    width = 30
    q = Signal(signed(width))
    b = Signal(signed(9))
    r = Signal(16)
    fmt = Fmt(10, 3)
    ds = (-2, 0, 1, 5, 16, 17, 21)
    m = Module()
    outs = {}
    for d in ds:
        for mode in ("nearest", "stochastic"):
            rounded = fixed.round_shift(q, d, mode, r)
            outs[d, mode] = (rounded, fixed.saturate(rounded, fmt), fixed.overflows(rounded, fmt))
    summed = fixed.sum_at([(q, 7), (b, 2), (-b, 9)], 4)
    rng = np.random.default_rng(7)
    n = 300
    qv = codes(rng, signed_range(width), n, small=0.7)
    bv = codes(rng, signed_range(9), n)
    rv = codes(rng, (0, 2 ** 16 - 1), n)
    got = {key: [] for key in outs}
    got_sum = []

    async def bench(ctx):
        for qq, bb, rr in zip(qv, bv, rv):
            ctx.set(q, int(qq))
            ctx.set(b, int(bb))
            ctx.set(r, int(rr))
            for key, values in outs.items():
                got[key].append(tuple(ctx.get(v) for v in values))
            got_sum.append(ctx.get(summed))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    for (d, mode), values in got.items():
        want = FP.round_shift(qv, d, mode, rv)
        values = np.array(values, dtype=np.int64)
        check(values[:, 0], want, f"round_shift d={d} {mode}")
        check(values[:, 1], FP.saturate(want, fmt), f"saturate d={d} {mode}")
        check(values[:, 2], FP.saturate(want, fmt) != want, f"overflows d={d} {mode}")
    want = FP.round_shift((qv << 2) + (bv << 7) - bv, 5)
    check(np.array(got_sum, dtype=np.int64), want, "sum_at")


# ---------------------------------------------------------------------------- units

@pytest.mark.parametrize("name", list(CONFIGS))
def test_neuron_unit(name):
    cfg = CONFIGS[name]
    f = cfg.formats
    rng = np.random.default_rng(1)
    n = N_VEC
    u, a = codes(rng, f.u, n), codes(rng, f.a, n)
    s = rng.integers(0, 2, n)
    acc = codes(rng, cfg.acc_fmt, n)
    # Accumulator values of realistic size, so that u crosses the threshold often.
    real = rng.random(n) < 0.5
    acc[real] = rng.integers(-4 << cfg.acc_fmt.frac, 4 << cfg.acc_fmt.frac, real.sum())
    dut = NeuronUnit(cfg)
    res = run_stream(dut, dict(u=u, a=a, s_prev=s, acc=acc),
                     ["u", "a", "s", "thr", "psi", "sat_a", "sat_threshold", "sat_u"])
    sat = SaturationCounter(n)
    gu, ga, gs, gt = G.neuron_update(cfg, col(u), col(a), col(s), col(acc), sat)
    gp = G.surrogate(cfg, gu, gt)
    for key, want in dict(u=gu, a=ga, s=gs, thr=gt, psi=gp).items():
        check(res[key], want, f"{name} {key}")
    check_sat(res, sat, ["a", "threshold", "u"], name)
    assert 0 < res["s"].sum() < n and (res["psi"] > 0).any()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_readout_unit(name):
    cfg = CONFIGS[name]
    f = cfg.formats
    rng = np.random.default_rng(2)
    n = N_VEC
    dut = ReadoutUnit(cfg)
    assert dut.w_out_s_width == sum_width(cfg.n_hidden + int(cfg.biases), f.w)
    o, target = codes(rng, f.o, n), codes(rng, f.o, n)
    ws = codes(rng, signed_range(dut.w_out_s_width), n, small=0.7)
    has = rng.integers(0, 2, n)
    res = run_stream(dut, dict(o=o, w_out_s=ws, target=target, has_target=has),
                     ["o", "delta", "sat_o", "sat_delta"])
    sat = SaturationCounter(n)
    go = G.readout(cfg, col(o), col(ws), sat)
    gd = G.output_error(cfg, go, col(target), has, sat)
    check(res["o"], go, f"{name} o")
    check(res["delta"], gd, f"{name} delta")
    check_sat(res, sat, ["o", "delta"], name)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_backward_readout_unit(name):
    cfg = CONFIGS[name]
    f = cfg.formats
    rng = np.random.default_rng(3)
    n = N_VEC
    delta, obar_n = codes(rng, f.delta, n), codes(rng, f.obar, n)
    res = run_stream(BackwardReadoutUnit(cfg), dict(delta=delta, obar_next=obar_n),
                     ["obar", "sat_obar"])
    sat = SaturationCounter(n)
    check(res["obar"], G.backward_readout(cfg, col(delta), col(obar_n), sat), f"{name} obar")
    check_sat(res, sat, ["obar"], name)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_backward_neuron_unit(name):
    cfg = CONFIGS[name]
    f = cfg.formats
    rng = np.random.default_rng(4)
    n = N_VEC
    dut = BackwardNeuronUnit(cfg)
    assert dut.wt_obar_width == sum_width(cfg.n_out, f.w, f.obar)
    assert dut.wt_ibar_width == sum_width(cfg.n_hidden, f.w, f.ibar)
    wo = codes(rng, signed_range(dut.wt_obar_width), n, small=0.7)
    wi = codes(rng, signed_range(dut.wt_ibar_width), n, small=0.7)
    # Half of the vectors with sums inside s̄'s range, so that s̄ mostly does not saturate.
    real = rng.random(n) < 0.5
    for arr, frac in ((wo, f.w.frac + f.obar.frac), (wi, f.w.frac + f.ibar.frac)):
        reach = f.sbar.max * 2.0 ** (frac - f.sbar.frac) / 2
        arr[real] = (rng.uniform(-reach, reach, real.sum())).astype(np.int64)
    psi = rng.integers(0, cfg.surrogate_height_q + 1, n)
    psi[rng.random(n) < 0.1] = f.psi.max     # the full format, beyond the surrogate's range
    ubar_n, abar_n = codes(rng, f.ubar, n), codes(rng, f.abar, n)
    res = run_stream(dut, dict(wt_obar=wo, wt_ibar=wi, psi=psi, ubar_next=ubar_n,
                               abar_next=abar_n),
                     ["ibar", "ubar", "abar", "sat_sbar", "sat_vbar", "sat_ubar", "sat_abar",
                      "sat_ibar"])
    sat = SaturationCounter(n)
    gi, gu, ga = G.backward_neuron(cfg, col(wo), col(wi), col(psi), col(ubar_n), col(abar_n), sat)
    for key, want in dict(ibar=gi, ubar=gu, abar=ga).items():
        check(res[key], want, f"{name} {key}")
    check_sat(res, sat, ["sbar", "vbar", "ubar", "abar", "ibar"], name)


def _regulariser_vectors(cfg, rng, n, width):
    f = cfg.formats
    param = rng.integers(0, len(cfg.params), n)
    gsum = codes(rng, signed_range(width), n, small=0.7)
    w, wbar, lam = codes(rng, f.w, n), codes(rng, f.wbar, n), codes(rng, f.lam, n)
    # Consistent states (w̄ ≈ w, small λ and g) as in training, so that nothing saturates.
    calm = rng.random(n) < 0.4
    wbar[calm] = np.clip(w[calm] << max(0, f.wbar.frac - f.w.frac) >> max(0, f.w.frac - f.wbar.frac),
                         f.wbar.min, f.wbar.max) + rng.integers(-3, 4, calm.sum())
    lam[calm] = rng.integers(-8, 9, calm.sum())
    gsum[calm] = rng.integers(-1 << 12, 1 << 12, calm.sum())
    wbar = np.clip(wbar, f.wbar.min, f.wbar.max)
    return param, gsum, w, wbar, lam


def _golden_regulariser(cfg, param, gsum, w, wbar, lam, r, sat):
    """Golden ``gradient`` + ``fptt_update`` per vector, each with its parameter's η and format."""
    n = len(gsum)
    out = [np.zeros(n, np.int64) for _ in range(4)]
    for q in ("grad", "w", "lam", "wbar"):
        sat.counts.setdefault(q, np.zeros(n, np.int64))
    for pname, code in param_codes(cfg).items():
        sel = param == code
        if not sel.any():
            continue
        part = SaturationCounter(int(sel.sum()))
        g = G.gradient(cfg, pname, col(gsum[sel]), part)
        rs = tuple(col(x[sel]) for x in r) if r[0] is not None else r
        wn, ln, bn = G.fptt_update(cfg, pname, col(w[sel]), col(wbar[sel]), col(lam[sel]), g,
                                   rs, part)
        for dst, v in zip(out, (g, wn, ln, bn)):
            dst[sel] = v[:, 0]
        for q in ("grad", "w", "lam", "wbar"):
            sat.counts[q][sel] += part.counts.get(q, 0)
    return tuple(out)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_regulariser_unit(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(5)
    n = N_VEC
    dut = RegulariserUnit(cfg)
    param, gsum, w, wbar, lam = _regulariser_vectors(cfg, rng, n, dut.gsum_width)
    inputs = dict(param=param, gsum=gsum, w=w, wbar=wbar, lam=lam)
    r = (None, None, None)
    if cfg.rounding == "stochastic":
        # Draws as the golden model makes them: UpdateDraws of random lane states.
        ud = UpdateDraws(cfg.param_shapes, cfg.lanes)
        states = rng.integers(1, 2 ** 32, (1 + n // cfg.n_syn, cfg.lanes)).astype(np.uint64)
        draws, _ = ud.draw(states)
        flat = np.concatenate([np.moveaxis(draws[m], 1, -1).reshape(-1, 3) for m in draws])[:n]
        r = tuple(flat[:, j] for j in range(3))
        inputs.update(r_w=r[0], r_lam=r[1], r_wbar=r[2])
    res = run_stream(dut, inputs, ["w", "lam", "wbar", "grad", "sat_grad", "sat_w", "sat_lam",
                                   "sat_wbar"])
    sat = SaturationCounter(n)
    g, wn, ln, bn = _golden_regulariser(cfg, param, gsum, w, wbar, lam, r, sat)
    for key, want in dict(grad=g, w=wn, lam=ln, wbar=bn).items():
        check(res[key], want, f"{name} {key}")
    check_sat(res, sat, ["grad", "w", "lam", "wbar"], name)
    assert (res["w"] != w).any()
    assert set(param) == set(range(len(cfg.params)))    # every parameter exercised


def test_regulariser_gsum_width_holds_the_window_sums():
    for cfg in CONFIGS.values():
        f, L = cfg.formats, cfg.window_max
        width = gsum_width(cfg)
        worst = max(L * f.ibar.min * f.x.min, L * -f.ibar.min, L * -f.obar.min)
        assert worst <= (1 << (width - 1)) - 1 or worst == 1 << (width - 1)


# ---------------------------------------------------------------------------- LFSR

@pytest.mark.parametrize("name", ["default", "lif"])
def test_lane_lfsr_matches_golden_stream(name):
    cfg = CONFIGS[name]
    lane = cfg.lanes - 1
    dut = LaneLFSR(cfg, lane)
    seed = lane_seeds(cfg.lfsr_seed, cfg.lanes)[lane]
    n = 1000
    want = stream(np.array([seed]), 3 * n + 3)[0]
    draws = (want >> np.uint64(16)).astype(np.int64)
    got, states = [], []
    reload = int(want[3 * n - 1])    # the state after n synapses, restored after a scribble

    async def bench(ctx):
        assert ctx.get(dut.state) == int(seed)
        for c in range(n):
            # Pause (en = 0) every 7th cycle: the state must hold.
            if c % 7 == 3:
                ctx.set(dut.en, 0)
                before = ctx.get(dut.state)
                await ctx.tick()
                assert ctx.get(dut.state) == before
            got.append((ctx.get(dut.r_w), ctx.get(dut.r_lam), ctx.get(dut.r_wbar)))
            ctx.set(dut.en, 1)
            await ctx.tick()
            states.append(ctx.get(dut.state))
        ctx.set(dut.en, 1)
        ctx.set(dut.load, 1)
        ctx.set(dut.load_value, 0x0BAD_F00D)
        await ctx.tick()                       # load wins over en
        assert ctx.get(dut.state) == 0x0BAD_F00D
        ctx.set(dut.load_value, reload)
        ctx.set(dut.en, 0)
        await ctx.tick()
        ctx.set(dut.load, 0)
        assert ctx.get(dut.state) == reload
        assert ctx.get(dut.r_w) == draws[3 * n]   # draws continue from the loaded state

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    got = np.array(got, dtype=np.int64)
    check(got.reshape(-1), draws[:3 * n], f"{name} draws")
    check(np.array(states, dtype=np.int64), want[2:3 * n:3].astype(np.int64), f"{name} states")


def test_lane_lfsr_ignores_en_under_nearest_rounding():
    cfg = CONFIGS["nearest"]
    dut = LaneLFSR(cfg, 0)

    async def bench(ctx):
        ctx.set(dut.en, 1)
        for _ in range(3):
            await ctx.tick()
        assert ctx.get(dut.state) == int(lane_seeds(cfg.lfsr_seed, 1)[0])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_lanes_update_a_window_like_the_golden_core():
    """Each lane: LaneLFSR feeding RegulariserUnit over its synapses in golden draw order.

    A whole FPTT update of a small 3-lane core (every matrix) against golden
    ``_fptt_update``: new w, λ, w̄ and the final LFSR state of every lane.
    """
    cfg = CONFIGS["lif"]
    rng = np.random.default_rng(6)
    fracs = G.gradient_fracs(cfg)
    shapes = cfg.param_shapes
    weights = {m: codes(rng, cfg.formats.w, np.prod(s), small=0).reshape(s)
               for m, s in shapes.items()}
    st = G.init_state(cfg, weights)
    gsums = {}
    for m, s in shapes.items():
        st.lam[m][0] = rng.integers(-40, 41, s)
        st.wbar[m][0] = np.clip(st.wbar[m][0] + rng.integers(-20, 21, s), cfg.formats.wbar.min,
                                cfg.formats.wbar.max)
        gsums[m] = rng.integers(-1 << (fracs[m] + 2), 1 << (fracs[m] + 2), s)
    before = {k: {m: v[m][0].copy() for m in shapes} for k, v in
              dict(w=st.w, wbar=st.wbar, lam=st.lam).items()}
    grads = {m: G.gradient(cfg, m, gsums[m][None]) for m in shapes}
    G._fptt_update(cfg, st, grads, None)

    for lane in range(cfg.lanes):
        order = [(m, post, pre) for m, (posts, pres) in shapes.items()
                 for pre in range(pres) for post in range(lane, posts, cfg.lanes)]
        top = Module()
        top.submodules.lfsr = lfsr = LaneLFSR(cfg, lane)
        top.submodules.reg = reg = RegulariserUnit(cfg)
        top.d.comb += [reg.inp.r_w.eq(lfsr.r_w), reg.inp.r_lam.eq(lfsr.r_lam),
                       reg.inp.r_wbar.eq(lfsr.r_wbar), lfsr.en.eq(reg.inp.valid)]
        out = []

        async def bench(ctx, order=order, reg=reg, out=out):
            for c in range(len(order) + reg.LATENCY + 2):
                ctx.set(reg.inp.valid, int(c < len(order)))
                if c < len(order):
                    m, post, pre = order[c]
                    ctx.set(reg.inp.param, param_codes(cfg)[m])
                    ctx.set(reg.inp.gsum, int(gsums[m][post, pre]))
                    for q in ("w", "wbar", "lam"):
                        ctx.set(getattr(reg.inp, q), int(before[q][m][post, pre]))
                await ctx.tick()
                if ctx.get(reg.out.valid):
                    out.append((ctx.get(reg.out.w), ctx.get(reg.out.lam), ctx.get(reg.out.wbar)))
            out.append(ctx.get(lfsr.state))

        sim = Simulator(top)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
        assert out[-1] == int(st.lfsr[0, lane]), f"lane {lane} LFSR state"
        for (m, post, pre), got in zip(order, out[:-1]):
            want = (st.w[m][0, post, pre], st.lam[m][0, post, pre], st.wbar[m][0, post, pre])
            assert got == tuple(int(x) for x in want), f"lane {lane} {m}[{post},{pre}]"


# ---------------------------------------------------------------------------- Verilog

UNITS = [NeuronUnit, ReadoutUnit, BackwardReadoutUnit, BackwardNeuronUnit, RegulariserUnit,
         LaneLFSR]


@pytest.mark.parametrize("name", ["default", "narrow_stoch", "lif"])
def test_units_convert_to_verilog(name):
    cfg = CONFIGS[name]
    for unit in UNITS:
        text = verilog.convert(unit(cfg), name=unit.__name__)
        assert f"module {unit.__name__}" in text


# ---------------------------------------------------------------------------- constant products

def test_const_mul_matches_python_product():
    """const_mul(x, k) == k * x (and const_mul_add == k * x + offset), narrowest exact shape.

    Constants: 0, ±1, powers of two, every configuration's ``const_q`` (and
    ``-β_a``, as the backward unit uses it), a few random ones; operands signed
    and unsigned, random codes with their extremes.
    """
    from amaranth.hdl import Signal, signed, unsigned

    from fptt.rtl import constmul, fixed

    rng = np.random.default_rng(8)
    ks = {0, 1, -1, 2, -4, 8192, -8192, 3, -3, 41, 255, -255}
    for cfg in CONFIGS.values():
        ks |= set(cfg.const_q.values()) | {-cfg.const_q["beta_a"]}
    ks |= {int(v) for v in rng.integers(-2 ** 17, 2 ** 17, 6)}
    offsets = (1, 1 << 5, 1 << 12, 4097)
    operands = {"s16": Signal(signed(16)), "u9": Signal(unsigned(9)), "s5": Signal(signed(5))}
    exprs = {}
    for name, x in operands.items():
        lo, hi = (-(1 << (len(x) - 1)), (1 << (len(x) - 1)) - 1) if x.shape().signed \
            else (0, (1 << len(x)) - 1)
        for i, k in enumerate(sorted(ks)):
            for off in (0, offsets[i % len(offsets)]):
                e = constmul.const_mul(x, k) if off == 0 else constmul.const_mul_add(x, k, off)
                vmin, vmax = sorted((k * lo + off, k * hi + off))
                if k or off:           # the narrowest shape that holds every value
                    want = (signed(1 + max((-vmin - 1).bit_length(), vmax.bit_length()))
                            if vmin < 0 else unsigned(vmax.bit_length()))
                    assert e.shape() == want, (name, k, off, e.shape(), want)
                exprs[name, k, off] = e
    vectors = {}
    for name, x in operands.items():
        rnge = signed_range(len(x)) if x.shape().signed else (0, (1 << len(x)) - 1)
        vectors[name] = codes(rng, rnge, 100)
    got = {key: [] for key in exprs}

    async def bench(ctx):
        for name, x in operands.items():
            for v in vectors[name]:
                ctx.set(x, int(v))
                for key, e in exprs.items():
                    if key[0] == name:
                        got[key].append(ctx.get(e))

    sim = Simulator(Module())
    sim.add_testbench(bench)
    sim.run()
    for (name, k, off), values in got.items():
        want = [k * int(v) + off for v in vectors[name]]
        assert values == want, f"const_mul {name} k={k} offset={off}"


def test_saturate_bits_and_preadded_rounding_match_golden():
    """saturate_bits == (saturate, overflows); round_pre with rounding_offset == round_shift."""
    from amaranth.hdl import Signal, signed, unsigned

    from fptt.golden import fixedpoint as FP
    from fptt.rtl import constmul, fixed

    fmt = Fmt(10, 3)
    q = Signal(signed(24))
    u = Signal(unsigned(12))
    m = Module()
    sats = {"q": fixed.saturate_bits(q, fmt), "u": fixed.saturate_bits(u, fmt),
            "narrow": fixed.saturate_bits(q[:8].as_signed(), fmt)}
    # Sum of a product at frac 9 and q at frac 6, rounded to frac 2 (d = 7): the offset
    # pre-added into the product, and a left shift (d <= 0).
    off = fixed.rounding_offset(9, 9, 2)
    assert off == 1 << 6 and fixed.rounding_offset(6, 9, 2) == 1 << 3
    assert fixed.rounding_offset(6, 9, 6) is None and fixed.rounding_offset(9, 9, 12) == 0
    total, top = fixed.exact_sum([(constmul.const_mul_add(u, -93, off), 9), (q, 6)])
    pre = fixed.round_pre(total, top - 2, True)
    plain = fixed.round_pre(total, top - 2, False)
    left = fixed.round_pre(q, -2, True)
    rng = np.random.default_rng(9)
    n = 400
    qv = codes(rng, signed_range(24), n, small=0.8)
    uv = codes(rng, (0, 2 ** 12 - 1), n)
    got = {key: [] for key in sats}
    got_r = []

    async def bench(ctx):
        for qq, uu in zip(qv, uv):
            ctx.set(q, int(qq))
            ctx.set(u, int(uu))
            for key, (val, flag) in sats.items():
                got[key].append((ctx.get(val), ctx.get(flag)))
            got_r.append((ctx.get(pre), ctx.get(plain), ctx.get(left)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    inputs = {"q": qv, "u": uv, "narrow": ((qv & 0xFF) ^ 0x80) - 0x80}
    for key, values in got.items():
        values = np.array(values, dtype=np.int64)
        want = FP.saturate(inputs[key], fmt)
        check(values[:, 0], want, f"saturate_bits {key}")
        check(values[:, 1], want != inputs[key], f"saturate_bits flag {key}")
    got_r = np.array(got_r, dtype=np.int64)
    want = FP.round_shift(-93 * uv + (qv << 3), 7)
    check(got_r[:, 0], want, "round_pre (offset pre-added)")
    check(got_r[:, 1], FP.round_shift(-93 * uv + (1 << 6) + (qv << 3), 7), "round_pre (plain)")
    check(got_r[:, 2], qv << 2, "round_pre (d <= 0)")


def test_rtl_refuses_per_neuron_time_constants():
    """The RTL's α is one constant multiplier: a configuration with per-neuron membrane time
    constants is refused where the hardware is built, naming the key and the way out."""
    from fptt.rtl.core import FpttCore
    cfg = CoreConfig.load(None, ["neuron.tau_mem_spread=20"])
    msg = ("neuron.tau_mem_spread = 20: per-neuron membrane time constants are in the golden "
           "models only, the RTL multiplies by one constant alpha; set neuron.tau_mem_spread = 1 "
           "to build the hardware")
    for block in (FpttCore, NeuronUnit, BackwardNeuronUnit):
        with pytest.raises(ValueError, match=msg.replace(".", r"\.")):
            block(cfg)
