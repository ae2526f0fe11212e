"""Host driver of the serial bridge over an abstract byte link (``docs/bridge.md``).

:class:`BoardDriver` speaks the protocol of :mod:`fptt.board.protocol` through
a :class:`ByteLink`: the simulated UART of :mod:`fptt.board.simlink` now, a
serial port later (the same driver; a link whose methods never suspend runs
synchronously with :func:`run_sync`). It offers the host view of the core
that :class:`fptt.sim.testbench.CoreDriver` offers in simulation:

- :meth:`BoardDriver.read` / :meth:`BoardDriver.write`: bus words, in bursts;
- :meth:`BoardDriver.step`: one input frame, its output frame back;
- :meth:`BoardDriver.read_checkpoint` / :meth:`BoardDriver.write_checkpoint`:
  every golden checkpoint array (:func:`fptt.rtl.host.checkpoint_addresses`);
- :meth:`BoardDriver.check_identity`: the core's ID/VERSION/size registers
  against the configuration.

Reliability: one request is outstanding at a time. A request whose reply does
not come within ``timeout`` seconds, or comes as an error (CRC, TIMEOUT, BAD)
or fails its own CRC, is sent again with the same ``SEQ`` after the line has
been left quiet for ``quiet`` seconds (the bridge ignores the line after an
error until it is quiet). Reads and writes are idempotent; a FRAME sent
again with the same ``SEQ`` is answered from the output the core holds
without a second step (the bridge's duplicate rule), so no frame is lost or
run twice. A new FRAME never reuses the ``SEQ`` of the previous one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter

import numpy as np

from ..rtl.host import ID_VALUE, REG_INDEX, checkpoint_addresses
from ..sim.testbench import UNSIGNED_KEYS
from .protocol import (BURST_BITS, MAX_READ_WORDS, Cmd, Decoder, Packet, ProtocolError, Status, encode,
                       geometry, pack_frame, read_payload, read_reply_words, unpack_output,
                       write_payload, write_reply_error)

__all__ = ["ByteLink", "BoardDriver", "LinkError", "BusError", "run_sync", "address_runs",
           "select_keys"]

class LinkError(IOError):
    """No valid reply after every retry."""


class BusError(IOError):
    """The core answered a bus access with ``err`` (bad address, read-only register, range)."""


class ByteLink(ABC):
    """A byte pipe to the bridge; times in seconds."""

    @abstractmethod
    async def send(self, data: bytes) -> None:
        """Send ``data``."""

    @abstractmethod
    async def recv(self, timeout: float) -> bytes:
        """Bytes received so far, waiting up to ``timeout`` for the first; ``b""`` if none."""

    @abstractmethod
    async def pause(self, seconds: float) -> None:
        """Let ``seconds`` pass (the line stays quiet)."""


def run_sync(coro):
    """Run a coroutine of a link that never suspends (a blocking serial port) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("the link suspended: run_sync needs a link whose methods block "
                       "instead of awaiting")


def address_runs(addrs, limit: int):
    """Split a flat address list into ``(start, length)`` runs of consecutive addresses,
    each at most ``limit`` long and inside one block of ``2**BURST_BITS`` words (one READ
    or WRITE burst each)."""
    runs = []
    block = 1 << BURST_BITS
    for a in (int(x) for x in addrs):
        if runs and a == runs[-1][0] + runs[-1][1] and runs[-1][1] < limit and a % block:
            runs[-1][1] += 1
        else:
            runs.append([a, 1])
    return [tuple(r) for r in runs]


def select_keys(addresses: dict, keys=None) -> dict:
    """The entries of ``addresses`` named by ``keys`` (all if None): a key ending in ``.``
    or ``_`` names every array it begins (``"sat_"``, ``"w."``), any other key itself."""
    if keys is None:
        return addresses
    keys = tuple(keys)
    return {k: v for k, v in addresses.items()
            if k in keys or k.startswith(tuple(p for p in keys if p.endswith((".", "_"))))}


