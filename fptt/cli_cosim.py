"""``fptt cosim``: co-simulate the generated Verilog against the golden model, bit for bit.

::

    fptt cosim [--config FILE] [--set K=V ...] [--task cue|random] [--steps N] [--seed S]
               [--sim verilator|icarus] [--waves] [--checkpoint-every N]
    fptt cosim --link uart [--serial pty|socket] [--steps N] [--seed S] [--config ...]
    fptt cosim --link uart --serve [--serial pty|socket] [--tcp-port P] [--config ...]

Generates the core's Verilog for the configuration, builds it with the
simulator (cached in ``build/sim/<sim>/``), loads a freshly initialised network
over the host port and runs ``N`` learning steps of the task (the trainer's
targets and initial weights), comparing every output frame with the golden
model and, every ``--checkpoint-every`` steps and at the end, every memory.
The ``cue`` task (the demo) sets ``n_in`` (a multiple of 4) and ``n_out = 2``;
the ``random`` task (:func:`fptt.sim.stimulus.random_frames`) keeps the
configuration's sizes, whatever they are, and drives signed multi-bit inputs,
random flags (``sos`` and ``eos`` on one step, targets with learning off) and
random WINDOW changes between sequences.
Prints steps, clock cycles, cycles per step and the simulation speed
(simulated cycles per second, steps per second) beside the golden model's
steps per second. Exit status 0 only if the run was bit-exact (1: mismatch,
with step, quantity, address, expected and actual value and the waveform;
2: bad configuration or missing tools).

``--link uart`` co-simulates the board instead (host UART, serial bridge and
core on Verilator, :mod:`fptt.sim.serial_port`) behind a virtual serial port, a
pty or a TCP socket, and drives it from this process through pyserial, as a
board is driven: the identity check, the network loaded with WRITE bursts,
the learning steps of the cue task compared with the golden model frame by
frame, and every memory read back and compared. It prints the training rate
through the link, in wall time and in simulated cycles. With ``--serve`` it
only serves the simulated board and prints the port to give to ``fptt train
--model board --port``, until Ctrl-C.
"""

from __future__ import annotations

import sys

__all__ = ["add_parser", "run", "load_cosim_config"]


