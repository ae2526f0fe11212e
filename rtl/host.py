"""Host interface: frame streams and the memory-mapped checkpoint port.

Three interfaces (full protocol and address map: ``docs/host_interface.md``).

Input stream ``i_frame`` (:func:`frame_layout`), one beat per time step
    ``amaranth.lib.stream`` (payload/valid/ready). Payload fields, LSB first:
    ``x`` (``n_in`` × signed ``formats.x``), ``target`` (``n_out`` × signed
    ``formats.o``), ``has_target``, ``sos``, ``eos``, ``learn``. ``ready`` is
    high only while the core is idle (no step, backward pass, update or host
    access in progress): a frame offered while the core is busy is held by
    the sender (``valid`` stays high), never dropped.

Byte-serial input (``FpttCore(cfg, frame_bytes=True)``, behind the serial bridge)
    The same frame, as the ``ceil(bits / 8)`` bytes of its packed value, LSB
    first, on ``i_byte`` (:func:`frame_input_ports`), one byte a beat, no
    back-pressure: each byte shifts into the core's own frame registers
    (:func:`frame_byte_input`). ``i_frame`` then has no payload; its beat hands
    the frame over as before. The frame's ``x`` bytes land straight in the
    register the step computes with, so the core takes bytes only between
    steps (controller idle); a byte sent during a step, backward pass or update
    is dropped. Both inputs give the same step for the same frame.

Output stream ``o_frame`` (:func:`out_layout`), one beat per time step
    ``o`` (``n_out`` × signed ``formats.o``: the readout of this step, before
    the update this step may trigger), ``spikes`` (number of hidden spikes
    this step), ``status`` (bit 0: this step closed a window, so backward and
    update follow; bit 1 ``learn``; bit 2 ``sos``; bit 3 ``eos`` echoed),
    ``steps`` (the step counter after this step). The core holds a beat until
    ``ready``; it stalls before emitting the next one.

Memory-mapped port ``bus`` (:class:`HostBusSignature`), Wishbone-classic style
    The host drives ``addr``, ``we``, ``w_data`` and raises ``stb``, holding
    them until it sees ``ack`` (one cycle); ``r_data`` and ``err`` are valid
    with ``ack``. Accesses are served only while the core is idle (between
    steps); a request made during a step waits. ``addr = region << 24 |
    offset``; ``offset = row << ceil_log2(cols) | col`` in the logical
    (golden) array ``[rows, cols]`` of the region (:class:`MemSpec`). An
    address outside every region, a row or column out of range, a write to a
    read-only register, an out-of-range value for a register with a range, or 0
    for an LFSR state (xorshift32 would stay at 0) sets ``err`` and changes nothing. Reads return the
    element sign-extended (signed formats) or zero-extended to 32 bits; writes
    store the low bits of ``w_data``.

:class:`HostPort` is the decoder and sequencer of the memory-mapped port; the
core (:mod:`fptt.rtl.core`) connects its ``sel``/``addr``/``elem``/``re``/``we``
requests to the memory ports and registers and returns the read element.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..config import CoreConfig
from .memories import MATRIX, REGION_SHIFT, T_LANES, VECTOR, WORD, MemSpec, core_mem_specs

__all__ = ["host_targets", "checkpoint_addresses", "REG_INDEX", "SAT_NAMES", "HostBusSignature",
           "HostPort", "RegSpec", "REG", "REGISTERS", "register_specs",
           "frame_layout", "frame_input_ports", "frame_byte_input", "out_layout", "STATUS_BITS",
           "ID_VALUE", "DATA_WIDTH", "ADDR_WIDTH",
           "divmod_const", "PROFILE_REGISTERS"]

DATA_WIDTH = 32
ADDR_WIDTH = 32
#: Value of register ``ID`` ("FPTT").
ID_VALUE = 0x4650_5454
REG = "reg"

#: Output ``status`` bits.
STATUS_BITS = {"closed": 0, "learn": 1, "sos": 2, "eos": 3}


def frame_layout(cfg: CoreConfig) -> data.StructLayout:
    """Payload of one input frame (one time step)."""
    f = cfg.formats
    return data.StructLayout({
        "x": data.ArrayLayout(signed(f.x.width), cfg.n_in),
        "target": data.ArrayLayout(signed(f.o.width), cfg.n_out),
        "has_target": 1,
        "sos": 1,
        "eos": 1,
        "learn": 1,
    })


def frame_input_ports(cfg: CoreConfig) -> dict:
    """The byte-serial frame input's ports (core's side): ``i_byte`` (a byte a beat, always
    ready) and ``i_frame`` (no payload: take the frame the bytes made)."""
    return {"i_byte": In(stream.Signature(8, always_ready=True)),
            "i_frame": In(stream.Signature(0))}


def frame_byte_input(cfg: CoreConfig, xr_raw):
    """The frame registers of the byte-serial input: ``(frame, chain)``.

    ``chain`` is ``8 * ceil(bits / 8)`` bits: the ``n_in`` inputs of ``xr_raw``
    (the register the step's ``x`` lives in: a frame's ``x`` needs no copy), then
    a register of its own for ``target``, the flags and the padding. A byte
    shifts in at the top (``chain <- byte : chain[8:]``), so after the whole
    frame's bytes, byte 0 sits at bit 0. ``frame`` is a :func:`frame_layout`
    view of ``chain`` (its ``x`` is ``xr_raw``'s, changed by the step: the
    step reads ``x`` only from ``xr_raw``).
    """
    lay = frame_layout(cfg)
    nx = cfg.n_in * cfg.formats.x.width
    rest = Signal(8 * -(-lay.size // 8) - nx, name="frame_rest")
    chain = Cat(xr_raw[:nx], rest)
    return data.View(lay, chain[:lay.size]), chain


def out_layout(cfg: CoreConfig) -> data.StructLayout:
    """Payload of one output frame (one time step)."""
    return data.StructLayout({
        "o": data.ArrayLayout(signed(cfg.formats.o.width), cfg.n_out),
        "spikes": unsigned(ceil_log2(cfg.n_hidden + 1)),
        "status": unsigned(4),
        "steps": unsigned(32),
    })


class HostBusSignature(wiring.Signature):
    """Memory-mapped host bus, from the host's (initiator's) side."""

    def __init__(self, addr_width: int = ADDR_WIDTH, data_width: int = DATA_WIDTH):
        super().__init__({
            "addr": Out(addr_width),
            "w_data": Out(data_width),
            "we": Out(1),
            "stb": Out(1),
            "ack": In(1),
            "r_data": In(data_width),
            "err": In(1),
        })


@dataclass(frozen=True)
class RegSpec:
    """A register of region 0: ``index``, name, writable, write range, description.

    ``value``: the constant a read-only identification register returns
    (``None``: a register the core keeps, :func:`fptt.rtl.registers.host_access`).
    """

    index: int
    name: str
    writable: bool
    lo: int = 0
    hi: int = (1 << 32) - 1
    doc: str = ""
    value: int | None = None


def register_specs(cfg: CoreConfig) -> list[RegSpec]:
    """The registers of region 0 (control, counters, identification)."""
    return [
        RegSpec(0x00, "ID", False, doc=f"0x{ID_VALUE:08X} ('FPTT')", value=ID_VALUE),
        RegSpec(0x01, "VERSION", False, doc="host interface version (1)", value=1),
        RegSpec(0x02, "N_IN", False, doc="cfg.n_in", value=cfg.n_in),
        RegSpec(0x03, "N_HIDDEN", False, doc="cfg.n_hidden", value=cfg.n_hidden),
        RegSpec(0x04, "N_OUT", False, doc="cfg.n_out", value=cfg.n_out),
        RegSpec(0x05, "WINDOW_MAX", False, doc="cfg.window_max", value=cfg.window_max),
        RegSpec(0x06, "LANES", False, doc="cfg.lanes", value=cfg.lanes),
        RegSpec(0x07, "ROUNDING", False, doc="0 nearest, 1 stochastic",
                value=int(cfg.rounding == "stochastic")),
        RegSpec(0x08, "WINDOW", True, 1, cfg.window_max,
                doc="run-time window L, 1 <= L <= window_max (reset: cfg.window)"),
        RegSpec(0x09, "COUNT", True, 0, cfg.window_max - 1,
                doc="steps held in the window buffer (golden count)"),
        RegSpec(0x0A, "STEPS", True, doc="steps run (golden steps), 32 bits"),
        RegSpec(0x0B, "WINDOWS", True, doc="windows closed (golden windows), 32 bits"),
        RegSpec(0x0C, "CYCLES", True,
                doc="clock cycles since reset (free-running), 32 bits; 0 without profile_counters"),
        RegSpec(0x0D, "PERF_FWD", True,
                doc="cycles spent in forward phases (step); 0 without profile_counters"),
        RegSpec(0x0E, "PERF_BWD", True,
                doc="cycles spent in the backward pass; 0 without profile_counters"),
        RegSpec(0x0F, "PERF_UPD", True,
                doc="cycles spent in the FPTT update sweep; 0 without profile_counters"),
    ]


#: Counters that exist only with ``profile_counters`` (else they read 0 and ignore writes).
PROFILE_REGISTERS = ("CYCLES", "PERF_FWD", "PERF_BWD", "PERF_UPD")

#: Registers of the default configuration (index -> name), for documentation.
REGISTERS = {r.index: r.name for r in register_specs(CoreConfig())}


def divmod_const(value, divisor: int):
    """``(value // divisor, value % divisor)`` of an unsigned value: slices for powers of two."""
    if divisor & (divisor - 1) == 0:
        k = divisor.bit_length() - 1
        return value >> k, value[:k] if k else Const(0, 1)
    return value // divisor, value % divisor


@dataclass(frozen=True)
class Target:
    """One host region: a memory (``spec``) or a register array (``layout == REG``)."""

    name: str
    region: int
    rows: int
    cols: int
    layout: str
    groups: int = 1
    lanes: int = 1
    signed: bool = True
    width: int = 32

    @property
    def col_bits(self) -> int:
        return ceil_log2(self.cols) if self.cols > 1 else 0

    @property
    def row_bits(self) -> int:
        return ceil_log2(self.rows) if self.rows > 1 else 0


def targets_of(specs: list[MemSpec], regs: list[tuple[str, int, int, int, bool]]):
    """Host targets: mapped memories then register arrays ``(name, region, rows, width, signed)``."""
    out = []
    for s in specs:
        if s.region is None:
            continue
        out.append(Target(s.name, s.region, s.rows, s.cols, s.layout, s.groups, s.elems,
                          s.elem.signed, s.elem.width))
    for name, region, rows, width, sgn in regs:
        out.append(Target(name, region, rows, 1, REG, signed=sgn, width=width))
    return out


class HostPort(wiring.Component):
    """Decoder and sequencer of the memory-mapped port.

    Ports (besides ``bus``)
    -----------------------
    ``grant`` (in)
        The core is idle: an access may start.
    ``busy`` (out)
        An access is in progress (the core must not start a step).
    ``sel``, ``addr``, ``elem`` (out)
        Target index (position in :attr:`targets`), physical word address (or
        register index) and element of the access, valid with ``re``/``we``.
    ``re`` (out)
        One cycle: drive the target's read port with ``addr``; one cycle later
        the core presents the element on ``rdata``.
    ``we`` (out)
        One cycle: write ``wdata`` (low bits) into element ``elem`` of word ``addr``.
    ``wdata`` (out), ``rdata`` (in)
        Write data and the read element (already sign- or zero-extended).
    ``reg_ok`` (in)
        For a register write: the value is acceptable (else ``err``).
    """

    def __init__(self, cfg: CoreConfig, targets: list[Target]):
        self.cfg = cfg
        self.targets = targets
        self.addr_width = max(1, max(_phys_addr_bits(t) for t in targets))
        self.elem_width = max(1, max(ceil_log2(max(t.lanes, t.cols if t.layout == WORD else 1))
                                     for t in targets))
        for t in targets:
            if t.row_bits + t.col_bits > REGION_SHIFT:
                raise ValueError(f"region {t.name} needs {t.row_bits + t.col_bits} offset bits, "
                                 f"more than {REGION_SHIFT}")
        super().__init__({
            "bus": In(HostBusSignature()),
            "grant": In(1),
            "busy": Out(1),
            "sel": Out(range(max(2, len(targets)))),
            "addr": Out(self.addr_width),
            "elem": Out(self.elem_width),
            "re": Out(1),
            "we": Out(1),
            "wdata": Out(DATA_WIDTH),
            "rdata": In(DATA_WIDTH),
            "is_reg_write": Out(1),
            "reg_ok": In(1),
        })

    def index(self, name: str) -> int:
        return [t.name for t in self.targets].index(name)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        # the host holds addr, we and w_data until ack (the protocol): no copies
        a, we, wdata = bus.addr, bus.we, bus.w_data
        rdata = Signal(DATA_WIDTH)
        err = Signal()

        region = a[REGION_SHIFT:]
        offset = a[:REGION_SHIFT]
        hit = Signal()
        d_sel = Signal.like(self.sel)
        d_addr = Signal.like(self.addr)
        d_elem = Signal.like(self.elem)
        d_reg = Signal()
        decoded = []
        for i, t in enumerate(self.targets):
            cb, rb = t.col_bits, t.row_bits
            col = offset[:cb] if cb else Const(0, 1)
            row = offset[cb:cb + rb] if rb else Const(0, 1)
            extra = offset[cb + rb:]
            ok = (extra == 0) & (row < t.rows) & (col < t.cols)
            if t.layout == MATRIX:
                q, r = divmod_const(row, t.lanes)
                pa, el = col * t.groups + q, r
            elif t.layout == VECTOR:
                pa, el = divmod_const(row, t.lanes)
            elif t.layout == T_LANES:
                q, r = divmod_const(col, t.lanes)
                pa, el = row * t.groups + q, r
            elif t.layout == WORD:
                pa, el = row, col
            else:
                pa, el = row, Const(0, 1)
            decoded.append((i, t, ok, pa, el))
        # regions are distinct: one parallel case, not a chain of 30 priority levels
        with m.Switch(region):
            for i, t, ok, pa, el in decoded:
                with m.Case(t.region):
                    m.d.comb += [hit.eq(ok), d_sel.eq(i), d_addr.eq(pa), d_elem.eq(el),
                                 d_reg.eq(t.layout == REG)]

        with m.FSM(name="host"):
            with m.State("IDLE"):
                with m.If(bus.stb & self.grant):
                    m.next = "DECODE"
            with m.State("DECODE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [self.sel.eq(d_sel), self.addr.eq(d_addr), self.elem.eq(d_elem),
                             self.is_reg_write.eq(d_reg & we), err.eq(~hit), rdata.eq(0)]
                m.next = "ACCESS"
            with m.State("ACCESS"):
                m.d.comb += self.busy.eq(1)
                with m.If(err):
                    m.next = "ACK"
                with m.Elif(we):
                    with m.If(self.is_reg_write & ~self.reg_ok):
                        m.d.sync += err.eq(1)
                        m.next = "ACK"
                    with m.Else():
                        m.next = "WRITE"
                with m.Else():
                    m.d.comb += self.re.eq(1)
                    m.next = "READ"
            with m.State("WRITE"):
                # a state of its own: the write strobe comes from a register, not from the
                # bus through the range check (the path into every memory's write port)
                m.d.comb += [self.busy.eq(1), self.we.eq(1)]
                m.next = "ACK"
            with m.State("READ"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += rdata.eq(self.rdata)
                m.next = "ACK"
            with m.State("ACK"):
                m.d.comb += [self.busy.eq(1), bus.ack.eq(1), bus.err.eq(err),
                             bus.r_data.eq(Mux(err, 0, rdata))]
                m.next = "IDLE"
        m.d.comb += self.wdata.eq(wdata)
        return m


def _phys_addr_bits(t: Target) -> int:
    if t.layout == MATRIX:
        depth = t.cols * t.groups
    elif t.layout == VECTOR:
        depth = t.groups
    elif t.layout == T_LANES:
        depth = t.rows * t.groups
    else:
        depth = t.rows
    return ceil_log2(max(depth, 2))


#: Saturation profile counted by the core, in the golden ``SaturationCounter`` order:
#: region 0x30 row ``i`` = golden ``sat_<SAT_NAMES[i]>``, region 0x31 row ``i`` = ``writes_<…>``.
SAT_NAMES = ("a", "threshold", "u", "o", "delta", "obar", "sbar", "vbar", "ubar", "abar", "ibar",
             "grad", "w", "lam", "wbar")

#: Register indices of region 0 by name.
REG_INDEX = {r.name: r.index for r in register_specs(CoreConfig())}


def host_targets(cfg: CoreConfig):
    """``(memory specs, host targets)`` of a core; targets in decoder order."""
    from .window_buffer import window_buffer_specs
    specs = core_mem_specs(cfg) + window_buffer_specs(cfg)
    n_regs = max(r.index for r in register_specs(cfg)) + 1
    regs = [("regs", 0x00, n_regs, 32, False), ("s", 0x12, cfg.n_hidden, 1, False),
            ("lfsr", 0x20, cfg.lanes, 32, False)]
    if cfg.profile_counters:
        regs += [("sat", 0x30, len(SAT_NAMES), 32, False),
                 ("writes", 0x31, len(SAT_NAMES), 32, False)]
    return specs, targets_of(specs, regs)


def checkpoint_addresses(cfg: CoreConfig, scratch: bool = False) -> dict:
    """Host addresses of every golden checkpoint array: ``key -> int64 array`` of addresses.

    The array has the golden array's shape without its batch axis (scalars:
    shape ``()``); reading each address gives the golden code (sign-extended to
    32 bits for signed quantities; ``lfsr``, ``steps``, ``windows`` unsigned).
    With ``scratch`` the gradient SRAM (``grad.<m>``, zero between windows) is
    included.
    """
    import numpy as np
    specs, _ = host_targets(cfg)
    out = {}
    for s in specs:
        if s.region is None or (not s.checkpoint and not scratch):
            continue
        addr = np.array([[s.host_address(r, c) for c in range(s.cols)] for r in range(s.rows)],
                        dtype=np.int64)
        # a bias is a one-column matrix [post, 1], as in golden; vectors are 1-D
        out[s.name] = addr[:, 0] if s.cols == 1 and s.layout != MATRIX else addr
    out["s"] = np.array([(0x12 << REGION_SHIFT) | j for j in range(cfg.n_hidden)], dtype=np.int64)
    out["lfsr"] = np.array([(0x20 << REGION_SHIFT) | p for p in range(cfg.lanes)], dtype=np.int64)
    for key, name in (("count", "COUNT"), ("steps", "STEPS"), ("windows", "WINDOWS")):
        out[key] = np.array(REG_INDEX[name], dtype=np.int64)
    for i, name in enumerate(SAT_NAMES if cfg.profile_counters else ()):
        out[f"sat_{name}"] = np.array((0x30 << REGION_SHIFT) | i, dtype=np.int64)
        out[f"writes_{name}"] = np.array((0x31 << REGION_SHIFT) | i, dtype=np.int64)
    return out
