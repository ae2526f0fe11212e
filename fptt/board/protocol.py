"""Packet protocol of the serial bridge (``docs/bridge.md``): the reference of the RTL.

Every packet, in both directions, is

    ``SYNC | TYPE | SEQ | LEN | payload (LEN bytes) | CRC``

with ``SYNC = 0xA5`` and ``CRC`` the CRC-8 of ``TYPE, SEQ, LEN, payload``:
polynomial ``x^8 + x^2 + x + 1`` (0x07), initial value 0, no reflection, no
final XOR (CRC-8/SMBUS; ``crc8(b"123456789") == 0xF4``). A request's
``TYPE`` is the command (:class:`Cmd`); a reply's is ``status << 4 | cmd``
(:class:`Status`) and carries the request's ``SEQ``.

Multi-byte numbers are little-endian. Frames are the core's stream payloads
(:func:`fptt.rtl.host.frame_layout`, :func:`fptt.rtl.host.out_layout`) as one
integer, LSB first, in ``ceil(bits / 8)`` bytes.

The RTL bridge (:class:`fptt.rtl.bridge.Bridge`) takes its constants and sizes
from this module (:func:`geometry`), so the two cannot drift apart; the tests
compare its replies byte for byte with :func:`encode`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = ["SYNC", "CRC_POLY", "BURST_BITS", "VERSION", "MAX_READ_WORDS", "MAX_LEN", "HEADER_BYTES", "Cmd",
           "Status", "Packet", "ProtocolError", "Geometry", "geometry", "crc8", "crc8_table",
           "encode", "Decoder", "pack_frame", "unpack_output", "read_payload", "write_payload",
           "read_reply_words", "write_reply_error", "info_payload", "link_rates"]

#: First byte of every packet.
SYNC = 0xA5
#: CRC-8 generator polynomial x^8 + x^2 + x + 1 (the x^8 term implied).
CRC_POLY = 0x07
#: Protocol version (first byte of the INFO reply).
VERSION = 1
#: Most words one READ returns: the reply's ``4·count + 1`` bytes must fit ``LEN``.
MAX_READ_WORDS = 63
#: A burst counts the address up in its low BURST_BITS bits only: it must not
#: cross a multiple of 2**BURST_BITS words.
BURST_BITS = 8
#: Largest payload (the ``LEN`` byte).
MAX_LEN = 255
#: Bytes a packet adds to its payload: SYNC, TYPE, SEQ, LEN, CRC.
HEADER_BYTES = 5


class Cmd(IntEnum):
    """Request commands (the low nibble of ``TYPE``); payloads in ``docs/bridge.md``."""

    INFO = 1      #: LEN 0 -> VERSION, in_bytes, out_bytes, max_write, SEQ of the last FRAME
    READ = 2      #: count (1 .. 63), addr -> count words, bus-error byte
    WRITE = 3     #: k words, addr (k = 1 .. max_write) -> bus-error byte
    FRAME = 4     #: input frame -> its output frame
    OUTPUT = 5    #: LEN 0 -> the output frame the core holds


class Status(IntEnum):
    """Reply status (the high nibble of a reply's ``TYPE``)."""

    OK = 0
    CRC = 1       #: the request's CRC did not match
    BAD = 2       #: unknown command, a length wrong for it, or a READ count outside 1 .. 63
    TIMEOUT = 3   #: the request stopped before its last byte (a byte was lost)
    EMPTY = 4     #: OUTPUT with no output frame held


class ProtocolError(ValueError):
    """A packet or payload that breaks the protocol."""


@dataclass(frozen=True)
class Packet:
    """A decoded packet: ``type`` byte, ``seq``, ``payload``."""

    type: int
    seq: int
    payload: bytes

    @property
    def cmd(self) -> int:
        return self.type & 0x0F

    @property
    def status(self) -> int:
        return self.type >> 4


@dataclass(frozen=True)
class Geometry:
    """Sizes of one bridge: frame bits and bytes, the shift register, the write burst.

    ``sr_bytes = max(out_bytes, 8)``: the bridge's one shift register holds an
    output frame, or a READ's count and address plus one data word (an input
    frame goes byte by byte into the core's own registers). A WRITE of ``k``
    words (``4k + 4`` bytes) must fit it too: ``max_write = min((sr_bytes - 4)
    // 4, 62)``.
    """

    in_bits: int
    out_bits: int

    @property
    def in_bytes(self) -> int:
        return -(-self.in_bits // 8)

    @property
    def out_bytes(self) -> int:
        return -(-self.out_bits // 8)

    @property
    def sr_bytes(self) -> int:
        return max(self.out_bytes, 8)

    @property
    def max_write(self) -> int:
        return min((self.sr_bytes - 4) // 4, (MAX_LEN - 4) // 4)

    def check(self) -> "Geometry":
        if self.in_bytes > MAX_LEN or self.out_bytes > MAX_LEN:
            raise ProtocolError(f"a frame of {max(self.in_bytes, self.out_bytes)} bytes does not "
                                f"fit one packet (at most {MAX_LEN} payload bytes)")
        return self


def geometry(cfg) -> Geometry:
    """The bridge geometry of a :class:`~fptt.config.CoreConfig`."""
    from ..rtl.host import frame_layout, out_layout
    return Geometry(frame_layout(cfg).size, out_layout(cfg).size).check()


def crc8_table() -> list[int]:
    """``table[d]``: the CRC register after one byte when ``crc ^ byte == d`` (it is linear in d)."""
    out = []
    for d in range(256):
        c = d
        for _ in range(8):
            c = ((c << 1) ^ CRC_POLY) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        out.append(c)
    return out


_TABLE = crc8_table()


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8 (poly 0x07, MSB first): ``crc <- table[crc ^ b]`` for every byte ``b``."""
    for b in data:
        crc = _TABLE[crc ^ b]
    return crc


def encode(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """One packet: ``SYNC, TYPE, SEQ, LEN, payload, CRC``."""
    payload = bytes(payload)
    if len(payload) > MAX_LEN:
        raise ProtocolError(f"payload of {len(payload)} bytes; at most {MAX_LEN}")
    if not 0 <= type_ <= 0xFF or not 0 <= seq <= 0xFF:
        raise ProtocolError(f"TYPE {type_} and SEQ {seq} must be bytes (0 .. 255)")
    body = bytes([type_, seq, len(payload)]) + payload
    return bytes([SYNC]) + body + bytes([crc8(body)])


class Decoder:
    """Byte-at-a-time receiver with the bridge's resynchronisation rule.

    Bytes are discarded until ``SYNC``; then ``TYPE``, ``SEQ``, ``LEN``,
    ``LEN`` payload bytes and the CRC are taken whatever their values. A CRC
    mismatch yields a :class:`ProtocolError` item and hunting starts again
    with the next byte (the bridge additionally waits for an idle line,
    ``docs/bridge.md``). :meth:`feed` returns the packets (and errors)
    completed by the bytes given; :meth:`reset` drops a partial packet (the
    host does after a timeout).
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._buf: bytearray | None = None

    @property
    def idle(self) -> bool:
        """No partial packet."""
        return self._buf is None

    def feed(self, data: bytes) -> list:
        out = []
        for b in bytes(data):
            if self._buf is None:
                if b == SYNC:
                    self._buf = bytearray()
                continue
            self._buf.append(b)
            if len(self._buf) >= 3 and len(self._buf) == 3 + self._buf[2] + 1:
                body, crc = bytes(self._buf[:-1]), self._buf[-1]
                self._buf = None
                if crc8(body) != crc:
                    out.append(ProtocolError(f"CRC mismatch: got 0x{crc:02X}, "
                                             f"expected 0x{crc8(body):02X}"))
                else:
                    out.append(Packet(body[0], body[1], body[3:]))
        return out


# ---------------------------------------------------------------------- payloads

def _le(value: int, n: int) -> bytes:
    return int(value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def _check_block(what: str, addr: int, count: int) -> None:
    end = (addr & ((1 << BURST_BITS) - 1)) + count
    if end > 1 << BURST_BITS:
        raise ProtocolError(f"{what} of {count} words at 0x{addr:08X} crosses a multiple of "
                            f"{1 << BURST_BITS} words")


def read_payload(addr: int, count: int = 1) -> bytes:
    """READ request: ``count`` (1 byte), ``addr`` (4 bytes): words ``addr .. addr + count - 1``,
    inside one block of ``2**BURST_BITS`` words."""
    if not 1 <= count <= MAX_READ_WORDS:
        raise ProtocolError(f"READ of {count} words; 1 .. {MAX_READ_WORDS} per packet")
    _check_block("READ", addr, count)
    return bytes([count]) + _le(addr, 4)


def write_payload(addr: int, words, max_write: int) -> bytes:
    """WRITE request: the words (4 bytes each, address order), then ``addr`` (4 bytes);
    inside one block of ``2**BURST_BITS`` words."""
    words = [int(w) for w in words]
    if not 1 <= len(words) <= max_write:
        raise ProtocolError(f"WRITE of {len(words)} words; 1 .. {max_write} per packet "
                            f"for this bridge")
    _check_block("WRITE", addr, len(words))
    return b"".join(_le(w, 4) for w in words) + _le(addr, 4)


def info_payload(geo: Geometry, last_seq: int = 0) -> bytes:
    """The INFO reply: ``VERSION, in_bytes, out_bytes, max_write, last_seq`` (the ``SEQ`` of
    the last frame the core took: a host starting afresh must not reuse it for a new FRAME)."""
    return bytes([VERSION, geo.in_bytes, geo.out_bytes, geo.max_write, last_seq & 0xFF])


def read_reply_words(payload: bytes, count: int) -> tuple[list[int], bool]:
    """A READ reply's ``(words, bus_error)``: ``count`` unsigned words and the error byte."""
    if len(payload) != 4 * count + 1:
        raise ProtocolError(f"READ reply of {len(payload)} bytes; expected {4 * count + 1}")
    words = [int.from_bytes(payload[4 * i:4 * i + 4], "little") for i in range(count)]
    return words, bool(payload[-1])


def write_reply_error(payload: bytes) -> bool:
    """A WRITE reply's bus-error flag."""
    if len(payload) != 1:
        raise ProtocolError(f"WRITE reply of {len(payload)} bytes; expected 1")
    return bool(payload[0])


def pack_frame(cfg, frame: dict) -> bytes:
    """An input frame (``x``, ``target``, ``has_target``, ``sos``, ``eos``, ``learn``; integer
    codes as for golden ``step``) as the FRAME payload: the ``frame_layout`` bits, LSB first."""
    from ..rtl.host import frame_layout
    lay = frame_layout(cfg)
    tgt = frame.get("target")
    value = lay.const({
        "x": [int(v) for v in frame["x"]],
        "target": [0] * cfg.n_out if tgt is None else [int(v) for v in tgt],
        "has_target": int(bool(frame.get("has_target", False))),
        "sos": int(bool(frame.get("sos", False))), "eos": int(bool(frame.get("eos", False))),
        "learn": int(bool(frame.get("learn", True)))}).as_bits()
    return _le(value, -(-lay.size // 8))


def unpack_output(cfg, payload: bytes) -> dict:
    """An output frame's payload as ``{"o", "spikes", "status", "steps"}`` (as
    :meth:`fptt.sim.testbench.CoreDriver.step` returns it)."""
    from ..rtl.host import out_layout
    lay = out_layout(cfg)
    n = -(-lay.size // 8)
    if len(payload) != n:
        raise ProtocolError(f"output frame of {len(payload)} bytes; expected {n}")
    c = lay.from_bits(int.from_bytes(payload, "little") & ((1 << lay.size) - 1))
    return {"o": np.array([int(c.o[k]) for k in range(cfg.n_out)], dtype=np.int64),
            "spikes": int(c.spikes), "status": int(c.status), "steps": int(c.steps)}


def link_rates(geo: Geometry, baud: float) -> dict:
    """What an 8N1 link at ``baud`` carries: bytes/s and FRAME round trips per second.

    A step is one FRAME request (``in_bytes + 5`` bytes) and its reply
    (``out_bytes + 5``), 10 bit times a byte, one request outstanding; the
    core's own time and the host's turnaround come on top.
    """
    byte_s = baud / 10
    per_step = geo.in_bytes + geo.out_bytes + 2 * HEADER_BYTES
    return {"bytes_per_s": byte_s, "bytes_per_step": per_step, "frames_per_s": byte_s / per_step}
