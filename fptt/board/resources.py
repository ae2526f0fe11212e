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
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from ..synth.flow import _tool
from ..synth.logs import parse_nextpnr, parse_stat
from ..synth.resources import utilisation
from ..synth.wrapper import io_wrapper, parse_ports

__all__ = ["bridge_verilog", "bridge_cells", "main"]

TOP = "fptt_bridge"


def bridge_verilog(cfg, divisor: int = 8, timeout_bits: int = 16) -> str:
    """Verilog of the bridge of ``cfg``'s core, top module ``fptt_bridge``."""
    from amaranth.back import verilog

    from ..rtl.bridge import Bridge
    return verilog.convert(Bridge.for_config(cfg, divisor, timeout_bits), name=TOP)


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


def main(argv=None) -> int:
    import argparse

    from ..config import CoreConfig
    ap = argparse.ArgumentParser(prog="python -m fptt.board.resources",
                                 description="iCE40 cells of the serial bridge alone")
    ap.add_argument("--config", help="core configuration (TOML); default: the default core")
    ap.add_argument("--divisor", type=int, default=8, help="clock cycles per UART bit")
    ap.add_argument("--timeout-bits", type=int, default=16)
    ap.add_argument("--place", action="store_true", help="also place and route for fmax")
    a = ap.parse_args(argv)
    cfg = CoreConfig.load(a.config) if a.config else CoreConfig()
    print(json.dumps(bridge_cells(cfg, a.divisor, a.timeout_bits, place=a.place), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
