"""A serial port as the driver's byte link, and the driver made synchronous for it.

:class:`SerialLink` wraps a pyserial port (opened from a device path, or any
object with ``write``, ``read``, ``in_waiting`` and ``timeout``); its methods
block, so :class:`Board` runs every coroutine of
:class:`~fptt.board.driver.BoardDriver` to its end with
:func:`~fptt.board.driver.run_sync`:

    board = Board(SerialLink("/dev/ttyUSB1"), cfg)
    board.check_identity()
    outputs = board.run(frames)

pyserial is needed only to open a device path (``pip install pyserial``).
"""

from __future__ import annotations

import inspect
import time

from .driver import BoardDriver, ByteLink, run_sync

__all__ = ["SerialLink", "Board", "DEFAULT_BAUD"]

#: The bridge's rate at divisor 8 on a 24 MHz core (the FT2232H's 12 MHz / 4).
DEFAULT_BAUD = 3_000_000


class SerialLink(ByteLink):
    """A serial port as a :class:`~fptt.board.driver.ByteLink` (blocking, 8N1)."""

    def __init__(self, port, baud: int = DEFAULT_BAUD):
        if isinstance(port, str):
            try:
                import serial
            except ImportError:
                raise ImportError("SerialLink needs pyserial to open a port: "
                                  "pip install pyserial") from None
            port = serial.Serial(port, baud, timeout=0)
        self.port = port

    async def send(self, data: bytes) -> None:
        self.port.write(bytes(data))

    async def recv(self, timeout: float) -> bytes:
        self.port.timeout = timeout
        data = bytes(self.port.read(1))
        if data:
            n = self.port.in_waiting
            if n:
                data += bytes(self.port.read(n))
        return data

    async def pause(self, seconds: float) -> None:
        time.sleep(seconds)


class Board:
    """:class:`~fptt.board.driver.BoardDriver` with every coroutine method run to its end."""

    def __init__(self, link: ByteLink, cfg, **kw):
        self.driver = BoardDriver(link, cfg, **kw)

    def __getattr__(self, name):
        attr = getattr(self.driver, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **kw: run_sync(attr(*a, **kw))
        return attr
