"""UART, 8N1, baud = clock / ``divisor``: :class:`UartTx`, :class:`UartRx`, :func:`uart_divisor`.

One character is 10 bit times of ``divisor`` clock cycles each: a start bit
(0), 8 data bits LSB first, a stop bit (1); the line idles at 1. At the
UP5K core's 24 MHz, ``divisor = 8`` is 3 Mbaud (the FT2232H of an iCEBreaker
runs 3 Mbaud: 12 MHz / 4).

The receiver samples each bit in its middle: it waits ``divisor // 2`` cycles
after the falling edge of the start bit (through a two-flip-flop
synchroniser), checks the start bit is still 0 (else it was a glitch), then
samples every ``divisor`` cycles. It is back to waiting for a start bit at
the middle of the stop bit, so a sender up to ~4 % fast or slow is received
(half a bit time of drift over 9.5 bits, less the synchroniser's cycle).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartTx", "UartRx", "uart_divisor", "MIN_DIVISOR"]

#: Fewest clock cycles per bit: the receiver needs a middle to sample
#: after its two-cycle synchroniser.
MIN_DIVISOR = 4


def _check_divisor(divisor: int) -> int:
    if int(divisor) != divisor or divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor {divisor!r}: must be an integer >= {MIN_DIVISOR} "
                         f"(clock cycles per bit)")
    return int(divisor)


def uart_divisor(clk_hz: float, baud: float, tolerance: float = 0.02) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_hz``: ``round(clk_hz / baud)``.

    Raises ``ValueError`` when the baud rate it gives, ``clk_hz / divisor``,
    is off by more than ``tolerance`` (relative) or the divisor is below
    :data:`MIN_DIVISOR`.
    """
    d = round(clk_hz / baud)
    if d < MIN_DIVISOR:
        raise ValueError(f"{baud:g} baud at {clk_hz:g} Hz needs {clk_hz / baud:.2f} cycles per "
                         f"bit; the UART needs at least {MIN_DIVISOR}")
    err = abs(clk_hz / d - baud) / baud
    if err > tolerance:
        raise ValueError(f"{baud:g} baud at {clk_hz:g} Hz: divisor {d} gives "
                         f"{clk_hz / d:g} baud, {100 * err:.1f} % off (limit "
                         f"{100 * tolerance:g} %)")
    return d


class UartTx(wiring.Component):
    """Transmitter: a byte stream in (``data``), the line ``tx`` out.

    ``data.ready`` is high while idle; a byte taken starts a character at
    once (``tx`` is a register: no glitches). 10 bits of shift register, a bit
    counter and the divisor counter.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(10, init=0x3FF)         # start, 8 data, stop; the LSB is on the line
        bits = Signal(range(11))               # bits still to send
        tick = Signal(range(self.divisor))     # cycles left in this bit
        m.d.comb += [self.tx.eq(shreg[0]), self.data.ready.eq(bits == 0)]
        with m.If(bits == 0):
            with m.If(self.data.valid):
                m.d.sync += [shreg.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))),
                             bits.eq(10), tick.eq(self.divisor - 1)]
        with m.Elif(tick == 0):
            m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), bits.eq(bits - 1),
                         tick.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += tick.eq(tick - 1)
        return m


class UartRx(wiring.Component):
    """Receiver: the line ``rx`` in; ``data`` with a one-cycle strobe ``stb`` out.

    ``err`` pulses instead of ``stb`` when the stop bit reads 0 (a framing
    error: the character is dropped, which the packet layer sees as a lost
    byte). There is no buffer: ``data`` is valid in the ``stb`` cycle only
    (the next character shifts in behind it).
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({"rx": In(1, init=1), "data": Out(8), "stb": Out(1), "err": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        sync = Signal(2, init=0b11)            # metastability: two flip-flops
        m.d.sync += sync.eq(Cat(self.rx, sync[0]))
        line = sync[1]
        tick = Signal(range(d))
        bits = Signal(range(9))
        shreg = Signal(8)
        m.d.comb += self.data.eq(shreg)
        with m.FSM(name="uart_rx"):
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += tick.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += tick.eq(tick - 1)
                with m.If(tick == 0):
                    # the middle of the start bit: still 0, or it was a glitch
                    m.d.sync += [tick.eq(d - 1), bits.eq(0)]
                    with m.If(line):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += tick.eq(tick - 1)
                with m.If(tick == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), bits.eq(bits + 1),
                                 tick.eq(d - 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += tick.eq(tick - 1)
                with m.If(tick == 0):
                    # back to IDLE in the middle of the stop bit: the next start edge
                    # may come half a bit later
                    m.d.comb += [self.stb.eq(line), self.err.eq(~line)]
                    m.next = "IDLE"
        return m
