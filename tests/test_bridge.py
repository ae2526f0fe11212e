# amaranth: UnusedElaboratable=no
"""The serial bridge (``fptt.rtl.bridge``) against its Python reference (``fptt.board.protocol``).

A stub core stands behind the bridge (a 16-word memory on the bus, a frame
step that stays busy for a set number of cycles and answers with an output
computed from the frame), so every reply can be predicted. The host side is
the UART of :class:`fptt.board.simlink.LinkTop` at divisor 8 (3 Mbaud at
24 MHz): raw packets for each packet type and each error reply, compared
byte for byte with :func:`fptt.board.protocol.encode`; then the driver
(:class:`fptt.board.driver.BoardDriver`) through injected faults — a
corrupted and a dropped byte in requests and in replies — and a busy core,
with every frame's output checked: none lost, none run twice.
"""

from __future__ import annotations

import asyncio
import shutil
import sys

import numpy as np
import pytest
from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from fptt.board.driver import (BoardDriver, BusError, ByteLink, LinkError, address_runs,
                               run_sync)
from fptt.board.protocol import (SYNC, Cmd, Decoder, Geometry, Packet, ProtocolError, Status,
                                 crc8, encode, geometry, info_payload, pack_frame,
                                 read_payload, read_reply_words, unpack_output, write_payload,
                                 write_reply_error)
from fptt.board.simlink import DROP, LinkTop, simulate_link
from fptt.config import CoreConfig, up5k_config
from fptt.rtl.bridge import LFSR_TAPS, Bridge, lfsr_predecessor, lfsr_step
from fptt.rtl.host import ID_VALUE, HostBusSignature, frame_input_ports, frame_layout, out_layout
from fptt.rtl.linked_core import LinkedCore

DIV = 8
CLK = 24e6
TB = 10                 # bridge timeout: 2**10 cycles (> 2 characters of 80 cycles)
MEM_REGION = 0x01
WORDS = 16
REGS = range(7)         # ID .. LANES
UP5K = up5k_config()
TINY = CoreConfig(n_in=2, n_hidden=4, n_out=1)    # 5-byte frames: the shift register is 8
WIDE = CoreConfig(n_in=2, n_hidden=4, n_out=4)    # 13-byte outputs: WRITE bursts of 2 words


