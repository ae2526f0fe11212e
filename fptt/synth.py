"""FPGA flow: Yosys synthesis and nextpnr place and route of the generated core.

``fptt synth --target ice40-up5k`` (:func:`run_synth`) generates the Verilog of
``fptt_core`` for a :class:`~fptt.config.CoreConfig` and runs, one tool at a
time and each with a time limit:

1. **Yosys, stage A** (``synth_ice40 -top fptt_core -dsp -spram``, up to and
   including ``map_ram``): memory inference. Every ``amaranth.lib.memory``
   memory of the core is either mapped to block RAM (``SB_RAM40_4K``), to
   single-port RAM (``SB_SPRAM256KA``) or falls back to flip-flops; the
   decision per memory is read from ``memory_libmap``'s log and compared with
   the bits the configuration asks for (:func:`fptt.rtl.report.build_report`).
   If more than ``ff_limit_bits`` of memory would become flip-flops the flow
   stops here and says which memories (mapping hundreds of kilobits to
   flip-flops takes Yosys hours and never fits).
2. **Yosys, stage B** (``map_ffram`` to the end): LUTs (``SB_LUT4``),
   carries, flip-flops (``SB_DFF*``), DSPs (``SB_MAC16``), block RAM and SPRAM.
3. **nextpnr-ice40** ``--up5k --package sg48 --freq 24``, only when the
   utilisation fits the device: the core has hundreds of port bits and the
   UP5K 39 pins, so a small wrapper (:func:`io_wrapper`) feeds every input
   from a shift register (one pin) and folds every registered output into one
   pin by XOR; the achieved fmax and the placed utilisation come from its log.

``--target generic`` is a device-independent count: ``synth -flatten -lut 4``
with the memories kept as RAM macros (not mapped to flip-flops) and
``abc -lut 4``; multipliers become LUTs.

The report (:func:`format_synth_report`, JSON beside it) gives the utilisation
against the device, every memory with its bits and where it went, the RAM bits
inferred against the bits the configuration needs, the fmax, and the wall
time of each tool.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "Device", "DEVICES", "TARGETS", "UNITS", "BRAM_BITS", "SPRAM_BITS", "ToolMissing",
    "run_synth", "format_synth_report", "parse_libmap", "parse_stat", "parse_nextpnr",
    "parse_ports", "parse_critical_path", "io_wrapper", "bram_estimate", "required_state_bits",
    "utilisation", "fits",
]

TOP = "fptt_core"
WRAPPER_TOP = "fptt_pnr_top"
BRAM_BITS = 4096            # SB_RAM40_4K: 256x16, 512x8, 1024x4, 2048x2
SPRAM_BITS = 256 * 1024     # SB_SPRAM256KA: 16K x 16, one read/write port


@dataclass(frozen=True)
class Device:
    """Capacity of one FPGA (``luts``: logic cells, one 4-LUT and one flip-flop each)."""

    name: str
    luts: int
    ffs: int
    bram: int
    spram: int
    dsp: int
    pins: int
    nextpnr: tuple[str, ...] = ()


DEVICES = {
    "ice40-up5k": Device("ice40-up5k", luts=5280, ffs=5280, bram=30, spram=4, dsp=8, pins=39,
                         nextpnr=("--up5k", "--package", "sg48")),
}
TARGETS = ("ice40-up5k", "generic")

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


class ToolMissing(FileNotFoundError):
    """A tool of the flow is not on PATH (the message names the apt package)."""


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pkg = {"yosys": "yosys", "nextpnr-ice40": "nextpnr-ice40"}.get(name, name)
        raise ToolMissing(f"{name} is not on PATH: install it with `make sysdeps-ice40` "
                          f"(apt-get install {pkg})")
    return exe


# ============================================================================ parsing
_LIBMAP_RE = re.compile(r"^mapping memory (\S+) via (\S+)\s*$", re.M)
_LIBMAP_FF_RE = re.compile(r"^using FF mapping for memory (\S+)\s*$", re.M)


def _short_memory_name(full: str) -> str:
    """``fptt_core.mems.w_w_rec`` -> ``w_w_rec``; ROMs keep their (auto) name."""
    name = full.split(".", 1)[1] if "." in full else full
    if name.startswith("mems."):
        name = name[len("mems."):]
    return name


def parse_libmap(log: str) -> dict[str, str]:
    """``memory_libmap`` decisions from a Yosys log: memory -> ``bram``, ``spram`` or ``ff``.

    Memory names are shortened to the name of the memory inside the core
    (``w_w_rec``: the report's ``w.w_rec`` with dots as underscores); ROMs
    Yosys made from ``case`` tables keep names starting with ``$``.
    """
    out = {}
    for full, cell in _LIBMAP_RE.findall(log):
        kind = "spram" if "SPRAM" in cell else "bram" if "RAM4K" in cell else cell
        out[_short_memory_name(full)] = kind
    for full in _LIBMAP_FF_RE.findall(log):
        out[_short_memory_name(full)] = "ff"
    return out


def parse_stat(text: str, top: str | None = None) -> dict[str, int]:
    """Cell counts from ``stat -json`` output (the top module, or the whole design)."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the stat output")
    data = json.loads(text[start:])
    mods = data.get("modules", {})
    if top is not None and ("\\" + top) in mods:
        mod = mods["\\" + top]
    elif "design" in data:
        mod = data["design"]
    elif len(mods) == 1:
        mod = next(iter(mods.values()))
    else:
        raise ValueError("stat output names no design totals")
    return {k: int(v) for k, v in mod.get("num_cells_by_type", {}).items()}


