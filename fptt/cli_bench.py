"""``fptt bench [--config-names ...] [--fmax MHZ | --synth-json FILE] [-o DIR]``: performance table.

For the default, a small and a ReckOn-sized core (256-256-16) and windows
L = 1 and L = 8: cycles per window against the weight-memory bound of DESIGN
section 6, cycles per inference step, time steps per second at the clock,
memory bits against what the configuration strictly needs, and simulation
speeds. Writes ``DIR/bench.json`` and ``DIR/bench.txt``; see :mod:`fptt.bench`.
"""

from __future__ import annotations

import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    from .bench import BENCH_CONFIGS, WINDOWS
    p = subparsers.add_parser(
        "bench", help="cycles against the weight-memory bound, speed and memory of three cores",
        description=__doc__.split("\n")[0])
    p.add_argument("--configs", nargs="+", choices=list(BENCH_CONFIGS), default=None,
                   metavar="NAME", help=f"configurations (default: all of {', '.join(BENCH_CONFIGS)})")
    p.add_argument("--windows", nargs="+", type=int, default=list(WINDOWS), metavar="L")
    p.add_argument("--lanes", type=int, default=None, help="lanes P for every configuration")
    p.add_argument("--fmax", type=float, default=None, metavar="MHZ",
                   help="clock for the steps/s columns (default: fmax of --synth-json, else 24)")
    p.add_argument("--synth-json", metavar="FILE",
                   help="synth_report.json of `fptt synth`: its achieved fmax is the clock")
    p.add_argument("--no-sim", action="store_true",
                   help="computed cycles only (no Amaranth simulation; seconds instead of minutes)")
    p.add_argument("--sequences", type=int, default=1,
                   help="cue sequences (32 steps) simulated per measured row (default 1)")
    p.add_argument("-o", "--output", default="build/bench", metavar="DIR",
                   help="write DIR/bench.json and DIR/bench.txt (default build/bench)")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import json
    from pathlib import Path

    from .bench import format_bench, run_bench

    quiet = args.json
    res = run_bench(args.configs, tuple(args.windows), fmax_mhz=args.fmax,
                    synth_json=args.synth_json, simulate=not args.no_sim, n_seq=args.sequences,
                    lanes=args.lanes,
                    log=(lambda *a: None) if quiet else
                    (lambda msg: print(msg, file=sys.stderr, flush=True)))
    text = format_bench(res)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(res, indent=2) + "\n")
        (out / "bench.txt").write_text(text)
    sys.stdout.write(json.dumps(res, indent=2) + "\n" if quiet else text)
    return 0
