"""Parsing the tools' output: Yosys ``memory_libmap`` log and ``stat -json``, nextpnr's log."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .resources import WRAPPER_TOP

__all__ = ["parse_libmap", "parse_stat", "parse_nextpnr", "parse_critical_path"]

_LIBMAP_RE = re.compile(r"^mapping memory (\S+) via (\S+)\s*$", re.M)
_LIBMAP_FF_RE = re.compile(r"^using FF mapping for memory (\S+)\s*$", re.M)


def _short_memory_name(full: str) -> str:
    """``fptt_core.mems.w_w_rec`` -> ``w_w_rec``; ROMs keep their (auto) name."""
    name = full.split(".", 1)[1] if "." in full else full
    if name.startswith("mems."):
        name = name[len("mems."):]
    return name


def parse_libmap(log: str) -> dict[str, str]:
    """``memory_libmap`` decisions from a Yosys log: memory -> ``bram``, ``spram``, ``lutram``
    or ``ff`` (iCE40 SB_RAM40_4K and SB_SPRAM256KA; ECP5 DP16KD and DPR16X4).

    Memory names are shortened to the name of the memory inside the core
    (``w_w_rec``: the report's ``w.w_rec`` with dots as underscores); ROMs
    Yosys made from ``case`` tables keep names starting with ``$``.
    """
    out = {}
    for full, cell in _LIBMAP_RE.findall(log):
        kind = ("spram" if "SPRAM" in cell
                else "bram" if any(k in cell for k in ("RAM4K", "DP16KD", "PDPW16KD"))
                else "lutram" if "DPR16X4" in cell else cell)
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
