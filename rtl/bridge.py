"""Serial bridge: UART packets to the core's host bus and frame streams (``docs/bridge.md``).

:class:`Bridge` sits between a UART (:mod:`fptt.rtl.uart`) and the three
interfaces of :class:`~fptt.rtl.core.FpttCore`; the packet format, commands
and sizes are those of :mod:`fptt.board.protocol` (the reference the tests
check it against):

    ``SYNC | TYPE | SEQ | LEN | payload | CRC-8``

Requests are served one at a time (stop-and-wait): the host sends a request
and waits for its reply. ``FRAME``'s reply is the output frame of that step,
so the core is never offered a frame it cannot take and no output is lost.

Size (it shares an iCE40 UP5K with the core): the input frame is not kept
here. A FRAME's payload bytes go to the core as they arrive (``i_byte``, the
core's byte-serial frame input, :func:`fptt.rtl.host.frame_byte_input`), into
the registers the core computes with; ``i_frame`` (no payload) then hands the
frame over. Everything else moves through one byte-wide shift register ``sr``
of ``8·sr_bytes`` bits, ``sr_bytes = max(out_bytes, 8)``, filled from the top
by the receiver:

- READ and WRITE send their address last, so it lands in the top 4 bytes,
  which are the bus address and count up in place (in the low byte: a
  burst does not cross a multiple of 256 words); the bytes below shift
  down on their own (``shift_low``) to bring each WRITE word to ``sr[0:32]``
  (``bus.w_data``) and each READ word, loaded there from ``bus.r_data``, out
  to the transmitter;
- an output frame is loaded into the bottom and shifted out byte by byte.

Framing: a CRC-8 (polynomial 0x07) over ``TYPE … payload``; a request whose
CRC fails, whose length is wrong for its command, or which stops before its
last byte for ``2**timeout_bits - 2`` cycles gets an error reply; after an error
reply the bridge ignores the line until it has been quiet for
``2**timeout_bits - 2`` cycles, then hunts for ``SYNC``. Duplicates: a FRAME whose
``SEQ`` equals that of the last frame given to the core, while the core still
holds that frame's output, is answered with that output again without a
second step (the host's retry after a lost reply).

Because the core computes with the registers a frame's bytes land in, a
FRAME's reply waits until the core is idle again (the step's backward pass and
update done, ``i_frame.ready``), not only until the core emits the output:
with one request in flight, the core is idle whenever a request arrives.
"""

from __future__ import annotations

from functools import reduce
from operator import xor

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..board.protocol import BURST_BITS, SYNC, VERSION, Cmd, Geometry, Status, crc8_table
from .host import HostBusSignature, frame_layout, out_layout
from .uart import UartRx, UartTx

__all__ = ["Bridge", "MIN_TIMEOUT_CHARS", "LFSR_TAPS", "lfsr_step", "lfsr_predecessor"]

#: The idle timeout must be at least this many character times (10 bits each).
MIN_TIMEOUT_CHARS = 2

#: Taps of maximal-length Fibonacci LFSRs (period 2**n - 1), by length n
#: (Xilinx XAPP052): the bridge's pause timer.
LFSR_TAPS = {8: (8, 6, 5, 4), 9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1),
             13: (13, 4, 3, 1), 14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4),
             17: (17, 14), 18: (18, 11), 19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19),
             22: (22, 21), 23: (23, 18), 24: (24, 23, 22, 17)}


def lfsr_step(state: int, n: int, taps) -> int:
    """One step of the timer: ``state << 1 | XOR of the tapped bits`` (tap k is bit k - 1)."""
    fb = 0
    for t in taps:
        fb ^= state >> (t - 1) & 1
    return (state << 1 | fb) & ((1 << n) - 1)


def lfsr_predecessor(state: int, n: int, taps) -> int:
    """The state one step before ``state``: with period 2**n - 1, the state reached
    2**n - 2 steps after ``state`` (the timer's end, from its start at 1)."""
    prev = state >> 1                       # all but the top bit, which the feedback fixes
    fb = state & 1
    for t in taps:
        if t != n:
            fb ^= prev >> (t - 1) & 1
    return prev | fb << (n - 1)


