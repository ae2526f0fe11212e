"""On-chip memories of the FPTT core: weights, running-mean SRAM, neuron state, scratch.

Every memory is an :class:`amaranth.lib.memory.Memory` with **synchronous read
ports only** (data one cycle after the address) and one write port with
per-element write enables (``granularity=1`` on an
:class:`~amaranth.lib.data.ArrayLayout` word), so FPGA tools infer block RAM
(one narrow BRAM per lane where the vendor cannot mask a lane). No memory is
read asynchronously.

Lane layout
-----------
``P = cfg.lanes`` elements form one word. A vector indexed by a postsynaptic
neuron ``j`` is stored at address ``j // P``, element (lane) ``j % P``; a
matrix ``W[post, pre]`` holds one **presynaptic column per address range**::

    address = pre · G + post // P,   lane = post % P,   G = ceil(n_post / P)

so one word is ``P`` synapses of one presynaptic neuron, the order in which
the golden model (:mod:`fptt.golden.lfsr`) draws stochastic-rounding numbers
(``cfg.params``: ``w_in``, ``w_rec``, ``b``, ``w_out``, ``b_out``; pre; post). A
bias (``cfg.biases``) is a one-column matrix ``[post, 1]``, the weights of an
always-active presynaptic unit: ``b`` the extra column of the hidden layer,
``b_out`` of the readout. Lanes beyond ``n_post`` in the last group are
padding: they stay 0, the host cannot address them, and the update does not
draw for them.

Memories (``name``: golden checkpoint key, see :meth:`FixedState.arrays`)
----------------------------------------------------------------------------
=================  ============================  ==========================================
name               word                          depth
=================  ============================  ==========================================
``w.w_in``         P × signed(w)                 ``n_in · G``         weights
``w.w_rec``        P × signed(w)                 ``n_hidden · G``
``w.b``            P × signed(w)                 ``G``                biases (``cfg.biases``)
``w.w_out``        P × signed(w)                 ``n_hidden · G_out``
``w.b_out``        P × signed(w)                 ``G_out``
``wbar.<p>``       P × signed(wbar)              as ``w.<p>``         running-mean SRAM: W̄
``lam.<p>``        P × signed(lam)               as ``w.<p>``         running-mean SRAM: λ
``grad.<p>``       P × signed(gsum_width)        as ``w.<p>``         exact window sums
                                                                      Σ_t post·pre (gradient
                                                                      SRAM, 0 between windows;
                                                                      w_in, w_rec, b: t >= 1,
                                                                      the t = 0 term is added
                                                                      by the update sweep)
``u``, ``a``       P × signed(u), signed(a)      ``G``                neuron state (no ``a``
                                                                      in a LIF core)
``o``              P × signed(o)                 ``G_out``            readout state
``acc``            P × signed(acc_width)         ``G``                scratch: synaptic sums I_j
``oacc``           P × signed(w_out_s_width)     ``G_out``            scratch: Σ_j W_out s_j
                                                                      (+ b_out)
``bw_u``, ``bw_a`` P × signed(ubar), (abar)      ``G``                scratch: ū, ā of the
                                                                      backward recursion
                                                                      (no ``bw_a`` in LIF)
``bw_i``           P × signed(ibar)              ``2·G``              scratch: ī_t, ī_{t+1}
                                                                      (two banks, two read
                                                                      ports)
=================  ============================  ==========================================

(``<p>`` ranges over ``cfg.params``.)

Physical memories
-----------------
``w.w_in``, ``w.w_rec`` and ``w.b`` share one single-port SRAM ``w``; every
``wbar.*`` shares ``wbar`` and every ``lam.*`` shares ``lam`` (``MemSpec.phys``,
each segment at a power-of-two aligned ``base``). ``w.w_out`` keeps its own
memory because the backward pass reads it beside ``w.w_rec`` (with biases
``w.b_out`` joins it: ``w_readout``, dual-port block RAM). Single-port means one
address for reads and writes: Yosys maps each of the three to one iCE40
SB_SPRAM256KA (16k × 16 bits) when a word is at most 16 bits wide. Only the
update sweep writes them, reading a word in one cycle and writing a word back
in the next (:mod:`fptt.rtl.core`). The gradient SRAM is one memory per
matrix; a bias's sums share the memory of the matrix whose extra column it is
(``grad_hidden``: ``grad.w_rec`` + ``grad.b``; ``grad_out``: ``grad.w_out`` +
``grad.b_out``), so no memory is added for them. Without biases (``biases =
false``) the memories are exactly those of the matrices.

The window buffer memories (``buf_x``, ``buf_s``, ``buf_psi``, ``buf_delta``)
are specified in :mod:`fptt.rtl.window_buffer` with the same :class:`MemSpec`.
The spike vector ``s`` is a register (the event-driven accumulation scans all
of its bits at once), not a memory.

Scratch memories (``acc``, ``oacc``, ``bw_*``) need no initialisation: the
datapath masks what it has not yet written in the current step (``touched``
bits, "first step of the window" flags). ``grad.<m>`` is cleared by the
update sweep that consumes it; after a reset in the middle of a window close
the host restores it to zero with the rest of a checkpoint
(``docs/host_interface.md``). The biases' memories are host regions
0x21-0x28 (:data:`BIAS_REGIONS`); the matrices keep 0x01-0x0C.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Shape, Signal, signed
from amaranth.lib import data
from amaranth.lib.memory import Memory
from amaranth.utils import ceil_log2

from ..config import MATRICES, CoreConfig
from .readout import w_out_s_width
from .regulariser import gsum_width

__all__ = ["BRAM_WORD_BITS", "MemSpec", "groups", "matrix_geometry", "param_geometry",
           "core_mem_specs", "CoreMemories", "REGION_SHIFT", "memory_image", "BIAS_REGIONS"]

#: Widest word of one FPGA block RAM (iCE40 SB_RAM40_4K as 256 x 16): vectors stored a
#: whole step per word (``buf_x``) are packed into words of at most this many bits.
BRAM_WORD_BITS = 16

#: Host address: ``region << REGION_SHIFT | offset``.
REGION_SHIFT = 24

# layouts of the logical (host) view onto the physical word
MATRIX = "matrix"      # row = post, col = pre: addr col*G + row//P, lane row%P
VECTOR = "vector"      # row = j (cols = 1): addr row//P, lane row%P
T_LANES = "t_lanes"    # row = t, col = j: addr row*G + col//P, lane col%P
WORD = "word"          # row = t, col = i: addr row, element col


def groups(n: int, lanes: int) -> int:
    """Words needed for ``n`` lane-organised elements: ``ceil(n / lanes)``."""
    return -(-n // lanes)


def matrix_geometry(cfg: CoreConfig) -> dict[str, tuple[int, int, int]]:
    """``name -> (n_post, n_pre, G)`` of the three weight matrices."""
    return {m: (post, pre, groups(post, cfg.lanes)) for m, (post, pre) in cfg.matrix_shapes.items()}


def param_geometry(cfg: CoreConfig) -> dict[str, tuple[int, int, int]]:
    """``name -> (n_post, n_pre, G)`` of every learned parameter in update order (a bias:
    ``n_pre = 1``)."""
    return {m: (post, pre, groups(post, cfg.lanes)) for m, (post, pre) in cfg.param_shapes.items()}


@dataclass(frozen=True)
class MemSpec:
    """One memory (or register array) of the core and its host view.

    ``rows × cols`` is the logical array the host sees (the golden array without
    its batch axis; a 1-D vector has ``cols = 1``); ``layout`` maps a logical
    ``(row, col)`` onto ``(address, element)`` of the physical word.
    """

    name: str
    region: int | None       # host region, None: not host-mapped
    elem: Shape              # shape of one element
    elems: int               # elements per word
    depth: int
    rows: int
    cols: int
    layout: str
    groups: int = 1          # G of the lane layouts
    checkpoint: bool = True  # part of the golden FixedState checkpoint
    transparent: bool = False
    read_ports: int = 1
    phys: str = ""           # physical memory holding this one ("": its own)
    base: int = 0            # first word inside the physical memory
    single_port: bool = False  # one address for reads and writes (SPRAM-inferable)

    @property
    def physical(self) -> str:
        """Name of the physical memory (several logical memories may share one)."""
        return self.phys or self.name

    @property
    def word_shape(self):
        return data.ArrayLayout(self.elem, self.elems)

    @property
    def phys_depth(self) -> int:
        """Depth of the generated memory (at least 2: no zero-width address ports)."""
        return max(self.depth, 2)

    @property
    def bits(self) -> int:
        """Physical bits (padding lanes and words included)."""
        return self.phys_depth * self.elems * self.elem.width

    @property
    def col_bits(self) -> int:
        return ceil_log2(self.cols) if self.cols > 1 else 0

    @property
    def row_bits(self) -> int:
        return ceil_log2(self.rows) if self.rows > 1 else 0

    def host_offset(self, row: int, col: int = 0) -> int:
        """Host word offset of logical element ``(row, col)`` inside the region."""
        return (row << self.col_bits) | col

    def host_address(self, row: int, col: int = 0) -> int:
        return (self.region << REGION_SHIFT) | self.host_offset(row, col)

    def locate(self, row: int, col: int = 0) -> tuple[int, int]:
        """Physical ``(address, element)`` of logical ``(row, col)`` (Python model of the decoder)."""
        p = self.elems
        if self.layout == MATRIX:
            return col * self.groups + row // p, row % p
        if self.layout == VECTOR:
            return row // p, row % p
        if self.layout == T_LANES:
            return row * self.groups + col // p, col % p
        return row, col


#: Host regions of the biases' memories (``cfg.biases``); the matrices keep 0x01-0x0C.
BIAS_REGIONS = {"w.b": 0x21, "w.b_out": 0x22, "wbar.b": 0x23, "wbar.b_out": 0x24,
                "lam.b": 0x25, "lam.b_out": 0x26, "grad.b": 0x27, "grad.b_out": 0x28}


def _physical(cfg: CoreConfig, q: str, param: str) -> str:
    """Physical memory of ``q.param`` ("": a memory of its own).

    w, W̄, λ: one memory each for every parameter, except that ``W_out`` (with
    ``b_out``, its extra presynaptic column) has a weight memory of its own,
    because the backward pass reads it beside ``W_rec``. Gradient SRAM: one
    memory per matrix, a bias sharing that of the matrix whose extra column it is.
    """
    out = param in ("w_out", "b_out")
    if q == "grad":
        if not cfg.biases or param == "w_in":
            return ""
        return "grad_out" if out else "grad_hidden"
    if q == "w" and out:
        return "w_readout" if cfg.biases else ""
    return q


def core_mem_specs(cfg: CoreConfig) -> list[MemSpec]:
    """Specs of the weight, running-mean, gradient, neuron-state and scratch memories."""
    f, P = cfg.formats, cfg.lanes
    G, Go = groups(cfg.n_hidden, P), groups(cfg.n_out, P)
    specs = []
    geo = param_geometry(cfg)
    gw = gsum_width(cfg)
    region = 1
    for q, shape in (("w", signed(f.w.width)), ("wbar", signed(f.wbar.width)),
                     ("lam", signed(f.lam.width)), ("grad", signed(gw))):
        bases = {}      # physical memory -> next free word
        for m in cfg.params:
            post, pre, g = geo[m]
            phys = _physical(cfg, q, m)
            base = 0
            if phys:
                # segments aligned to a power of two at least their size: base + addr is
                # then base | addr, wiring instead of an adder
                span = 1 << ceil_log2(max(pre * g, 2))
                base = -(-bases.get(phys, 0) // span) * span
                bases[phys] = base + span
            name = f"{q}.{m}"
            if m in MATRICES:
                reg, region = region, region + 1
            else:
                reg = BIAS_REGIONS[name]
            specs.append(MemSpec(name, reg, shape, P, pre * g, post, pre, MATRIX, g,
                                 checkpoint=q != "grad", phys=phys, base=base,
                                 single_port=phys == q and q != "grad"
                                 and cfg.single_port_weights))
    specs += [
        MemSpec("u", 0x10, signed(f.u.width), P, G, cfg.n_hidden, 1, VECTOR, G),
        *([MemSpec("a", 0x11, signed(f.a.width), P, G, cfg.n_hidden, 1, VECTOR, G)]
          if cfg.adaptive else []),
        MemSpec("o", 0x13, signed(f.o.width), P, Go, cfg.n_out, 1, VECTOR, Go),
        # an event's read-modify-write sweep reads word g while it writes word g - 1: the
        # same word only when there is one (then the read must see the write)
        MemSpec("acc", None, signed(cfg.acc_width), P, G, cfg.n_hidden, 1, VECTOR, G,
                checkpoint=False, transparent=G == 1),
        MemSpec("oacc", None, signed(w_out_s_width(cfg)), P, Go, cfg.n_out, 1, VECTOR, Go,
                checkpoint=False, transparent=Go == 1),
        MemSpec("bw_u", None, signed(f.ubar.width), P, G, cfg.n_hidden, 1, VECTOR, G,
                checkpoint=False),
        *([MemSpec("bw_a", None, signed(f.abar.width), P, G, cfg.n_hidden, 1, VECTOR, G,
                   checkpoint=False)] if cfg.adaptive else []),
        MemSpec("bw_i", None, signed(f.ibar.width), P, 2 * G, 2 * cfg.n_hidden, 1, VECTOR, G,
                checkpoint=False, read_ports=2),
    ]
    return specs


def memory_image(spec: MemSpec, array) -> list[list[int]]:
    """Physical words of ``spec`` holding the logical ``array`` (golden layout, no batch axis)."""
    import numpy as np
    arr = np.asarray(array, dtype=np.int64).reshape(spec.rows, spec.cols)
    words = [[0] * spec.elems for _ in range(spec.phys_depth)]
    for r in range(spec.rows):
        for c in range(spec.cols):
            a, e = spec.locate(r, c)
            words[a][e] = int(arr[r, c])
    return words


class _ReadProxy:
    """Read port of one logical memory inside a shared physical memory."""

    def __init__(self, spec, data):
        self.addr = Signal(range(max(spec.depth, 2)), name=f"{spec.name}_raddr")
        self.en = Signal(name=f"{spec.name}_ren")   # drive with the address
        self.data = data


class _WriteProxy:
    """Write port of one logical memory inside a shared physical memory."""

    def __init__(self, spec, data):
        self.addr = Signal(range(max(spec.depth, 2)), name=f"{spec.name}_waddr")
        self.en = Signal(spec.elems, name=f"{spec.name}_wen")
        self.data = data      # the physical port's: one writer per cycle


def _or(values):
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out


class CoreMemories(Elaboratable):
    """The :class:`Memory` instances of a list of :class:`MemSpec` with their ports.

    ``rd[name]`` is the list of read ports (synchronous: data is the word at the
    address of the previous cycle), ``wr[name]`` the write port (``en`` has one
    bit per element). Drive the ports from the enclosing module; set a read
    port's ``en`` in the cycle its address is driven (:meth:`read`): logical
    memories that share a physical one (``MemSpec.phys``) are selected by it.
    ``images`` optionally gives initial contents (``name -> words``).

    Shared physical memories marked ``single_port`` have one address for reads
    and writes, a read enable that is low while writing (read data then holds:
    the "no change" behaviour of the iCE40 SPRAM) and carry
    ``ram_style = "huge"`` so Yosys maps them to SB_SPRAM256KA. The datapath
    never reads and writes one in the same cycle. Every other non-transparent
    memory carries ``no_rw_check``: the datapath never reads a word in the
    cycle it writes that word (the pipelines read ahead of their write-back and
    the host is served only while the core is idle), so the synthesis tool need
    not build collision logic around the block RAM.
    """

    def __init__(self, specs, images=None):
        images = images or {}
        self.specs = {s.name: s for s in specs}
        self.mem, self.rd, self.wr = {}, {}, {}
        self._groups = {}
        for s in specs:
            self._groups.setdefault(s.physical, []).append(s)
        self._phys_ports = {}
        for phys, members in self._groups.items():
            s0 = members[0]
            depth = max(max(s.base + s.depth for s in members), 2)
            init = [[0] * s0.elems for _ in range(depth)]
            for s in members:
                for a, word in enumerate(images.get(s.name, [])[:s.depth]):
                    init[s.base + a] = word
            if not any(images.get(s.name) for s in members):
                init = []
            single = s0.single_port
            attrs = {}
            if single and s0.elems * s0.elem.width <= 16 and depth <= 16384:
                attrs["ram_style"] = "huge"
            else:
                # even a two-word memory goes to block RAM: in flip-flops it would cost a
                # logic cell per bit plus its multiplexers, the scarcer resource
                attrs["ram_style"] = "block"
                if not s0.transparent:
                    attrs["no_rw_check"] = 1
            mem = Memory(shape=s0.word_shape, depth=depth, init=init, attrs=attrs or None)
            self.mem[phys] = mem
            wr = mem.write_port(granularity=1)
            rds = [mem.read_port(transparent_for=(wr,) if s0.transparent else ())
                   for _ in range(s0.read_ports)]
            if len(members) == 1 and not single:
                self.wr[s0.name] = wr
                self.rd[s0.name] = rds
                continue
            assert s0.read_ports == 1 and not s0.transparent
            self._phys_ports[phys] = (wr, rds[0], single)
            for s in members:
                assert s.elem == s0.elem and s.elems == s0.elems
                assert s.base % (1 << ceil_log2(max(s.depth, 2))) == 0
                self.wr[s.name] = _WriteProxy(s, wr.data)
                self.rd[s.name] = [_ReadProxy(s, rds[0].data)]

    @staticmethod
    def read(m, port, addr):
        """Drive read ``port`` with ``addr`` this cycle (data the next cycle)."""
        m.d.comb += [port.addr.eq(addr), port.en.eq(1)]

    def elaborate(self, platform):
        m = Module()
        for name, mem in self.mem.items():
            m.submodules[name.replace(".", "_")] = mem
        for phys, (wr, rd, single) in self._phys_ports.items():
            members = self._groups[phys]
            # at most one member reads and one writes per cycle (a single-port memory: one
            # access in all), and the segments are aligned: the physical addresses are ORs
            # of the gated member addresses, no priority chain
            w_terms, r_terms, w_en, r_en = [], [], [], []
            for s in members:
                pw, pr = self.wr[s.name], self.rd[s.name][0]
                wsel, rsel = pw.en.any(), pr.en
                w_terms.append(Mux(wsel, pw.addr | s.base, 0))
                r_terms.append(Mux(rsel, pr.addr | s.base, 0))
                w_en.append(Mux(wsel, pw.en, 0))
                r_en.append(rsel)
            writing = Signal(name=f"{phys}_writing")
            m.d.comb += [writing.eq(Cat(*w_en).any()), wr.en.eq(_or(w_en))]
            if single:
                addr = Signal.like(rd.addr, name=f"{phys}_addr")
                m.d.comb += [addr.eq(_or(w_terms + r_terms)), rd.addr.eq(addr),
                             wr.addr.eq(addr), rd.en.eq(Cat(*r_en).any() & ~writing)]
            else:
                m.d.comb += [rd.addr.eq(_or(r_terms)), wr.addr.eq(_or(w_terms))]
        return m