_FMAX_RE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([0-9.]+) MHz\s+\((PASS|FAIL) at "
                      r"([0-9.]+) MHz\)")
_UTIL_RE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.M)
#: nextpnr's packer: "N LCs used as LUT4 only" / "LUT4 and DFF" / "DFF only" / "CARRY only"
_PACK_RE = re.compile(r"^Info:\s+(\d+) LCs used as (LUT4 only|LUT4 and DFF|DFF only|CARRY only)",
                      re.M)


def parse_nextpnr(log: str) -> dict:
    """fmax, timing verdict, utilisation and the first error from a nextpnr-ice40 log.

    nextpnr prints the fmax after placement and again after routing; the last
    value of each clock counts. The design clock is the clock named ``clk``
    (nextpnr also times constant nets promoted to globals, e.g. a DSP clock
    tied to ground); ``fmax_mhz`` is that clock's fmax.
    """
    clocks = {}
    for name, mhz, verdict, target in _FMAX_RE.findall(log):
        clocks[name] = dict(fmax_mhz=float(mhz), pass_=verdict == "PASS", target_mhz=float(target))
    util = {}
    block = log.split("Device utilisation:", 1)
    if len(block) == 2:
        for kind, used, avail, _pct in _UTIL_RE.findall(block[1].split("\n\n", 1)[0]):
            if kind in util:      # the second table (if any) is a repeat
                continue
            util[kind] = dict(used=int(used), available=int(avail))
    design = [n for n in clocks if n.split("$", 1)[0] == "clk"] or \
        [n for n in clocks if "PACKER" not in n] or list(clocks)
    main = clocks[design[0]] if design else None
    err = re.search(r"^ERROR: (.*)$", log, re.M)
    return dict(
        fmax_mhz=None if main is None else main["fmax_mhz"],
        target_mhz=None if main is None else main["target_mhz"],
        timing_met=None if main is None else main["pass_"],
        clocks={n: dict(fmax_mhz=c["fmax_mhz"], passed=c["pass_"]) for n, c in clocks.items()},
        utilisation=util,
        packing={k: int(v) for v, k in _PACK_RE.findall(log)},
        error=None if err is None else err.group(1).strip(),
    )


_CP_SRC_RE = re.compile(r"^Info:\s+(\S+\.(?:py|v|sv)):(\d+)", re.M)
_CP_STEP_RE = re.compile(r"^Info:\s+([0-9.]+)\s+([0-9.]+)\s+(Source|Net|Setup)\s+(\S+)", re.M)