class StubCore(wiring.Component):
    """The core's three interfaces with predictable answers.

    Bus: words ``0x0100_0000 + i`` (i < 16) read and write; registers 0 .. 6
    (ID .. LANES) read as the core's but ``N_HIDDEN`` one more, and refuse
    writes; anything else answers ``err``. Accesses wait while a step runs (like the core).
    Frames: bytes on ``i_byte`` shift into a register of its own; a frame is
    taken (copied from there) only when idle; then ``busy`` cycles; then the output
    ``o[0] = x[0] + x[1]``, ``o[1] = target[0]`` (if n_out > 1), ``spikes =
    x[-1]`` (low bits), ``status = (eos, sos, learn, 0)``, ``steps`` = frames
    taken so far; held until read, the next one waits for it.
    """

    def __init__(self, cfg, busy: int = 40):
        self.cfg, self.busy_cycles = cfg, busy
        # ID .. LANES as the core has them, but one hidden neuron more (an identity mismatch)
        self.regs = [ID_VALUE, 1, cfg.n_in, cfg.n_hidden + 1, cfg.n_out, cfg.window_max,
                     cfg.lanes]
        super().__init__({**frame_input_ports(cfg),
                          "o_frame": Out(stream.Signature(out_layout(cfg))),
                          "bus": In(HostBusSignature()), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        mem = [Signal(32, name=f"mem{i}") for i in range(WORDS)]
        fr = Signal(frame_layout(self.cfg))
        # the byte-serial input: bytes shift in from the top (fptt.rtl.host.frame_byte_input)
        chain = Signal(8 * -(-frame_layout(self.cfg).size // 8))
        with m.If(self.i_byte.valid):
            m.d.sync += chain.eq(Cat(chain[8:], self.i_byte.payload))
        steps = Signal(32)
        timer = Signal(range(self.busy_cycles + 2))
        idle = timer == 0
        bus, ack = self.bus, Signal()
        m.d.comb += [self.i_frame.ready.eq(idle & ~bus.stb), self.o_frame.payload.steps.eq(steps),
                     self.busy.eq(~idle)]
        with m.If(self.o_frame.valid & self.o_frame.ready):
            m.d.sync += self.o_frame.valid.eq(0)
        with m.If(self.i_frame.valid & self.i_frame.ready):
            m.d.sync += [fr.eq(chain), timer.eq(self.busy_cycles + 1)]
        with m.Elif(timer > 1):
            m.d.sync += timer.eq(timer - 1)
        with m.Elif((timer == 1) & ~self.o_frame.valid):
            o = self.o_frame.payload
            m.d.sync += [timer.eq(0), self.o_frame.valid.eq(1), steps.eq(steps + 1),
                         o.o[0].eq(fr.x[0] + fr.x[1]),
                         o.spikes.eq(fr.x[-1]),
                         o.status.eq(Cat(Const(0, 1), fr.learn, fr.sos, fr.eos))]
            if self.cfg.n_out > 1:
                m.d.sync += o.o[1].eq(fr.target[0])
        # bus: served when idle, acknowledged one cycle later
        m.d.comb += bus.ack.eq(ack)
        m.d.sync += ack.eq(0)
        region, offset = bus.addr[24:], bus.addr[:24]
        with m.If(bus.stb & idle & ~ack):
            m.d.sync += [ack.eq(1), bus.err.eq(0), bus.r_data.eq(0)]
            with m.If((region == MEM_REGION) & (offset < WORDS)):
                for i in range(WORDS):
                    with m.If(offset == i):
                        m.d.sync += bus.r_data.eq(mem[i])
                        with m.If(bus.we):
                            m.d.sync += mem[i].eq(bus.w_data)
            with m.Elif((bus.addr < len(REGS)) & ~bus.we):
                with m.Switch(bus.addr[:3]):
                    for i, v in enumerate(self.regs):
                        with m.Case(i):
                            m.d.sync += bus.r_data.eq(v)
            with m.Else():
                m.d.sync += bus.err.eq(1)
        return m


def stub_output(cfg, frame, steps):
    """What :class:`StubCore` answers to ``frame`` as the ``steps``-th frame."""
    width = out_layout(cfg).size
    lay = out_layout(cfg)
    o = [int(frame["x"][0]) + int(frame["x"][1])] + (
        [int(frame["target"][0])] if cfg.n_out > 1 else [])
    sp_bits = lay["spikes"].shape.width
    c = lay.const({"o": o, "spikes": int(frame["x"][-1]) & ((1 << sp_bits) - 1),
                   "status": (int(frame["learn"]) << 1) | (int(frame["sos"]) << 2)
                   | (int(frame["eos"]) << 3), "steps": steps})
    return c.as_bits().to_bytes(-(-width // 8), "little")


def frames(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    half = 1 << (cfg.formats.x.width - 1)      # x codes span the input format (UP5K: 2 bits)
    return [dict(x=[int(v) for v in rng.integers(-min(half, 100), min(half, 100), cfg.n_in)],
                 target=[int(v) for v in rng.integers(-500, 500, cfg.n_out)],
                 has_target=bool(i % 2), sos=i == 0, eos=i == n - 1, learn=bool(i % 3))
            for i in range(n)]


def run(cfg, bench, busy=40, **faults):
    top = LinkTop(LinkedCore(cfg, DIV, TB, core=StubCore(cfg, busy)))
    return simulate_link(top, bench, clk_hz=CLK, **faults)


async def exchange(link, packet: bytes, n_replies: int = 1, timeout: float = 1e-3):
    """Send raw bytes; collect ``n_replies`` packets (or what came before ``timeout``)."""
    await link.send(packet)
    dec, got = Decoder(), []
    while len(got) < n_replies:
        data = await link.recv(timeout)
        if not data:
            break
        got += dec.feed(data)
    return got


# ---------------------------------------------------------------------- the reference

def test_crc_and_packets():
    assert crc8(b"123456789") == 0xF4            # CRC-8/SMBUS check value
    assert crc8(b"") == 0 and crc8(b"\x01") == 0x07
    p = encode(0x12, 7, b"\x01\x02")
    assert p == bytes([SYNC, 0x12, 7, 2, 1, 2, crc8(bytes([0x12, 7, 2, 1, 2]))])
    dec = Decoder()
    # garbage (with a false SYNC that fails its CRC) before a good packet
    junk = bytes([0x00, SYNC, 0x01, 0x00, 0x00, 0x55])
    out = dec.feed(junk + p)
    assert isinstance(out[0], ProtocolError) and str(out[0]).startswith("CRC mismatch: got 0x55")
    assert out[1:] == [Packet(0x12, 7, b"\x01\x02")] and dec.idle
    assert out[1].cmd == 2 and out[1].status == 1
    assert dec.feed(p[:3]) == [] and not dec.idle
    dec.reset()
    assert dec.idle and dec.feed(p) == [Packet(0x12, 7, b"\x01\x02")]


def test_geometry_and_frames():
    g = geometry(UP5K)
    assert (g.in_bits, g.out_bits, g.in_bytes, g.out_bytes, g.sr_bytes, g.max_write) == \
        (68, 65, 9, 9, 9, 1)
    gd = geometry(CoreConfig())
    assert (gd.in_bytes, gd.out_bytes, gd.sr_bytes, gd.max_write) == (25, 10, 10, 1)
    gt = geometry(TINY)
    assert (gt.in_bytes, gt.out_bytes, gt.sr_bytes, gt.max_write) == (5, 7, 8, 1)
    gw = geometry(WIDE)
    assert (gw.in_bytes, gw.out_bytes, gw.sr_bytes, gw.max_write) == (11, 13, 13, 2)
    assert Geometry(8 * 255, 8).check().in_bytes == 255
    with pytest.raises(ProtocolError, match=r"a frame of 256 bytes does not fit one packet "
                                            r"\(at most 255 payload bytes\)"):
        Geometry(8 * 256, 8).check()
    fr = frames(UP5K, 1)[0]
    raw = int.from_bytes(pack_frame(UP5K, fr), "little")
    v = frame_layout(UP5K).from_bits(raw)
    assert [int(v.x[i]) for i in range(20)] == fr["x"] and int(v.target[1]) == fr["target"][1]
    assert (int(v.sos), int(v.eos), int(v.learn), int(v.has_target)) == (1, 1, 0, 0)
    out = unpack_output(UP5K, stub_output(UP5K, fr, 7))
    assert out["o"].tolist() == [fr["x"][0] + fr["x"][1], fr["target"][0]]
    assert (out["steps"], out["status"]) == (7, 0b1100)


def test_payload_errors():
    assert read_payload(0x0100_0002, 3) == bytes([3, 2, 0, 0, 1])
    assert write_payload(0x10, [1, -1], 5) == bytes([1, 0, 0, 0, 255, 255, 255, 255, 16, 0, 0, 0])
    assert read_reply_words(bytes([1, 0, 0, 0, 0]), 1) == ([1], False)
    assert write_reply_error(b"\x01") is True
    assert read_payload(0x0100_00F0, 16)[0] == 16          # up to the block's end
    # bursts: consecutive addresses, at most `limit`, split at multiples of 256 words
    assert address_runs([250 + i for i in range(80)] + [7, 8, 10], 63) == \
        [(250, 6), (256, 63), (319, 11), (7, 2), (10, 1)]
    cases = [
        (lambda: read_payload(0, 0), r"READ of 0 words; 1 .. 63 per packet"),
        (lambda: read_payload(0, 64), r"READ of 64 words; 1 .. 63 per packet"),
        (lambda: write_payload(0, range(6), 5), r"WRITE of 6 words; 1 .. 5 per packet for this "
                                                r"bridge"),
        (lambda: encode(1, 0, bytes(256)), r"payload of 256 bytes; at most 255"),
        (lambda: encode(256, 0), r"TYPE 256 and SEQ 0 must be bytes \(0 .. 255\)"),
        (lambda: read_reply_words(b"\x00", 1), r"READ reply of 1 bytes; expected 5"),
        (lambda: write_reply_error(b""), r"WRITE reply of 0 bytes; expected 1"),
        (lambda: unpack_output(UP5K, b"\x00"), r"output frame of 1 bytes; expected 9"),
        (lambda: read_payload(0x0100_00F0, 17), r"READ of 17 words at 0x010000F0 crosses a "
                                                r"multiple of 256 words"),
        (lambda: write_payload(0x1FE, [1, 2, 3], 5), r"WRITE of 3 words at 0x000001FE crosses a "
                                                     r"multiple of 256 words"),
    ]
    for fn, msg in cases:
        with pytest.raises(ProtocolError, match=msg):
            fn()


def test_bridge_parameter_errors():
    with pytest.raises(ValueError, match=r"timeout of 2\*\*8 cycles is shorter than 2 characters "
                                         r"\(320 cycles at divisor 16\)"):
        Bridge.for_config(UP5K, 16, timeout_bits=8)
    with pytest.raises(ValueError, match=r"timeout_bits 7: the pause timer has 8 .. 24 bits"):
        Bridge.for_config(UP5K, 8, timeout_bits=7)


def test_pause_timer_lfsr():
    """Every timer length up to 16 bits has period 2**n - 1 and ends 2**n - 2 steps after 1."""
    for n, taps in LFSR_TAPS.items():
        if n > 16:
            continue
        end, s = lfsr_predecessor(1, n, taps), 1
        for k in range(1, 1 << n):
            s = lfsr_step(s, n, taps)
            if s == end:
                assert k == (1 << n) - 2, n
            if s == 1:
                break
        assert k == (1 << n) - 1, n
    with pytest.raises(ProtocolError, match=r"a frame of 256 bytes does not fit one packet"):
        Bridge(8 * 256, 8, 8)


# ---------------------------------------------------------------------- raw packets

@pytest.mark.parametrize("cfg", [UP5K, WIDE], ids=["up5k", "wide"])
def test_info_read_write_single_and_burst(cfg):
    geo = geometry(cfg)
    mem = 0x0100_0000
    got = {}

    async def bench(ctx, link):
        got["info"] = await exchange(link, encode(Cmd.INFO, 1))
        got["w1"] = await exchange(link, encode(Cmd.WRITE, 2, write_payload(mem + 3, [0xDEADBEEF],
                                                                          geo.max_write)))
        got["r1"] = await exchange(link, encode(Cmd.READ, 3, read_payload(mem + 3)))
        burst = [0x1111_0000 * (i + 1) + i for i in range(geo.max_write)]
        got["wb"] = await exchange(link, encode(Cmd.WRITE, 4, write_payload(mem + 8, burst,
                                                                          geo.max_write)))
        got["rb"] = await exchange(link, encode(Cmd.READ, 5, read_payload(mem, WORDS)))
        got["rerr"] = await exchange(link, encode(Cmd.READ, 6, read_payload(mem + WORDS - 1, 2)))
        got["werr"] = await exchange(link, encode(Cmd.WRITE, 7, write_payload(0, [5], 5)))
        got["id"] = await exchange(link, encode(Cmd.READ, 8, read_payload(0)))
        got["burst"] = burst

    link = run(cfg, bench)
    ok = lambda cmd, seq, payload: Packet(cmd, seq, payload)          # noqa: E731
    assert got["info"] == [ok(Cmd.INFO, 1, info_payload(geo, 0))]
    assert got["info"][0].payload == (bytes([1, 9, 9, 1, 0]) if cfg is UP5K
                                      else bytes([1, 11, 13, 2, 0]))
    assert got["w1"] == [ok(Cmd.WRITE, 2, b"\x00")]
    assert got["r1"] == [ok(Cmd.READ, 3, (0xDEADBEEF).to_bytes(4, "little") + b"\x00")]
    assert got["wb"] == [ok(Cmd.WRITE, 4, b"\x00")]
    words, err = read_reply_words(got["rb"][0].payload, WORDS)
    expect = [0] * WORDS
    expect[3] = 0xDEADBEEF
    expect[8:8 + geo.max_write] = got["burst"]
    assert (words, err) == (expect, False)
    # the second word is outside the stub's memory: it reads 0 and the error byte is set
    assert got["rerr"] == [ok(Cmd.READ, 6, bytes(4) + bytes(4) + b"\x01")]
    assert got["werr"] == [ok(Cmd.WRITE, 7, b"\x01")]
    assert got["id"] == [ok(Cmd.READ, 8, (0x4650_5454).to_bytes(4, "little") + b"\x00")]
    # the wire carried exactly the encoded replies, nothing else
    assert bytes(link.received) == b"".join(encode(p.type, p.seq, p.payload)
                                            for k in ("info", "w1", "r1", "wb", "rb", "rerr",
                                                      "werr", "id") for p in got[k])


@pytest.mark.parametrize("cfg", [UP5K, TINY], ids=["up5k", "tiny"])
def test_frame_and_output(cfg):
    frs = frames(cfg, 3)
    got = {}

    async def bench(ctx, link):
        got["empty"] = await exchange(link, encode(Cmd.OUTPUT, 9))
        got["f"] = [await exchange(link, encode(Cmd.FRAME, 10 + i, pack_frame(cfg, fr)))
                    for i, fr in enumerate(frs)]
        got["out"] = await exchange(link, encode(Cmd.OUTPUT, 20))
        got["info"] = await exchange(link, encode(Cmd.INFO, 21))

    run(cfg, bench)
    assert got["empty"] == [Packet(Status.EMPTY << 4 | Cmd.OUTPUT, 9, b"")]
    for i, fr in enumerate(frs):
        assert got["f"][i] == [Packet(Cmd.FRAME, 10 + i, stub_output(cfg, fr, i + 1))]
    assert got["out"] == [Packet(Cmd.OUTPUT, 20, stub_output(cfg, frs[-1], 3))]
    assert got["info"][0].payload[-1] == 12      # SEQ of the last frame the core took


def test_error_replies():
    """Each error reply, then the bridge serves the next request normally."""
    geo = geometry(UP5K)
    fr = frames(UP5K, 1)[0]
    good = encode(Cmd.FRAME, 40, pack_frame(UP5K, fr))
    bad_crc = bytearray(good)
    bad_crc[10] ^= 0x10
    quiet = 2 * (1 << TB) / CLK
    got = {}

    async def bench(ctx, link):
        async def err(name, packet):
            got[name] = await exchange(link, packet)
            await link.pause(quiet)       # the bridge waits for a quiet line after an error

        await err("cmd", encode(0x07, 31))                           # no such command
        await err("cmd_hi", encode(0x11, 32))                        # high nibble set
        await err("len", encode(Cmd.READ, 33, bytes(4)))             # READ takes 5 bytes
        await err("wlen", encode(Cmd.WRITE, 34, bytes(4 + 4 * (geo.max_write + 1))))
        await err("count0", encode(Cmd.READ, 35, bytes([0, 0, 0, 0, 1])))
        await err("count64", encode(Cmd.READ, 36, bytes([64, 0, 0, 0, 1])))
        await err("crc", bytes(bad_crc))
        await err("timeout", good[:-3])                              # stops 3 bytes short
        got["good"] = await exchange(link, good)

    run(UP5K, bench)
    e = lambda st, cmd, seq: [Packet(st << 4 | cmd, seq, b"")]       # noqa: E731
    assert got["cmd"] == e(Status.BAD, 7, 31)
    assert got["cmd_hi"] == e(Status.BAD, 1, 32)
    assert got["len"] == e(Status.BAD, Cmd.READ, 33)
    assert got["wlen"] == e(Status.BAD, Cmd.WRITE, 34)
    assert got["count0"] == e(Status.BAD, Cmd.READ, 35)
    assert got["count64"] == e(Status.BAD, Cmd.READ, 36)
    assert got["crc"] == e(Status.CRC, Cmd.FRAME, 40)
    assert got["timeout"] == e(Status.TIMEOUT, Cmd.FRAME, 40)
    # the broken frames were not run: this is the first step
    assert got["good"] == [Packet(Cmd.FRAME, 40, stub_output(UP5K, fr, 1))]


# ---------------------------------------------------------------------- the driver

def driver(link, cfg, busy):
    """A driver whose timeouts suit the simulated link (seconds at 24 MHz)."""
    geo = geometry(cfg)
    char = 10 * DIV / CLK
    worst = (geo.in_bytes + geo.out_bytes + 10) * char + (busy + 200) / CLK
    return BoardDriver(link, cfg, timeout=2 * worst, quiet=2 * (1 << TB) / CLK, retries=3)


def check_outputs(cfg, frs, outs):
    for i, (fr, out) in enumerate(zip(frs, outs)):
        assert out == unpack_output(cfg, stub_output(cfg, fr, i + 1)) or (
            out["steps"] == i + 1 and out["o"].tolist() ==
            unpack_output(cfg, stub_output(cfg, fr, i + 1))["o"].tolist()), i


@pytest.mark.parametrize("direction", ["request", "reply"])
def test_corrupted_and_dropped_byte_recovered(direction):
    """A corrupted and a dropped byte in the 3rd and 6th frame's request (or reply):
    every frame runs exactly once and every output arrives."""
    cfg = UP5K
    geo = geometry(cfg)
    frs = frames(cfg, 8, seed=1)
    req, rep = geo.in_bytes + 5, geo.out_bytes + 5
    per = req if direction == "request" else rep
    faults = {2 * per + 9: 0x40, 5 * per + 4: DROP}     # counted over the bytes of that direction
    kw = {"tx_faults": faults} if direction == "request" else {"rx_faults": faults}
    got = {}

    async def bench(ctx, link):
        drv = driver(link, cfg, busy=40)
        got["outs"] = [await drv.step(fr) for fr in frs]
        got["retried"] = dict(drv.retried)
        got["mem"] = await drv.read(0x0100_0000, 2)

    run(cfg, bench, **kw)
    outs = got["outs"]
    assert [o["steps"] for o in outs] == list(range(1, 9))        # none lost, none twice
    for i, fr in enumerate(frs):
        exp = unpack_output(cfg, stub_output(cfg, fr, i + 1))
        assert outs[i]["o"].tolist() == exp["o"].tolist()
        assert (outs[i]["spikes"], outs[i]["status"]) == (exp["spikes"], exp["status"])
    if direction == "request":
        # corrupted payload byte: the bridge's CRC reply; dropped byte: its TIMEOUT reply
        assert got["retried"] == {"CRC": 1, "TIMEOUT": 1}
    else:
        # a reply failing the host's CRC, and a short reply (the host times out); both
        # retried with the same SEQ and answered from the held output (no second step)
        assert got["retried"] == {"crc": 1, "timeout": 1}
    assert got["mem"] == [0, 0]


def test_busy_core_loses_no_frame():
    """The core stays busy 3,000 cycles a step (longer than a request): frames sent back to
    back wait in the bridge; reads right after a frame wait for the core."""
    cfg = UP5K
    frs = frames(cfg, 5, seed=2)
    got = {"outs": [], "reads": []}

    async def bench(ctx, link):
        drv = driver(link, cfg, busy=3000)
        await drv.write(0x0100_0000, [11, 22, 33])
        for fr in frs:
            got["outs"].append(await drv.step(fr))
            got["reads"].append(await drv.read(0x0100_0001))
        got["retried"] = dict(drv.retried)

    run(cfg, bench, busy=3000)
    assert [o["steps"] for o in got["outs"]] == [1, 2, 3, 4, 5]
    assert got["reads"] == [[22]] * 5
    assert got["retried"] == {}


def test_driver_errors():
    """A bus error, an identity mismatch and a dead link, each with its message."""
    cfg = UP5K
    got = {}

    async def bench(ctx, link):
        drv = driver(link, cfg, busy=40)
        for name, coro in (("read", drv.read(0x0200_0000, 2)),
                           ("write", drv.write(0, [1])),
                           ("ident", drv.check_identity())):
            try:
                await coro
            except (BusError, ValueError) as e:
                got[name] = str(e)
        drv.retries = 1
        link.tx_faults.update({i: DROP for i in range(link._n_tx, link._n_tx + 100)})
        try:
            await drv.info()
        except LinkError as e:
            got["link"] = str(e)

    run(cfg, bench)
    assert got["read"] == "bus error reading 2 words from 0x02000000"
    assert got["write"] == "bus error writing 1 words at 0x00000000"
    assert got["ident"] == "the core does not match the configuration: N_HIDDEN = 17 (config: 16)"
    assert got["link"] == "INFO (SEQ 4): no valid reply after 2 tries (timeout, timeout)"


# ---------------------------------------------------------------------- bridge + core

def core_run(n_steps, tx_faults=None, rx_faults=None, seed=0, divisor=None):
    """The real core behind the bridge, driven over the simulated link by the driver: the
    outputs and the read-back checkpoint, against the golden model bit for bit.

    The byte layer alone by default (``divisor=None``): the core's Amaranth simulation
    runs ~1,500 cycles/s, and at divisor 8 a step's 30 bytes cost 2,400 cycles."""
    from test_rtl_core import assert_state_equal, cue_frames, golden_run, small_cfg, start_state

    from fptt.golden.fixed_core import FixedState
    cfg = small_cfg(window=4)
    frs = cue_frames(cfg, n_steps, seed)
    st = start_state(cfg)
    rtl_init = FixedState.from_arrays(st.arrays())
    want = golden_run(cfg, st, frs)
    got = {}

    async def bench(ctx, link):
        drv = driver(link, cfg, busy=4000)
        got["info"] = await drv.info()
        await drv.check_identity()
        got["outs"] = [await drv.step(fr) for fr in frs]
        got["arrays"] = await drv.read_checkpoint(scratch=True)
        got["retried"] = dict(drv.retried)

    top = LinkTop(LinkedCore(cfg, divisor, TB, init=rtl_init))
    simulate_link(top, bench, clk_hz=CLK, tx_faults=tx_faults, rx_faults=rx_faults)
    assert got["info"]["version"] == 1
    assert [o["steps"] for o in got["outs"]] == list(range(1, len(frs) + 1))
    for i, (w, o) in enumerate(zip(want, got["outs"])):
        assert np.array_equal(w, o["o"]), f"step {i}: golden o {w}, over the link {o['o']}"
    assert_state_equal(cfg, st, got["arrays"])
    assert int(st.windows[0]) > 0
    return got


def test_core_over_the_link_bit_exact():
    got = core_run(40)
    assert got["retried"] == {}


def test_core_over_the_link_recovers():
    """A corrupted and a dropped byte in a frame's request and in a frame's reply."""
    got = core_run(24, tx_faults={300: 0x01, 420: DROP}, rx_faults={250: 0x80, 330: DROP})
    assert got["retried"] == {"CRC": 1, "TIMEOUT": 1, "crc": 1, "timeout": 1}


def test_core_over_uart_few_steps():
    """The whole chain at the UP5K divisor (8): host UART, bridge, core; 6 steps and the
    readout weights read back, against the golden model."""
    from test_rtl_core import cue_frames, golden_run, small_cfg, start_state

    from fptt.golden.fixed_core import FixedState
    from fptt.rtl.host import checkpoint_addresses
    cfg = small_cfg(window=4)
    frs = cue_frames(cfg, 6)[:6]         # the first steps of a sequence (no eos)
    st = start_state(cfg)
    rtl_init = FixedState.from_arrays(st.arrays())
    want = golden_run(cfg, st, frs)
    addrs = checkpoint_addresses(cfg)["w.w_out"]
    got = {}

    async def bench(ctx, link):
        drv = driver(link, cfg, busy=4000)
        got["outs"] = [await drv.step(fr) for fr in frs]
        got["w_out"] = await drv.read(int(addrs.flat[0]), addrs.size)

    top = LinkTop(LinkedCore(cfg, DIV, TB, init=rtl_init))
    simulate_link(top, bench, clk_hz=CLK)
    assert [o["steps"] for o in got["outs"]] == [1, 2, 3, 4, 5, 6]
    for w, o in zip(want, got["outs"]):
        assert np.array_equal(w, o["o"])
    w_out = np.array(got["w_out"], dtype=np.int64)
    w_out = np.where(w_out >= 1 << 31, w_out - (1 << 32), w_out).reshape(addrs.shape)
    assert np.array_equal(w_out, np.asarray(st.w["w_out"])[0])
    assert int(st.windows[0]) == 1                # a window closed: backward and update ran


@pytest.mark.slow
def test_core_over_the_link_300_steps():
    core_run(300, tx_faults={3000: 0x20, 5000: DROP}, rx_faults={2000: 0x04, 2600: DROP})


class CannedLink(ByteLink):
    """A link that never suspends: it answers each request with the next canned reply."""

    def __init__(self, replies):
        self.replies, self.sent = list(replies), []

    async def send(self, data):
        self.sent.append(bytes(data))

    async def recv(self, timeout):
        return self.replies.pop(0) if self.replies and timeout > 0 else b""

    async def pause(self, seconds):
        pass


def test_driver_synchronous_and_reply_checks():
    """run_sync drives the driver over a blocking link; malformed replies are refused."""
    geo = geometry(UP5K)
    drv = BoardDriver(CannedLink([encode(Cmd.INFO, 1, info_payload(geo, 41))]), UP5K)
    assert run_sync(drv.info()) == {"version": 1, "in_bytes": 9, "out_bytes": 9, "max_write": 1,
                                    "last_seq": 41}
    assert drv.seq == 41 and drv.frame_seq == 41
    link = CannedLink([encode(Cmd.FRAME, 43, stub_output(UP5K, frames(UP5K, 1)[0], 1))])
    drv = BoardDriver(link, UP5K)
    drv.seq, drv.frame_seq = 41, 42
    out = run_sync(drv.step(frames(UP5K, 1)[0]))
    assert link.sent[0][2] == 43 and out["steps"] == 1       # SEQ 42 is the last frame's: skipped
    bad = BoardDriver(CannedLink([encode(Cmd.INFO, 1, b"\x01\x02")]), UP5K)
    with pytest.raises(ProtocolError, match=r"INFO reply of 2 bytes; expected 5"):
        run_sync(bad.info())
    empty = BoardDriver(CannedLink([encode(Status.EMPTY << 4 | Cmd.OUTPUT, 1)]), UP5K)
    assert run_sync(empty.output()) is None

    async def suspends():
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match=r"the link suspended: run_sync needs a link whose "
                                           r"methods block instead of awaiting"):
        run_sync(suspends())


@pytest.mark.skipif(not (shutil.which("yosys") and shutil.which("nextpnr-ice40")),
                    reason="yosys and nextpnr-ice40 not installed")
def test_bridge_cells(tmp_path):
    """The bridge alone on an UP5K (the smallest geometry: an 8-byte shift register)."""
    from fptt.board.resources import _run, bridge_cells
    r = bridge_cells(TINY)
    u = r["util"]
    assert 150 < u["ffs"] < 200 and u["bram"] == u["spram"] == u["dsp"] == 0
    assert 400 < r["logic_cells"] < 650
    # packed cells, plus the ones nextpnr adds to legalise carry chains
    assert sum(r["packing"].values()) <= r["logic_cells"] <= sum(r["packing"].values()) + 20
    assert set(r["packing"]) == {"LUT4 only", "LUT4 and DFF", "DFF only", "CARRY only"}
    with pytest.raises(RuntimeError, match=r"false failed \(exit 1\): \[\]"):
        _run(["false"], tmp_path, 10)


# ---------------------------------------------------------------------- cocotb on Verilator

def _verilator_run(steps, **faults):
    from test_rtl_core import small_cfg

    from fptt.sim.bridge_cocotb import run_bridge_cosim
    return run_bridge_cosim(small_cfg(window=4), steps, **faults)


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_verilator_board_over_uart():
    """Host UART, bridge and core in Verilator at divisor 8, the driver through cocotb: the
    network loaded over the link, learning steps bit-exact with the golden model, every
    memory read back; a corrupted and a dropped byte in frame requests and replies."""
    r = _verilator_run(40, tx_faults={100: 0x10, 250: DROP}, rx_faults={60: 0x02, 200: DROP})
    assert r["steps"] >= 40 and r["windows"] > 0
    assert r["frames_retried"] == {"CRC": 1, "TIMEOUT": 1, "crc": 1, "timeout": 1}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_verilator_board_over_uart_300_steps():
    r = _verilator_run(300, tx_faults={1000: 0x01, 3000: DROP}, rx_faults={500: 0x80, 2000: DROP})
    assert r["steps"] >= 300
    assert r["frames_retried"] == {"CRC": 1, "TIMEOUT": 1, "crc": 1, "timeout": 1}


class FakePort:
    """A pyserial-like port: replies queued, writes recorded."""

    def __init__(self, replies):
        self.rx, self.written, self.timeout = bytearray(b"".join(replies)), bytearray(), None

    def write(self, data):
        self.written += data

    @property
    def in_waiting(self):
        return len(self.rx)

    def read(self, n):
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out


def test_serial_link_and_synchronous_board(monkeypatch):
    from fptt.board.serial_link import Board, SerialLink
    geo = geometry(UP5K)
    fr = frames(UP5K, 1)[0]
    counters = b"".join(v.to_bytes(4, "little") for v in (7, 2, 0, 0, 0, 0)) + b"\x00"
    port = FakePort([encode(Cmd.INFO, 1, info_payload(geo, 9)),
                     encode(Cmd.FRAME, 10, stub_output(UP5K, fr, 7)),
                     encode(Cmd.READ, 11, counters)])
    board = Board(SerialLink(port), UP5K)
    assert board.info()["last_seq"] == 9
    assert [o["steps"] for o in board.run([fr])] == [7]
    assert board.read_counters() == {"STEPS": 7, "WINDOWS": 2, "CYCLES": 0, "PERF_FWD": 0,
                                     "PERF_BWD": 0, "PERF_UPD": 0}
    assert bytes(port.written) == (encode(Cmd.INFO, 1) + encode(Cmd.FRAME, 10,
                                                                 pack_frame(UP5K, fr))
                                   + encode(Cmd.READ, 11, read_payload(0x0A, 6)))
    assert board.retried == {} and port.timeout == board.timeout
    monkeypatch.setitem(sys.modules, "serial", None)          # pyserial not installed
    with pytest.raises(ImportError, match=r"SerialLink needs pyserial to open a port: "
                                          r"pip install pyserial"):
        SerialLink("/dev/ttyUSB1")


def test_link_step_cycles():
    """Through the UART a step costs its 30 bytes (80 cycles each) on top of the core's
    forward step; the core alone is faster (the small core: the link limits)."""
    from test_rtl_core import cue_frames, small_cfg, start_state

    from fptt.board.simlink import link_step_cycles
    cfg = small_cfg(window=4)
    r = link_step_cycles(cfg, start_state(cfg), cue_frames(cfg, 4)[:4])
    geo = geometry(cfg)
    link_cycles = 80 * (geo.in_bytes + geo.out_bytes + 10)
    assert r["steps"] == 4 and r["core_cycles_per_step"] < link_cycles
    assert link_cycles < r["link_cycles_per_step"] < link_cycles + 2 * r["core_cycles_per_step"]
    assert r["link_alone_frames_per_s"] == pytest.approx(24e6 / link_cycles)
