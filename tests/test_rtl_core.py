"""Whole-core tests of the RTL (Amaranth simulator) against the golden model, bit for bit.

The core learns the cue task online (``fptt.tasks.cue``, a small configuration);
every output frame is compared with golden :func:`fptt.golden.fixed_core.step`
at every step, and every memory and register is read back over the host port
at the end and compared with the golden :class:`FixedState` (plus the gradient
SRAM, which must be all zero between windows).

Default runs: 300+ learning steps each, covering both rounding modes, lanes
1 and 2 (4 in the slow sweep) and windows L = 1 and L > 1. The full cross
product is ``@pytest.mark.slow``.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from fptt.config import CoreConfig, Fmt
from fptt.golden.fixed_core import FixedState, init_state, step
from fptt.golden.weights import init_weights
from fptt.rtl.core import FpttCore
from fptt.rtl.host import REG_INDEX, checkpoint_addresses, host_targets
from fptt.rtl.memories import REGION_SHIFT
from fptt.rtl.regulariser import RegulariserUnit
from fptt.sim.stimulus import sequence_frames
from fptt.sim.testbench import CoreDriver, run_frames
from fptt.tasks.base import with_targets
from fptt.tasks.cue import CueTask


def small_cfg(**kw) -> CoreConfig:
    base = dict(n_in=8, n_hidden=8, n_out=2, window=1, window_max=8, lanes=1,
                rounding="nearest", fptt=dict(alpha=0.5, lr=2.0 ** -6))
    base.update(kw)
    return CoreConfig().replace(**base)


def cue_frames(cfg: CoreConfig, n_steps: int, seed: int = 0, inference_every: int = 0):
    """Frames of cue sequences (~26 steps each) until ``n_steps`` steps.

    With ``inference_every = k`` every k-th sequence runs with ``learn = 0``.
    """
    task = CueTask(n_in=cfg.n_in, n_cues=3, cue_len=4, gap=2, delay=6, recall_len=4,
                   p_cue=0.6, p_recall=0.6, p_noise=0.15, n_train=1000, n_test=1, seed=seed)
    frames, i = [], 0
    while len(frames) < n_steps:
        seq = with_targets(task.train_set()[i], "final")
        learn = not (inference_every and i % inference_every == inference_every - 1)
        frames += sequence_frames(cfg, seq, learn=learn)
        i += 1
    return frames


def golden_run(cfg, st, frames):
    outs, cache = [], {}
    for fr in frames:
        tgt = np.zeros(cfg.n_out, np.int64) if fr["target"] is None else np.asarray(fr["target"])
        o = step(cfg, st, np.asarray(fr["x"])[None], tgt[None], np.array([fr["has_target"]]),
                 sos=fr["sos"], eos=fr["eos"], learn=fr["learn"], draws_cache=cache)
        outs.append(o[0].copy())
    return outs


def start_state(cfg, seed=1):
    """Golden start state; biases (``cfg.biases``) random, not 0, so the forward pass adds
    them from the first step."""
    w = init_weights(cfg, seed=seed, gain_in=4.0, gain_rec=1.0)
    rng = np.random.default_rng(seed + 100)
    for b, scale in (("b", 0.3), ("b_out", 0.1)):
        if b in w:
            w[b] = np.round(rng.normal(0, scale, w[b].shape) / cfg.formats.w.lsb) \
                * cfg.formats.w.lsb
    return init_state(cfg, w)


def assert_state_equal(cfg, golden: FixedState, arrays: dict):
    g = golden.arrays()
    for key, value in arrays.items():
        if key.startswith("grad."):
            assert not value.any(), f"gradient SRAM {key} not cleared"
            continue
        if key.startswith(("sat_", "writes_")) and key not in g:
            assert value == 0, f"{key}: golden never wrote it, rtl {value}"
            continue
        want = np.asarray(g[key])[0].astype(np.int64)
        if not np.array_equal(want, value):
            idx = np.argwhere(np.asarray(want != value).reshape(np.shape(want)))[:5]
            raise AssertionError(f"{key} differs at {idx.tolist()}: golden "
                                 f"{want[tuple(idx[0])] if want.ndim else want}, rtl "
                                 f"{value[tuple(idx[0])] if value.ndim else value}")


def check_run(cfg, n_steps, seed=0, inference_every=0):
    frames = cue_frames(cfg, n_steps, seed, inference_every)
    st = start_state(cfg)
    rtl_init = FixedState.from_arrays(st.arrays())
    gouts = golden_run(cfg, st, frames)
    outs, arrays, stamps = run_frames(cfg, rtl_init, frames, scratch=True)
    assert len(outs) == len(frames)
    for i, (want, got) in enumerate(zip(gouts, outs)):
        assert np.array_equal(want, got["o"]), f"step {i}: golden o {want}, rtl {got['o']}"
        assert got["steps"] == i + 1
    assert_state_equal(cfg, st, arrays)
    assert int(st.windows[0]) > 0
    assert any((st.w[m] != rtl_init.w[m]).any() for m in st.w), "no weight moved"
    return st, outs, stamps


# ---------------------------------------------------------------------------- host port

def _bench(cfg, body, init=None):
    dut = FpttCore(cfg, init=init)
    drv = CoreDriver(dut)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    box = {}

    async def tb(ctx):
        box["result"] = await body(ctx, drv, dut)

    sim.add_testbench(tb)
    sim.run()
    return box["result"]


def test_host_port_reads_and_writes_every_region():
    """Write random codes into every mapped element, read them all back; padding is unreachable."""
    cfg = small_cfg(n_in=3, n_hidden=5, n_out=3, lanes=2, window_max=3)
    rng = np.random.default_rng(0)
    addrs = checkpoint_addresses(cfg, scratch=True)
    specs = {s.name: s for s in host_targets(cfg)[0]}
    values = {}
    for key, a in addrs.items():
        if key in ("count", "steps", "windows"):
            continue
        if key in specs:
            w = specs[key].elem.width
            lo, hi = (-(1 << (w - 1)), 1 << (w - 1)) if specs[key].elem.signed else (0, 1 << w)
        elif key == "s":
            lo, hi = 0, 2
        else:
            lo, hi = 1, 1 << 32
        values[key] = rng.integers(lo, hi, size=a.shape, dtype=np.int64)

    async def body(ctx, drv, dut):
        for key, a in addrs.items():
            if key in values:
                for idx in np.ndindex(a.shape):
                    assert not await drv.write(ctx, int(a[idx]), int(values[key][idx]))
        assert not await drv.write(ctx, REG_INDEX["STEPS"], 123456)
        assert not await drv.write(ctx, REG_INDEX["WINDOW"], 2)
        return await drv.read_checkpoint(ctx, scratch=True)

    got = _bench(cfg, body)
    for key, v in values.items():
        assert np.array_equal(got[key], v), key
    assert got["steps"] == 123456


def test_host_port_errors_change_nothing():
    cfg = small_cfg(n_in=3, n_hidden=5, n_out=3, lanes=2, window_max=3)
    st = start_state(cfg)
    w_in = host_targets(cfg)[0][0]
    assert w_in.name == "w.w_in"

    async def body(ctx, drv, dut):
        bad = [
            (0x7F << REGION_SHIFT, 1),                          # no such region
            (w_in.host_address(5, 0), 1),                       # post out of range
            (w_in.host_address(0, 3), 1),                       # pre out of range (col 3 of 4)
            ((w_in.region << REGION_SHIFT) | (1 << 20), 1),    # stray offset bits
            ((0x20 << REGION_SHIFT) | 2, 1),                    # lfsr lane 2 of 2
            (REG_INDEX["ID"], 5),                               # read-only register
            (REG_INDEX["WINDOW"], 0),                           # L < 1
            (REG_INDEX["WINDOW"], 4),                           # L > window_max
            (REG_INDEX["COUNT"], 3),                            # count >= window_max
            (0x10, 1),                                          # unmapped register index
        ]
        before = await drv.read_checkpoint(ctx)
        for addr, val in bad:
            assert await drv.write(ctx, addr, val), hex(addr)
            if addr not in (REG_INDEX["ID"], REG_INDEX["WINDOW"], REG_INDEX["COUNT"]):
                v, err = await drv.read(ctx, addr)
                assert err and v == 0, hex(addr)
        after = await drv.read_checkpoint(ctx)
        ident = [(await drv.read(ctx, REG_INDEX[n], signed=False))[0]
                 for n in ("ID", "N_IN", "N_HIDDEN", "N_OUT", "WINDOW_MAX", "LANES", "WINDOW")]
        return before, after, ident

    before, after, ident = _bench(cfg, body, init=st)
    for k in before:
        assert np.array_equal(before[k], after[k]), k
    assert ident == [0x46505454, 3, 5, 3, 3, 2, cfg.window]
    assert_state_equal(cfg, st, before)


def test_backpressure_holds_frames_and_outputs():
    """Frames offered while busy wait (ready low); an unread output stalls the core; nothing is lost."""
    cfg = small_cfg(window=2, lanes=2)
    frames = cue_frames(cfg, 12)
    st = start_state(cfg)
    init = FixedState.from_arrays(st.arrays())
    gouts = golden_run(cfg, st, frames)

    async def body(ctx, drv, dut):
        fr_in, fr_out = dut.i_frame, dut.o_frame
        outs, busy_refusals = [], 0
        for i, fr in enumerate(frames):
            ctx.set(fr_in.payload, {"x": [int(v) for v in fr["x"]],
                                    "target": [int(v) for v in fr["target"]],
                                    "has_target": int(fr["has_target"]), "sos": int(fr["sos"]),
                                    "eos": int(fr["eos"]), "learn": 1})
            ctx.set(fr_in.valid, 1)
            while True:
                _, _, ready, busy = await ctx.tick().sample(fr_in.ready, dut.busy)
                if ready:
                    break
                busy_refusals += int(busy)
            ctx.set(fr_in.valid, 0)
            # let the output wait unread for a while: the core must hold it
            await ctx.tick().until(fr_out.valid)
            held = ctx.get(fr_out.payload).o
            for _ in range(7):
                await ctx.tick()
            assert ctx.get(fr_out.valid) and ctx.get(fr_out.payload).o == held
            outs.append(np.array([int(v) for v in ctx.get(fr_out.payload).o]))
            ctx.set(fr_out.ready, 1)
            await ctx.tick()
            ctx.set(fr_out.ready, 0)
        return outs, busy_refusals

    outs, refusals = _bench(cfg, body, init=init)
    assert refusals > 0   # some frames were offered while the core was busy
    for want, got in zip(gouts, outs):
        assert np.array_equal(want, got)


def test_restore_checkpoint_over_bus_continues_bit_exact():
    """A zero-reset core loaded with a golden checkpoint over the bus continues bit-exactly."""
    cfg = small_cfg(window=3, lanes=2, rounding="stochastic")
    frames = cue_frames(cfg, 70)
    st = start_state(cfg)
    golden_run(cfg, st, frames[:40])      # stop inside a window (count > 0)
    assert int(st.count[0]) > 0
    ckpt = {k: np.asarray(v)[0] for k, v in st.arrays().items()}
    gouts = golden_run(cfg, st, frames[40:])

    async def body(ctx, drv, dut):
        await drv.write_checkpoint(ctx, ckpt)
        outs = [(await drv.step(ctx, **{k: fr[k] for k in
                                        ("x", "target", "has_target", "sos", "eos", "learn")}))["o"]
                for fr in frames[40:]]
        await drv.wait_idle(ctx)
        return outs, await drv.read_checkpoint(ctx, scratch=True)

    outs, arrays = _bench(cfg, body)
    for want, got in zip(gouts, outs):
        assert np.array_equal(want, got)
    assert_state_equal(cfg, st, arrays)


# ---------------------------------------------------------------------------- whole core

@pytest.mark.parametrize("lanes", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_inference_bit_exact(lanes):
    cfg = small_cfg(lanes=lanes)
    frames = cue_frames(cfg, 60)
    for fr in frames:
        fr["learn"] = False
    st = start_state(cfg)
    init = FixedState.from_arrays(st.arrays())
    gouts = golden_run(cfg, st, frames)
    outs, arrays, _ = run_frames(cfg, init, frames)
    for i, (want, got) in enumerate(zip(gouts, outs)):
        assert np.array_equal(want, got["o"]), f"step {i}"
    assert_state_equal(cfg, st, arrays)
    assert sum(o["spikes"] for o in outs) > 0


# (lanes, window, rounding): together both rounding modes, lanes 1 and 2, L = 1 and L > 1;
# the other combinations of the same kind run in the slow set (pysim: ~1-2k cycles/s).
DEFAULT_RUNS = [(1, 1, "nearest"), (2, 6, "stochastic")]
MORE_RUNS = [(2, 1, "stochastic"), (1, 8, "stochastic"), (2, 6, "nearest"), (4, 8, "stochastic"),
             (4, 1, "nearest")]


@pytest.mark.parametrize("lanes,window,rounding",
                         DEFAULT_RUNS + [pytest.param(*r, marks=pytest.mark.slow)
                                         for r in MORE_RUNS])
def test_learning_300_steps_bit_exact(lanes, window, rounding):
    cfg = small_cfg(lanes=lanes, window=window, rounding=rounding)
    st, outs, _ = check_run(cfg, 300, inference_every=5)
    assert sum(o["spikes"] for o in outs) > 100


def test_flat_surrogate_bit_exact():
    """ψ's height 1/8 (the S-MNIST population-h8 network: 9 levels of formats.psi): the RTL
    backward follows the golden model, and the hidden layer still learns."""
    cfg = small_cfg(window=4, rounding="stochastic", neuron=dict(surrogate_height=0.125))
    assert cfg.surrogate_height_q == 8
    st, outs, _ = check_run(cfg, 150, seed=1, inference_every=6)
    start = start_state(cfg)
    assert (st.w["w_rec"] != start.w["w_rec"]).any(), "the hidden layer did not learn"


def test_dual_port_weights_bit_exact_and_one_cycle_per_synapse():
    # block RAM for w, W̄, λ: the update sweep reads one synapse per cycle, same results
    cfg = small_cfg(window=3, rounding="stochastic", single_port_weights=False)
    st, outs, _ = check_run(cfg, 120, inference_every=7)
    assert sum(o["spikes"] for o in outs) > 30
    from fptt.rtl.controller import cycle_model
    single = cycle_model(cfg.replace(single_port_weights=True), 3)["update"]
    # one cycle less per word (P = 1: a word per parameter entry, biases included)
    assert single - cycle_model(cfg, 3)["update"] == cfg.n_syn - 1 + RegulariserUnit.LATENCY % 2


#: a distinct η and gradient format per parameter
PER_PARAM = dict(fptt=dict(alpha=0.5, lr=dict(w_in=2.0 ** -5, w_rec=2.0 ** -7, b=2.0 ** -4,
                                              w_out=2.0 ** -9, b_out=2.0 ** -6)),
                 formats=dict(grad_w_in=Fmt(16, 12), grad_w_rec=Fmt(16, 13), grad_b=Fmt(12, 8),
                              grad_w_out=Fmt(16, 9), grad_b_out=Fmt(12, 7)))


@pytest.mark.parametrize("biases", [True, False])
def test_per_parameter_rates_bit_exact(biases):
    """Per-parameter η and gradient formats, with biases (b, b_out learned, each with its
    own W̄ and λ) and without (the matrices alone, as the UP5K preset)."""
    cfg = small_cfg(window=4, lanes=2, rounding="stochastic", biases=biases, **PER_PARAM)
    assert len(set(cfg.lr_shifts.values())) == len(cfg.params)
    st, outs, _ = check_run(cfg, 130, seed=2, inference_every=4)
    for b in ("b", "b_out"):
        assert (b in st.w) == biases
    if biases:
        assert (st.w["b"] != start_state(cfg).w["b"]).any(), "the biases did not learn"


@pytest.mark.slow
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("lanes", [1, 2, 3, 4])
@pytest.mark.parametrize("window", [1, 5, 8])
def test_learning_sweep_slow(lanes, window, rounding):
    cfg = small_cfg(lanes=lanes, window=window, rounding=rounding, n_out=3, n_hidden=7)
    check_run(cfg, 400, seed=lanes + 10 * window, inference_every=4)


def test_saturating_formats_bit_exact():
    """Narrow formats: u, o, δ, s̄, ā and the gradient saturate; the core's saturation
    profile (regions 0x30/0x31) equals the golden SaturationCounter."""
    fm = dict(u=Fmt(10, 6), a=Fmt(8, 6), o=Fmt(8, 5), delta=Fmt(7, 5), obar=Fmt(8, 5),
              sbar=Fmt(8, 5), vbar=Fmt(8, 6), ubar=Fmt(8, 6), abar=Fmt(8, 6), ibar=Fmt(8, 6),
              grad=Fmt(6, 4), w=Fmt(8, 5), wbar=Fmt(9, 6), lam=Fmt(8, 7))
    cfg = small_cfg(window=3, lanes=2, rounding="stochastic").replace(
        formats=fm, fptt=dict(alpha=0.5, lr=0.5), acc_width=20)
    st, _, _ = check_run(cfg, 120)
    prof = st.sat.profile()
    assert sum(1 for n in ("u", "o", "delta", "sbar", "grad") if prof[n][0] > 0) == 5


def test_window_is_a_runtime_register():
    """A core generated with window = 1 runs window L = 4 after a write to WINDOW."""
    gen = small_cfg(window=1, lanes=2)
    run = gen.replace(window=4)
    frames = cue_frames(run, 60)
    st = start_state(run)
    init = FixedState.from_arrays(st.arrays())
    gouts = golden_run(run, st, frames)

    async def body(ctx, drv, dut):
        assert not await drv.write(ctx, REG_INDEX["WINDOW"], 4)
        outs = [(await drv.step(ctx, **{k: fr[k] for k in
                                        ("x", "target", "has_target", "sos", "eos", "learn")}))
                for fr in frames]
        await drv.wait_idle(ctx)
        return outs, await drv.read_checkpoint(ctx, scratch=True)

    outs, arrays = _bench(gen, body, init=init)
    for want, got in zip(gouts, outs):
        assert np.array_equal(want, got["o"])
    assert sum(o["status"] & 1 for o in outs) == int(st.windows[0])
    assert_state_equal(run, st, arrays)