def parse_critical_path(log: str, clock: str | None = None) -> dict | None:
    """The last critical-path report of ``clock`` (default: the ``clk`` clock) in a nextpnr log.

    Returns the path delay in ns, the number of cells on it and the source
    locations it passes through in order, without repeats (Python lines when
    the Verilog was written with ``emit_src``; wrapper and Yosys library
    files left out).
    """
    heads = list(re.finditer(r"^Info: Critical path report for clock '([^']+)' \(posedge -> "
                             r"posedge\):$", log, re.M))
    if clock is None:
        heads = [h for h in heads if h.group(1).split("$", 1)[0] == "clk"] or heads
    else:
        heads = [h for h in heads if h.group(1) == clock]
    if not heads:
        return None
    h = heads[-1]
    end = log.find("\nInfo: \n", h.end())
    nxt = log.find("Critical path report", h.end())
    stop = min(x for x in (end, nxt, len(log)) if x >= 0)
    block = log[h.end():stop]
    steps = _CP_STEP_RE.findall(block)
    total = float(steps[-1][1]) if steps else None
    cells = sum(1 for st in steps if st[2] == "Source")
    srcs = []
    for f, line in _CP_SRC_RE.findall(block):
        if ("/share/yosys/" in f or "site-packages" in f or "/amaranth/" in f
                or Path(f).name.startswith(WRAPPER_TOP)):
            continue
        loc = f"{_short_path(f)}:{line}"
        if loc not in srcs:
            srcs.append(loc)
    return dict(clock=h.group(1), delay_ns=total, cells=cells, sources=srcs)


def _short_path(f: str) -> str:
    parts = Path(f).parts
    for anchor in ("rtl", "fptt", "golden"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor):])
    return Path(f).name


_PORT_RE = re.compile(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                      r"(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*;", re.M)


_ANSI_RE = re.compile(r"^\s*(?:(input|output)\s+)?(?:wire\s+|reg\s+)?(?:signed\s+)?"
                      r"(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*$")


def parse_ports(verilog: str, top: str = TOP) -> list[tuple[str, str, int]]:
    """``(name, 'input'|'output', width)`` of the ports of module ``top`` in Verilog text.

    Handles the port declarations Yosys writes (a name list in the header,
    ``input [N:0] name;`` in the body) and ANSI headers.
    """
    m = re.search(rf"^module\s+{re.escape(top)}\s*\(", verilog, re.M)
    if m is None:
        raise ValueError(f"module {top} not found")
    close = verilog.find(");", m.end())
    header = verilog[m.end():close]
    if re.search(r"\b(input|output)\b", header):
        ports, direction, width = [], None, 1
        for item in header.split(","):
            pm = _ANSI_RE.match(item)
            if pm is None:
                raise ValueError(f"cannot parse port declaration {item.strip()!r}")
            d, msb, lsb, name = pm.groups()
            if d:
                direction, width = d, 1
            if msb:
                width = abs(int(msb) - int(lsb)) + 1
            ports.append((name, direction, width))
        return ports
    end = verilog.find("endmodule", m.end())
    body = verilog[m.end():end if end >= 0 else None]
    ports = []
    for direction, msb, lsb, name in _PORT_RE.findall(body):
        width = abs(int(msb) - int(lsb)) + 1 if msb else 1
        ports.append((name, direction, width))
    return ports


