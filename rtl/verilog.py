"""Verilog generation: ``FpttCore(cfg)`` → one Verilog file, plus the report beside it.

:func:`generate` returns the Verilog text of the top module ``fptt_core``
(Amaranth's Verilog back end through the bundled Yosys); :func:`write` writes
``OUT.v`` and, beside it, ``OUT.report.json`` and ``OUT.report.txt``
(:mod:`fptt.rtl.report`: ports, memory map, bits per memory, cycles per time
step for inference and learning). Everything comes from the one
:class:`~fptt.config.CoreConfig`.

Lint: ``verilator --lint-only -Wall`` passes with the waivers of
:data:`VERILATOR_WAIVERS` (all are artefacts of machine-generated code:
Amaranth widens and truncates explicitly-sized expressions, leaves unused
intermediate bits, writes ``case`` statements without ``default`` where the
value is set before the ``case``, and names the file after the output, not
the module).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from amaranth.back import verilog

from ..config import CoreConfig
from .core import FpttCore
from .report import build_report, format_report

__all__ = ["generate", "write", "lint", "VERILATOR_WAIVERS", "TOP"]

TOP = "fptt_core"

#: Verilator warnings waived for generated code (``--lint-only -Wall``).
VERILATOR_WAIVERS = (
    "WIDTH",           # implicit width extension/truncation in Yosys-written expressions
    "CASEINCOMPLETE",  # `case` without default: the signal is assigned before the case
    "UNUSEDSIGNAL",    # intermediate bits Amaranth computes but does not use (e.g. wide products)
    "DECLFILENAME",    # the file is named after OUT.v, not after the module
)


def generate(cfg: CoreConfig) -> str:
    """Verilog of the core for ``cfg`` (top module :data:`TOP`)."""
    return verilog.convert(FpttCore(cfg), name=TOP, emit_src=False)


def write(cfg: CoreConfig, out) -> dict:
    """Write ``out`` (Verilog) and the report beside it; returns the report."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(generate(cfg))
    rep = build_report(cfg)
    stem = out.with_suffix("")
    Path(f"{stem}.report.json").write_text(json.dumps(rep, indent=2) + "\n")
    Path(f"{stem}.report.txt").write_text(format_report(rep))
    return rep


def lint(path, waivers=VERILATOR_WAIVERS, timeout: int = 600) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the waivers; raises FileNotFoundError without verilator."""
    exe = shutil.which("verilator")
    if exe is None:
        raise FileNotFoundError("verilator is not on PATH")
    cmd = [exe, "--lint-only", "-Wall", *[f"-Wno-{w}" for w in waivers], "--top-module", TOP,
           str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
