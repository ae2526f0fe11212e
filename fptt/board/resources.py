"""The bridge's own size on an iCE40: Yosys ``synth_ice40`` and nextpnr's packer on the bridge alone.

:func:`bridge_cells` synthesises :class:`fptt.rtl.bridge.Bridge` for a
configuration as the top module (its ports as the design's ports: nothing of
it can be optimised away, nothing else is counted) and returns the cell
counts (``SB_LUT4``, ``SB_CARRY``, flip-flops) and the logic cells after
nextpnr-ice40's packer (``--pack-only`` on an UP5K). With ``place`` it also
places and routes the bridge inside the 4-pin wrapper of ``fptt synth``
(:func:`fptt.synth.wrapper.io_wrapper`) for its fmax.

``python -m fptt.board.resources [--config FILE] [--divisor N] [--place]``
prints them as JSON.

:func:`linked_cells` does the same for the whole
:class:`~fptt.rtl.linked_core.LinkedCore` (bridge and core; its ports, the
UART pins and ``busy``, are the design's pins, so no wrapper is needed) and
always places and routes it: what a board bitstream holds, without the
board's clock and reset logic. ``--linked`` selects it on the command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..synth.logs import parse_nextpnr, parse_stat
from ..synth.resources import utilisation
from ..synth.wrapper import io_wrapper, parse_ports

__all__ = ["bridge_verilog", "bridge_cells", "linked_verilog", "linked_cells", "main"]

TOP = "fptt_bridge"
LINKED_TOP = "fptt_linked"


def bridge_verilog(cfg, divisor: int = 8, timeout_bits: int = 16) -> str:
    """Verilog of the bridge of ``cfg``'s core, top module ``fptt_bridge``."""
    from amaranth.back import verilog
    from amaranth.hdl import Signal

    from ..rtl.bridge import Bridge
    bridge = Bridge.for_config(cfg, divisor, timeout_bits)
    # every port but the constant ``ready`` of the always-ready byte stream ``i_byte`` and
    # the empty payload of ``i_frame``
    ports = [v for _path, _member, v in bridge.signature.flatten(bridge)
             if isinstance(v, Signal) and len(v)]
    return verilog.convert(bridge, name=TOP, ports=ports)


def linked_verilog(cfg, divisor: int = 8, timeout_bits: int = 16) -> str:
    """Verilog of the core behind its bridge (:class:`~fptt.rtl.linked_core.LinkedCore`),
    top module ``fptt_linked``."""
    from amaranth.back import verilog

    from ..rtl.linked_core import LinkedCore
    return verilog.convert(LinkedCore(cfg, divisor, timeout_bits), name=LINKED_TOP)


#: The tools measured here, each with the environment variable that names it explicitly.
TOOLS = {"yosys": "YOSYS", "nextpnr-ice40": "NEXTPNR_ICE40"}


def _tool(name: str) -> str:
    """The command of ``name``: its environment variable (:data:`TOOLS`), else ``PATH``.

    The figures are Debian's yosys 0.23 and nextpnr-ice40 0.4 (``make sysdeps-ice40``).
    """
    var = TOOLS[name]
    path = os.environ.get(var) or shutil.which(name)
    if not path:
        raise FileNotFoundError(f"{name} not found: set {var} or install it "
                                f"(make sysdeps-ice40)")
    return path


def _run(cmd: list[str], cwd: Path, timeout: float) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {p.returncode}): "
                           f"{(p.stdout + p.stderr).strip().splitlines()[-1:]}")
    return p.stdout + p.stderr


def bridge_cells(cfg, divisor: int = 8, timeout_bits: int = 16, *, place: bool = False,
                 freq_mhz: float = 24.0, timeout: float = 600.0) -> dict:
    """Cells of the bridge alone on an iCE40 UP5K.

    Returns ``cells`` (Yosys cell counts), ``util`` (LUTs, carries,
    flip-flops), ``logic_cells`` and ``packing`` (nextpnr's packer: LUT4
    only, LUT4 and DFF, DFF only, CARRY only) and, with ``place``, ``fmax_mhz``
    of the bridge in the 4-pin wrapper (whose own ~60 flip-flops and XOR
    tree come on top there).
    """
    yosys, nextpnr = _tool("yosys"), _tool("nextpnr-ice40")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        v = bridge_verilog(cfg, divisor, timeout_bits)
        (d / "bridge.v").write_text(v)
        _run([yosys, "-q", "-p", f"read_verilog bridge.v; synth_ice40 -top {TOP} -json b.json; "
              f"tee -q -o stat.json stat -json"], d, timeout)
        cells = parse_stat((d / "stat.json").read_text(), TOP)
        log = _run([nextpnr, "--up5k", "--package", "sg48", "--json", "b.json", "--pack-only"],
                   d, timeout)
        nx = parse_nextpnr(log)
        out = {"cells": cells, "util": utilisation(cells),
               "logic_cells": nx["utilisation"].get("ICESTORM_LC", {}).get("used"),
               "packing": nx["packing"], "divisor": divisor, "timeout_bits": timeout_bits}
        if place:
            (d / "wrap.v").write_text(io_wrapper(parse_ports(v, TOP), top=TOP, name="wrap"))
            _run([yosys, "-q", "-p", "read_verilog bridge.v wrap.v; synth_ice40 -top wrap "
                  "-json w.json"], d, timeout)
            log = _run([nextpnr, "--up5k", "--package", "sg48", "--json", "w.json",
                        "--freq", str(freq_mhz), "--seed", "1"], d, timeout)
            nx = parse_nextpnr(log)
            out["fmax_mhz"] = nx["fmax_mhz"]
            out["wrapped_logic_cells"] = nx["utilisation"].get("ICESTORM_LC", {}).get("used")
        return out


