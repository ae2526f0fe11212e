"""A board's top level: oscillator, PLL and reset, UART pins, the core behind its bridge.

:class:`BoardTop` is elaborated by an ``amaranth-boards`` platform: it
requests the clock, UART and (if the board has one) LED resources
(``dir="-"``: raw ports, buffered here), makes the ``sync`` domain at the
core's clock from the oscillator through a PLL (:mod:`fptt.rtl.pll`),
holds it in reset until the PLL locks (asserted at once, released on the
clock: :class:`~amaranth.lib.cdc.ResetSynchronizer`), and wires the pins
to a :class:`~fptt.rtl.linked_core.LinkedCore`. The LED shows the core's
``busy``.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from .linked_core import LinkedCore
from .pll import Ecp5Pll, Ice40Pll, pll_instance

__all__ = ["BoardTop"]


class BoardTop(Elaboratable):
    """Core + bridge on a board.

    Parameters
    ----------
    cfg
        The core's configuration.
    divisor
        Clock cycles per UART bit at the core's clock
        (:func:`fptt.rtl.uart.uart_divisor`).
    pll
        :class:`~fptt.rtl.pll.Ice40Pll` or :class:`~fptt.rtl.pll.Ecp5Pll`
        from the oscillator to the core's clock, or ``None`` to run the core
        at the oscillator's frequency.
    clock, uart, led
        Resource names on the platform; ``led`` may be ``(resource, subsignal)``
        (one colour of an RGB LED) or ``None`` (no LED).
    timeout_bits
        The bridge's pause timer (:class:`~fptt.rtl.bridge.Bridge`).
    """

    def __init__(self, cfg, divisor: int, pll=None, *, clock: str, uart: str = "uart",
                 led: str | None = "led", timeout_bits: int = 16):
        self.linked = LinkedCore(cfg, divisor, timeout_bits)
        self.pll, self.clock, self.uart, self.led = pll, clock, uart, led

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd_sync = ClockDomain("sync")
        lock = Signal()
        clk_port = platform.request(self.clock, 0, dir="-")
        if isinstance(self.pll, Ice40Pll):
            # the PLL's own pad: the reference comes straight from the pin, no input buffer
            m.submodules.pll = pll_instance(self.pll, clk_port.io, cd_sync.clk, lock)
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_port)
            if isinstance(self.pll, Ecp5Pll):
                m.submodules.pll = pll_instance(self.pll, clk_buf.i, cd_sync.clk, lock)
            else:
                m.d.comb += [cd_sync.clk.eq(clk_buf.i), lock.eq(1)]
        m.submodules.reset_sync = ResetSynchronizer(~lock, domain="sync")
        platform.add_clock_constraint(cd_sync.clk, platform.default_clk_frequency
                                      if self.pll is None else self.pll.f_out_mhz * 1e6)

        uart = platform.request(self.uart, 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.submodules.linked = linked = self.linked
        m.d.comb += [linked.rx.eq(rx_buf.i), tx_buf.o.eq(linked.tx)]
        if self.led is not None:
            name, sub = self.led if isinstance(self.led, tuple) else (self.led, None)
            led = platform.request(name, 0, dir="-")
            m.submodules.led_buf = led_buf = io.Buffer("o", getattr(led, sub) if sub else led)
            m.d.comb += led_buf.o.eq(linked.busy)
        return m
