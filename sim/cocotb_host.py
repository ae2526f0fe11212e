"""cocotb benches of a demanding host: abuse between steps, long stalls, resets anywhere.

Run inside the simulator by :mod:`fptt.sim.runner` beside
:mod:`fptt.sim.cocotb_tests` (same parameter file, same :func:`bench`
decorator, same :class:`~fptt.sim.cocotb_tests.CoreEnv`); the frames are those
of ``PARAMS["task"]`` (``"random"`` by default here: signed multi-bit inputs,
random flags, WINDOW changes). Every bench compares every output frame with the
golden model and every memory at the end.

``host_abuse``      between steps, while the core is still busy with the
                    backward pass and update, random bus reads (compared with
                    the golden state after the update), weight writes in the
                    middle of a window (the golden state takes the same value),
                    WINDOW and STEPS writes, and reads offered together with a frame.
``stalls``          frames offered back to back (the next one is taken while
                    the previous output beat is still held) and output beats left
                    unread for thousands of cycles; while a beat is held and no
                    frame is offered, ``busy`` is 0 and the bus is served.
``reset_anywhere``  resets during the forward step, while an output beat is
                    held (and the next frame waits in the core), and while a bus
                    access is pending; each followed by the restore of the golden
                    checkpoint saved before the frame (WINDOW included) and a
                    bit-exact continuation.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from ..rtl.host import REG_INDEX, STATUS_BITS
from .compat import to_unsigned
from .cocotb_tests import _BACKGROUND, PARAMS, CoreEnv, _cfg, _frames, _start_state, bench
from .drivers import cycles_now, is_unsigned, reset, wait_idle

__all__ = ["host_abuse", "stalls", "reset_anywhere"]


def _task_frames(cfg, default_steps: int) -> list[dict]:
    PARAMS.setdefault("task", "random")
    return _frames(cfg, int(PARAMS.get("steps", default_steps)))


def _sig(handle) -> int:
    return to_unsigned(handle.value)


def _expected(sb, key: str, idx: tuple) -> int:
    """Golden value of checkpoint element ``key[idx]`` as the bus returns it."""
    if key == "window":
        return sb.cfg.window
    if key.startswith("grad."):
        return 0                          # zero between windows
    arrays = sb.state.arrays()
    if key not in arrays:                 # a saturation count golden never started
        return 0
    v = int(np.asarray(arrays[key])[0][idx])
    return v & 0xFFFF_FFFF if is_unsigned(key) else v


@bench("host_abuse")
async def host_abuse(dut):
    """Random host accesses between steps while the core is busy; bit-exact throughout."""
    cfg = _cfg()
    env = CoreEnv(dut, cfg)
    frames = _task_frames(cfg, 200)
    rng = np.random.default_rng(int(PARAMS.get("seed", 0)) + 1)
    await env.start(_start_state(cfg))
    sb, bus = env.sb, env.bus
    keys = list(bus.addresses)
    weights = [k for k in keys if k.split(".")[0] in ("w", "wbar", "lam")]
    f = cfg.formats
    n = dict(reads=0, reads_while_busy=0, weight_writes=0, writes_mid_window=0, writes_while_busy=0,
             window_writes=0, steps_writes=0, reads_beside_frame=0)
    for i, fr in enumerate(frames):
        side = None
        if i % 7 == 3 and fr.get("window") is None:     # one bus access at a time
            # a read offered together with the frame: the bus goes first (the golden
            # state before this frame)
            key = keys[rng.integers(len(keys))]
            idx = tuple(int(rng.integers(d)) for d in np.shape(bus.addresses[key]))
            want = _expected(sb, key, idx)
            side = (key, idx, want, cocotb.start_soon(
                bus.read(int(bus.addresses[key][idx]), signed=not is_unsigned(key))))
        await env.step(fr)
        if side is not None:
            key, idx, want, task = side
            v, err = await task
            assert not err and v == want, \
                f"read of {key}{list(idx)} beside frame {i}: {v} (err={err}), golden {want}"
            n["reads_beside_frame"] += 1
        for _ in range(int(rng.integers(0, 4))):
            await ReadOnly()
            busy = bool(_sig(dut.busy))
            await RisingEdge(dut.clk)
            op = rng.choice(["read", "read", "weight", "window", "steps"], p=[.3, .3, .25, .1, .05])
            if op == "read":
                key = keys[rng.integers(len(keys))]
                idx = tuple(int(rng.integers(d)) for d in np.shape(bus.addresses[key]))
                v, err = await bus.read(int(bus.addresses[key][idx]), signed=not is_unsigned(key))
                want = _expected(sb, key, idx)      # after any update this step triggered
                assert not err and v == want, \
                    f"read of {key}{list(idx)} after step {i} (busy={busy}): {v} (err={err}), " \
                    f"golden {want}"
                n["reads"] += 1
                n["reads_while_busy"] += busy
            elif op == "weight":
                key = weights[rng.integers(len(weights))]
                kind, m = key.split(".")
                shape = sb.state.w[m].shape[1:]
                idx = tuple(int(rng.integers(d)) for d in shape)
                fmt = getattr(f, kind)
                value = int(rng.integers(fmt.min, fmt.max + 1))
                assert not await bus.write(int(bus.addresses[key][idx]), value)
                getattr(sb.state, kind)[m][(0,) + idx] = value
                n["weight_writes"] += 1
                n["writes_mid_window"] += int(sb.state.count[0]) > 0
            elif op == "window":
                L = int(rng.integers(1, cfg.window_max + 1))
                await env.set_window(L)
                sb.set_window(L)
                n["window_writes"] += 1
            else:
                value = int(rng.integers(0, 1 << 32))      # wraps within the run
                assert not await bus.write(REG_INDEX["STEPS"], value)
                sb.state.steps[0] = value
                n["steps_writes"] += 1
            if op != "read":
                n["writes_while_busy"] += busy
    await wait_idle(dut)
    await env.checkpoint()
    return {"steps": len(frames), **n, "windows": int(sb.state.windows[0])}


@bench("stalls")
async def stalls(dut):
    """Back-to-back frames, output beats held for up to ``max_stall`` cycles; none lost."""
    cfg = _cfg()
    frames = _task_frames(cfg, 120)
    rng = np.random.default_rng(int(PARAMS.get("seed", 0)) + 2)
    long_every, max_stall = int(PARAMS.get("long_every", 10)), int(PARAMS.get("max_stall", 4000))
    pause_every = int(PARAMS.get("pause_every", 17))
    # every long_every-th beat, and the beat before each pause, held 1000 .. max_stall
    # cycles; the others 0 .. 20
    hold = [int(rng.integers(1000, max_stall + 1))
            if k % long_every == long_every - 1 or (k + 1) % pause_every == 0
            else int(rng.integers(0, 21)) for k in range(len(frames))]
    env = CoreEnv(dut, cfg, stall=lambda k: hold[k] if k < len(hold) else 0)
    await env.start(_start_state(cfg), slack=max_stall)
    stats = dict(taken_while_held=0, idle_while_held=0, reads_while_held=0)

    async def send_all():
        for i, fr in enumerate(frames):
            if i and i % pause_every == 0:
                # let the previous frame's beat be emitted and held (a long stall) with no
                # frame offered: once its window is closed the core is idle (busy = 0)
                # with the beat still held, and serves the bus
                while True:
                    await ReadOnly()
                    held = env.mon.count == i - 1 and _sig(dut.o_frame__valid) \
                        and not _sig(dut.o_frame__ready)
                    if held and not _sig(dut.busy):
                        break
                    await RisingEdge(dut.clk)
                await RisingEdge(dut.clk)
                stats["idle_while_held"] += 1
                v, err = await env.bus.read(REG_INDEX["STEPS"], signed=False)
                assert not err and v == i, f"STEPS read while beat {i - 1} held: {v}"
                stats["reads_while_held"] += 1
            if fr.get("window") is not None:
                await env.set_window(fr["window"])
            await env.drv.send(fr)
            if env.mon.count < env.drv.sent - 1:
                stats["taken_while_held"] += 1

    async def sender():
        try:
            await send_all()
        except BaseException as exc:        # the test's error, not the task's bare exit
            _BACKGROUND.append(f"frame sender: {type(exc).__name__}: {exc}")
            raise

    task = cocotb.start_soon(sender())
    c0 = cycles_now()
    closed = 0
    for i, fr in enumerate(frames):
        got = await env.mon.get()
        env.sb.check_output(fr, got)
        closed += (got["status"] >> STATUS_BITS["closed"]) & 1
    await task
    await wait_idle(dut)
    cycles = cycles_now() - c0
    await env.checkpoint()
    assert env.mon.count == env.drv.sent == len(frames)
    assert stats["taken_while_held"] > 0, "no frame was taken while an output beat was held"
    return {"steps": len(frames), "cycles": cycles, "windows_closed": closed,
            "stalled_output_cycles": env.mon.stalled_cycles, "longest_stall": max(hold),
            "long_stalls": sum(h >= 1000 for h in hold), **stats}


async def _forward_cycles(env, fr) -> int:
    """Send ``fr``; cycles from the frame's transfer to its output beat (the forward step)."""
    await env.drv.send(fr)
    c0 = cycles_now()
    got = await env.mon.get()
    env.sb.check_output(fr, got)
    return cycles_now() - c0