def linked_cells(cfg, divisor: int = 8, timeout_bits: int = 16, *, place: bool = True,
                 freq_mhz: float = 24.0, seed: int = 1, timeout: float = 1800.0,
                 out_dir=None) -> dict:
    """Cells, RAMs, DSPs and fmax of the linked core (bridge + core) placed on an iCE40 UP5K.

    One ``synth_ice40 -dsp -spram`` pass (the memories' zero initial values
    deleted first, as ``fptt synth`` does: an SPRAM cannot be initialised),
    then nextpnr-ice40 (``--up5k --package sg48``, pins unconstrained,
    ``--timing-allow-fail`` so a missed clock still reports its fmax).
    Returns ``util`` (LUT4, carries, flip-flops, BRAM, SPRAM, DSP),
    ``logic_cells`` (placed, of ``logic_cells_available``), ``packing``,
    ``fmax_mhz``, ``timing_met``; with ``out_dir`` the tools' files stay there.
    Without ``place`` nextpnr only packs (``--pack-only``: the logic cells, in
    seconds; no fmax). A design that does not fit fails in placement
    (``RuntimeError``); its packed logic cells are in ``out_dir``'s
    ``nextpnr.log``.
    """
    yosys, nextpnr = _tool("yosys"), _tool("nextpnr-ice40")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(out_dir) if out_dir else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        (d / "linked.v").write_text(linked_verilog(cfg, divisor, timeout_bits))
        _run([yosys, "-q", "-l", "yosys.log", "-p",
              f"read_verilog linked.v; delete t:$meminit_v2 t:$meminit; "
              f"synth_ice40 -top {LINKED_TOP} -dsp -spram -json linked.json; "
              f"tee -q -o stat.json stat -json"], d, timeout)
        cells = parse_stat((d / "stat.json").read_text(), LINKED_TOP)
        pnr = ["--asc", "linked.asc", "--freq", f"{freq_mhz:g}", "--seed", str(seed),
               "--pcf-allow-unconstrained", "--timing-allow-fail"] if place else ["--pack-only"]
        log = _run([nextpnr, "--up5k", "--package", "sg48", "--json", "linked.json", *pnr,
                    "--log", "nextpnr.log"], d, timeout)
        nx = parse_nextpnr(log)
        lc = nx["utilisation"].get("ICESTORM_LC", {})
        return {"cells": cells, "util": utilisation(cells), "logic_cells": lc.get("used"),
                "logic_cells_available": lc.get("available"), "packing": nx["packing"],
                "fmax_mhz": nx["fmax_mhz"], "timing_met": nx["timing_met"],
                "freq_mhz": freq_mhz, "seed": seed, "divisor": divisor,
                "timeout_bits": timeout_bits}


def main(argv=None) -> int:
    import argparse

    from ..config import CoreConfig
    ap = argparse.ArgumentParser(prog="python -m fptt.board.resources",
                                 description="iCE40 cells of the serial bridge alone, or of "
                                             "the core behind it (--linked)")
    ap.add_argument("--config", help="core configuration (TOML); default: the default core")
    ap.add_argument("--divisor", type=int, default=8, help="clock cycles per UART bit")
    ap.add_argument("--timeout-bits", type=int, default=16)
    ap.add_argument("--place", action="store_true", help="also place and route for fmax")
    ap.add_argument("--linked", action="store_true",
                    help="the core behind its bridge (LinkedCore), placed and routed")
    ap.add_argument("-o", "--out-dir", help="with --linked: keep the tools' files here")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a configuration value (as fptt's --set)")
    a = ap.parse_args(argv)
    cfg = CoreConfig.load(a.config, a.set)
    if a.linked:
        r = linked_cells(cfg, a.divisor, a.timeout_bits, place=a.place, out_dir=a.out_dir)
    else:
        r = bridge_cells(cfg, a.divisor, a.timeout_bits, place=a.place)
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
