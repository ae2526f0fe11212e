"""A serial port as the driver's byte link, and the driver made synchronous for it.

:class:`SerialLink` wraps a pyserial port (opened from a device path, or any
object with ``write``, ``read``, ``in_waiting`` and ``timeout``); its methods
block, so :class:`Board` runs every coroutine of
:class:`~fptt.board.driver.BoardDriver` to its end with
:func:`~fptt.board.driver.run_sync`:

    board = Board(SerialLink("/dev/ttyUSB1"), cfg)
    board.check_identity()
    outputs = board.run(frames)

``port`` is a device path (``/dev/ttyUSB1``, a pty's ``/dev/pts/N``) or any
pyserial URL (``socket://127.0.0.1:7000``: the simulated board of ``fptt
cosim --link uart --serve``, or a serial port shared over the network), opened
with :func:`serial.serial_for_url`. pyserial (a dependency of ``fptt``) is
imported only to open one.
"""

from __future__ import annotations

import inspect
import time

from .driver import BoardDriver, ByteLink, run_sync

__all__ = ["SerialLink", "Board", "DEFAULT_BAUD", "sim_timeouts"]

#: The bridge's rate at divisor 8 on a 24 MHz core (the FT2232H's 12 MHz / 4).
DEFAULT_BAUD = 3_000_000


class SerialLink(ByteLink):
    """A serial port as a :class:`~fptt.board.driver.ByteLink` (blocking, 8N1).

    Parameters
    ----------
    port
        A device path or pyserial URL (opened here, 8N1 at ``baud``), or an
        open port object (``write``, ``read``, ``in_waiting``, ``timeout``).
    baud
        The line rate; a pty or a socket ignores it.
    """

    def __init__(self, port, baud: int = DEFAULT_BAUD):
        if isinstance(port, str):
            try:
                import serial
            except ImportError:
                raise ImportError("SerialLink needs pyserial to open a port: "
                                  "pip install pyserial") from None
            try:
                port = serial.serial_for_url(port, baudrate=baud, timeout=0)
            except (serial.SerialException, ValueError) as exc:
                raise OSError(f"cannot open serial port {port!r}: {exc}") from None
        self.port = port

    def close(self) -> None:
        """Close the port (an object without ``close`` is left as it is)."""
        close = getattr(self.port, "close", None)
        if close is not None:
            close()

    async def send(self, data: bytes) -> None:
        self.port.write(bytes(data))

    async def recv(self, timeout: float) -> bytes:
        self.port.timeout = timeout
        data = bytes(self.port.read(1))
        # then whatever has arrived (a socket's in_waiting says 1 while any byte waits)
        while data and (n := self.port.in_waiting):
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


def sim_timeouts(cfg, divisor: int = 8, timeout_bits: int = 10) -> dict:
    """The driver's ``timeout`` and ``quiet`` (wall seconds) for a simulated board.

    The simulator runs 40,000 to 100,000 cycles a second (this 2-core machine,
    loaded or not): ``timeout`` covers a READ burst's reply and the longest core
    phase (a window's backward pass and update, bounded generously) at 20,000
    cycles/s; ``quiet`` lets the bridge's pause timer run out twice at 20,000
    cycles/s (the simulator runs on that long after an error reply).
    """
    busy = 40 * cfg.window_max * (cfg.n_in + cfg.n_hidden + cfg.n_out) * cfg.n_hidden
    cycles = 300 * 10 * divisor + busy
    return {"timeout": max(2.0, cycles / 20_000),
            "quiet": max(0.1, 2 * (1 << timeout_bits) / 20_000)}