@bench("reset_anywhere")
async def reset_anywhere(dut):
    """Resets during the forward step, with a beat held, with a bus access pending; restores.

    ``resets``: the kinds, in order (``forward``, ``held_output``: the beat of a
    window's last step, ``pending_bus``), spread over the run; before the first, the host sets
    WINDOW to ``window`` (not the reset value), so every restore must write it back.
    ``disturbed = False`` skips counting the weights the reset left changed (a
    read of every weight, slow on Icarus).
    """
    cfg = _cfg()
    env = CoreEnv(dut, cfg)
    frames = _task_frames(cfg, 150)
    kinds = PARAMS.get("resets", ["forward", "held_output", "pending_bus"])
    window = int(PARAMS.get("window", 1 if cfg.window != 1 else cfg.window_max))
    frames[0] = dict(frames[0], window=frames[0].get("window", window))
    rng = np.random.default_rng(int(PARAMS.get("seed", 0)) + 3)
    await env.start(_start_state(cfg))
    path = os.path.join(tempfile.mkdtemp(prefix="fptt-ckpt-"), "checkpoint.npz")
    seg = len(frames) // (len(kinds) + 1)
    fwd = []              # forward-step cycles seen so far
    out = []
    j = 0
    for n, kind in enumerate(kinds):
        # the held beat is that of a window's last step (learn and eos): its update
        # runs before the reset, so the restore has weights to put back
        while j < (n + 1) * seg or not fwd or (kind == "held_output" and not (
                frames[j]["learn"] and frames[j]["eos"])):
            if frames[j].get("window") is not None:
                await env.set_window(frames[j]["window"])
            fwd.append(await _forward_cycles(env, frames[j]))
            j += 1
            await wait_idle(dut)
        env.save(path)                           # the golden state before frame j
        fr = frames[j]
        if fr.get("window") is not None:
            await env.set_window(fr["window"])
        info = {"kind": kind, "step": j, "count": int(env.sb.state.count[0])}
        if kind == "held_output":
            # the beat of frame j is left unread; frame j + 1 is taken meanwhile and
            # waits at its own output inside the core
            env.mon.stop()
            dut.o_frame__ready.value = 0
            await env.drv.send(fr)
            while True:
                await ReadOnly()
                if _sig(dut.o_frame__valid):
                    break
                await RisingEdge(dut.clk)
            await RisingEdge(dut.clk)
            nxt = frames[j + 1]
            if nxt.get("window") is not None:
                await env.set_window(nxt["window"])
            await env.drv.send(nxt)
            await ClockCycles(dut.clk, int(rng.integers(50, 200)))
            await ReadOnly()
            assert _sig(dut.o_frame__valid) and _sig(dut.busy), \
                "no beat held, or the second frame is not waiting in the core"
            await RisingEdge(dut.clk)
        else:
            await env.drv.send(fr)
            # somewhere inside the forward step (the shortest one seen)
            delay = int(rng.integers(1, max(2, min(fwd) - 1)))
            info["after_cycles"] = delay
            pending = None
            if kind == "pending_bus":
                pending = cocotb.start_soon(env.bus.read(REG_INDEX["STEPS"], signed=False))
            await ClockCycles(dut.clk, delay)
            await ReadOnly()
            assert _sig(dut.busy) and not _sig(dut.o_frame__valid), \
                f"reset {delay} cycles into the step: not inside the forward step"
            if pending is not None:
                assert not pending.done() and _sig(dut.bus__stb), "bus access not pending"
            await RisingEdge(dut.clk)
            env.mon.stop()
            if pending is not None:
                pending.kill()               # the reset drops stb: the host gives up
                env.bus.pending = None
        await reset(dut, cycles=3)
        dut.o_frame__ready.value = 1
        env.mon.clear()
        env.mon.start()
        info.update(await env.restore(path, j, disturbed=bool(PARAMS.get("disturbed", True))))
        out.append(info)
    stats = await env.run(frames[j:], int(PARAMS.get("checkpoint_every", 0)))
    await env.checkpoint()
    return {"steps": len(frames), "resets": out, "continued_steps": stats["steps"],
            "windows": int(env.sb.state.windows[0])}
