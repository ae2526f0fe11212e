"""A simulated serial link: the bridge and a core in the Amaranth simulator, a host UART beside.

:class:`LinkTop` wires a host-side UART pair (:class:`~fptt.rtl.uart.UartTx`,
:class:`~fptt.rtl.uart.UartRx`) to the bridge's ``rx``/``tx`` pins and the
bridge to a core (:class:`~fptt.rtl.core.FpttCore`, or any component with
the same ``i_frame``/``o_frame``/``bus``). :class:`SimLink` is the
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
from amaranth.lib import wiring
from amaranth.sim import Simulator

from ..rtl.uart import UartRx, UartTx
from .driver import ByteLink

__all__ = ["LinkTop", "SimLink", "simulate_link", "DROP", "BYTE_GAP"]

#: A fault: drop the byte (else a fault is an XOR mask).
DROP = "drop"
#: Without UART, the host offers a byte every BYTE_GAP cycles.
BYTE_GAP = 2


class LinkTop(Elaboratable):
    """Host UART pair + ``bridge`` + ``core``; the host's UART runs at the bridge's divisor
    (a bridge without UART, ``divisor=None``, is reached through its byte streams)."""

    def __init__(self, bridge, core):
        self.bridge, self.core = bridge, core
        #: clock cycles since the start (for timing a run)
        self.cycles = Signal(32)
        self.uart = bridge.divisor is not None
        if self.uart:
            self.host_tx = UartTx(bridge.divisor)
            self.host_rx = UartRx(bridge.divisor)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.cycles.eq(self.cycles + 1)
        b = m.submodules.bridge = self.bridge
        m.submodules.core = self.core
        if self.uart:
            m.submodules.host_tx = self.host_tx
            m.submodules.host_rx = self.host_rx
            m.d.comb += [b.rx.eq(self.host_tx.tx), self.host_rx.rx.eq(b.tx)]
        wiring.connect(m, b.bus, self.core.bus)
        wiring.connect(m, b.i_frame, self.core.i_frame)
        wiring.connect(m, self.core.o_frame, b.o_frame)
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