# ============================================================================ P&R wrapper
def io_wrapper(ports, top: str = TOP, name: str = WRAPPER_TOP, sr_bits: int = 61) -> str:
    """Verilog of a pin-saving wrapper for place and route: 4 pins, every core port driven.

    ``clk`` and ``rst`` pass through; every other input bit ``k`` comes from bit
    ``k mod sr_bits`` of one shift register loaded serially from pin ``sin``
    (a prime length, so that no two bits of one field of 8, 16 or 32 bits are
    tied together); the outputs are XOR-folded, 16 bits per LUT tree, into
    one register and pin ``sout``. Nothing of the core can be optimised away,
    and the wrapper costs ``sr_bits`` flip-flops and about one LUT per three
    output bits: it stands for the few registers of a real host bridge (SPI,
    UART) rather than one flip-flop per port bit, which would add several
    hundred logic cells that are not the core's.
    """
    ins = [(n, w) for n, d, w in ports if d == "input" and n not in ("clk", "rst")]
    outs = [(n, w) for n, d, w in ports if d == "output"]
    n_in = max(1, sum(w for _, w in ins))
    n_out = max(1, sum(w for _, w in outs))
    n_sr = max(1, min(sr_bits, n_in))
    lines = [f"// Place-and-route wrapper of {top} (generated by fptt.synth): 4 pins.",
             f"module {name}(input clk, input rst, input sin, output reg sout);"]
    lines.append(f"  reg [{n_sr - 1}:0] sr_in;")
    if n_sr > 1:
        lines.append(f"  always @(posedge clk) sr_in <= {{sr_in[{n_sr - 2}:0], sin}};")
    else:
        lines.append("  always @(posedge clk) sr_in <= sin;")
    for n, w in outs:
        lines.append(f"  wire [{w - 1}:0] o_{n};")
    conns = [".clk(clk)", ".rst(rst)"]
    pos = 0
    for n, w in ins:
        bits = ", ".join(f"sr_in[{(pos + b) % n_sr}]" for b in reversed(range(w)))
        conns.append(f".{n}({{{bits}}})")
        pos += w
    conns += [f".{n}(o_{n})" for n, _ in outs]
    lines.append(f"  {top} core (" + ", ".join(conns) + ");")
    cat = ", ".join(f"o_{n}" for n, _ in reversed(outs)) or "1'b0"
    n_part = -(-n_out // 16)
    lines.append(f"  wire [{n_out - 1}:0] q = {{{cat}}};")
    lines.append(f"  wire [{n_part - 1}:0] part;")
    for i in range(n_part):
        lo, hi = 16 * i, min(16 * i + 15, n_out - 1)
        lines.append(f"  assign part[{i}] = ^q[{hi}:{lo}];")
    lines.append("  always @(posedge clk) sout <= ^part;")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


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
    from .memory import MEMORIES, memory_bits
    bits = memory_bits(cfg)
    return {m: bits[m] for m in MEMORIES}


def _memory_table(rep: dict, mapping: dict[str, str] | None) -> list[dict]:
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


def utilisation(cells: dict[str, int], generic: bool = False) -> dict[str, int]:
    """LUTs, carries, flip-flops, BRAM, SPRAM, DSPs from a cell count."""
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
    return dict(luts=util.get("luts", 0) <= dev.luts, ffs=util.get("ffs", 0) <= dev.ffs,
                bram=util.get("bram", 0) <= dev.bram, spram=util.get("spram", 0) <= dev.spram,
                dsp=util.get("dsp", 0) <= dev.dsp)


# ============================================================================ running tools
@dataclass
class _Step:
    name: str
    cmd: list[str]
    seconds: float = 0.0
    rc: int | None = None
    timed_out: bool = False
    log: str = ""


def _run(step: _Step, cwd: Path, timeout: float, log_file: Path) -> _Step:
    t0 = time.monotonic()
    try:
        res = subprocess.run(step.cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        step.rc = res.returncode
        out = res.stdout + res.stderr
    except subprocess.TimeoutExpired as exc:
        step.timed_out = True
        step.rc = None
        out = ((exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes)
               else (exc.stdout or "")) + f"\n[fptt synth] timed out after {timeout:.0f} s\n"
    step.seconds = time.monotonic() - t0
    if log_file.exists():
        step.log = log_file.read_text(errors="replace")
    else:
        step.log = out
        log_file.write_text(out)
    if not step.log.strip():
        step.log = out
    return step


def _yosys(script: str, cwd: Path, name: str, timeout: float) -> _Step:
    (cwd / f"{name}.ys").write_text(script)
    log = cwd / f"{name}.log"
    if log.exists():
        log.unlink()
    step = _Step(name, [_tool("yosys"), "-q", "-l", log.name, "-s", f"{name}.ys"])
    return _run(step, cwd, timeout, log)


def _yosys_stage(result: dict, script: str, out: Path, name: str, what: str, timeout: float,
                 time_key: str | None = None) -> _Step | None:
    """Run one Yosys stage and record it in ``result``; ``None`` (status and log tail set)
    when it failed or timed out."""
    st = _yosys(script, out, name, timeout)
    result["steps"][name] = _step_summary(st)
    result["times"][time_key or name] = round(st.seconds, 1)
    if st.rc != 0:
        result["status"] = f"{what} {'timed out' if st.timed_out else 'failed'}"
        result["notes"].append(_tail(st.log))
        return None
    return st


def _step_summary(step: _Step) -> dict:
    return dict(seconds=round(step.seconds, 1), rc=step.rc, timed_out=step.timed_out,
                command=" ".join(Path(c).name if i == 0 else c for i, c in enumerate(step.cmd)))


def _tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def run_synth(cfg, target: str = "ice40-up5k", out_dir="build/synth", *, freq: float = 24.0,
              seed: int = 1, ff_limit_bits: int = 8192, timeout: float = 1800,
              place: bool = True, force_place: bool = False, no_rw_check: bool = False,
              unit: str | None = None, log=print) -> dict:
    """Run the flow for ``cfg`` on ``target``; write and return the report (see the module doc).

    ``timeout``: seconds per tool run. ``place``: run nextpnr when the core
    fits (``force_place``: also when it does not, to see nextpnr's verdict).
    ``no_rw_check``: pass ``-no-rw-check`` to ``synth_ice40`` (read/write
    collisions return don't-care; only valid if the RTL never reads an address
    it writes in the same cycle). ``unit``: a key of :data:`UNITS` to synthesise
    that unit alone (top ``fptt_<unit>``, no memories) instead of the core.
    """
    from .rtl.verilog import write

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _tool("yosys")
    if target != "generic" and place:
        _tool("nextpnr-ice40")
    t0 = time.monotonic()
    if unit is None:
        top = TOP
        vpath = out / f"{top}.v"
        rep = write(cfg, vpath)
    else:
        import importlib

        from amaranth.back import verilog as _verilog
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; known: {', '.join(UNITS)}")
        mod, cls = UNITS[unit]
        top = f"fptt_{unit}"
        vpath = out / f"{top}.v"
        comp = getattr(importlib.import_module(mod), cls)(cfg)
        vpath.write_text(_verilog.convert(comp, name=top, emit_src=True))
        rep = dict(memories=[], total_memory_bits=0, checkpoint_memory_bits=0)
    t_gen = time.monotonic() - t0
    log(f"[synth] Verilog {vpath} ({vpath.stat().st_size // 1024} KiB) in {t_gen:.1f} s")
    result = dict(target=target, top=top, unit=unit, config=cfg.to_dict(), out_dir=str(out),
                  times=dict(verilog=round(t_gen, 1)), steps={}, notes=[],
                  memory_bits=dict(generated=rep["total_memory_bits"],
                                   checkpoint=rep["checkpoint_memory_bits"],
                                   required=sum(required_state_bits(cfg).values()),
                                   required_parts=required_state_bits(cfg)))
    if target == "generic":
        _run_generic(result, rep, out, timeout, log, top)
    else:
        _run_ice40(result, rep, out, DEVICES[target], freq=freq, seed=seed,
                   ff_limit_bits=ff_limit_bits, timeout=timeout, place=place,
                   force_place=force_place, no_rw_check=no_rw_check, log=log, top=top)
    result["times"]["total"] = round(time.monotonic() - t0, 1)
    (out / "synth_report.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "synth_report.txt").write_text(format_synth_report(result))
    return result


def _run_generic(result, rep, out: Path, timeout, log, top=TOP):
    script = "\n".join([
        f"read_verilog {top}.v",
        f"synth -top {top} -flatten -lut 4 -run :fine",
        # `fine` without memory_map: memories stay RAM macros
        "opt -fast -full", "opt -full", "techmap", "opt -fast", "abc -lut 4", "opt -fast",
        "tee -q -o stat_generic.json stat -json", ""])
    log("[synth] yosys: generic 4-LUT count (memories kept as RAM macros) ...")
    if _yosys_stage(result, script, out, "yosys_generic", "yosys", timeout, "yosys") is None:
        return
    cells = parse_stat((out / "stat_generic.json").read_text(), top)
    result["cells"] = cells
    result["utilisation"] = utilisation(cells, generic=True)
    result["memories"] = _memory_table(rep, None)
    result["status"] = "ok"


def _run_ice40(result, rep, out: Path, dev: Device, *, freq, seed, ff_limit_bits, timeout, place,
               force_place, no_rw_check, log, top=TOP):
    flags = "-dsp -spram" + (" -no-rw-check" if no_rw_check else "")
    result["device"] = asdict(dev)
    result["yosys_flags"] = flags
    # ---------------------------------------------------------------- stage A: memories
    script_a = "\n".join([
        f"read_verilog {top}.v",
        # the generated core's memories start at zero, which an iCE40 block RAM does
        # without an INIT and an SPRAM cannot be told at all (it powers up undefined: the
        # host loads a checkpoint first); an explicit init would keep Yosys off the SPRAM
        "delete t:$meminit_v2 t:$meminit",
        f"synth_ice40 -top {top} {flags} -run :map_ffram",
        "tee -q -o stat_a.json stat -json",
        "write_rtlil stage_a.il", ""])
    log(f"[synth] yosys stage A: synth_ice40 {flags} up to map_ram (memory inference) ...")
    sa = _yosys_stage(result, script_a, out, "yosys_a", "yosys stage A", timeout)
    if sa is None:
        return
    mapping = parse_libmap(sa.log)
    mems = _memory_table(rep, mapping)
    result["memories"] = mems
    result["roms_in_logic"] = sorted(n for n, k in mapping.items()
                                     if n.startswith("$") and k == "ff")
    cells_a = parse_stat((out / "stat_a.json").read_text(), top)
    ff_mems = [m for m in mems if m["mapped_to"] == "ff"]
    ff_bits = sum(m["bits"] for m in ff_mems)
    ram_bits = dict(bram=sum(m["bits"] for m in mems if m["mapped_to"] == "bram"),
                    spram=sum(m["bits"] for m in mems if m["mapped_to"] == "spram"),
                    ff=ff_bits)
    blocks = dict(bram=cells_a.get("SB_RAM40_4K", 0), spram=cells_a.get("SB_SPRAM256KA", 0))
    result["memory_bits"].update(
        in_bram=ram_bits["bram"], in_spram=ram_bits["spram"], in_ff=ff_bits,
        bram_blocks=blocks["bram"], spram_blocks=blocks["spram"],
        bram_capacity=blocks["bram"] * BRAM_BITS, spram_capacity=blocks["spram"] * SPRAM_BITS)
    if ff_mems:
        result["notes"].append(
            "memories in flip-flops: " + ", ".join(f"{m['name']} ({m['depth']}x{m['width']}, "
                                                   f"{m['bits']} bits)" for m in ff_mems))
    if mems and not any(m["mapped_to"] == "spram" for m in mems):
        result["notes"].append(
            "no memory inferred as SPRAM: only the single-port memories (w, W̄, λ) can be, "
            "when one word is at most 16 bits (lanes = 1) and they hold at most 16k words")
    log(f"[synth] stage A: {blocks['bram']} SB_RAM40_4K, {blocks['spram']} SB_SPRAM256KA, "
        f"{ff_bits} memory bits in flip-flops ({sa.seconds:.0f} s)")
    if ff_bits > ff_limit_bits:
        result["status"] = "stopped: memories would become flip-flops"
        result["notes"].append(
            f"{ff_bits} bits of memory would be mapped to flip-flops (limit {ff_limit_bits}); "
            "stage B (LUT mapping) not run")
        result["utilisation"] = dict(bram=blocks["bram"], spram=blocks["spram"],
                                     dsp=cells_a.get("SB_MAC16", 0))
        result["fits"] = {k: v for k, v in fits(result["utilisation"], dev).items()
                          if k in result["utilisation"]}
        return
    # ---------------------------------------------------------------- stage B: logic
    script_b = "\n".join([
        "read_rtlil stage_a.il",
        f"synth_ice40 -top {top} {flags} -run map_ffram: -json {top}.json",
        "tee -q -o stat.json stat -json", ""])
    log("[synth] yosys stage B: map_ffram .. end (LUTs, flip-flops) ...")
    sb = _yosys_stage(result, script_b, out, "yosys_b", "yosys stage B", timeout)
    if sb is None:
        return
    cells = parse_stat((out / "stat.json").read_text(), top)
    util = utilisation(cells)
    result["cells"] = cells
    result["utilisation"] = util
    result["fits"] = fits(util, dev)
    ok = all(result["fits"].values())
    over = [f"{k} {util[k]}/{getattr(dev, 'luts' if k == 'luts' else k)}"
            for k, v in result["fits"].items() if not v]
    log(f"[synth] stage B: {util['luts']} LUT4, {util['ffs']} FF, {util['bram']} BRAM, "
        f"{util['spram']} SPRAM, {util['dsp']} DSP ({sb.seconds:.0f} s)"
        + ("" if ok else f"; does not fit {dev.name}: " + ", ".join(over)))
    if not ok:
        result["notes"].append(f"does not fit {dev.name}: " + ", ".join(over))
    if not place or (not ok and not force_place):
        result["status"] = "fits (not placed)" if ok else "does not fit"
        return
    # ---------------------------------------------------------------- nextpnr
    ports = parse_ports((out / f"{top}.v").read_text(), top)
    (out / f"{WRAPPER_TOP}.v").write_text(io_wrapper(ports, top))
    script_w = "\n".join([
        f"read_json {top}.json", f"read_verilog {WRAPPER_TOP}.v",
        f"synth_ice40 -top {WRAPPER_TOP} {flags} -json {WRAPPER_TOP}.json",
        "tee -q -o stat_wrapped.json stat -json", ""])
    log("[synth] yosys: pin wrapper around the mapped core ...")
    if _yosys_stage(result, script_w, out, "yosys_wrap", "wrapper synthesis", timeout) is None:
        return
    npr_log = out / "nextpnr.log"
    cmd = [_tool("nextpnr-ice40"), *dev.nextpnr, "--json", f"{WRAPPER_TOP}.json",
           "--asc", f"{WRAPPER_TOP}.asc", "--freq", f"{freq:g}", "--seed", str(seed),
           "--pcf-allow-unconstrained", "--timing-allow-fail", "--log", npr_log.name]
    if npr_log.exists():
        npr_log.unlink()
    log(f"[synth] nextpnr-ice40 {' '.join(dev.nextpnr)} --freq {freq:g} ...")
    sp = _run(_Step("nextpnr", cmd), out, timeout, npr_log)
    result["steps"]["nextpnr"] = _step_summary(sp)
    result["times"]["nextpnr"] = round(sp.seconds, 1)
    pnr = parse_nextpnr(sp.log)
    pnr["critical_path"] = parse_critical_path(sp.log)
    result["pnr"] = pnr
    result["fmax_mhz"] = pnr["fmax_mhz"]
    if sp.rc != 0:
        result["status"] = "nextpnr timed out" if sp.timed_out else "nextpnr failed"
        lc = pnr["utilisation"].get("ICESTORM_LC")
        if lc and lc["used"] > lc["available"]:
            result["status"] = "does not fit: logic cells after packing"
        if pnr["error"]:
            result["notes"].append(f"nextpnr: {pnr['error']}")
        return
    result["status"] = ("timing met" if pnr["timing_met"] else "timing failed") + \
        f" at {freq:g} MHz"
    log(f"[synth] nextpnr: fmax {pnr['fmax_mhz']} MHz ({result['status']}, {sp.seconds:.0f} s)")


# ============================================================================ report text
def format_synth_report(r: dict) -> str:
    """Readable table of a :func:`run_synth` result."""
    c = r["config"]["core"]
    what = f"unit {r['unit']} (top {r['top']})" if r.get("unit") else "core"
    lines = [f"fptt synth --target {r['target']}: {what}   n_in={c['n_in']} "
             f"n_hidden={c['n_hidden']} n_out={c['n_out']} lanes={c['lanes']} "
             f"window_max={c['window_max']}",
             f"status: {r.get('status', '?')}", ""]
    util = r.get("utilisation", {})
    dev = r.get("device")
    if util:
        lines.append(f"  {'resource':<14} {'used':>8} {'device':>8} {'use':>6}")
        names = dict(luts="LUT4", carries="SB_CARRY", ffs="flip-flops", bram="SB_RAM40_4K",
                     spram="SB_SPRAM256KA", dsp="SB_MAC16", ram_macros="RAM macros")
        for k, v in util.items():
            cap = None
            if dev is not None:
                cap = {"luts": dev["luts"], "ffs": dev["ffs"], "bram": dev["bram"],
                       "spram": dev["spram"], "dsp": dev["dsp"]}.get(k)
            pct = f"{100 * v / cap:5.0f}%" if cap else ""
            flag = "  OVER" if cap is not None and v > cap else ""
            lines.append(f"  {names.get(k, k):<14} {v:>8} {'' if cap is None else cap:>8} "
                         f"{pct:>6}{flag}")
    if r.get("fmax_mhz") is not None:
        p = r["pnr"]
        lines.append(f"  fmax (nextpnr) {r['fmax_mhz']:.2f} MHz "
                     f"({'met' if p['timing_met'] else 'FAILED'} at {p['target_mhz']:g} MHz)")
        cp = p.get("critical_path")
        if cp and cp.get("delay_ns"):
            lines.append(f"  critical path {cp['delay_ns']:.1f} ns over {cp['cells']} cells: "
                         + ", ".join(cp["sources"][:8]))
        lc = p["utilisation"].get("ICESTORM_LC")
        if lc:
            lines.append(f"  placed logic cells (core + pin wrapper) {lc['used']}/{lc['available']}")
    else:
        lines.append("  fmax: not placed")
        p = r.get("pnr") or {}
        lc = p.get("utilisation", {}).get("ICESTORM_LC")
        if lc:
            # a LUT4 and a flip-flop share one logic cell only when the LUT drives just
            # that flip-flop: the packed count, not the LUT count, must fit the device
            pk = p.get("packing", {})
            lines.append(f"  logic cells after packing (core + pin wrapper): {lc['used']}/"
                         f"{lc['available']}{'  OVER' if lc['used'] > lc['available'] else ''}"
                         + (" (" + ", ".join(f"{v} {k}" for k, v in pk.items()) + ")"
                            if pk else ""))
    mb = r.get("memory_bits", {}) if not r.get("unit") else {}
    if mb:
        lines += ["", "Memory bits"]
        req = mb.get("required")
        lines.append(f"  state the algorithm must keep (golden FixedState)  {req:>9}")
        lines.append(f"  checkpointed memories of the core                  {mb.get('checkpoint', 0):>9}")
        lines.append(f"  all generated memories (incl. gradient, scratch)   {mb.get('generated', 0):>9}")
        if "bram_blocks" in mb:
            lines.append(f"  inferred: {mb['in_bram']} bits in {mb['bram_blocks']} SB_RAM40_4K "
                         f"({mb['bram_capacity']} bits capacity), {mb['in_spram']} bits in "
                         f"{mb['spram_blocks']} SB_SPRAM256KA, {mb['in_ff']} bits in flip-flops")
    mems = r.get("memories")
    if mems:
        lines += ["", f"  {'memory':<12} {'depth':>6} {'width':>6} {'bits':>8} {'~BRAM':>6}  mapped to"]
        for m in mems:
            lines.append(f"  {m['name']:<12} {m['depth']:>6} {m['width']:>6} {m['bits']:>8} "
                         f"{m['bram_estimate']:>6}  {m['mapped_to'] or 'RAM macro'}")
        if r.get("roms_in_logic"):
            lines.append(f"  + {len(r['roms_in_logic'])} constant tables (ROMs from case "
                         f"statements) in logic")
    if r.get("notes"):
        lines += ["", "Notes"] + [f"  - {n}" for n in r["notes"]]
    t = r.get("times", {})
    lines += ["", "Wall time (s): " + ", ".join(f"{k} {v}" for k, v in t.items())]
    return "\n".join(lines) + "\n"
