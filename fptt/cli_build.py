"""``fptt build --board {icebreaker,upduino3,ulx3s-85f,orangecrab-85f} [--config FILE] -o DIR``.

Builds the bitstream of the core behind its serial bridge for a board:
oscillator, PLL and reset, UART pins, core + bridge through the board's
``amaranth-boards`` platform, Yosys, nextpnr at the core's clock, icepack
(``DIR/fptt_board.bin``, iCE40) or ecppack (``DIR/fptt_board.bit``, ECP5).
Writes the pin constraints (``.pcf``/``.lpf``) and ``DIR/build_report.json``
and ``.txt`` (utilisation, fmax). Exits 1 with one line on stderr when the
design does not fit or misses the clock (no bitstream then), 2 on a bad
configuration, baud or clock, 3 when a tool is missing; see
:mod:`fptt.synth.board`.
"""

from __future__ import annotations

import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    """Register the ``build`` subcommand on an ``argparse`` subparsers object."""
    from .cli_args import add_config_args, add_force_arg, add_tool_args
    from .synth.board import BOARDS
    p = subparsers.add_parser(
        "build", help="bitstream of the core + serial bridge for a board (amaranth-boards)",
        description=__doc__.split("\n")[0])
    add_config_args(p)
    add_force_arg(p)
    p.add_argument("--board", choices=list(BOARDS), required=True)
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="output directory (default: build/board/BOARD)")
    p.add_argument("--freq", type=float, default=None, metavar="MHZ",
                   help="the core's clock (default: the board's, 24 MHz on iCE40, 30 MHz on "
                        "ECP5; a PLL makes it from the oscillator)")
    p.add_argument("--baud", type=float, default=3e6, help="UART baud rate (default 3e6)")
    add_tool_args(p, timeout=3600, pack=True)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import json

    from .cli_args import load_hardware_config, tool_log
    from .config import ConfigError
    from .synth.board import BuildError, build_board, format_build_report
    from .synth.tools import ToolMissing

    try:
        cfg = load_hardware_config(args)
    except ConfigError as exc:
        print(f"fptt build: error: {exc}", file=sys.stderr)
        return 2
    out = args.output or f"build/board/{args.board}"
    quiet = args.json
    log = tool_log(quiet)
    try:
        rep = build_board(cfg, args.board, out, freq_mhz=args.freq, baud=args.baud,
                          seed=args.seed, timeout=args.timeout,
                          tools=dict(yosys=args.yosys, nextpnr=args.nextpnr, pack=args.pack),
                          log=log)
    except ToolMissing as exc:
        print(f"fptt build: error: {exc}", file=sys.stderr)
        return 3
    except BuildError as exc:
        rep = _read_report(out)
        if rep is not None and not quiet:
            sys.stdout.write(format_build_report(rep))
        print(f"fptt build: error: {exc}", file=sys.stderr)
        # a configuration, clock or baud refused before any tool ran: nothing was built
        return 1 if rep is not None and rep.get("status") else 2
    if quiet:
        sys.stdout.write(json.dumps(rep, indent=2) + "\n")
    else:
        sys.stdout.write(format_build_report(rep))
        print(f"wrote {out}/{rep['files']['bitstream']}, {out}/{rep['files']['constraints']}, "
              f"{out}/build_report.json, {out}/build_report.txt")
    return 0


def _read_report(out):
    import json
    from pathlib import Path
    path = Path(out) / "build_report.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
