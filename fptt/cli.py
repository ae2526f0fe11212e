"""The ``fptt`` command line: configuration, training, demo, and the hardware flows.

Every subcommand takes ``--config FILE`` and repeated ``--set KEY=VALUE``
overrides of the core configuration (:class:`fptt.config.CoreConfig`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from .cli_args import add_config_args, fit_config_to_task, load_config
from .config import ConfigError, CoreConfig

__all__ = ["main", "build_parser", "load_config", "add_config_args", "train_settings",
           "TRAIN_OPTIONS"]


# ----------------------------------------------------------------------------- config
def _cmd_config(args) -> int:
    cfg = CoreConfig() if args.default else load_config(args)
    text = cfg.to_toml()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


# ----------------------------------------------------------------------------- train
def make_task_from_args(args, settings=None):
    """The task of ``fptt train``'s arguments; ``settings`` (:class:`fptt.train.TrainSettings`,
    default: the defaults and ``args.seed``) give the seed of the generated tasks and the
    decision steps and input channels of the MNIST tasks (``n_decision``,
    ``input_channels``; ignored by the others)."""
    from .tasks import make_task
    from .train import TrainSettings
    if settings is None:
        settings = TrainSettings(seed=args.seed if args.seed is not None else 0)
    kw = {}
    if args.n_train is not None:
        kw["n_train"] = args.n_train
    if args.n_test is not None:
        kw["n_test"] = args.n_test
    if args.task in ("smnist", "psmnist"):
        kw["data_dir"] = args.data_dir
        kw["n_decision"] = settings.n_decision
        kw["n_in"] = settings.input_channels
    elif args.data_dir is not None:
        raise ConfigError(f"--data-dir is for smnist/psmnist, not {args.task}")
    elif getattr(args, "n_decision", None) is not None:
        raise ConfigError(f"--n-decision is for smnist/psmnist, not {args.task}")
    elif getattr(args, "input_channels", None) is not None:
        raise ConfigError(f"--input-channels is for smnist/psmnist, not {args.task}")
    if args.seq_len is not None:
        if args.task != "adding":
            raise ConfigError("--seq-len is for the adding task")
        kw["seq_len"] = args.seq_len
    if getattr(args, "gated", False):
        if args.task != "adding":
            raise ConfigError("--gated is for the adding task")
        kw["gated"] = True
    if args.task in ("cue", "adding"):
        kw["seed"] = settings.seed
    return make_task(args.task, **kw)


def _add_train_args(p):
    from .golden.compiled import ENGINES
    from .health import LEARN_MODES
    from .train import INPUT_SIGNS, MODELS, REF_LOSSES, REF_OPTIMIZERS, SCHEDULES, TrainSettings
    # the run's settings (TrainSettings): default None, so that an option not given takes
    # the value of the configuration file's [train] table, else TrainSettings' default
    p.add_argument("--task", choices=["cue", "adding", "smnist", "psmnist"], default="cue")
    p.add_argument("--model", choices=MODELS, default="fixed")
    p.add_argument("--epochs", type=int, help="passes over the training set (default 1)")
    p.add_argument("--seed", type=int, help="first seed: weights and data order (default 0)")
    p.add_argument("--seeds", type=int,
                   help="train this many seeds side by side (seed, seed+1, ...; default 1)")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="where the targets go (classification tasks; default aux)")
    p.add_argument("--n-decision", type=int, metavar="N",
                   help="decision steps at the end of each sequence (smnist/psmnist; default 1)")
    p.add_argument("--input-channels", type=int, metavar="K",
                   help="smnist/psmnist: 1 (default) gives the pixel as one input value, K >= 2 "
                        "its Gaussian population code on K input channels (n_in = K)")
    p.add_argument("--learn", choices=LEARN_MODES,
                   help="all (default): every parameter learns; readout: the readout-only "
                        "control (W_in, W_rec and the hidden biases frozen; fixed and twin only); "
                        "hidden: the readout (W_out, b_out) frozen")
    p.add_argument("--engine", choices=ENGINES,
                   help="golden models compiled with numba (default; bit-exact with the "
                        "specification) or the NumPy specification itself")
    p.add_argument("--reset-to-mean", action="store_true", default=None,
                   help="W <- W-bar at the end of every epoch, as the released FPTT scripts")
    for name in ("in", "rec", "out"):
        p.add_argument(f"--gain-{name}", type=float, metavar="G",
                       help=f"initial W_{name}: N(0, G^2/fan_in) "
                            f"(default {getattr(TrainSettings(), 'gain_' + name):g})")
    p.add_argument("--input-sign", choices=INPUT_SIGNS,
                   help="initial W_in: any sign, or positive (|W_in|: every neuron excited by "
                        "a positive input) (default any)")
    p.add_argument("--bias-init", type=float, metavar="B",
                   help="added to the initial hidden bias b, on the weight grid (default 0)")
    p.add_argument("--ref-optimizer", choices=REF_OPTIMIZERS,
                   help="ref-fptt/ref-bptt: the optimiser (default adam)")
    p.add_argument("--ref-lr", type=float, metavar="LR",
                   help="ref-fptt/ref-bptt: the step (default 1e-3)")
    p.add_argument("--ref-decay", type=float, metavar="D",
                   help="ref-fptt/ref-bptt: the step is multiplied by D after every epoch "
                        "(default 1)")
    p.add_argument("--ref-batch", type=int, metavar="N",
                   help="ref-bptt: sequences per mini-batch (default 16)")
    p.add_argument("--ref-loss", choices=REF_LOSSES,
                   help="ref-fptt/ref-bptt: the loss (default mse; aux: ref-fptt only)")
    p.add_argument("--ref-clip", type=float, metavar="C",
                   help="ref-fptt/ref-bptt: gradient-norm clipping (default 1)")
    p.add_argument("--ref-rate-reg", type=float, metavar="G",
                   help="ref-fptt/ref-bptt: strength of the firing-rate penalty "
                        "G * sum_j (rate_j - ref_rate)^2 added to the loss (default 0: none)")
    p.add_argument("--ref-rate", type=float, metavar="R",
                   help="ref-fptt/ref-bptt: the penalty's target rate, spikes per step "
                        "(default 0.05)")
    p.add_argument("--ref-beta2", type=float, metavar="B",
                   help="ref-fptt/ref-bptt with Adam or Adamax: the second-moment decay "
                        "(default 0.999, torch's)")
    p.add_argument("--n-train", type=int, help="training sequences")
    p.add_argument("--n-test", type=int, help="test sequences")
    p.add_argument("--seq-len", type=int, help="sequence length (adding task)")
    p.add_argument("--gated", action="store_true",
                   help="adding task: the value channel carries the value only at the two "
                        "marked steps")
    p.add_argument("--data-dir", help="MNIST IDX directory (else $FPTT_DATA_DIR)")
    p.add_argument("--json", metavar="OUT",
                   help="write the metrics as JSON, after every epoch (atomically)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="save the whole run here (.npz): after every epoch, every "
                        "--save-every sequences, and on SIGINT")
    p.add_argument("--save-every", type=int, default=0, metavar="N",
                   help="also save the checkpoint every N training sequences (mini-batches "
                        "for ref-bptt); 0: only after epochs and on SIGINT")
    p.add_argument("--resume", metavar="FILE",
                   help="continue the run saved in this checkpoint (same arguments; "
                        "--epochs may grow)")
    p.add_argument("--force", action="store_true",
                   help="run even when the size guard estimates more memory than the limit "
                        "(half the physical memory, or $FPTT_MEMORY_LIMIT_GB)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--port", help="--model board: the board's serial port, a device path "
                                  "(/dev/ttyUSB1) or a pyserial URL (socket://HOST:PORT; the "
                                  "simulated board of fptt cosim --link uart --serve)")
    p.add_argument("--baud", type=int, help="--model board: the line rate (default 3000000)")


def _board_port(args, cfg):
    """The opened board of ``--model board --port P [--baud N]`` (identity checked), else None."""
    if args.model != "board":
        if args.port or args.baud:
            raise ConfigError(f"--port and --baud are for --model board, not {args.model}")
        return None
    if not args.port:
        raise ConfigError("--model board needs --port (the board's serial port)")
    from .board.model import open_board
    return open_board(args.port, cfg, baud=args.baud)


def _fmt_metrics(record: dict) -> str:
    def fmt(v):
        if isinstance(v, list):
            return "[" + " ".join(fmt(x) for x in v) + "]"
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    return "  ".join(f"{k}={fmt(v)}" for k, v in record.items() if not isinstance(v, dict))


def format_weight_change(record: dict) -> str:
    """``weight change (relative L1): w_in 12.3% ...`` of one epoch record of :func:`train`."""
    from .health import percent
    parts = [f"{m} {percent(c['mean'])}" for m, c in record["weight_change"].items()]
    text = "weight change (relative L1, mean over seeds): " + ", ".join(parts)
    if "bias_mean_abs" in record:
        text += "; mean |bias|: " + ", ".join(f"{p} {v:.3g}"
                                             for p, v in record["bias_mean_abs"].items())
    return text


def _check_train_counts(args) -> None:
    """Counts of ``fptt train`` in their range, one line each (before any work)."""
    for flag, value, low in (("--n-train", args.n_train, 1), ("--n-test", args.n_test, 1),
                             ("--seq-len", args.seq_len, 1), ("--epochs", args.epochs, 1),
                             ("--seeds", args.seeds, 1), ("--save-every", args.save_every, 0),
                             ("--n-decision", args.n_decision, 1),
                             ("--input-channels", args.input_channels, 1),
                             ("--ref-batch", args.ref_batch, 1)):
        if value is not None and value < low:
            raise ConfigError(f"{flag} must be >= {low}, not {value}")
    for flag, value in (("--ref-lr", args.ref_lr), ("--ref-decay", args.ref_decay),
                        ("--ref-clip", args.ref_clip)):
        if value is not None and not value > 0:
            raise ConfigError(f"{flag} must be > 0, not {value:g}")
    if args.ref_rate_reg is not None and not args.ref_rate_reg >= 0:
        raise ConfigError(f"--ref-rate-reg must be >= 0, not {args.ref_rate_reg:g}")
    if args.ref_beta2 is not None and not 0 < args.ref_beta2 < 1:
        raise ConfigError(f"--ref-beta2 must be in (0, 1), not {args.ref_beta2:g}")
    if args.ref_rate is not None and not 0 <= args.ref_rate <= 1:
        raise ConfigError(f"--ref-rate must be in [0, 1] (spikes per step), not {args.ref_rate:g}")
    if args.save_every and not args.checkpoint:
        raise ConfigError("--save-every needs --checkpoint FILE")


def _train_document(task, args, settings, cfg, history, **extra) -> dict:
    return {"task": task.name, "model": args.model, "settings": dataclasses.asdict(settings),
            "config": cfg.to_dict(), "epochs": history, **extra}


def _write_json(path, document) -> None:
    from .train import write_atomic
    text = json.dumps(document, indent=2, default=str).encode()
    write_atomic(path, lambda fh: fh.write(text))


#: fptt train's options that set a TrainSettings field of the same name
TRAIN_OPTIONS = ("epochs", "seed", "seeds", "schedule", "n_decision", "input_channels",
                 "learn", "engine",
                 "reset_to_mean", "gain_in", "gain_rec", "gain_out", "bias_init",
                 "input_sign", "ref_optimizer", "ref_lr", "ref_decay", "ref_batch", "ref_loss",
                 "ref_clip", "ref_rate_reg", "ref_rate", "ref_beta2")


def train_settings(args):
    """The :class:`fptt.train.TrainSettings` of ``fptt train``: the options given on the
    command line, else the ``[train]`` table of ``--config``, else the defaults."""
    from .train import TrainSettings
    return TrainSettings.load(args.config, **{k: getattr(args, k) for k in TRAIN_OPTIONS})


def _cmd_train(args) -> int:
    from .train import TrainingInterrupted, check_output_path, train
    _check_train_counts(args)
    for what, path in (("--json", args.json), ("--checkpoint", args.checkpoint)):
        if path:
            check_output_path(path, what)
    if args.resume and not Path(args.resume).is_file():
        raise ConfigError(f"--resume {args.resume!r}: "
                          f"{'is a directory' if Path(args.resume).is_dir() else 'does not exist'}")
    settings = train_settings(args)
    task = make_task_from_args(args, settings)
    cfg = fit_config_to_task(load_config(args), task)
    if not args.force:
        cfg.check_size(settings.seeds, what="training")
    board = _board_port(args, cfg)
    steps = sum(seq.steps for seq in task.train_set()) * settings.epochs
    est = cfg.step_seconds(settings.seeds) * steps
    if est > 600:
        print(f"note: this run is estimated at about {est / 3600:.1f} h of training "
              f"({steps} steps of {settings.seeds} core(s), {cfg.n_syn} parameters each)",
              file=sys.stderr)
    # where a run without --checkpoint saves itself on SIGINT
    fallback = None
    if not args.checkpoint:
        fallback = (str(Path(args.json).with_suffix("")) + ".interrupted.npz") if args.json \
            else "fptt-train-interrupted.npz"
        try:
            check_output_path(fallback, "checkpoint")
        except ConfigError:
            fallback = None
    history_so_far = []

    def on_epoch(record):
        history_so_far.append(record)
        print(_fmt_metrics(record), flush=True)
        if args.json:
            _write_json(args.json, _train_document(task, args, settings, cfg, history_so_far))

    try:
        history = train(cfg, task, args.model, settings, progress=not args.quiet,
                        on_epoch=on_epoch, checkpoint=args.checkpoint,
                        save_every=args.save_every, resume=args.resume, handle_sigint=True,
                        interrupt_checkpoint=fallback, board=board)
    except TrainingInterrupted as stop:
        saved = []
        if stop.checkpoint:
            saved.append(f"checkpoint {stop.checkpoint} (continue with --resume "
                         f"{stop.checkpoint})")
        if args.json:
            _write_json(args.json, _train_document(
                task, args, settings, cfg, stop.history,
                interrupted={"epoch": stop.epoch, "done": stop.done, "of": stop.units,
                             "checkpoint": stop.checkpoint}))
            saved.append(f"metrics of {len(stop.history)} finished epoch(s) in {args.json}")
        print(f"fptt train: interrupted in epoch {stop.epoch} after {stop.done} of "
              f"{stop.units} sequences; saved " + ("; ".join(saved) or "nothing"),
              file=sys.stderr, flush=True)
        return 130
    final = history[-1]
    print(f"final: model={args.model} learn={settings.learn} task={task.name} " + _fmt_metrics(
        {k: v for k, v in final.items() if k.startswith(("train_", "test_"))}))
    print(format_weight_change(final))
    if args.json:
        _write_json(args.json, _train_document(task, args, settings, cfg, history))
    return 0


# ----------------------------------------------------------------------------- demo
def _cmd_demo(args) -> int:
    from .train import TrainSettings, train
    from .tasks import make_task
    cfg = load_config(args)
    task = make_task("cue", n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    cfg = fit_config_to_task(cfg, task)
    rows = []
    t0 = time.time()
    print(f"cue task: {task.seq_len} steps, the decision {task.delay} steps after the last cue; "
          f"readout time constant {cfg.neuron.tau_out:g} steps, window {cfg.window}")
    for model in ("twin", "fixed"):
        for learn in ("all", "readout"):
            what = "full learner" if learn == "all" else "readout-only control"
            print(f"training the {model} model ({what}): {len(task.train_set())} sequences "
                  f"x {args.epochs} epoch(s), online, batch size 1, {args.seeds} seeds side by side")
            settings = TrainSettings(epochs=args.epochs, seed=args.seed, seeds=args.seeds,
                                     learn=learn)
            rows.append((model, learn, train(cfg, task, model, settings,
                                             progress=not args.quiet)[-1]))
    print()
    print(demo_table(rows))
    full = {m: r["test_accuracy"] for m, learn, r in rows if learn == "all"}
    control = {m: r["test_accuracy"] for m, learn, r in rows if learn == "readout"}
    print(f"fixed point costs {100 * (full['twin'] - full['fixed']):+.1f} points against the "
          f"float twin; the hidden layer adds {100 * (full['fixed'] - control['fixed']):+.1f} "
          f"points over the readout-only control (chance: 50.0%)")
    if args.no_rtl:
        print(f"demo wall time {time.time() - t0:.0f} s")
        return 0
    # the same configuration as hardware: Verilog, then a short co-simulated learning run
    passthrough = ([f"--config={args.config}"] if args.config else []) + \
        [f"--set={item}" for item in args.set]
    print("\ngenerating the Verilog of this core")
    sub = build_parser().parse_args(["verilog", "-o", args.verilog, *passthrough])
    if sub.func(sub):
        return 1
    print(f"\nco-simulating {args.cosim_steps} learning steps of the cue task on Verilator "
          "against the golden model")
    sub = build_parser().parse_args(["cosim", "--steps", str(args.cosim_steps),
                                     "--seed", str(args.seed), *passthrough])
    rc = sub.func(sub)
    print(f"demo wall time {time.time() - t0:.0f} s")
    return rc


def demo_table(rows) -> str:
    """The demo's table: one row per ``(model, learn, final epoch record)``."""
    from .health import percent
    lines = [f"{'model':<6} {'learn':<8} {'test acc':>9} {'per seed':>24}  "
             f"{'ΔW_in':>7} {'ΔW_rec':>7} {'ΔW_out':>7} {'seconds':>8}"]
    for model, learn, r in rows:
        seeds = " ".join(f"{100 * a:.1f}" for a in r["test_accuracy_seeds"])
        dw = [f"{percent(r['weight_change'][m]['mean']):>7}" for m in ("w_in", "w_rec", "w_out")]
        lines.append(f"{model:<6} {learn:<8} {100 * r['test_accuracy']:>8.1f}% {seeds:>24}  "
                     f"{dw[0]} {dw[1]} {dw[2]} {r['seconds']:>8.1f}")
    lines.append("ΔW: relative L1 change of each matrix from its initial value, mean over seeds")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fptt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("config", help="print or write a core configuration (TOML)")
    add_config_args(p)
    p.add_argument("--default", action="store_true", help="the default configuration")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("train", help="train a model on a task, print train/test metrics",
                       description="Train a model on a task, print train/test metrics. A "
                                   "setting not given takes the [train] table of --config, "
                                   "else the default shown.")
    add_config_args(p)
    _add_train_args(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("demo", help="float twin vs fixed point on the cue task")
    add_config_args(p)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=4, help="seeds trained side by side")
    p.add_argument("--verilog", default="build/fptt_core.v", help="where the Verilog goes")
    p.add_argument("--cosim-steps", type=int, default=140,
                   help="learning steps co-simulated on Verilator")
    p.add_argument("--no-rtl", action="store_true", help="skip Verilog and co-simulation")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)

    from . import cli_bench, cli_build, cli_cosim, cli_synth, cli_verilog
    for module in (cli_verilog, cli_cosim, cli_synth, cli_build, cli_bench):
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"fptt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        print(f"fptt {args.command}: error: out of memory ({exc or 'allocation failed'}); "
              f"a smaller configuration needs less", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fptt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
