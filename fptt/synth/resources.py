"""What the FPGA offers and what a synthesised core takes: devices, RAM blocks, utilisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TOP", "WRAPPER_TOP", "BRAM_BITS", "SPRAM_BITS", "EBR_BITS", "Device", "DEVICES",
           "TARGETS", "UNITS", "CELL_NAMES", "bram_estimate", "required_state_bits",
           "memory_table", "utilisation", "fits"]

TOP = "fptt_core"
WRAPPER_TOP = "fptt_pnr_top"
BRAM_BITS = 4096            # SB_RAM40_4K: 256x16, 512x8, 1024x4, 2048x2
SPRAM_BITS = 256 * 1024     # SB_SPRAM256KA: 16K x 16, one read/write port
EBR_BITS = 18 * 1024        # ECP5 DP16KD: 1Kx18, 2Kx9, 512x36 (pseudo dual port), ...


@dataclass(frozen=True)
class Device:
    """Capacity of one FPGA.

    ``luts``: 4-input LUTs (iCE40: logic cells, one LUT and one flip-flop
    each; ECP5: two per slice); ``bram``: block RAMs of ``bram_bits``
    (SB_RAM40_4K, DP16KD); ``dsp``: SB_MAC16 or MULT18X18D; ``nextpnr``:
    the device and package arguments of ``nextpnr-<family>``.
    """

    name: str
    luts: int
    ffs: int
    bram: int
    spram: int
    dsp: int
    pins: int
    nextpnr: tuple[str, ...] = ()
    family: str = "ice40"
    bram_bits: int = BRAM_BITS


def _ecp5(size: str, luts: int, bram: int, dsp: int) -> Device:
    # LFE5U-<size>F in the CABGA381 package (the ULX3S's, 197 user IOs)
    return Device(f"ecp5-{size}f", luts=luts, ffs=luts, bram=bram, spram=0, dsp=dsp, pins=197,
                  nextpnr=(f"--{size}k", "--package", "CABGA381"), family="ecp5",
                  bram_bits=EBR_BITS)


DEVICES = {
    "ice40-up5k": Device("ice40-up5k", luts=5280, ffs=5280, bram=30, spram=4, dsp=8, pins=39,
                         nextpnr=("--up5k", "--package", "sg48")),
    # Lattice ECP5 family data sheet, table 1.1: LUTs, EBR blocks, 18x18 multipliers
    "ecp5-25f": _ecp5("25", luts=24288, bram=56, dsp=28),
    "ecp5-45f": _ecp5("45", luts=43848, bram=108, dsp=72),
    "ecp5-85f": _ecp5("85", luts=83640, bram=208, dsp=156),
}
TARGETS = ("ice40-up5k", "ecp5-25f", "ecp5-45f", "ecp5-85f", "generic")

#: Per family: utilisation key -> the primitive it counts (report column names).
CELL_NAMES = {
    "ice40": dict(luts="LUT4", carries="SB_CARRY", ffs="flip-flops", bram="SB_RAM40_4K",
                  spram="SB_SPRAM256KA", dsp="SB_MAC16"),
    "ecp5": dict(luts="LUT4", carries="CCU2C", lutram="DPR16X4", logic="LUT4 positions",
                 ffs="flip-flops", bram="DP16KD", dsp="MULT18X18D"),
    "generic": dict(luts="LUT4", ffs="flip-flops", ram_macros="RAM macros"),
}

#: ``--unit NAME``: synthesise one arithmetic unit of the core instead of the whole core
#: (module path, class); each is constructed from the configuration alone.
UNITS = {
    "neuron": ("fptt.rtl.neuron", "NeuronUnit"),
    "readout": ("fptt.rtl.readout", "ReadoutUnit"),
    "bw_readout": ("fptt.rtl.backward", "BackwardReadoutUnit"),
    "bw_neuron": ("fptt.rtl.backward", "BackwardNeuronUnit"),
    "regulariser": ("fptt.rtl.regulariser", "RegulariserUnit"),
    "lfsr": ("fptt.rtl.lfsr", "LaneLFSR"),
}


# ============================================================================ memory figures
def bram_estimate(depth: int, width: int, read_ports: int = 1) -> int:
    """SB_RAM40_4K blocks for a ``depth x width`` memory (best of the four aspect ratios).

    One block per read port (Yosys replicates a memory per extra read port).
    """
    best = min(math.ceil(depth / d) * math.ceil(width / w)
               for d, w in ((256, 16), (512, 8), (1024, 4), (2048, 2)))
    return best * read_ports


def required_state_bits(cfg) -> dict[str, int]:
    """Bits the algorithm strictly has to keep, by part (:func:`fptt.memory.memory_bits`).

    Weights, running mean ``W̄`` and ``λ`` of every synapse; the neuron and
    readout state ``u, a, s, o``; the window buffer ``x, s, ψ, δ`` of
    ``window_max`` steps (plus the spikes before the window). Gradient sums
    and datapath scratch are the design's choice and not counted.
    """
    from ..memory import MEMORIES, memory_bits
    bits = memory_bits(cfg)
    return {m: bits[m] for m in MEMORIES}


def memory_table(rep: dict, mapping: dict[str, str] | None) -> list[dict]:
    rows = []
    for mm in rep["memories"]:
        yname = mm.get("phys", mm["name"]).replace(".", "_")
        width = mm["word_elems"] * mm["elem_width"]
        rows.append(dict(name=mm["name"], yosys_name=yname, depth=mm["depth"], width=width,
                         bits=mm["bits"], checkpoint=mm["checkpoint"],
                         bram_estimate=bram_estimate(max(mm["depth"], 2), width),
                         mapped_to=None if mapping is None else mapping.get(yname, "?")))
    return rows


# ============================================================================ utilisation
_FF_PREFIX = ("SB_DFF",)


def utilisation(cells: dict[str, int], generic: bool = False,
                family: str = "ice40") -> dict[str, int]:
    """LUTs, carries, flip-flops, BRAM, SPRAM, DSPs from a cell count.

    ECP5: ``logic`` is the LUT positions taken (a CCU2C carry takes two, a
    DPR16X4 distributed RAM four), what must fit ``Device.luts``.
    """
    if family == "ecp5":
        luts, carries = cells.get("LUT4", 0), cells.get("CCU2C", 0)
        lutram = cells.get("TRELLIS_DPR16X4", 0)
        return dict(luts=luts, carries=carries, lutram=lutram,
                    logic=luts + 2 * carries + 4 * lutram,
                    ffs=cells.get("TRELLIS_FF", 0),
                    bram=cells.get("DP16KD", 0) + cells.get("PDPW16KD", 0),
                    dsp=cells.get("MULT18X18D", 0))
    if generic:
        return dict(luts=cells.get("$lut", 0),
                    ffs=sum(v for k, v in cells.items()
                            if k.startswith("$_") and ("DFF" in k or "DLATCH" in k)),
                    ram_macros=cells.get("$mem_v2", 0))
    return dict(
        luts=cells.get("SB_LUT4", 0),
        carries=cells.get("SB_CARRY", 0),
        ffs=sum(v for k, v in cells.items() if k.startswith(_FF_PREFIX)),
        bram=cells.get("SB_RAM40_4K", 0) + cells.get("SB_RAM40_4KNR", 0)
        + cells.get("SB_RAM40_4KNW", 0) + cells.get("SB_RAM40_4KNRNW", 0),
        spram=cells.get("SB_SPRAM256KA", 0),
        dsp=cells.get("SB_MAC16", 0),
    )


def fits(util: dict[str, int], dev: Device) -> dict[str, bool]:
    """Per resource: does the count fit the device?"""
    if dev.family == "ecp5":
        return dict(logic=util.get("logic", 0) <= dev.luts, ffs=util.get("ffs", 0) <= dev.ffs,
                    bram=util.get("bram", 0) <= dev.bram, dsp=util.get("dsp", 0) <= dev.dsp)
    return dict(luts=util.get("luts", 0) <= dev.luts, ffs=util.get("ffs", 0) <= dev.ffs,
                bram=util.get("bram", 0) <= dev.bram, spram=util.get("spram", 0) <= dev.spram,
                dsp=util.get("dsp", 0) <= dev.dsp)