def add_parser(subparsers):
    """Register the ``cosim`` subcommand on an ``argparse`` subparsers object."""
    from .cli_args import add_config_args, add_force_arg
    p = subparsers.add_parser(
        "cosim", help="co-simulate the generated Verilog against the golden model (cocotb)",
        description=__doc__.split("\n")[0])
    add_config_args(p)
    add_force_arg(p)
    p.add_argument("--task", choices=["cue", "random"], default="cue",
                   help="task whose sequences drive the core (default: cue, the demo task, "
                        "which sets n_in and n_out; random: any n_in/n_out, signed multi-bit "
                        "inputs, random flags and WINDOW changes)")
    p.add_argument("--steps", type=int, default=700, help="learning steps (default 700)")
    p.add_argument("--seed", type=int, default=0, help="seed of the task and initial weights")
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator",
                   help="HDL simulator (default verilator)")
    p.add_argument("--waves", action="store_true",
                   help="record a waveform (FST with Verilator, VCD with Icarus)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="also compare every memory every N steps (always at the end)")
    p.add_argument("--link", choices=["core", "uart"], default="core",
                   help="core: the core's own ports (default); uart: the board top (serial "
                        "bridge + core) behind a virtual serial port, the driver in this "
                        "process through pyserial (cue task, Verilator)")
    p.add_argument("--serial", choices=["pty", "socket"], default="pty",
                   help="--link uart: the virtual serial port, a pty (default) or a TCP "
                        "socket on 127.0.0.1 (pyserial socket:// URL)")
    p.add_argument("--tcp-port", type=int, default=0, metavar="P",
                   help="--serial socket: the TCP port (default: any free one)")
    p.add_argument("--serve", action="store_true",
                   help="--link uart: serve the simulated board until Ctrl-C and print its "
                        "port for fptt train --model board --port")
    p.set_defaults(func=run)
    return p


def load_cosim_config(args):
    """The configuration of ``--config``/``--set``, with n_in/n_out of the cue task
    (the random task takes the configuration's own)."""
    from .cli_args import fit_config_to_task, load_hardware_config
    from .tasks.cue import make_cue_task
    cfg = load_hardware_config(args)
    if getattr(args, "task", "cue") == "random":
        return cfg
    task = make_cue_task(cfg, seed=args.seed, preset="demo")   # n_in: a multiple of 4
    return fit_config_to_task(cfg, task)


def _fmt_rate(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def run(args) -> int:
    from .config import ConfigError
    from .sim.runner import RunError, build, demo_params, run as run_bench
    try:
        cfg = load_cosim_config(args)
    except (ConfigError, ValueError) as exc:
        print(f"fptt cosim: error: {exc}", file=sys.stderr)
        return 2
    if args.steps < 1:
        print("fptt cosim: error: --steps must be >= 1", file=sys.stderr)
        return 2
    if args.link == "uart":
        return _run_uart(args, cfg)
    for flag, used in (("--serve", args.serve), ("--serial", args.serial != "pty"),
                       ("--tcp-port", args.tcp_port)):
        if used:
            print(f"fptt cosim: error: {flag} is for --link uart", file=sys.stderr)
            return 2
    print(f"configuration: n_in={cfg.n_in} n_hidden={cfg.n_hidden} n_out={cfg.n_out} "
          f"lanes={cfg.lanes} window={cfg.window}/{cfg.window_max} rounding={cfg.rounding}; "
          f"task {args.task}, {args.steps} steps, seed {args.seed}, simulator {args.sim}")
    try:
        b = build(cfg, args.sim, waves=args.waves)
    except RunError as exc:
        print(f"fptt cosim: error: {exc}", file=sys.stderr)
        return 2
    print(f"build: {b.dir} ({'cached' if b.cached else f'compiled in {b.seconds:.0f} s'})")
    params = demo_params(args.steps, args.seed, args.checkpoint_every, args.task)
    try:
        res = run_bench(b, "core", params, waves=args.waves)
    except RunError as exc:
        print(f"NOT bit-exact: {exc}")
        return 1
    print(f"steps:            {res['steps']}")
    print(f"clock cycles:     {res['cycles']:,}")
    print(f"cycles per step:  {res['cycles_per_step']:.1f}")
    print(f"simulation speed: {_fmt_rate(res['sim_cycles_per_s'])} cycles/s, "
          f"{_fmt_rate(res['sim_steps_per_s'])} steps/s ({args.sim} + cocotb drivers)")
    print(f"golden model:     {_fmt_rate(res['golden_steps_per_s'])} steps/s "
          f"(fixed-point golden, in lockstep)")
    print(f"windows closed:   {res['windows']}, memory checkpoints compared: "
          f"{res['checkpoints']}, wall {res['wall_seconds']:.1f} s")
    if res.get("window_writes"):
        print(f"WINDOW writes:    {res['window_writes']} (golden window L followed each)")
    if res.get("waves"):
        print(f"waveform:         {res['waves']}")
    print(f"bit-exact: RTL ({args.sim}) equals the golden model on all {res['steps']} output "
          f"frames and {res['checkpoints']} full memory read-backs")
    return 0


def _serve_hint(args) -> str:
    """The ``fptt train`` command that trains on the served board (same configuration)."""
    cfg_args = ([f"--config {args.config}"] if args.config else []) + \
        [f"--set {item}" for item in args.set]
    return " ".join(["fptt train --model board --port {url}", *cfg_args])


def _run_uart(args, cfg) -> int:
    """``--link uart``: the learning run through a virtual serial port, or ``--serve``."""
    import shutil
    import time
    from .sim.scoreboard import Mismatch
    for flag, used in (("--sim icarus", args.sim != "verilator"), ("--waves", args.waves),
                       ("--checkpoint-every", args.checkpoint_every),
                       ("--task random", args.task != "cue")):
        if used:
            print(f"fptt cosim: error: --link uart runs the cue task on Verilator; "
                  f"{flag} is for --link core", file=sys.stderr)
            return 2
    if args.tcp_port and args.serial != "socket":
        print("fptt cosim: error: --tcp-port is for --serial socket", file=sys.stderr)
        return 2
    if shutil.which("verilator") is None:
        print("fptt cosim: error: verilator is not installed", file=sys.stderr)
        return 2
    from .sim.serial_port import BoardServer, run_uart_cosim
    print(f"configuration: n_in={cfg.n_in} n_hidden={cfg.n_hidden} n_out={cfg.n_out} "
          f"lanes={cfg.lanes} window={cfg.window}/{cfg.window_max} rounding={cfg.rounding}; "
          f"board top (serial bridge + core) on Verilator behind a {args.serial}", flush=True)
    if args.serve:
        server = BoardServer(cfg, args.serial, port=args.tcp_port, serve=True)
        try:
            url = server.start()
            print(f"serving the simulated board on {url}")
            print("train on it with:  " + _serve_hint(args).format(url=url))
            print("(Ctrl-C stops the simulator)", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            try:
                server.stop()
            except RuntimeError:
                pass        # a simulator stopped by the same Ctrl-C
        return 0
    try:
        res = run_uart_cosim(cfg, args.steps, kind=args.serial, seed=args.seed)
    except Mismatch as exc:
        print(f"NOT bit-exact: {exc}")
        return 1
    cycles = res["step_cycles"]
    print(f"serial port:      {res['url']} (pyserial, driver in this process)")
    print(f"steps:            {res['steps']} ({res['windows']} windows closed)")
    rate = f"training rate:    {_fmt_rate(res['steps_per_s_wall'])} steps/s wall"
    if cycles:
        rate += (f"; {cycles / res['steps']:,.0f} simulated cycles/step through UART + "
                 f"bridge + core = {_fmt_rate(24e6 * res['steps'] / cycles)} steps/s at 24 MHz")
    print(rate)
    print(f"network load:     {res['load_s']:.1f} s wall (identity check, WRITE bursts)")
    print(f"memory read-back: {res['words_read']:,} words in {res['readback_s']:.1f} s wall")
    print(f"bit-exact: the board top through a {args.serial} equals the golden model on all "
          f"{res['steps']} output frames and a full memory read-back")
    return 0


def main(argv=None) -> int:
    """``python -m fptt.cli_cosim`` (the same as ``fptt cosim``)."""
    import argparse
    ap = argparse.ArgumentParser(prog="fptt")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(["cosim", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