class BoardDriver:
    """The host side of one bridge + core.

    Parameters
    ----------
    link
        A :class:`ByteLink`.
    cfg
        The core's :class:`~fptt.config.CoreConfig` (frame sizes, addresses).
    timeout
        Seconds to wait for a reply: more than a request, the longest core
        phase (a window's backward pass and update) and the reply.
    quiet
        Seconds of silence before a retry: more than the bridge's
        ``2**timeout_bits`` cycles.
    retries
        Retries of one request before :class:`LinkError`.
    """

    def __init__(self, link: ByteLink, cfg, *, timeout: float = 0.05, quiet: float = 0.01,
                 retries: int = 8):
        self.link, self.cfg = link, cfg
        self.geo = geometry(cfg)
        self.timeout, self.quiet, self.retries = timeout, quiet, retries
        self.decoder = Decoder()
        self._pending = []          # decoded, not yet looked at (more than one reply came)
        self.seq = 0
        self.frame_seq = None       # SEQ of the last FRAME (never reused by the next one)
        #: retries by cause: "timeout", "crc" (a reply failed its CRC), and the
        #: bridge's error statuses by name ("CRC", "TIMEOUT", "BAD")
        self.retried = Counter()

    def _next_seq(self, frame: bool) -> int:
        self.seq = (self.seq + 1) & 0xFF
        if frame and self.seq == self.frame_seq:
            self.seq = (self.seq + 1) & 0xFF
        return self.seq

    async def _reply(self, cmd: int, seq: int):
        """The reply to (cmd, seq); an error status or a broken packet as a string; None: timeout."""
        while True:
            if not self._pending:
                data = await self.link.recv(self.timeout)
                if not data:
                    return None
                self._pending += self.decoder.feed(data)
            while self._pending:
                item = self._pending.pop(0)
                if isinstance(item, ProtocolError):
                    return "crc"
                if item.status not in (Status.OK, Status.EMPTY):
                    try:
                        return Status(item.status).name
                    except ValueError:
                        return f"status {item.status}"
                if item.seq == seq and item.cmd == cmd:
                    return item
                # a stale reply (to an earlier try): skip it

    async def transact(self, cmd: Cmd, payload: bytes = b"") -> Packet:
        """Send one request and return its reply (status OK or EMPTY), retrying as needed."""
        seq = self._next_seq(cmd == Cmd.FRAME)
        if cmd == Cmd.FRAME:
            self.frame_seq = seq
        packet = encode(cmd, seq, payload)
        causes = []
        for _ in range(self.retries + 1):
            await self.link.send(packet)
            got = await self._reply(cmd, seq)
            if isinstance(got, Packet):
                return got
            cause = "timeout" if got is None else got
            causes.append(cause)
            self.retried[cause] += 1
            # let the bridge finish draining, then forget what came meanwhile
            await self.link.pause(self.quiet)
            await self.link.recv(0)
            self.decoder.reset()
            self._pending.clear()
        raise LinkError(f"{cmd.name} (SEQ {seq}): no valid reply after {len(causes)} tries "
                        f"({', '.join(causes)})")

    # ------------------------------------------------------------------ commands
    async def info(self) -> dict:
        """The bridge's INFO: version, frame bytes, write burst, last FRAME's SEQ.

        Also aligns this driver's ``SEQ`` after the last frame's (a host starting
        afresh must not repeat it)."""
        p = (await self.transact(Cmd.INFO)).payload
        if len(p) != 5:
            raise ProtocolError(f"INFO reply of {len(p)} bytes; expected 5")
        out = {"version": p[0], "in_bytes": p[1], "out_bytes": p[2], "max_write": p[3],
               "last_seq": p[4]}
        self.frame_seq = self.seq = p[4]
        return out

    async def read(self, addr: int, count: int = 1) -> list[int]:
        """``count`` words (unsigned 32-bit) from ``addr`` on, in bursts of up to 63 (split
        at multiples of 256 words)."""
        out = []
        for a, n in address_runs(range(addr, addr + count), MAX_READ_WORDS):
            rep = await self.transact(Cmd.READ, read_payload(a, n))
            words, err = read_reply_words(rep.payload, n)
            if err:
                raise BusError(f"bus error reading {n} words from 0x{a:08X}")
            out += words
        return out

    async def write(self, addr: int, words) -> None:
        """Write ``words`` from ``addr`` on, in bursts of ``max_write`` (split at multiples
        of 256 words)."""
        words = [int(w) for w in words]
        k = self.geo.max_write
        i = 0
        for a, n in address_runs(range(addr, addr + len(words)), k):
            rep = await self.transact(Cmd.WRITE, write_payload(a, words[i:i + n], k))
            if write_reply_error(rep.payload):
                raise BusError(f"bus error writing {n} words at 0x{a:08X}")
            i += n

    async def step(self, frame: dict) -> dict:
        """Send one input frame; its output frame as :meth:`CoreDriver.step` returns it."""
        rep = await self.transact(Cmd.FRAME, pack_frame(self.cfg, frame))
        return unpack_output(self.cfg, rep.payload)

    async def output(self) -> dict | None:
        """The output frame the core holds (that of the last step), or None."""
        rep = await self.transact(Cmd.OUTPUT)
        if rep.status == Status.EMPTY:
            return None
        return unpack_output(self.cfg, rep.payload)

    async def run(self, frames) -> list[dict]:
        """Step every frame in order (learning on or off as each frame says); the outputs."""
        return [await self.step(fr) for fr in frames]

    async def read_counters(self) -> dict:
        """The step, window and cycle counters: STEPS, WINDOWS, CYCLES, PERF_FWD, PERF_BWD,
        PERF_UPD (the last four read 0 without ``profile_counters``), in one burst."""
        names = ("STEPS", "WINDOWS", "CYCLES", "PERF_FWD", "PERF_BWD", "PERF_UPD")
        first = REG_INDEX[names[0]]
        assert [REG_INDEX[n] - first for n in names] == list(range(len(names)))
        return dict(zip(names, await self.read(first, len(names))))

    async def check_identity(self) -> None:
        """Raise ``ValueError`` unless ID, VERSION and the size registers match the config."""
        want = {"ID": ID_VALUE, "VERSION": 1, "N_IN": self.cfg.n_in,
                "N_HIDDEN": self.cfg.n_hidden, "N_OUT": self.cfg.n_out,
                "WINDOW_MAX": self.cfg.window_max, "LANES": self.cfg.lanes}
        got = await self.read(REG_INDEX["ID"], len(want))
        names = sorted(want, key=REG_INDEX.get)
        bad = [f"{n} = {g} (config: {want[n]})" for n, g in zip(names, got) if g != want[n]]
        if bad:
            raise ValueError("the core does not match the configuration: " + ", ".join(bad))

    async def read_checkpoint(self, scratch: bool = False, keys=None) -> dict:
        """Every checkpoint array, shaped like the golden arrays without the batch axis;
        with ``keys``, only those (:func:`select_keys`)."""
        out = {}
        for key, addrs in select_keys(checkpoint_addresses(self.cfg, scratch), keys).items():
            flat = addrs.reshape(-1)
            vals = []
            for a, n in address_runs(flat, MAX_READ_WORDS):
                vals += await self.read(a, n)
            v = np.array(vals, dtype=np.int64)
            if not key.startswith(UNSIGNED_KEYS):
                v = np.where(v >= 1 << 31, v - (1 << 32), v)
            out[key] = v.reshape(addrs.shape)
        return out

    async def write_checkpoint(self, arrays: dict, scratch: bool = True, keys=None) -> None:
        """Write every checkpoint array (golden shapes, no batch); zero the gradient SRAM.
        With ``keys``, only those (:func:`select_keys`)."""
        for key, addrs in select_keys(checkpoint_addresses(self.cfg, scratch), keys).items():
            if key.startswith("grad."):
                vals = np.zeros(addrs.shape, np.int64)
            elif key.startswith(("sat_", "writes_")):
                vals = np.asarray(arrays.get(key, 0)).reshape(addrs.shape)
            else:
                vals = np.asarray(arrays[key]).reshape(addrs.shape)
            flat, fv = addrs.reshape(-1), vals.reshape(-1)
            i = 0
            for a, n in address_runs(flat, self.geo.max_write):
                await self.write(a, fv[i:i + n])
                i += n
