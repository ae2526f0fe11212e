"""The core behind its serial bridge: :class:`LinkedCore`, one UART pair outside.

What a board top level (clock, reset, pins) wraps, and what the simulated
links (:class:`fptt.board.simlink.LinkTop`, the cocotb board top
``fptt.sim.bridge_cocotb.BoardSimTop``) put behind their host UART: a
:class:`~fptt.rtl.bridge.Bridge` (``docs/bridge.md``) wired to a
:class:`~fptt.rtl.core.FpttCore` (host bus and both frame streams), so that
the wiring between them exists once.

The core takes its input frame byte by byte (``FpttCore(cfg,
frame_bytes=True)``): the bridge passes a FRAME's payload bytes on as they
arrive, into the registers the core computes with, and keeps no copy of the
frame (``docs/bridge.md``).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .bridge import Bridge

__all__ = ["LinkedCore"]


class LinkedCore(wiring.Component):
    """A core for ``cfg`` behind its serial bridge.

    Parameters
    ----------
    cfg
        The core's configuration (the frame sizes of the bridge follow from it).
    divisor
        Clock cycles per UART bit (:class:`~fptt.rtl.bridge.Bridge`); ``None``
        builds the bridge's byte layer alone, for simulating long runs.
    timeout_bits
        The bridge's pause timer (``2**timeout_bits - 2`` cycles).
    init
        Optional golden checkpoint: the reset contents of the core's memories
        (:class:`~fptt.rtl.core.FpttCore`'s ``init``).
    core
        Instead of ``FpttCore(cfg, init=init, frame_bytes=True)``, any component
        with that core's ports: the byte-serial frame input ``i_byte`` and
        ``i_frame`` (:func:`fptt.rtl.host.frame_input_ports`), ``o_frame`` (out),
        ``bus`` (in) and ``busy`` (a stub core for the bridge's tests); ``init``
        must then be ``None``.

    Ports
    -----
    ``rx`` (in, idle high), ``tx`` (out, idle high)
        The UART pins, 8N1 at f_clk / ``divisor`` baud. With ``divisor=None``
        the byte streams ``rx_byte`` (in, always ready) and ``tx_byte`` (out)
        instead.
    ``busy`` (out)
        The core is running a step, a backward pass, an update or a host
        access (a board's activity LED).

    Attributes ``bridge`` and ``core`` are the two submodules; ``divisor`` and
    ``timeout_bits`` the bridge's.
    """

    def __init__(self, cfg: CoreConfig, divisor: int | None, timeout_bits: int = 16, *,
                 init=None, core=None):
        if core is not None and init is not None:
            raise ValueError("LinkedCore: give init or core, not both (init is FpttCore's)")
        # the bridge first: a configuration it refuses leaves no unused core behind
        self.bridge = Bridge.for_config(cfg, divisor, timeout_bits)
        if core is None:
            from .core import FpttCore
            core = FpttCore(cfg, init=init, frame_bytes=True)
        self.cfg, self.core = cfg, core
        self.divisor, self.timeout_bits = divisor, timeout_bits
        if divisor is None:
            phy = {"rx_byte": In(stream.Signature(8)), "tx_byte": Out(stream.Signature(8))}
        else:
            phy = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        super().__init__({**phy, "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        b = m.submodules.bridge = self.bridge
        c = m.submodules.core = self.core
        if self.divisor is None:
            wiring.connect(m, wiring.flipped(self.rx_byte), b.rx_byte)
            wiring.connect(m, b.tx_byte, wiring.flipped(self.tx_byte))
        else:
            m.d.comb += [b.rx.eq(self.rx), self.tx.eq(b.tx)]
        wiring.connect(m, b.bus, c.bus)
        wiring.connect(m, b.i_byte, c.i_byte)
        wiring.connect(m, b.i_frame, c.i_frame)
        wiring.connect(m, c.o_frame, b.o_frame)
        m.d.comb += self.busy.eq(c.busy)
        return m
