"""cocotb drivers and monitor of the core's three interfaces (``docs/host_interface.md``).

- :class:`InputDriver`: the input stream ``i_frame``, one frame per time step.
  A frame offered while the core is busy stays on the port (``valid`` high,
  same payload) until the core takes it.
- :class:`OutputMonitor`: the output stream ``o_frame``; every beat is
  unpacked into a dict and queued. Optional back-pressure (``stall``) holds
  ``ready`` low for a while after ``valid`` and checks the core keeps the beat.
- :class:`HostBus`: the memory-mapped port; single accesses, and every
  checkpoint array (:func:`fptt.rtl.host.checkpoint_addresses`, plus the
  WINDOW register as ``window``) read back or written.

The drivers wait on value changes of the handshake signals (``ready``,
``valid``, ``ack``) rather than on every clock edge, so the simulator runs
whole phases of the core without a Python callback. Values are sampled in the
read-only phase (settled), and driven right after a rising clock edge.

Payload packing follows the Amaranth layouts of the core
(:func:`fptt.rtl.host.frame_layout`, :func:`fptt.rtl.host.out_layout`), so a
change of field order or width in the RTL carries over.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import cocotb
from amaranth.hdl import Shape
from amaranth.lib import data
from cocotb.triggers import ClockCycles, Event, FallingEdge, ReadOnly, RisingEdge

from ..config import CoreConfig
from ..rtl.host import REG_INDEX, checkpoint_addresses, frame_layout, out_layout
from .compat import sim_time, timer, to_unsigned

__all__ = ["InputDriver", "OutputMonitor", "HostBus", "PackedLayout", "Watchdog", "Hang",
           "reset", "wait_idle", "watchdog_cycles", "cycles_now", "is_unsigned", "UNSIGNED_KEYS",
           "CLOCK_PERIOD_NS"]

#: Clock period of the co-simulation top level (``sim/hdl/fptt_tb.sv``: HALF_PERIOD = 5 ns).
CLOCK_PERIOD_NS = 10

#: Checkpoint arrays that are unsigned (read back zero-extended); also every
#: saturation-profile counter (``sat_*``, ``writes_*``), see :func:`is_unsigned`.
UNSIGNED_KEYS = frozenset({"lfsr", "steps", "windows", "count", "s", "buf_s", "window"})


def is_unsigned(key: str) -> bool:
    """Whether checkpoint array ``key`` reads back zero-extended."""
    return key in UNSIGNED_KEYS or key.startswith(("sat_", "writes_"))


class Hang(AssertionError):
    """A handshake did not complete within the watchdog limit."""


def watchdog_cycles(cfg: CoreConfig) -> int:
    """Generous bound on the cycles the core may stay busy: 4 × (dense step + full window close).

    From the cycle model of ``docs/host_interface.md`` section 4 with every
    input and neuron active and ``L = window_max``.
    """
    P, n_in, n_h, n_out, L = cfg.lanes, cfg.n_in, cfg.n_hidden, cfg.n_out, cfg.window_max
    G, Go = -(-n_h // P), -(-n_out // P)
    step = (n_in + n_h) * G + n_h * Go + G + Go + 19
    window = (L * (n_in * G + Go + 15) + n_h * Go + (L - 1) * n_h * max(G, Go)
              + (n_in + n_h) * G + n_h * Go + 6)
    return 4 * (step + window) + 1000


class Watchdog:
    """Fails the test when the testbench makes no progress for ``limit`` clock cycles.

    ``progress()`` returns anything that changes whenever a handshake
    completes (frames sent, beats received, bus accesses); ``pending()``
    describes what is being waited for. One timer per ``limit`` cycles, so the
    handshake waits themselves stay cheap.
    """

    def __init__(self, limit: int, progress, pending=lambda: "a handshake", on_hang=None):
        self.limit = limit
        self.progress = progress
        self.pending = pending
        self.on_hang = on_hang
        self._task = None

    def start(self) -> "Watchdog":
        self._task = cocotb.start_soon(self._run())
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.kill()
            self._task = None

    async def _run(self):
        last = self.progress()
        while True:
            await timer(self.limit * CLOCK_PERIOD_NS, "ns")
            now = self.progress()
            if now == last:
                msg = (f"no progress for {self.limit} cycles (at cycle {cycles_now()}), "
                       f"waiting for {self.pending()}")
                if self.on_hang is not None:
                    self.on_hang(msg)
                raise Hang(msg)
            last = now


def cycles_now() -> int:
    """Simulation time in clock cycles."""
    return int(round(sim_time("ns") / CLOCK_PERIOD_NS))


class PackedLayout:
    """Pack and unpack an Amaranth :class:`~amaranth.lib.data.StructLayout` as one integer.

    Leaf fields are ``(name, index, offset, width, signed)``; arrays
    (:class:`~amaranth.lib.data.ArrayLayout`) are lists in the dicts.
    """

    def __init__(self, layout: data.StructLayout):
        self.layout = layout
        self.width = layout.size
        self.fields = []      # (name, index or None, offset, width, signed)
        for name, field in layout:
            shape = field.shape
            if isinstance(shape, data.ArrayLayout):
                elem = Shape.cast(shape.elem_shape)
                for i in range(shape.length):
                    self.fields.append((name, i, field.offset + i * elem.width, elem.width,
                                        elem.signed))
            else:
                s = Shape.cast(shape)
                self.fields.append((name, None, field.offset, s.width, s.signed))
        self.arrays = {name: n for name, n in
                       ((name, sum(1 for f in self.fields if f[0] == name and f[1] is not None))
                        for name, _ in layout) if n}

    def pack(self, values: dict) -> int:
        word = 0
        for name, idx, off, width, _ in self.fields:
            v = values.get(name, 0)
            if idx is not None:
                v = 0 if v is None else v[idx]
            word |= (int(v) & ((1 << width) - 1)) << off
        return word

    def unpack(self, word: int) -> dict:
        out = {name: [0] * n for name, n in self.arrays.items()}
        for name, idx, off, width, sgn in self.fields:
            v = (word >> off) & ((1 << width) - 1)
            if sgn and v >> (width - 1):
                v -= 1 << width
            if idx is None:
                out[name] = v
            else:
                out[name][idx] = v
        return out


async def reset(dut, cycles: int = 4) -> None:
    """Hold ``rst`` for ``cycles`` clock cycles with every input idle."""
    dut.rst.value = 1
    dut.i_frame__valid.value = 0
    dut.i_frame__payload.value = 0
    dut.bus__stb.value = 0
    dut.bus__we.value = 0
    dut.bus__addr.value = 0
    dut.bus__w_data.value = 0
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def wait_idle(dut) -> None:
    """Return at the first rising clock edge after which ``busy`` was seen low (settled)."""
    while True:
        await ReadOnly()
        if not to_unsigned(dut.busy.value):
            break
        await FallingEdge(dut.busy)
    await RisingEdge(dut.clk)


class InputDriver:
    """Drives ``i_frame``: :meth:`send` one frame (integer codes) and return when it was taken."""

    def __init__(self, dut, cfg: CoreConfig):
        self.dut = dut
        self.cfg = cfg
        self.layout = PackedLayout(frame_layout(cfg))
        self.sent = 0
        self.held = 0             # frames that had to wait for ready
        self.held_cycles = 0      # cycles frames waited with valid high and ready low
        dut.i_frame__valid.value = 0

    def pack(self, frame: dict) -> int:
        f = dict(frame)
        if f.get("target") is None:
            f["target"] = [0] * self.cfg.n_out
        for flag in ("has_target", "sos", "eos", "learn"):
            f[flag] = int(bool(f.get(flag, flag == "learn")))
        return self.layout.pack(f)

    async def send(self, frame: dict) -> None:
        """Offer ``frame`` (keys x, target, has_target, sos, eos, learn); return after the transfer."""
        dut = self.dut
        dut.i_frame__payload.value = self.pack(frame)
        dut.i_frame__valid.value = 1
        waited = None
        while True:
            await ReadOnly()
            if to_unsigned(dut.i_frame__ready.value):
                break
            if waited is None:
                waited = cycles_now()
            await RisingEdge(dut.i_frame__ready)
        if waited is not None:
            self.held += 1
            self.held_cycles += cycles_now() - waited
        await RisingEdge(dut.clk)          # the edge that transfers the beat
        dut.i_frame__valid.value = 0
        self.sent += 1


class OutputMonitor:
    """Watches ``o_frame``; every beat becomes a dict (o, spikes, status, steps) in a queue.

    ``stall(i)`` (optional) gives the number of cycles to hold ``ready`` low
    once beat ``i`` is valid; while held, the monitor checks every cycle that
    ``valid`` stays high and the payload does not change (an assertion error
    otherwise).
    """

    def __init__(self, dut, cfg: CoreConfig, stall=None, on_error=None):
        self.dut = dut
        self.layout = PackedLayout(out_layout(cfg))
        self.stall = stall
        self.on_error = on_error
        self.beats = deque()
        self.count = 0
        self.stalled_cycles = 0
        self._event = Event()
        self._task = None
        dut.o_frame__ready.value = 0 if stall else 1

    def start(self) -> "OutputMonitor":
        self._task = cocotb.start_soon(self._run())
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.kill()
            self._task = None

    def clear(self) -> None:
        self.beats.clear()

    async def _run(self):
        dut = self.dut
        while True:
            await ReadOnly()
            if not to_unsigned(dut.o_frame__valid.value):
                await RisingEdge(dut.o_frame__valid)
                continue
            word = to_unsigned(dut.o_frame__payload.value)
            hold = self.stall(self.count) if self.stall else 0
            for _ in range(hold):
                await RisingEdge(dut.clk)
                await ReadOnly()
                if not to_unsigned(dut.o_frame__valid.value):
                    self._fail(f"output beat {self.count} dropped while o_frame.ready was low")
                if to_unsigned(dut.o_frame__payload.value) != word:
                    self._fail(f"output beat {self.count} changed while o_frame.ready was low")
                self.stalled_cycles += 1
            if self.stall:
                await RisingEdge(dut.clk)
                dut.o_frame__ready.value = 1
                await ReadOnly()
                word = to_unsigned(dut.o_frame__payload.value)
            await RisingEdge(dut.clk)      # the edge that takes the beat
            if self.stall:
                dut.o_frame__ready.value = 0
            # hand the beat over in a writable phase (the consumer may drive at once)
            self.beats.append(self.layout.unpack(word))
            self.count += 1
            self._event.set()

    def _fail(self, msg: str):
        if self.on_error is not None:
            self.on_error(msg)
        raise AssertionError(msg)

    async def get(self) -> dict:
        """The next output beat (waits for it)."""
        while not self.beats:
            self._event.clear()
            await self._event.wait()
        return self.beats.popleft()


class HostBus:
    """The memory-mapped port (Wishbone-classic style: addr/we/w_data/stb → ack/r_data/err)."""

    def __init__(self, dut, cfg: CoreConfig):
        self.dut = dut
        self.cfg = cfg
        self.accesses = 0
        self.pending = None
        self.addresses = checkpoint_addresses(cfg, scratch=True)
        # the run-time window L is part of a checkpoint (golden ``window``): restored
        # and read back with the arrays
        self.addresses["window"] = np.array(REG_INDEX["WINDOW"], dtype=np.int64)
        self._addr, self._we, self._wdata = dut.bus__addr, dut.bus__we, dut.bus__w_data
        self._stb, self._rdata, self._err = dut.bus__stb, dut.bus__r_data, dut.bus__err
        self._ack_rise, self._clk_rise = RisingEdge(dut.bus__ack), RisingEdge(dut.clk)
        self._readonly = ReadOnly()
        dut.bus__stb.value = 0
        dut.bus__we.value = 0

    async def access(self, addr: int, we: bool, value: int = 0) -> tuple[int, bool]:
        """One access; returns ``(r_data as unsigned 32 bits, err)``."""
        self.pending = (addr, we)
        self._addr.value = addr & 0xFFFF_FFFF
        self._we.value = int(bool(we))
        if we:
            self._wdata.value = value & 0xFFFF_FFFF
        self._stb.value = 1
        await self._ack_rise
        await self._readonly
        r_data = to_unsigned(self._rdata.value)
        err = bool(to_unsigned(self._err.value))
        await self._clk_rise               # the edge that samples ack
        self._stb.value = 0
        self.accesses += 1
        self.pending = None
        return r_data, err

    async def read(self, addr: int, signed: bool = True) -> tuple[int, bool]:
        v, err = await self.access(addr, False)
        if signed and v >= 1 << 31:
            v -= 1 << 32
        return v, err

    async def write(self, addr: int, value: int) -> bool:
        """Write; returns the error flag."""
        return (await self.access(addr, True, value))[1]

    def keys(self, scratch: bool = True):
        return [k for k in self.addresses if scratch or not k.startswith("grad.")]

    async def read_arrays(self, keys=None) -> dict[str, np.ndarray]:
        """Read every element of the named checkpoint arrays (default: all, gradient SRAM too)."""
        out = {}
        for key in (self.keys() if keys is None else keys):
            addrs = self.addresses[key]
            vals = np.zeros(addrs.shape, dtype=np.int64)
            signed = not is_unsigned(key)
            for idx in np.ndindex(addrs.shape):
                v, err = await self.read(int(addrs[idx]), signed)
                if err:
                    raise AssertionError(f"bus error reading {key}{list(idx)} at address "
                                         f"0x{int(addrs[idx]):08X}")
                vals[idx] = v
            out[key] = vals
        return out

    async def write_arrays(self, arrays: dict, zero_scratch: bool = True,
                           skip_zero: bool = False) -> None:
        """Write checkpoint ``arrays`` (golden shapes, no batch axis) over the bus.

        ``zero_scratch`` also clears the gradient SRAM (``grad.*``), as a restore
        must. ``skip_zero`` leaves elements whose value is 0 unwritten (only
        right on a core whose memories are still at their power-up zeros).
        """
        for key in self.keys():
            addrs = self.addresses[key]
            if key.startswith("grad."):
                if not zero_scratch:
                    continue
                vals = np.zeros(addrs.shape, np.int64)
            elif key in arrays:
                vals = np.asarray(arrays[key]).reshape(addrs.shape).astype(np.int64)
            elif key.startswith(("sat_", "writes_")):
                vals = np.zeros(addrs.shape, np.int64)   # a count golden never started is 0
            else:
                continue
            for idx in np.ndindex(addrs.shape):
                v = int(vals[idx])
                if skip_zero and v == 0:
                    continue
                if await self.write(int(addrs[idx]), v):
                    raise AssertionError(f"bus error writing {key}{list(idx)} at address "
                                         f"0x{int(addrs[idx]):08X}")
