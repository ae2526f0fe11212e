# amaranth: UnusedElaboratable=no
"""The UART of the serial bridge (``fptt.rtl.uart``) in the Amaranth simulator.

Loopback at the divisor the UP5K build uses (8: 3 Mbaud at 24 MHz), the
line waveform bit by bit, a receiver fed by a sender 3 % off the baud rate,
framing errors and glitches, and the divisor helper's refusals.
"""

from __future__ import annotations

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from fptt.rtl.uart import UartRx, UartTx, uart_divisor

DIV = 8     # 24 MHz / 8 = 3 Mbaud


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1 / 24e6)
    sim.add_testbench(bench)
    sim.run()


def test_loopback_back_to_back():
    m = Module()
    tx = m.submodules.tx = UartTx(DIV)
    rx = m.submodules.rx = UartRx(DIV)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [0x00, 0xFF, 0x55, 0xAA, 0xA5, 0x01, 0x80, 0x3C]
    got, starts = [], []

    async def bench(ctx):
        for b in data:
            ctx.set(tx.data.payload, b)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
            starts.append(ctx.get(tx.tx))
            ctx.set(tx.data.valid, 0)
        # the last character: 10 bit times, then a little slack for the synchroniser
        await ctx.tick().repeat(10 * DIV + 8)

    async def collect(ctx):
        # a plain loop over the ticks: an `until` still pending when the simulation ends
        # is closed mid-iteration (a warning)
        async for _clk, _rst, stb, b in ctx.tick().sample(rx.stb, rx.data):
            if stb:
                got.append(int(b))

    sim = Simulator(m)
    sim.add_clock(1 / 24e6)
    sim.add_testbench(collect, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert got == data
    assert starts == [0] * len(data)         # each byte taken puts a start bit on the line


def test_tx_waveform_and_character_time():
    tx = UartTx(DIV)
    line = []

    async def bench(ctx):
        ctx.set(tx.data.payload, 0b1011_0010)
        ctx.set(tx.data.valid, 1)
        await ctx.tick()
        ctx.set(tx.data.valid, 0)
        for _ in range(12 * DIV):
            line.append((ctx.get(tx.tx), ctx.get(tx.data.ready)))
            await ctx.tick()

    run(tx, bench)
    bits = [line[i * DIV + DIV // 2][0] for i in range(11)]
    assert bits == [0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1]     # start, LSB first, stop, idle
    ready_at = next(i for i, (_, r) in enumerate(line) if r)
    assert ready_at == 10 * DIV                           # exactly 10 bit times a character


def _drive(ctx, rx, byte, period, stop=1):
    """Bit-bang one 8N1 character with ``period`` cycles a bit (may be fractional)."""
    levels = [0] + [(byte >> i) & 1 for i in range(8)] + [stop]
    return [(lvl, round((i + 1) * period) - round(i * period)) for i, lvl in enumerate(levels)]


@pytest.mark.parametrize("period", [DIV * 0.97, DIV * 1.03])
def test_rx_tolerates_3_percent(period):
    rx = UartRx(DIV)
    data = [0x5A, 0xC3, 0x00, 0xFF]
    got = []

    async def bench(ctx):
        for b in data:
            for lvl, n in _drive(ctx, rx, b, period):
                ctx.set(rx.rx, lvl)
                for _ in range(n):
                    await ctx.tick()
                    if ctx.get(rx.stb):
                        got.append(ctx.get(rx.data))
        for _ in range(2 * DIV):
            await ctx.tick()
            if ctx.get(rx.stb):
                got.append(ctx.get(rx.data))

    run(rx, bench)
    assert got == data


def test_rx_framing_error_and_glitch():
    rx = UartRx(DIV)
    events = []

    async def bench(ctx):
        # a one-cycle low glitch: no character
        ctx.set(rx.rx, 0)
        await ctx.tick()
        ctx.set(rx.rx, 1)
        for _ in range(12 * DIV):
            await ctx.tick()
            if ctx.get(rx.stb) or ctx.get(rx.err):
                events.append("glitch")
        # stop bit 0: err, no stb; then a good character
        for b, stop in ((0x42, 0), (0x24, 1)):
            for lvl, n in _drive(ctx, rx, b, DIV, stop):
                ctx.set(rx.rx, lvl)
                for _ in range(n):
                    await ctx.tick()
                    if ctx.get(rx.stb):
                        events.append(("stb", ctx.get(rx.data)))
                    if ctx.get(rx.err):
                        events.append("err")
            ctx.set(rx.rx, 1)
            for _ in range(2 * DIV):
                await ctx.tick()
                if ctx.get(rx.stb):
                    events.append(("stb", ctx.get(rx.data)))

    run(rx, bench)
    assert events == ["err", ("stb", 0x24)]


def test_divisor():
    assert uart_divisor(24e6, 3e6) == 8
    assert uart_divisor(12e6, 3e6) == 4
    assert uart_divisor(24e6, 115200) == 208          # 115,385 baud: 0.16 % off
    with pytest.raises(ValueError, match=r"5e\+06 baud at 2.4e\+07 Hz: divisor 5 gives "
                                         r"4.8e\+06 baud, 4.0 % off \(limit 2 %\)"):
        uart_divisor(24e6, 5e6)
    with pytest.raises(ValueError, match=r"1e\+07 baud at 2.4e\+07 Hz needs 2.40 cycles per bit; "
                                         r"the UART needs at least 4"):
        uart_divisor(24e6, 10e6)
    for cls in (UartTx, UartRx):
        with pytest.raises(ValueError, match=r"UART divisor 3: must be an integer >= 4 "
                                             r"\(clock cycles per bit\)"):
            cls(3)
        with pytest.raises(ValueError, match=r"UART divisor 8.5: must be an integer"):
            cls(8.5)
