"""Amaranth-simulator driver of :class:`~fptt.rtl.core.FpttCore`: frames, host bus, checkpoints.

A Python model of the host side of ``docs/host_interface.md`` for
``amaranth.sim`` async testbenches, used by ``tests/test_rtl_core*.py`` and by
``python -m fptt.sim.measure`` (frames: :func:`fptt.sim.stimulus.sequence_frames`):

- :meth:`CoreDriver.write` / :meth:`CoreDriver.read`: one bus access;
- :meth:`CoreDriver.step`: send one input frame, wait for its output frame;
- :meth:`CoreDriver.read_checkpoint` / :meth:`CoreDriver.write_checkpoint`:
  every golden checkpoint array over the bus (:func:`fptt.rtl.host.checkpoint_addresses`);
- :func:`run_frames`: simulate a list of frames from a golden initial state and
  return the outputs, the final read-back state and the cycles per step.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from ..config import CoreConfig
from ..rtl.core import FpttCore
from ..rtl.host import checkpoint_addresses

__all__ = ["CoreDriver", "run_frames", "run_stream", "simulate", "UNSIGNED_KEYS"]

#: Checkpoint arrays read back as unsigned 32-bit numbers.
UNSIGNED_KEYS = ("lfsr", "steps", "windows", "count", "s", "sat_", "writes_")


class CoreDriver:
    """Host-side helpers bound to one simulated core."""

    def __init__(self, dut: FpttCore):
        self.dut = dut
        self.cfg = dut.cfg

    async def access(self, ctx, addr: int, we: bool, value: int = 0):
        bus = self.dut.bus
        ctx.set(bus.addr, addr)
        ctx.set(bus.we, int(we))
        ctx.set(bus.w_data, value & 0xFFFF_FFFF)
        ctx.set(bus.stb, 1)
        r_data, err = await ctx.tick().sample(bus.r_data, bus.err).until(bus.ack)
        ctx.set(bus.stb, 0)
        return int(r_data), bool(err)

    async def write(self, ctx, addr: int, value: int) -> bool:
        """Write ``value``; returns the error flag."""
        return (await self.access(ctx, addr, True, value))[1]

    async def read(self, ctx, addr: int, signed: bool = True):
        """Read one word: ``(value, err)``; ``value`` as int32 when ``signed``."""
        v, err = await self.access(ctx, addr, False)
        if signed and v >= 1 << 31:
            v -= 1 << 32
        return v, err

    async def step(self, ctx, x, target=None, has_target=False, sos=False, eos=False, learn=True):
        """Send one frame (integer codes) and return its output frame as a dict."""
        cfg = self.cfg
        fr = self.dut.i_frame
        tgt = [0] * cfg.n_out if target is None else [int(v) for v in target]
        ctx.set(fr.payload, {"x": [int(v) for v in x], "target": tgt,
                             "has_target": int(bool(has_target)), "sos": int(bool(sos)),
                             "eos": int(bool(eos)), "learn": int(bool(learn))})
        ctx.set(fr.valid, 1)
        await ctx.tick().until(fr.ready)
        ctx.set(fr.valid, 0)
        of = self.dut.o_frame
        ctx.set(of.ready, 1)
        (pl,) = await ctx.tick().sample(of.payload).until(of.valid)
        ctx.set(of.ready, 0)
        return {"o": np.array([int(pl.o[k]) for k in range(cfg.n_out)], dtype=np.int64),
                "spikes": int(pl.spikes), "status": int(pl.status), "steps": int(pl.steps)}

    async def wait_idle(self, ctx):
        if ctx.get(self.dut.busy):
            await ctx.tick().until(~self.dut.busy)

    async def read_checkpoint(self, ctx, scratch: bool = False) -> dict:
        """Every checkpoint array read over the bus, shaped like the golden arrays (no batch)."""
        out = {}
        for key, addrs in checkpoint_addresses(self.cfg, scratch).items():
            vals = np.zeros(addrs.shape, dtype=np.int64)
            for idx in np.ndindex(addrs.shape):
                v, err = await self.read(ctx, int(addrs[idx]),
                                         signed=not key.startswith(UNSIGNED_KEYS))
                if err:
                    raise AssertionError(f"bus error reading {key}{list(idx)}")
                vals[idx] = v
            out[key] = vals
        return out

    async def write_checkpoint(self, ctx, arrays: dict, scratch: bool = True) -> None:
        """Write every checkpoint array (golden shapes, no batch axis); zero the gradient SRAM.

        A ``window`` entry (as in a golden checkpoint file) is written to the
        WINDOW register: a reset returned it to ``cfg.window``.
        """
        if "window" in arrays:
            from ..rtl.host import REG_INDEX
            L = int(np.asarray(arrays["window"]).reshape(-1)[0])
            if await self.write(ctx, REG_INDEX["WINDOW"], L):
                raise AssertionError(f"bus error writing WINDOW = {L}")
        for key, addrs in checkpoint_addresses(self.cfg, scratch).items():
            if key.startswith("grad."):
                vals = np.zeros(addrs.shape, np.int64)
            elif key.startswith(("sat_", "writes_")):   # absent: never written in golden
                vals = np.asarray(arrays.get(key, 0)).reshape(addrs.shape)
            else:
                vals = np.asarray(arrays[key]).reshape(addrs.shape)
            for idx in np.ndindex(addrs.shape):
                if await self.write(ctx, int(addrs[idx]), int(vals[idx])):
                    raise AssertionError(f"bus error writing {key}{list(idx)}")


def run_frames(cfg: CoreConfig, state, frames, *, read_back=True, scratch=False,
               on_step=None, vcd=None):
    """Simulate ``frames`` on a core whose memories start at golden ``state`` (batch 1).

    Returns ``(outputs, arrays, stamps)``: the output frames, the final checkpoint
    read back over the bus (``None`` without ``read_back``) and the core's cycle
    counter before the first frame, after each output frame and when the core
    went idle after the last one (the frames are offered back to back, so
    ``stamps[-1] - stamps[0]`` is the run's cycle count, every phase included).
    """
    dut = FpttCore(cfg, init=state)
    drv = CoreDriver(dut)
    result = {"outputs": [], "arrays": None, "cycles": []}

    async def bench(ctx):
        stamps = [ctx.get(dut.cycle_count)]
        for i, fr in enumerate(frames):
            out = await drv.step(ctx, fr["x"], fr.get("target"), fr.get("has_target", False),
                                 fr.get("sos", False), fr.get("eos", False), fr.get("learn", True))
            result["outputs"].append(out)
            if on_step is not None:
                on_step(i, out)
            stamps.append(ctx.get(dut.cycle_count))
        await drv.wait_idle(ctx)
        stamps.append(ctx.get(dut.cycle_count))
        # stamps[i + 1] - stamps[i]: frame i sent .. output i received (+ the wait for idle)
        result["cycles"] = stamps
        if read_back:
            result["arrays"] = await drv.read_checkpoint(ctx, scratch)

    simulate(dut, bench, vcd)
    return result["outputs"], result["arrays"], result["cycles"]


def simulate(dut, bench, vcd=None) -> None:
    """Run the async testbench ``bench(ctx)`` on ``dut`` (100 MHz clock) to its end."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def run_stream(cfg: CoreConfig, state, frames, registers=()) -> dict:
    """Simulate learning ``frames`` offered back to back: the timing of the cycle model.

    The next input frame always waits and every output frame is taken at once
    (one ``IDLE`` cycle a step, :func:`fptt.rtl.controller.step_cycles`).
    Returns ``c0``, ``c1``: the cycle counter (register ``CYCLES``) before the
    first frame and when the testbench sees the core idle after the last
    one; and every register named in ``registers``, read over the bus after.
    """
    from ..rtl.host import REG_INDEX
    dut = FpttCore(cfg, init=state)
    drv = CoreDriver(dut)
    res = {}

    async def bench(ctx):
        i_fr = dut.i_frame
        ctx.set(dut.o_frame.ready, 1)
        res["c0"] = ctx.get(dut.cycle_count)
        for fr in frames:
            ctx.set(i_fr.payload, {"x": [int(v) for v in fr["x"]],
                                   "target": [int(v) for v in fr["target"]],
                                   "has_target": int(fr["has_target"]), "sos": int(fr["sos"]),
                                   "eos": int(fr["eos"]), "learn": 1})
            ctx.set(i_fr.valid, 1)
            await ctx.tick().until(i_fr.ready)
        ctx.set(i_fr.valid, 0)
        await drv.wait_idle(ctx)
        res["c1"] = ctx.get(dut.cycle_count)
        for name in registers:
            res[name] = (await drv.read(ctx, REG_INDEX[name], signed=False))[0]

    simulate(dut, bench)
    return res
