"""A simulated serial link: the bridge and a core in the Amaranth simulator, a host UART beside.

:class:`LinkTop` wires a host-side UART pair (:class:`~fptt.rtl.uart.UartTx`,
:class:`~fptt.rtl.uart.UartRx`) to the ``rx``/``tx`` pins of a
:class:`~fptt.rtl.linked_core.LinkedCore` (the bridge and a core: an
:class:`~fptt.rtl.core.FpttCore`, or any component with the same
``i_frame``/``o_frame``/``bus``/``busy``). :class:`SimLink` is the
:class:`~fptt.board.driver.ByteLink` of that UART inside an async testbench,
with time in seconds at the simulated clock ``clk_hz``, and optional faults
on either direction: a byte dropped, or XORed with a mask. A bridge built
without UART (``divisor=None``) is reached through its byte streams, a byte
every :data:`BYTE_GAP` cycles: long runs of the real core (whose Amaranth
simulation runs ~1,500 cycles/s) then cost the core's cycles, not 80 cycles a
byte.
:func:`simulate_link` runs a testbench ``bench(ctx, link)``.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from ..rtl.uart import UartRx, UartTx
from .driver import ByteLink

__all__ = ["LinkTop", "SimLink", "simulate_link", "link_step_cycles", "DROP", "BYTE_GAP"]

#: A fault: drop the byte (else a fault is an XOR mask).
DROP = "drop"
#: Without UART, the host offers a byte every BYTE_GAP cycles.
BYTE_GAP = 2


class LinkTop(Elaboratable):
    """Host UART pair + ``linked`` (a :class:`~fptt.rtl.linked_core.LinkedCore`: bridge and
    core); the host's UART runs at the bridge's divisor (a bridge without UART,
    ``divisor=None``, is reached through the linked core's byte streams)."""

    def __init__(self, linked):
        self.linked = linked
        #: what :class:`SimLink` talks to: ``divisor`` and the byte streams (the linked core's)
        self.bridge = linked
        #: clock cycles since the start (for timing a run)
        self.cycles = Signal(32)
        self.uart = linked.divisor is not None
        if self.uart:
            self.host_tx = UartTx(linked.divisor)
            self.host_rx = UartRx(linked.divisor)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.cycles.eq(self.cycles + 1)
        link = m.submodules.linked = self.linked
        if self.uart:
            m.submodules.host_tx = self.host_tx
            m.submodules.host_rx = self.host_rx
            m.d.comb += [link.rx.eq(self.host_tx.tx), self.host_rx.rx.eq(link.tx)]
        return m


class SimLink(ByteLink):
    """The host UART of a :class:`LinkTop` as a byte link.

    ``tx_faults``/``rx_faults``: ``{byte index: DROP or XOR mask}`` for the
    bytes the host sends / receives, counted from 0 over the whole run.
    ``sent``/``received`` log every byte as it went on (or came off) the wire.
    """

    def __init__(self, top: LinkTop, clk_hz: float, tx_faults=None, rx_faults=None):
        self.top, self.clk_hz = top, clk_hz
        self.tx_faults, self.rx_faults = dict(tx_faults or {}), dict(rx_faults or {})
        # polling period of recv: a character time (byte streams: a byte every BYTE_GAP cycles)
        self.char_cycles = 10 * top.bridge.divisor if top.uart else BYTE_GAP
        self.ctx = None
        self.buffer = bytearray()
        self.sent, self.received = bytearray(), bytearray()
        self._n_tx = self._n_rx = 0
        self.done = False

    def _cycles(self, seconds: float) -> int:
        return max(0, round(seconds * self.clk_hz))

    async def send(self, data: bytes) -> None:
        ctx = self.ctx
        s = self.top.host_tx.data if self.top.uart else self.top.bridge.rx_byte
        for b in bytes(data):
            fault = self.tx_faults.get(self._n_tx)
            self._n_tx += 1
            if fault == DROP:
                continue
            b ^= fault or 0
            ctx.set(s.payload, b)
            ctx.set(s.valid, 1)
            await ctx.tick().until(s.ready)
            ctx.set(s.valid, 0)
            if not self.top.uart:
                await ctx.tick().repeat(BYTE_GAP - 1)
            self.sent.append(b)

    async def recv(self, timeout: float) -> bytes:
        left = self._cycles(timeout)
        while not self.buffer and left > 0:
            n = min(left, self.char_cycles)
            await self.ctx.tick().repeat(n)
            left -= n
        out = bytes(self.buffer)
        self.buffer.clear()
        return out

    async def pause(self, seconds: float) -> None:
        n = self._cycles(seconds)
        if n:
            await self.ctx.tick().repeat(n)

    async def collect(self, ctx) -> None:
        """Background testbench: every byte the host UART receives, faults applied."""
        if self.top.uart:
            stb_sig, data_sig = self.top.host_rx.stb, self.top.host_rx.data
        else:
            out = self.top.bridge.tx_byte
            ctx.set(out.ready, 1)
            stb_sig, data_sig = out.valid, out.payload
        # a plain loop over the ticks (what ``until`` does too), left when the bench is
        # done: an ``until`` pending at the end of the simulation is closed mid-iteration
        async for _clk, _rst, stb, b in ctx.tick().sample(stb_sig, data_sig):
            if self.done:
                break
            if not stb:
                continue
            fault = self.rx_faults.get(self._n_rx)
            self._n_rx += 1
            if fault == DROP:
                continue
            b = int(b) ^ (fault or 0)
            self.received.append(b)
            self.buffer.append(b)


def simulate_link(top: LinkTop, bench, *, clk_hz: float = 24e6, tx_faults=None, rx_faults=None,
                  vcd=None) -> SimLink:
    """Run the async testbench ``bench(ctx, link)`` on ``top`` to its end; returns the link."""
    link = SimLink(top, clk_hz, tx_faults, rx_faults)
    sim = Simulator(top)
    sim.add_clock(1 / clk_hz)

    async def main(ctx):
        link.ctx = ctx
        try:
            await bench(ctx, link)
        finally:
            link.done = True

    sim.add_testbench(link.collect, background=True)
    sim.add_testbench(main)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return link


def link_step_cycles(cfg, state, frames, *, divisor: int = 8, clk_hz: float = 24e6) -> dict:
    """Clock cycles per step through host UART, bridge and core (Amaranth simulation).

    ``frames`` are sent by :class:`~fptt.board.driver.BoardDriver` one after the
    other on a core loaded with golden ``state``; the time runs from the first
    request byte to the last reply byte (the driver's own turnaround is zero
    here). Also the cycles per step of the core alone on the same frames (fed
    back to back, every output taken at once) and both as steps/s at
    ``clk_hz`` (``docs/bridge.md`` section 6).
    """
    from ..rtl.core import FpttCore
    from ..rtl.linked_core import LinkedCore
    from .driver import BoardDriver
    from .protocol import geometry
    n = len(frames)
    res = {}

    async def bench(ctx, link):
        drv = BoardDriver(link, cfg, timeout=1.0, quiet=1.0)
        c0 = ctx.get(top.cycles)
        await drv.run(frames)
        res["link"] = ctx.get(top.cycles) - c0

    top = LinkTop(LinkedCore(cfg, divisor, init=state))
    simulate_link(top, bench, clk_hz=clk_hz)

    core = FpttCore(cfg, init=state)
    m = Module()
    m.submodules.core = core
    cycles = Signal(32)
    m.d.sync += cycles.eq(cycles + 1)

    async def alone(ctx):
        ctx.set(core.o_frame.ready, 1)
        c0 = ctx.get(cycles)
        for fr in frames:
            tgt = fr.get("target")
            ctx.set(core.i_frame.payload, {
                "x": [int(v) for v in fr["x"]],
                "target": [0] * cfg.n_out if tgt is None else [int(v) for v in tgt],
                "has_target": int(bool(fr.get("has_target"))), "sos": int(bool(fr.get("sos"))),
                "eos": int(bool(fr.get("eos"))), "learn": int(bool(fr.get("learn", True)))})
            ctx.set(core.i_frame.valid, 1)
            await ctx.tick().until(core.i_frame.ready)
        ctx.set(core.i_frame.valid, 0)
        if ctx.get(core.busy):
            await ctx.tick().until(~core.busy)
        res["core"] = ctx.get(cycles) - c0

    sim = Simulator(m)
    sim.add_clock(1 / clk_hz)
    sim.add_testbench(alone)
    sim.run()
    geo = geometry(cfg)
    return {"steps": n, "link_cycles_per_step": res["link"] / n,
            "core_cycles_per_step": res["core"] / n,
            "link_steps_per_s": clk_hz * n / res["link"],
            "core_steps_per_s": clk_hz * n / res["core"],
            "link_alone_frames_per_s": clk_hz / divisor / 10
            / (geo.in_bytes + geo.out_bytes + 10)}
