"""Blocks of the core that are not arithmetic units: the event scanner and the memory specs."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from fptt.config import CoreConfig
from fptt.rtl.accumulator import EventScanner, lowest_set
from fptt.rtl.host import checkpoint_addresses, host_targets
from fptt.rtl.memories import MATRIX, memory_image


@pytest.mark.parametrize("n,groups", [(1, 1), (7, 3), (20, 1), (33, 4)])
def test_event_scanner_visits_set_bits_without_bubbles(n, groups):
    """Every set bit, ascending, ``groups`` cycles each, back to back; zeros cost nothing."""
    rng = np.random.default_rng(n)
    masks = [0, (1 << n) - 1] + [int(rng.integers(0, 1 << n)) for _ in range(4)]
    dut = EventScanner(n, groups)
    seen = []

    async def tb(ctx):
        ctx.set(dut.groups, groups)
        for mask in masks:
            ctx.set(dut.mask, mask)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            ctx.set(dut.step, 1)
            got, cycles = [], 0
            while ctx.get(dut.valid):
                got.append((ctx.get(dut.idx), ctx.get(dut.g)))
                await ctx.tick()
                cycles += 1
            ctx.set(dut.step, 0)
            seen.append((mask, got, cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    for mask, got, cycles in seen:
        want = [(i, g) for i in range(n) if mask >> i & 1 for g in range(groups)]
        assert got == want
        assert cycles == bin(mask).count("1") * groups


@pytest.mark.parametrize("n,chunk", [(1, 8), (5, 8), (8, 8), (9, 8), (20, 8), (32, 8), (33, 4)])
def test_lowest_set(n, chunk):
    """The chunked priority encoder gives the lowest set bit's index (0 for none)."""
    rng = np.random.default_rng(n)
    vals = [0, 1 << (n - 1), (1 << n) - 1] + [1 << i for i in range(n)] \
        + [int(rng.integers(1, 1 << n)) & ~((1 << int(rng.integers(0, n))) - 1) or 1
           for _ in range(40)]
    m = Module()
    vec = Signal(n)
    idx = lowest_set(m, vec, "t", chunk)
    got = []

    async def tb(ctx):
        for v in vals:
            ctx.set(vec, v)
            got.append(ctx.get(idx))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    assert got == [(v & -v).bit_length() - 1 if v else 0 for v in vals]


def test_lif_core_keeps_no_adaptation_memories():
    """A LIF core has no a or ā memory, and its host map has no region 0x11."""
    alif = CoreConfig(n_in=3, n_hidden=5, n_out=2)
    lif = alif.replace(neuron=dict(beta_a=0.0))
    names = {c: {s.name for s in host_targets(c)[0]} for c in (alif, lif)}
    assert {"a", "bw_a"} <= names[alif]
    assert names[alif] - names[lif] == {"a", "bw_a"} and names[lif] <= names[alif]
    assert "a" in checkpoint_addresses(alif) and "a" not in checkpoint_addresses(lif)
    assert 0x11 not in {t.region for t in host_targets(lif)[1]}


def test_lane_layout_and_host_addresses():
    """Column-major, lanes across postsynaptic neurons; host addresses are distinct."""
    cfg = CoreConfig(n_in=3, n_hidden=5, n_out=3, lanes=2, window=2, window_max=3)
    specs, _ = host_targets(cfg)
    w_in = next(s for s in specs if s.name == "w.w_in")
    assert w_in.layout == MATRIX and w_in.groups == 3 and w_in.depth == 9
    arr = np.arange(15).reshape(5, 3)
    img = memory_image(w_in, arr)
    for post in range(5):
        for pre in range(3):
            assert img[pre * 3 + post // 2][post % 2] == arr[post, pre]
    assert img[2][1] == 0 and img[5][1] == 0          # padding lane of the last group
    addrs = np.concatenate([np.atleast_1d(a).ravel() for a in checkpoint_addresses(cfg, True).values()])
    assert len(set(addrs.tolist())) == len(addrs)
