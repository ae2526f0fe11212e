"""cocotb benches (run inside the simulator by :mod:`fptt.sim.runner`).

One module, one cocotb test per bench; the runner selects the bench through
the parameter file named by ``$FPTT_COSIM_PARAMS`` (JSON: ``bench``,
``config_toml``, the bench's own parameters, ``result_path``, ``waves``) and
every other test of the module is skipped. Each bench writes its results (or
its first error) to ``result_path`` as JSON.

Whole core (top level ``sim/hdl/fptt_tb.sv``)
    ``core``          a learning run: cue-task frames, golden model in lockstep,
                      every output compared, every memory at checkpoints and at
                      the end; optionally one training epoch of the demo task
                      followed by the test set (accuracy).
    ``backpressure``  frames offered while the core is busy and output beats
                      left unread are held, never dropped.
    ``reset_restore`` reset in the middle of a window close, restore of a saved
                      golden checkpoint (WINDOW included) over the host port,
                      bit-exact continuation.
    ``bus_errors``    out-of-range host accesses set ``err`` and change nothing.

The benches of a demanding host (abuse between steps, long stalls, resets in
the forward step) are in :mod:`fptt.sim.cocotb_host`; ``core`` and the others
take the random task (``task = "random"``) as well as the cue task.

Units (the unit's own Verilog, clock from cocotb)
    ``neuron_unit``       :class:`~fptt.rtl.neuron.NeuronUnit` against golden
                          ``neuron_update`` + ``surrogate``.
    ``regulariser_unit``  :class:`~fptt.rtl.regulariser.RegulariserUnit` against
                          golden ``gradient`` + ``fptt_update``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import traceback

import numpy as np
import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from ..config import CoreConfig
from ..golden.fixed_core import FixedCore, FixedState
from ..rtl.host import REG_INDEX, ID_VALUE, STATUS_BITS
from ..rtl.memories import REGION_SHIFT
from . import compat
from .drivers import (HostBus, InputDriver, OutputMonitor, Watchdog, cycles_now, reset,
                      wait_idle, watchdog_cycles)
from .scoreboard import Mismatch, Scoreboard
from ..tasks.cue import make_cue_task
from .stimulus import epoch_plan, initial_state, random_frames, training_frames

PARAMS_ENV = "FPTT_COSIM_PARAMS"


def _load_params() -> dict:
    path = os.environ.get(PARAMS_ENV)
    if not path or not os.path.isfile(path):
        return {}
    with open(path) as fh:
        return json.load(fh)


PARAMS = _load_params()
BENCH = PARAMS.get("bench")
_BACKGROUND: list[str] = []   # errors of background tasks (watchdog, monitor): they end the test


def _cfg() -> CoreConfig:
    return CoreConfig.from_toml(PARAMS["config_toml"])


def _write_result(result: dict) -> None:
    path = PARAMS.get("result_path")
    if path:
        with open(path, "w") as fh:
            json.dump(result, fh, indent=1, default=lambda o: o.item() if hasattr(o, "item")
                      else str(o))


def bench(name):
    """A cocotb test that runs only when the parameter file selects ``name``.

    The wrapped coroutine returns a result dict; it is written to
    ``result_path`` with ``ok = True``, or ``ok = False`` and ``error`` (the
    first mismatch, or the traceback) if it raised.
    """
    def deco(fn):
        async def wrapper(dut):
            result = {"bench": name, "ok": False, "error": None}
            try:
                result.update(await fn(dut) or {})
                result["ok"] = True
            except Mismatch as exc:
                result["error"] = str(exc)
                result["mismatch"] = dict(step=exc.step, quantity=exc.quantity,
                                          address=exc.address, expected=str(exc.expected),
                                          actual=str(exc.actual), waves=exc.waves)
                raise
            except BaseException as exc:
                result["error"] = (_BACKGROUND[0] if _BACKGROUND else
                                   f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                raise
            finally:
                _write_result(result)
        wrapper.__name__ = fn.__name__
        wrapper.__qualname__ = fn.__qualname__
        wrapper.__module__ = fn.__module__
        wrapper.__doc__ = fn.__doc__
        return cocotb.test(skip=BENCH != name)(wrapper)
    return deco


# ----------------------------------------------------------------------------- whole core
class CoreEnv:
    """Drivers, monitor and scoreboard around one core."""

    def __init__(self, dut, cfg: CoreConfig, stall=None):
        self.dut = dut
        self.cfg = cfg
        self.drv = InputDriver(dut, cfg)
        self.mon = OutputMonitor(dut, cfg, stall, on_error=_BACKGROUND.append)
        self.bus = HostBus(dut, cfg)
        self.sb = None
        self.ckpt_cycles = 0
        self.ckpt_seconds = 0.0

    async def start(self, state: FixedState, fresh: bool = True, slack: int = 0) -> None:
        """Reset, check the identification registers, load ``state`` over the host port.

        ``slack``: cycles the watchdog allows beyond the core's own bound (a bench
        that leaves an output beat unread that long on purpose).
        """
        await reset(self.dut)
        self.mon.start()
        self.watchdog = Watchdog(
            watchdog_cycles(self.cfg) + slack,
            lambda: (self.drv.sent, self.mon.count, self.bus.accesses),
            lambda: (f"frame {self.drv.sent} to be taken, output beat {self.mon.count}, "
                     f"bus access {self.bus.pending}"),
            lambda msg: _BACKGROUND.append(f"testbench hang: {msg}")).start()
        ident, err = await self.bus.read(REG_INDEX["ID"], signed=False)
        assert not err and ident == ID_VALUE, f"ID register reads 0x{ident:08X} (err={err})"
        for name, want in (("N_IN", self.cfg.n_in), ("N_HIDDEN", self.cfg.n_hidden),
                           ("N_OUT", self.cfg.n_out), ("WINDOW_MAX", self.cfg.window_max),
                           ("LANES", self.cfg.lanes), ("WINDOW", self.cfg.window)):
            v, err = await self.bus.read(REG_INDEX[name], signed=False)
            assert not err and v == want, f"register {name} reads {v}, configuration has {want}"
        arrays = {k: np.asarray(v)[0] for k, v in state.arrays().items()}
        await self.bus.write_arrays(arrays, zero_scratch=not fresh, skip_zero=fresh)
        # the golden model normally has the RTL's configuration; a different one
        # (``golden_config_toml``) checks that the scoreboard catches a difference
        golden_cfg = CoreConfig.from_toml(PARAMS["golden_config_toml"]) \
            if PARAMS.get("golden_config_toml") else self.cfg
        self.sb = Scoreboard(golden_cfg, state, PARAMS.get("waves"))

    async def restore(self, path: str, step: int, disturbed: bool = True) -> dict:
        """After a reset: restore checkpoint file ``path`` over the bus, continue at ``step``.

        Every array and the WINDOW register (the file's ``window``; the reset
        returned it to ``cfg.window``) are written, the gradient SRAM zeroed;
        the scoreboard continues from the file's state and window, and the
        restore itself is compared (a full read-back). Returns what the reset
        left: ``window_after_reset`` and, with ``disturbed`` (one more read of
        every weight), ``weights_disturbed`` (elements of w, W̄, λ that differ
        from the checkpoint, e.g. after a reset in the update sweep).
        """
        window_after, err = await self.bus.read(REG_INDEX["WINDOW"], signed=False)
        assert not err and window_after == self.cfg.window, \
            f"WINDOW after reset reads {window_after}, reset value is {self.cfg.window}"
        loaded = FixedCore.load(path)
        assert loaded.cfg.replace(window=self.cfg.window) == self.cfg, \
            "checkpoint configuration differs"
        saved = {key: np.asarray(v)[0] for key, v in loaded.state.arrays().items()}
        info = {"window_after_reset": window_after, "window_restored": loaded.cfg.window}
        if disturbed:
            left = await self.bus.read_arrays([f"{q}.{m}" for q in ("w", "wbar", "lam")
                                               for m in self.cfg.params])
            info["weights_disturbed"] = int(sum((saved[key] != v).sum()
                                                for key, v in left.items()))
        saved["window"] = np.array(loaded.cfg.window)
        await self.bus.write_arrays(saved, zero_scratch=True, skip_zero=False)
        self.sb.rewind(loaded.state, loaded.cfg.window)
        self.sb.steps = step
        await self.checkpoint()                  # the restore itself is bit-exact
        return info

    def save(self, path: str) -> None:
        """Write the golden state and window ``L`` as a checkpoint file (:meth:`FixedCore.save`)."""
        _save_checkpoint(self.sb.cfg, self.sb.state, path)

    async def checkpoint(self) -> None:
        """Read every memory and register back and compare with the golden state."""
        await wait_idle(self.dut)         # the core's own work is not checkpoint time
        c0, t0 = cycles_now(), time.perf_counter()
        self.sb.check_state(await self.bus.read_arrays())
        self.ckpt_cycles += cycles_now() - c0
        self.ckpt_seconds += time.perf_counter() - t0

    async def set_window(self, window: int) -> None:
        """Host write of WINDOW (waits for the core to be idle); must not raise ``err``."""
        err = await self.bus.write(REG_INDEX["WINDOW"], int(window))
        assert not err, f"WINDOW = {window} raised err (window_max = {self.cfg.window_max})"

    async def step(self, frame: dict) -> dict:
        if frame.get("window") is not None:
            await self.set_window(frame["window"])   # the scoreboard follows at the frame
        await self.drv.send(frame)
        got = await self.mon.get()
        self.sb.check_output(frame, got)
        return got

    async def run(self, frames, checkpoint_every: int = 0, on_output=None) -> dict:
        """Send ``frames`` one per step, compare every output, checkpoints every N steps."""
        c_start, t_start = cycles_now(), time.perf_counter()
        g_start, k_cycles, k_seconds = self.sb.golden_seconds, self.ckpt_cycles, self.ckpt_seconds
        report = int(PARAMS.get("progress_every", 5000))
        for i, fr in enumerate(frames):
            got = await self.step(fr)
            if on_output is not None:
                on_output(got)
            if checkpoint_every and self.sb.steps % checkpoint_every == 0:
                await self.checkpoint()
            if report and (i + 1) % report == 0:
                self.dut._log.info("%d/%d steps, %d cycles, %.0f s, bit-exact so far",
                                   i + 1, len(frames), cycles_now() - c_start,
                                   time.perf_counter() - t_start)
        await wait_idle(self.dut)
        wall = time.perf_counter() - t_start
        cycles = cycles_now() - c_start - (self.ckpt_cycles - k_cycles)
        golden = self.sb.golden_seconds - g_start
        sim = max(wall - golden - (self.ckpt_seconds - k_seconds), 1e-9)
        n = len(frames)
        return {"steps": n, "cycles": cycles, "cycles_per_step": cycles / max(n, 1),
                "sim_seconds": sim, "golden_seconds": golden, "loop_seconds": wall,
                "sim_cycles_per_s": cycles / sim, "sim_steps_per_s": n / sim,
                "golden_steps_per_s": n / max(golden, 1e-9)}


def _start_state(cfg: CoreConfig) -> FixedState:
    w = PARAMS.get("weights", {})
    return initial_state(cfg, seed=w.get("seed", 1), gain_in=w.get("gain_in", 4.0),
                         gain_rec=w.get("gain_rec", 1.0), gain_out=w.get("gain_out", 1.0))


def _frames(cfg: CoreConfig, n_steps: int):
    """``n_steps`` frames of the bench's task: ``PARAMS["task"]`` = ``"random"`` for
    :func:`~fptt.sim.stimulus.random_frames`, else a cue-task preset."""
    if PARAMS.get("task") == "random":
        return random_frames(cfg, n_steps, seed=PARAMS.get("seed", 0),
                             **PARAMS.get("task_kw", {}))
    task = make_cue_task(cfg, seed=PARAMS.get("seed", 0), preset=PARAMS.get("task", "short"),
                         **PARAMS.get("task_kw", {}))
    return training_frames(cfg, task, n_steps, schedule=PARAMS.get("schedule", "aux"),
                           inference_every=PARAMS.get("inference_every", 0))


@bench("core")
async def core(dut):
    """Learning run (or one epoch + test set), golden model in lockstep, bit for bit."""
    cfg = _cfg()
    env = CoreEnv(dut, cfg)
    every = int(PARAMS.get("checkpoint_every", 0))
    epoch = PARAMS.get("epoch")
    result = {}
    spikes = []
    t0 = time.perf_counter()
    if epoch is None:
        state = _start_state(cfg)
        w0 = {m: state.w[m].copy() for m in cfg.params}
        frames = _frames(cfg, int(PARAMS.get("steps", 300)))
        result["window_writes"] = sum(f.get("window") is not None for f in frames)
        await env.start(state)
        result["load_seconds"] = time.perf_counter() - t0
        result.update(await env.run(frames, every,
                                    on_output=lambda got: spikes.append(got["spikes"])))
    else:
        from ..train import TrainSettings
        from ..golden.fixed_core import init_state
        from ..golden.weights import init_weights
        settings = TrainSettings(**epoch.get("settings", {}))
        task = make_cue_task(cfg, seed=epoch.get("task_seed", 0), preset="demo",
                             **epoch.get("task_kw", {}))
        weights = init_weights(cfg, settings.seed, settings.gain_in, settings.gain_rec,
                               settings.gain_out)
        state = init_state(cfg, weights)
        w0 = {m: state.w[m].copy() for m in cfg.params}
        train, test, bounds = epoch_plan(cfg, task, settings, epoch.get("n_train"))
        await env.start(state)
        result["load_seconds"] = time.perf_counter() - t0
        tr = await env.run(train, every, on_output=lambda got: spikes.append(got["spikes"]))
        outs = []
        te = await env.run(test, 0, on_output=lambda got: outs.append(got["o"]))
        o = np.asarray(outs, dtype=np.float64) * cfg.formats.o.lsb
        seqs = list(task.test_set())
        preds = [task.predict(o[a:b], s) for (a, b), s in zip(bounds, seqs)]
        score = task.score(preds, seqs)
        result.update({k: tr[k] + te[k] for k in ("steps", "cycles", "sim_seconds",
                                                  "golden_seconds", "loop_seconds")})
        result.update(cycles_per_step=result["cycles"] / result["steps"],
                      sim_cycles_per_s=result["cycles"] / result["sim_seconds"],
                      sim_steps_per_s=result["steps"] / result["sim_seconds"],
                      golden_steps_per_s=result["steps"] / result["golden_seconds"],
                      train_steps=tr["steps"], test_steps=te["steps"],
                      train_sequences=len(train) and (epoch.get("n_train")
                                                      or len(task.train_set())),
                      rtl_test_accuracy=score["accuracy"],
                      rtl_predictions=[int(p) for p in preds])
    await env.checkpoint()          # always at the end: every memory, gradient SRAM too
    st = env.sb.state
    result.update(checkpoints=env.sb.checkpoints, windows=int(st.windows[0]),
                  weights_moved=bool(any((st.w[m] != w0[m]).any() for m in cfg.params)),
                  spikes=int(sum(spikes)), bus_accesses=env.bus.accesses)
    return result


@bench("backpressure")
async def backpressure(dut):
    """Frames offered while busy are held (ready low), unread outputs are held; none dropped."""
    cfg = _cfg()
    # every output beat is left unread for 0..10 cycles (the core must hold it);
    # ``stall_cycles`` holds every beat that long (a hang, for the watchdog's test)
    hold = PARAMS.get("stall_cycles")
    env = CoreEnv(dut, cfg, stall=(lambda i: (7 * i + 3) % 11) if hold is None
                  else (lambda i: int(hold)))
    state = _start_state(cfg)
    frames = _frames(cfg, int(PARAMS.get("steps", 120)))
    await env.start(state)
    closed = 0
    for i, fr in enumerate(frames):
        # The next frame is offered as soon as the previous output arrives: after a
        # window closes the core is busy (backward pass, update) and must hold it.
        # Every 5th frame is offered together with a host read, which has priority.
        rd = cocotb.start_soon(env.bus.read(REG_INDEX["STEPS"], signed=False)) \
            if i % 5 == 4 else None
        got = await env.step(fr)
        assert got["steps"] == i + 1, f"frame {i} dropped or duplicated: steps = {got['steps']}"
        closed += (got["status"] >> STATUS_BITS["closed"]) & 1
        if rd is not None:
            steps_read, err = await rd
            assert not err and steps_read == i, \
                f"host read beside frame {i}: STEPS = {steps_read} (err={err}), expected {i}"
    await wait_idle(dut)
    await env.checkpoint()
    assert env.drv.held > 0, "no frame was ever offered while the core was busy"
    assert env.mon.stalled_cycles > 0
    assert env.mon.count == len(frames) == env.drv.sent
    assert closed > 0
    return {"steps": len(frames), "held_frames": env.drv.held, "held_cycles": env.drv.held_cycles,
            "stalled_output_cycles": env.mon.stalled_cycles, "windows_closed": closed}


def _save_checkpoint(cfg: CoreConfig, state: FixedState, path: str) -> None:
    """Write ``state`` in the golden checkpoint format (:meth:`FixedCore.save`)."""
    core = FixedCore(cfg, {m: state.w[m][0] for m in cfg.params})
    core.state = FixedState.from_arrays(state.arrays())
    core.save(path)


@bench("reset_restore")
async def reset_restore(dut):
    """Reset during window closes; restore a saved golden checkpoint; continue bit-exactly.

    ``reset_at``: where in a full window close to reset, per reset: a fraction
    of the shortest full close measured so far (0.5: in the backward pass), or
    a negative number of cycles before its end (-16: in the update sweep, with
    part of the weights already rewritten).
    """
    cfg = _cfg()
    env = CoreEnv(dut, cfg)
    state = _start_state(cfg)
    frames = _frames(cfg, int(PARAMS.get("steps", 200)))
    points = PARAMS.get("reset_at", [0.5, -16])
    if PARAMS.get("window"):
        # a WINDOW other than the reset value: the restore must bring it back
        frames[0] = dict(frames[0], window=int(PARAMS["window"]))
    await env.start(state)
    path = os.path.join(tempfile.mkdtemp(prefix="fptt-ckpt-"), "checkpoint.npz")
    seg = len(frames) // (len(points) + 1)
    full_close = []        # busy cycles after a full-window close (not at eos)
    resets = []
    j = 0
    for n, point in enumerate(points):
        # learn up to the segment's end, measuring window closes
        while j < (n + 1) * seg or not full_close:
            got = await env.step(frames[j])
            j += 1
            if (got["status"] >> STATUS_BITS["closed"]) & 1:
                c0 = cycles_now()
                await wait_idle(dut)
                if not frames[j - 1]["eos"]:
                    full_close.append(cycles_now() - c0)
        # save the golden checkpoint (FixedCore.save) before each frame until one
        # closes a full window; reset in the middle of that close
        while True:
            env.save(path)
            got = await env.step(frames[j])
            j += 1
            if (got["status"] >> STATUS_BITS["closed"]) & 1 and not frames[j - 1]["eos"]:
                break
            await wait_idle(dut)
        shortest = min(full_close)
        delay = int(shortest * point) if point > 0 else shortest + int(point)
        await ClockCycles(dut.clk, max(1, delay))
        await ReadOnly()
        was_busy = bool(compat.to_unsigned(dut.busy.value))
        assert was_busy, f"the core was not busy {delay} cycles after a window closed"
        await RisingEdge(dut.clk)
        await reset(dut, cycles=3)
        count, _ = await env.bus.read(REG_INDEX["COUNT"], signed=False)
        # restore every checkpoint array (and WINDOW) over the bus; re-send the frame
        left = await env.restore(path, j - 1)
        resets.append({"step": j - 1, "after_cycles": delay, "close_cycles": shortest,
                       "count_after_reset": count, **left})
        j -= 1
    stats = await env.run(frames[j:], int(PARAMS.get("checkpoint_every", 0)))
    await env.checkpoint()
    return {"steps": len(frames), "resets": resets, "continued_steps": stats["steps"],
            "windows": int(env.sb.state.windows[0])}


@bench("bus_errors")
async def bus_errors(dut):
    """Out-of-range host accesses raise err (r_data = 0) and change nothing; the run continues."""
    cfg = _cfg()
    env = CoreEnv(dut, cfg)
    state = _start_state(cfg)
    frames = _frames(cfg, int(PARAMS.get("steps", 80)))
    await env.start(state)
    half = len(frames) // 2
    await env.run(frames[:half])
    addrs = env.bus.addresses
    from ..rtl.host import host_targets
    specs = {s.name: s for s in host_targets(cfg)[0]}
    w_in = specs["w.w_in"]
    bad = [
        ("no such region", 0x7F << REGION_SHIFT),
        ("region between maps", 0x0D << REGION_SHIFT),
        ("w_in post out of range", w_in.host_address(cfg.n_hidden, 0)
         if (cfg.n_hidden << w_in.col_bits) < (1 << REGION_SHIFT) else None),
        ("w_in pre out of range", w_in.host_address(0, cfg.n_in)
         if cfg.n_in < (1 << w_in.col_bits) else None),
        ("stray offset bit", (w_in.region << REGION_SHIFT) | (1 << (REGION_SHIFT - 1))),
        ("u beyond n_hidden", (0x10 << REGION_SHIFT) | cfg.n_hidden),
        ("s beyond n_hidden", (0x12 << REGION_SHIFT) | cfg.n_hidden),
        ("o beyond n_out", (0x13 << REGION_SHIFT) | cfg.n_out),
        ("lfsr lane beyond lanes", (0x20 << REGION_SHIFT) | cfg.lanes),
        ("buf_x row beyond window_max", specs["buf_x"].host_address(cfg.window_max, 0)),
        ("buf_s row beyond window_max + 1", specs["buf_s"].host_address(cfg.window_max + 1, 0)),
        ("unmapped register index", 0x10),
        ("top address bits", 0xFF00_0000),
    ]
    # padding lanes: the last group of a lane-organised matrix when n_post % lanes != 0
    if cfg.n_hidden % cfg.lanes:
        bad.append(("w_rec padding lane", specs["w.w_rec"].host_address(cfg.n_hidden, 0)))
    writes_only = [
        ("write read-only ID", REG_INDEX["ID"], 5),
        ("write read-only LANES", REG_INDEX["LANES"], 1),
        ("WINDOW = 0", REG_INDEX["WINDOW"], 0),
        ("WINDOW > window_max", REG_INDEX["WINDOW"], cfg.window_max + 1),
        ("COUNT = window_max", REG_INDEX["COUNT"], cfg.window_max),
    ]
    before = await env.bus.read_arrays()
    regs_before = {n: (await env.bus.read(REG_INDEX[n], signed=False))[0]
                   for n in ("WINDOW", "COUNT", "STEPS", "WINDOWS")}
    checked = 0
    for what, addr in bad:
        if addr is None:
            continue
        v, err = await env.bus.read(addr)
        assert err and v == 0, f"read of {what} (0x{addr:08X}): err={err}, r_data={v}"
        err = await env.bus.write(addr, 0x1234_5678 if "lfsr" in what else -1)
        assert err, f"write to {what} (0x{addr:08X}) did not raise err"
        checked += 2
    for what, addr, value in writes_only:
        err = await env.bus.write(addr, value)
        assert err, f"{what} (0x{addr:08X} <- {value}) did not raise err"
        checked += 1
    after = await env.bus.read_arrays()
    regs_after = {n: (await env.bus.read(REG_INDEX[n], signed=False))[0] for n in regs_before}
    for key in before:
        if not np.array_equal(before[key], after[key]):
            idx = tuple(np.argwhere(np.atleast_1d(before[key] != after[key]))[0])
            raise AssertionError(f"an erroneous access changed {key}{list(idx)}: "
                                 f"{before[key][idx]} -> {after[key][idx]}")
    assert regs_before == regs_after, f"registers changed: {regs_before} -> {regs_after}"
    env.sb.check_state(after)
    # and the core carries on bit-exactly
    await env.run(frames[half:])
    await env.checkpoint()
    return {"steps": len(frames), "bad_accesses": checked}


# ----------------------------------------------------------------------------- units
def _rng():
    return np.random.default_rng(int(PARAMS.get("seed", 0)))


def _rand_fmt(rng, fmt, n, small_bits=None):
    """Half full-range codes of ``fmt`` (saturation), half small ones, plus the extremes."""
    full = rng.integers(fmt.min, fmt.max + 1, size=n)
    if small_bits is None:
        small_bits = max(2, fmt.width - 4)
    small = rng.integers(-(1 << small_bits), 1 << small_bits, size=n)
    out = np.where(rng.random(n) < 0.5, full, np.clip(small, fmt.min, fmt.max))
    out[:4] = [fmt.min, fmt.max, 0, -1]
    return out.astype(np.int64)


def _rand_signed(rng, width, n, small_bits):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    full = rng.integers(lo, hi + 1, size=n)
    small = rng.integers(-(1 << small_bits), 1 << small_bits, size=n)
    out = np.where(rng.random(n) < 0.5, full, np.clip(small, lo, hi))
    out[:4] = [lo, hi, 0, -1]
    return out.astype(np.int64)


async def _unit_pipeline(dut, vectors: list[dict], outputs: dict, latency: int):
    """Drive one vector per cycle (at falling edges), collect ``outputs`` while ``out__valid``.

    ``outputs``: ``name -> signed`` for the ``out__<name>`` ports. Returns a
    dict of lists, one entry per valid output cycle.
    """
    compat.start_clock(dut.clk, 10, "ns")
    dut.rst.value = 1
    dut.inp__valid.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    got = {k: [] for k in outputs}
    n = len(vectors)
    for i in range(n + latency + 3):
        await FallingEdge(dut.clk)
        if compat.to_unsigned(dut.out__valid.value):
            for k, sgn in outputs.items():
                v = getattr(dut, f"out__{k}").value
                got[k].append(compat.to_signed(v) if sgn else compat.to_unsigned(v))
        if i < n:
            for k, v in vectors[i].items():
                getattr(dut, f"inp__{k}").value = int(v)
            dut.inp__valid.value = 1
        else:
            dut.inp__valid.value = 0
    return got


def _compare_unit(name: str, got: dict, want: dict, inputs: dict) -> None:
    n = len(next(iter(want.values())))
    for k, w in want.items():
        g = np.asarray(got[k], dtype=np.int64)
        if len(g) != n:
            raise AssertionError(f"{name}: {len(g)} valid outputs for {n} inputs")
        bad = np.flatnonzero(g != np.asarray(w, dtype=np.int64))
        if len(bad):
            i = int(bad[0])
            ins = ", ".join(f"{a}={int(v[i])}" for a, v in inputs.items())
            raise AssertionError(f"{name}: vector {i} ({ins}): {k} expected {int(w[i])}, "
                                 f"actual {int(g[i])} ({len(bad)} of {n} vectors differ)")


@bench("neuron_unit")
async def neuron_unit(dut):
    """NeuronUnit against golden neuron_update + surrogate on random vectors (bit for bit)."""
    from ..golden.fixed_core import neuron_update, surrogate
    from ..golden.fixedpoint import SaturationCounter
    from ..rtl.neuron import NeuronUnit
    cfg = _cfg()
    f = cfg.formats
    rng = _rng()
    n = int(PARAMS.get("vectors", 2000))
    ins = {"u": _rand_fmt(rng, f.u, n), "a": _rand_fmt(rng, f.a, n),
           "s_prev": rng.integers(0, 2, n),
           "acc": _rand_signed(rng, cfg.acc_width, n, cfg.acc_fmt.frac + 2)}
    sat = SaturationCounter(n)
    col = {k: v[:, None] for k, v in ins.items()}
    u, a, s, thr = neuron_update(cfg, col["u"], col["a"], col["s_prev"], col["acc"], sat)
    psi = surrogate(cfg, u, thr)
    want = {"u": u[:, 0], "a": a[:, 0], "s": s[:, 0], "thr": thr[:, 0], "psi": psi[:, 0],
            "sat_a": sat.counts["a"], "sat_threshold": sat.counts["threshold"],
            "sat_u": sat.counts["u"]}
    outputs = {"u": True, "a": True, "s": False, "thr": True, "psi": True, "sat_a": False,
               "sat_threshold": False, "sat_u": False}
    vectors = [{k: ins[k][i] for k in ins} for i in range(n)]
    got = await _unit_pipeline(dut, vectors, outputs, NeuronUnit.latency(cfg))
    _compare_unit("NeuronUnit", got, want, ins)
    return {"vectors": n, "saturated": {k: int(np.sum(want[k])) for k in want
                                        if k.startswith("sat_")}}


@bench("regulariser_unit")
async def regulariser_unit(dut):
    """RegulariserUnit against golden gradient + fptt_update on random vectors (bit for bit)."""
    from ..golden.fixed_core import fptt_update, gradient, gradient_fracs
    from ..golden.fixedpoint import SaturationCounter
    from ..rtl.regulariser import RegulariserUnit, gsum_width, param_codes
    cfg = _cfg()
    f = cfg.formats
    rng = _rng()
    n = int(PARAMS.get("vectors", 2000))
    gw = gsum_width(cfg)
    fracs = gradient_fracs(cfg)
    codes = param_codes(cfg)
    ins = {"param": rng.integers(0, len(codes), n),
           "w": _rand_fmt(rng, f.w, n), "wbar": _rand_fmt(rng, f.wbar, n),
           "lam": _rand_fmt(rng, f.lam, n),
           "gsum": _rand_signed(rng, gw, n, max(fracs.values()) + 2),
           "r_w": rng.integers(0, 1 << 16, n), "r_lam": rng.integers(0, 1 << 16, n),
           "r_wbar": rng.integers(0, 1 << 16, n)}
    # golden per parameter: its η, gradient frac and format
    g, sat_g = np.zeros(n, np.int64), np.zeros(n, np.int64)
    w, lam, wbar = (np.zeros(n, np.int64) for _ in range(3))
    sat_u = {q: np.zeros(n, np.int64) for q in ("w", "lam", "wbar")}
    for pname, code in codes.items():
        sel = ins["param"] == code
        if not sel.any():
            continue
        sat = SaturationCounter(int(sel.sum()))
        gp = gradient(cfg, pname, ins["gsum"][sel][:, None], sat)
        r = tuple(ins[k][sel][:, None] for k in ("r_w", "r_lam", "r_wbar")) \
            if cfg.rounding == "stochastic" else (None, None, None)
        wp, lp, bp = fptt_update(cfg, pname, ins["w"][sel][:, None], ins["wbar"][sel][:, None],
                                 ins["lam"][sel][:, None], gp, r, sat)
        g[sel], w[sel], lam[sel], wbar[sel] = gp[:, 0], wp[:, 0], lp[:, 0], bp[:, 0]
        sat_g[sel] = sat.counts.get("grad", 0)
        for q in sat_u:
            sat_u[q][sel] = sat.counts.get(q, 0)
    want = {"w": w, "lam": lam, "wbar": wbar, "grad": g, "sat_grad": sat_g,
            "sat_w": sat_u["w"], "sat_lam": sat_u["lam"], "sat_wbar": sat_u["wbar"]}
    outputs = {"w": True, "lam": True, "wbar": True, "grad": True, "sat_grad": False,
               "sat_w": False, "sat_lam": False, "sat_wbar": False}
    vectors = [{k: ins[k][i] for k in ins} for i in range(n)]
    got = await _unit_pipeline(dut, vectors, outputs, RegulariserUnit.LATENCY)
    _compare_unit("RegulariserUnit", got, want, ins)
    return {"vectors": n, "rounding": cfg.rounding,
            "saturated": {k: int(np.sum(want[k])) for k in want if k.startswith("sat_")}}

