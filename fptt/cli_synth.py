"""``fptt synth [--config FILE] [--set K=V] --target {ice40-up5k,ecp5-25f,ecp5-45f,ecp5-85f,generic} [-o DIR]``.

Generates the core's Verilog for the configuration, synthesises it with
Yosys (``synth_ice40 -dsp -spram`` for the iCE40 UP5K, ``synth_ecp5`` for an
ECP5, a generic 4-LUT count otherwise) and, when it fits, places and routes
it with nextpnr for the achieved fmax. The tools: ``--yosys``/``--nextpnr``,
else ``YOSYS``, ``NEXTPNR_ICE40``, ``NEXTPNR_ECP5``, else Debian's for the
iCE40 and YoWASP's for the ECP5 (:mod:`fptt.synth.tools`); the report names
each with its version. Writes ``DIR/synth_report.json`` and ``DIR/synth_report.txt``
(LUTs, flip-flops, block RAM, SPRAM, DSPs, fmax, where every memory went);
see :mod:`fptt.synth`.
"""

from __future__ import annotations

import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    from .cli_args import add_config_args, add_force_arg, add_tool_args
    from .synth import TARGETS, UNITS
    p = subparsers.add_parser(
        "synth", help="synthesise (yosys) and place and route (nextpnr) the core for an FPGA",
        description=__doc__.split("\n")[0])
    add_config_args(p)
    add_force_arg(p)
    p.add_argument("--target", choices=TARGETS, default="ice40-up5k")
    p.add_argument("-o", "--output", default="build/synth", metavar="DIR",
                   help="output directory (default: build/synth)")
    p.add_argument("--freq", type=float, default=24.0, metavar="MHZ",
                   help="clock constraint for nextpnr (default 24)")
    p.add_argument("--ff-limit", type=int, default=8192, metavar="BITS",
                   help="stop after memory inference when more memory bits than this would "
                        "become flip-flops (default 8192)")
    p.add_argument("--no-place", action="store_true", help="synthesis only, no nextpnr")
    p.add_argument("--force-place", action="store_true",
                   help="run nextpnr even when the utilisation exceeds the device")
    p.add_argument("--no-rw-check", action="store_true",
                   help="pass -no-rw-check to synth_ice40 (no read/write collision logic)")
    p.add_argument("--unit", choices=list(UNITS), default=None,
                   help="synthesise (and place) one arithmetic unit instead of the whole core")
    add_tool_args(p, timeout=1800)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import json

    from .cli_args import load_hardware_config, tool_log
    from .config import ConfigError
    from .synth import ToolMissing, format_synth_report, run_synth

    try:
        cfg = load_hardware_config(args)
    except ConfigError as exc:
        print(f"fptt synth: error: {exc}", file=sys.stderr)
        return 2
    quiet = getattr(args, "json", False)
    try:
        res = run_synth(cfg, args.target, args.output, freq=args.freq, seed=args.seed,
                        ff_limit_bits=args.ff_limit, timeout=args.timeout,
                        place=not args.no_place, force_place=args.force_place,
                        no_rw_check=args.no_rw_check, unit=args.unit,
                        tools=dict(yosys=args.yosys, nextpnr=args.nextpnr),
                        log=tool_log(quiet))
    except ToolMissing as exc:
        print(f"fptt synth: {exc}", file=sys.stderr)
        return 3
    if quiet:
        sys.stdout.write(json.dumps(res, indent=2) + "\n")
    else:
        sys.stdout.write(format_synth_report(res))
        print(f"wrote {args.output}/synth_report.json, {args.output}/synth_report.txt")
    status = res.get("status", "")
    return 0 if not ("failed" in status or "timed out" in status) else 1
