"""Restoring state over the host port: a zero LFSR state is refused, WINDOW is restored
(Amaranth simulator).

xorshift32 maps 0 to 0, so a lane loaded with 0 would never draw again and
stochastic rounding would silently stop (issue 14, item 2). The core answers
such a write with ``err`` and keeps the lane's state; a non-zero write is
taken, and the core keeps drawing from it bit-exactly like the golden model.
"""

from __future__ import annotations

import numpy as np

from fptt.config import CoreConfig
from fptt.golden.fixed_core import init_state, step
from fptt.golden.lfsr import lane_seeds
from fptt.golden.weights import init_weights
from fptt.rtl.core import FpttCore
from fptt.rtl.host import REG_INDEX, checkpoint_addresses
from fptt.sim.testbench import CoreDriver, simulate


def _cfg() -> CoreConfig:
    return CoreConfig().replace(n_in=4, n_hidden=6, n_out=2, window=2, window_max=4, lanes=2,
                                rounding="stochastic", fptt=dict(alpha=0.5, lr=2.0 ** -6))


def test_lfsr_zero_write_sets_err_and_changes_nothing():
    """Writing 0 to a lane's state: err, the state and every other lane unchanged."""
    cfg = _cfg()
    dut = FpttCore(cfg)
    drv = CoreDriver(dut)
    lanes = checkpoint_addresses(cfg)["lfsr"]
    got = {}

    async def bench(ctx):
        got["seeds"] = [(await drv.read(ctx, int(a), signed=False))[0] for a in lanes]
        got["err_zero"] = await drv.write(ctx, int(lanes[1]), 0)
        got["after_zero"] = [(await drv.read(ctx, int(a), signed=False))[0] for a in lanes]
        # only the low 32 bits count: 2**32 is 0 too
        got["err_wrap"] = await drv.write(ctx, int(lanes[0]), 1 << 32)
        got["err_one"] = await drv.write(ctx, int(lanes[1]), 1)
        got["after_one"] = [(await drv.read(ctx, int(a), signed=False))[0] for a in lanes]
        got["err_window"] = await drv.write(ctx, REG_INDEX["WINDOW"], 3)   # still served

    simulate(dut, bench)
    seeds = [int(v) for v in lane_seeds(cfg.lfsr_seed, cfg.lanes)]
    assert got["seeds"] == seeds and all(seeds)
    assert got["err_zero"] is True and got["err_wrap"] is True
    assert got["after_zero"] == seeds
    assert got["err_one"] is False and got["after_one"] == [seeds[0], 1]
    assert got["err_window"] is False


def test_restored_lfsr_keeps_drawing_like_golden():
    """A non-zero state written over the bus is drawn from exactly as golden draws from it."""
    cfg = _cfg()
    st = init_state(cfg, init_weights(cfg, seed=3, gain_in=4.0))
    dut = FpttCore(cfg, init=st)       # memories from the image; the LFSRs at their seeds
    drv = CoreDriver(dut)
    lanes = checkpoint_addresses(cfg)["lfsr"]
    st.lfsr[0] = [1, 0xDEAD_BEEF]
    x = np.zeros(cfg.n_in, np.int64)
    x[0] = 1 << cfg.formats.x.frac
    target = np.array([1 << cfg.formats.o.frac, 0])
    got = {}

    async def bench(ctx):
        for a, v in zip(lanes, st.lfsr[0]):
            assert not await drv.write(ctx, int(a), int(v))
        for t in range(4):
            await drv.step(ctx, x, target, True, sos=t == 0, eos=t == 3)
        await drv.wait_idle(ctx)
        got.update(await drv.read_checkpoint(ctx))

    simulate(dut, bench)
    cache = {}
    for t in range(4):
        step(cfg, st, x[None], target[None], np.array([True]), sos=t == 0, eos=t == 3,
             draws_cache=cache)
    assert int(st.windows[0]) == 2 and got["windows"] == 2
    assert got["lfsr"].tolist() == st.lfsr[0].tolist()
    assert got["lfsr"][0] != 1            # lane 0 started at 1 and kept drawing
    for m in cfg.params:
        assert np.array_equal(got[f"w.{m}"], st.w[m][0]), m


def test_write_checkpoint_restores_window():
    """A checkpoint file's ``window`` goes back into WINDOW (a reset set it to cfg.window)."""
    from fptt.golden.fixed_core import checkpoint_arrays
    cfg = _cfg()
    st = init_state(cfg, init_weights(cfg, seed=3))
    arrays = {k: np.asarray(v)[0] for k, v in
              checkpoint_arrays(cfg.replace(window=3), st).items() if k != "config_toml"}
    dut = FpttCore(cfg)
    drv = CoreDriver(dut)
    got = {}

    async def bench(ctx):
        got["before"] = (await drv.read(ctx, REG_INDEX["WINDOW"], signed=False))[0]
        await drv.write_checkpoint(ctx, arrays)
        got["after"] = (await drv.read(ctx, REG_INDEX["WINDOW"], signed=False))[0]
        got["lfsr"] = [(await drv.read(ctx, int(a), signed=False))[0]
                       for a in checkpoint_addresses(cfg)["lfsr"]]

    simulate(dut, bench)
    assert (got["before"], got["after"]) == (cfg.window, 3)
    assert got["lfsr"] == st.lfsr[0].tolist()
