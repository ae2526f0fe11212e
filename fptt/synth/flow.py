"""Running the flow: Yosys in two stages, nextpnr, each tool with a time limit (:func:`run_synth`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .logs import parse_critical_path, parse_libmap, parse_nextpnr, parse_stat
from .report import format_synth_report
from .resources import (BRAM_BITS, DEVICES, SPRAM_BITS, TARGETS, TOP, UNITS, WRAPPER_TOP, Device,
                        fits, memory_table, required_state_bits, utilisation)
from .wrapper import io_wrapper, parse_ports

__all__ = ["ToolMissing", "run_synth"]

class ToolMissing(FileNotFoundError):
    """A tool of the flow is not on PATH (the message names the apt package)."""


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pkg = {"yosys": "yosys", "nextpnr-ice40": "nextpnr-ice40"}.get(name, name)
        raise ToolMissing(f"{name} is not on PATH: install it with `make sysdeps-ice40` "
                          f"(apt-get install {pkg})")
    return exe


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
    from ..rtl.verilog import write

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
    result["memories"] = memory_table(rep, None)
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
    mems = memory_table(rep, mapping)
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