class Bridge(wiring.Component):
    """The bridge for input frames of ``in_layout`` and output frames of ``out_layout``.

    Parameters
    ----------
    in_layout, out_layout
        Payload shapes of the core's input frame (sent as bytes) and ``o_frame``.
    divisor
        Clock cycles per UART bit: baud = f_clk / divisor (8 at 24 MHz: 3 Mbaud).
        ``None``: no UART; the byte streams ``rx_byte`` (in, always ready) and
        ``tx_byte`` (out) instead of the pins, for simulating long runs.
    timeout_bits
        A request that pauses for ``2**timeout_bits - 2`` cycles is abandoned
        (``TIMEOUT`` reply), and after an error reply the line must be quiet
        that long before the next request is looked for (8 .. 24; 16 at
        24 MHz: 2.7 ms).

    Ports: ``rx`` (in), ``tx`` (out) (or ``rx_byte``, ``tx_byte``), ``i_byte``
    and ``i_frame`` (out: the sender's side of
    :func:`fptt.rtl.host.frame_input_ports`), ``o_frame`` (in stream), ``bus``
    (out, the initiator's side of :class:`~fptt.rtl.host.HostBusSignature`).
    """

    def __init__(self, in_layout, out_layout, divisor: int | None, timeout_bits: int = 16):
        self.in_layout, self.out_layout = in_layout, out_layout
        self.geo = self.check(in_layout, out_layout, divisor, timeout_bits)
        self.divisor = divisor
        self.timeout_bits = timeout_bits
        if divisor is None:
            # the byte layer alone (simulation of long runs: a character is a cycle, not
            # 10 bit times): bytes in, one a cycle at most, never back-pressured
            phy = {"rx_byte": In(stream.Signature(8)), "tx_byte": Out(stream.Signature(8))}
        else:
            phy = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        super().__init__({
            **phy,
            "i_byte": Out(stream.Signature(8, always_ready=True)),
            "i_frame": Out(stream.Signature(0)),
            "o_frame": In(stream.Signature(out_layout)),
            "bus": Out(HostBusSignature()),
        })

    @staticmethod
    def check(in_layout, out_layout, divisor, timeout_bits) -> Geometry:
        """The geometry of these parameters, or ``ValueError`` (``ProtocolError``)."""
        geo = Geometry(Shape.cast(in_layout).width, Shape.cast(out_layout).width).check()
        if timeout_bits not in LFSR_TAPS:
            raise ValueError(f"timeout_bits {timeout_bits!r}: the pause timer has "
                             f"{min(LFSR_TAPS)} .. {max(LFSR_TAPS)} bits")
        if divisor is not None and (1 << timeout_bits) < MIN_TIMEOUT_CHARS * 10 * divisor:
            raise ValueError(f"timeout of 2**{timeout_bits} cycles is shorter than "
                             f"{MIN_TIMEOUT_CHARS} characters ({MIN_TIMEOUT_CHARS * 10 * divisor} "
                             f"cycles at divisor {divisor})")
        return geo

    @classmethod
    def for_config(cls, cfg, divisor: int | None, timeout_bits: int = 16) -> "Bridge":
        """The bridge of a :class:`~fptt.config.CoreConfig`'s core."""
        # checked before an object exists: a refused bridge is no unused elaboratable
        cls.check(frame_layout(cfg), out_layout(cfg), divisor, timeout_bits)
        return cls(frame_layout(cfg), out_layout(cfg), divisor, timeout_bits)

    def elaborate(self, platform):
        m = Module()
        geo = self.geo
        N, ib, ob = geo.sr_bytes, geo.in_bytes, geo.out_bytes
        if self.divisor is None:
            rx_stb, d = self.rx_byte.valid, self.rx_byte.payload
            m.d.comb += self.rx_byte.ready.eq(1)
            tx = self.tx_byte
        else:
            rx = m.submodules.uart_rx = UartRx(self.divisor)
            utx = m.submodules.uart_tx = UartTx(self.divisor)
            m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(utx.tx)]
            rx_stb, d, tx = rx.stb, rx.data, utx.data

        # ------------------------------------------------------------ the shift register
        sr = Signal(8 * N)
        lo_top = 8 * (N - 4)            # sr[lo_top:]: the bus address (READ, WRITE)
        addr = sr[lo_top:]
        count = sr[lo_top - 8:lo_top]   # READ's count, the byte before the address
        shift_full = Signal()           # sr <- received byte : sr[8:]
        shift_low = Signal()            # sr[:lo_top] <- sr[8:lo_top + 8]; the address stays
        inc = Signal()                  # address + 1 in its low byte (burst)
        load_rd = Signal()              # sr[0:32] <- bus.r_data
        load_out = Signal()             # sr <- the held output frame
        load_info = Signal()            # sr <- the INFO reply
        # one enable and one source per bit (the bytes below the address move the same way
        # in both shifts): flip-flops with enable, no multiplexer
        with m.If(shift_full | shift_low):
            m.d.sync += sr[:lo_top].eq(sr[8:lo_top + 8])
        with m.If(shift_full):
            m.d.sync += sr[lo_top:].eq(Cat(sr[lo_top + 8:], d))
        with m.If(inc):
            # a burst stays inside one 256-word block (the driver splits there): an 8-bit
            # incrementer instead of 32 bits of adder and multiplexer (~40 logic cells)
            m.d.sync += addr[:BURST_BITS].eq(addr[:BURST_BITS] + 1)
        with m.If(load_rd):
            m.d.sync += sr[:32].eq(self.bus.r_data)
        with m.If(load_out):
            m.d.sync += sr[:8 * ob].eq(self.o_frame.payload.as_value())
        last_seq = Signal(8)            # SEQ of the last frame the core took
        with m.If(load_info):
            info = VERSION | ib << 8 | ob << 16 | geo.max_write << 24
            m.d.sync += sr[:40].eq(Cat(Const(info, 32), last_seq))
        m.d.comb += [self.bus.addr.eq(addr), self.bus.w_data.eq(sr[:32]),
                     self.i_byte.payload.eq(d)]

        # ------------------------------------------------------------ CRC-8, one byte a cycle
        crc = Signal(8)
        crc_in = Signal(8)
        crc_next = Signal(8)
        dd = crc ^ crc_in
        table = crc8_table()        # linear in crc ^ byte: each bit an XOR of some bits
        for i in range(8):
            taps = [dd[j] for j in range(8) if table[1 << j] >> i & 1]
            m.d.comb += crc_next[i].eq(reduce(xor, taps))

        # ------------------------------------------------------------ packet state
        cmd = Signal(3)
        bad_cmd = Signal()
        seq = Signal(8)
        plen = Signal(8)
        cnt = Signal(8)                 # payload bytes to receive / to shift / to send
        words = Signal(6)               # bus accesses left
        status = Signal(3)
        berr = Signal()                 # a bus access of this request answered err
        tail = Signal()                 # READ/WRITE: the bus-error byte is being sent
        tx_len = Signal(8)              # the reply's LEN (comb)
        in_sr = Signal()                # the reply's payload is in sr already (comb)
        # the pause timer: a maximal-length LFSR, not a counter (no adder, no wide clear
        # multiplexer: each bit takes its neighbour; ~40 logic cells fewer at 16 bits)
        n_t, taps = self.timeout_bits, LFSR_TAPS[self.timeout_bits]
        timer = Signal(n_t, init=1)
        quiet = timer == lfsr_predecessor(1, n_t, taps)     # 2**n - 2 steps after 1
        timer_next = Cat(reduce(xor, [timer[t - 1] for t in taps]), timer[:-1])
        timer_clr = Const(1, n_t)
        tx_byte = Signal(8)
        tx_go = tx.valid & tx.ready
        m.d.comb += tx.payload.eq(tx_byte)

        len_ok = Signal()
        with m.Switch(cmd):
            with m.Case(Cmd.INFO, Cmd.OUTPUT):
                m.d.comb += len_ok.eq(d == 0)
            with m.Case(Cmd.READ):
                m.d.comb += len_ok.eq(d == 5)
            with m.Case(Cmd.WRITE):
                m.d.comb += len_ok.eq((d[:2] == 0) & (d >= 8) & (d <= 4 + 4 * geo.max_write))
            with m.Case(Cmd.FRAME):
                m.d.comb += len_ok.eq(d == ib)

        def reply(st):
            """Start the reply with status ``st`` (its LEN follows from status and command)."""
            m.d.sync += [status.eq(st), tail.eq(0)]
            m.next = "T_SYNC"

        def take_rx(next_state):
            """A request byte: into the CRC; restart the pause timer; time out."""
            m.d.comb += crc_in.eq(d)
            m.d.sync += timer.eq(timer_next)
            with m.If(rx_stb):
                m.d.sync += [crc.eq(crc_next), timer.eq(timer_clr)]
                m.next = next_state
            with m.Elif(quiet):
                reply(Status.TIMEOUT)

        def send(byte, next_state):
            m.d.comb += [tx_byte.eq(byte), tx.valid.eq(1), crc_in.eq(byte)]
            with m.If(tx_go):
                m.d.sync += crc.eq(crc_next)
                m.next = next_state

        def output_reply():
            m.d.comb += load_out.eq(1)
            reply(Status.OK)

        # the reply's LEN: a function of status and command (READ: words still holds the count)
        with m.If(status == Status.OK):
            with m.Switch(cmd):
                with m.Case(Cmd.INFO):
                    m.d.comb += [tx_len.eq(5), in_sr.eq(1)]
                with m.Case(Cmd.READ):
                    m.d.comb += tx_len.eq(Cat(Const(1, 2), words))
                with m.Case(Cmd.WRITE):
                    m.d.comb += tx_len.eq(1)
                with m.Case(Cmd.FRAME, Cmd.OUTPUT):
                    m.d.comb += [tx_len.eq(ob), in_sr.eq(1)]

        with m.FSM(name="bridge"):
            # -------------------------------------------------------- request
            with m.State("HUNT"):
                with m.If(rx_stb & (d == SYNC)):
                    m.d.sync += [crc.eq(0), timer.eq(timer_clr)]
                    m.next = "CMD"
            with m.State("CMD"):
                take_rx("SEQ")
                with m.If(rx_stb):
                    m.d.sync += [cmd.eq(d[:3]), bad_cmd.eq(d[3:] != 0)]
            with m.State("SEQ"):
                take_rx("LEN")
                with m.If(rx_stb):
                    m.d.sync += seq.eq(d)
            with m.State("LEN"):
                take_rx("PAY")
                with m.If(rx_stb):
                    m.d.sync += [plen.eq(d), cnt.eq(d)]
                    with m.If(bad_cmd | ~len_ok):
                        # where the packet ends is unknown: answer now, then wait for quiet
                        reply(Status.BAD)
                    with m.Elif(d == 0):
                        m.next = "CRC"
            with m.State("PAY"):
                take_rx("PAY")
                with m.If(rx_stb):
                    # every payload byte also to the core's frame registers (the core is
                    # idle; only a whole FRAME that passes its CRC is handed over)
                    m.d.comb += [shift_full.eq(1), self.i_byte.valid.eq(1)]
                    m.d.sync += cnt.eq(cnt - 1)
                    with m.If(cnt == 1):
                        m.next = "CRC"
            with m.State("CRC"):
                take_rx("CRC")
                with m.If(rx_stb):
                    m.d.sync += [berr.eq(0), tail.eq(0)]
                    with m.If(d != crc):
                        reply(Status.CRC)
                    with m.Else():
                        with m.Switch(cmd):
                            with m.Case(Cmd.INFO):
                                m.d.comb += load_info.eq(1)
                                reply(Status.OK)
                            with m.Case(Cmd.READ):
                                with m.If((count[6:] == 0) & (count[:6] != 0)):
                                    m.d.sync += words.eq(count[:6])
                                    reply(Status.OK)
                                with m.Else():
                                    reply(Status.BAD)
                            with m.Case(Cmd.WRITE):
                                # bring the first word to sr[0:32]
                                m.d.sync += [words.eq(plen[2:] - 1), cnt.eq(N - plen)]
                                m.next = "ALIGN"
                            with m.Case(Cmd.FRAME):
                                with m.If((seq == last_seq) & self.o_frame.valid):
                                    output_reply()      # a retry: the same output again
                                with m.Else():
                                    # the previous step's output was delivered: release it
                                    m.d.comb += self.o_frame.ready.eq(1)
                                    m.next = "F_PUSH"
                            with m.Case(Cmd.OUTPUT):
                                with m.If(self.o_frame.valid):
                                    output_reply()
                                with m.Else():
                                    reply(Status.EMPTY)
            # -------------------------------------------------------- execution
            with m.State("ALIGN"):
                with m.If(cnt == 0):
                    m.next = "BUS"
                with m.Else():
                    m.d.comb += shift_low.eq(1)
                    m.d.sync += cnt.eq(cnt - 1)
            with m.State("BUS"):
                m.d.comb += [self.bus.stb.eq(1), self.bus.we.eq(cmd == Cmd.WRITE)]
                with m.If(self.bus.ack):
                    m.d.comb += inc.eq(1)
                    m.d.sync += [berr.eq(berr | self.bus.err), words.eq(words - 1), cnt.eq(4)]
                    with m.If(cmd == Cmd.READ):
                        m.d.comb += load_rd.eq(1)
                        m.next = "T_PAY"
                    with m.Elif(words == 1):
                        reply(Status.OK)
                    with m.Else():
                        m.next = "ALIGN"
            with m.State("F_PUSH"):
                # the core takes the frame when idle: held here, never dropped
                m.d.comb += self.i_frame.valid.eq(1)
                with m.If(self.i_frame.ready):
                    m.d.sync += last_seq.eq(seq)
                    m.next = "F_WAIT"
            with m.State("F_WAIT"):
                # the output, and the core idle again: the next request's payload may come
                with m.If(self.o_frame.valid & self.i_frame.ready):
                    output_reply()
            # -------------------------------------------------------- reply
            with m.State("T_SYNC"):
                send(SYNC, "T_TYPE")
                with m.If(tx_go):
                    m.d.sync += crc.eq(0)
            with m.State("T_TYPE"):
                send(Cat(cmd, Const(0, 1), status, Const(0, 1)), "T_SEQ")
            with m.State("T_SEQ"):
                send(seq, "T_LEN")
            with m.State("T_LEN"):
                send(tx_len, "T_NEXT")
                with m.If(tx_go & in_sr):
                    m.d.sync += cnt.eq(tx_len)
                    m.next = "T_PAY"
            with m.State("T_PAY"):
                send(Mux(tail, berr, sr[:8]), "T_PAY")
                with m.If(tx_go):
                    m.d.comb += [shift_low.eq(cmd == Cmd.READ), shift_full.eq(cmd != Cmd.READ)]
                    m.d.sync += cnt.eq(cnt - 1)
                    with m.If(cnt == 1):
                        m.next = "T_NEXT"
            with m.State("T_NEXT"):
                rw = (status == Status.OK) & ((cmd == Cmd.READ) | (cmd == Cmd.WRITE))
                with m.If(rw & (cmd == Cmd.READ) & (words != 0)):
                    m.next = "BUS"
                with m.Elif(rw & ~tail):
                    m.d.sync += [tail.eq(1), cnt.eq(1)]
                    m.next = "T_PAY"
                with m.Else():
                    m.next = "T_CRC"
            with m.State("T_CRC"):
                send(crc, "HUNT")
                # CRC, BAD, TIMEOUT (1 .. 3; EMPTY is 4): the request may not be over
                with m.If(tx_go & status[:2].any()):
                    m.d.sync += timer.eq(timer_clr)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                # after an error the rest of a broken request may still be coming
                m.d.sync += timer.eq(Mux(rx_stb, timer_clr, timer_next))
                with m.If(quiet):
                    m.next = "HUNT"
        return m
