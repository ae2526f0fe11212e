"""Does the on-chip hidden-layer update help S-MNIST when the readout is sound? (issue 16)

    .venv/bin/python benchmarks/smnist_hidden.py [--setup decision] [--set KEY=VALUE ...]
        [--models fixed,twin] [--modes hidden,readout,all] [--schedule final]
        [--n-train 8000] [--n-test 2000] [--n-fit 4000] [--json OUT]

On S-MNIST the core's online readout-only control ends at chance, so a hidden layer
learning from that readout's error cannot be judged. This script takes the readout out
of the question: it fits the least-squares readout of the *untrained* network
(:func:`fptt.study.diagnostics.least_squares_readout`, float features of the first
``--n-fit`` training images), puts it on the weight grid as the initial ``W_out``,
``b_out`` of every run, and trains the golden models online at batch 1 (``--epochs`` passes)
(:func:`fptt.study.smnist.onchip_run`), in the learning modes of
:data:`fptt.health.LEARN_MODES`:

``start``    no learning: that readout on the core's own (fixed-point or float) state;
``hidden``   the readout frozen, the hidden layer learning (``W_in``, ``W_rec``, ``b``);
``readout``  the hidden layer frozen, the readout learning (the readout-only control);
``all``      both.

If the hidden layer's FPTT update helps, ``hidden`` ends above ``start``. ``--set`` takes
core overrides (e.g. ``fptt.lr.w_rec=...`` for a smaller hidden step, ``core.window=196``
for longer windows, ``core.rounding=nearest``); ``--schedule`` the target placement
(:data:`fptt.train.SCHEDULES`). ``FPTT_DATA_DIR`` points at the MNIST t10k files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from fptt.config import ConfigError
from fptt.golden.fixedpoint import to_codes
from fptt.health import LEARN_MODES, percent
from fptt.study.common import set_threads
from fptt.study.diagnostics import least_squares_readout
from fptt.study.smnist import SETUPS, make_mnist, onchip_run, setup_config, setup_weights
from fptt.train import SCHEDULES, TrainSettings, evaluate, make_learner

MODES = ("start",) + LEARN_MODES


def sound_readout_weights(cfg, setup, task, n_fit: int, seed: int = 0,
                          ridge: float = 1e-7) -> dict:
    """The set-up's initial weights with the least-squares readout of its untrained hidden
    layer (fit on the first ``n_fit`` training sequences) as ``W_out``, ``b_out``, rounded
    onto ``formats.w`` (saturated) so that every view starts from the same values."""
    w = dict(setup_weights(cfg, setup, seed))
    w_out, b_out = least_squares_readout(cfg, w, list(task.train_set())[:n_fit], task.n_out,
                                         ridge)
    fmt = cfg.formats.w
    w["w_out"] = to_codes(w_out, fmt) * fmt.lsb
    if "b_out" in w:
        w["b_out"] = to_codes(b_out, fmt) * fmt.lsb
    return w


def start_accuracy(cfg, model: str, weights: dict, task) -> float:
    """Test accuracy of ``weights`` on ``model`` with learning off."""
    learner = make_learner(model, cfg, [weights], TrainSettings())
    return evaluate(learner, task, task.test_set())["accuracy"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/smnist_hidden.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", choices=sorted(SETUPS), default="decision")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a core override on top of the set-up (repeatable)")
    p.add_argument("--models", default="fixed,twin")
    p.add_argument("--modes", default=",".join(MODES), help=f"any of {', '.join(MODES)}")
    p.add_argument("--schedule", choices=SCHEDULES, help="target placement (default: the set-up's)")
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1, help="passes over the training images")
    p.add_argument("--n-fit", type=int, default=4000, help="images the least squares fit on")
    p.add_argument("--ridge", type=float, default=1e-7,
                   help="the fit's ridge, relative to the Gram matrix's largest eigenvalue: a "
                        "larger one gives a readout less sensitive to small changes of the state")
    p.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        p.error(f"--modes: unknown mode {bad[0]!r}; known: {', '.join(MODES)}")
    setup = dataclasses.replace(SETUPS[args.setup], overrides=SETUPS[args.setup].overrides
                                + tuple(args.set))
    if args.schedule:
        setup = dataclasses.replace(setup, schedule=args.schedule)
    try:
        cfg = setup_config(setup)
    except ConfigError as exc:
        p.error(f"--set: {exc}")
    set_threads(1)
    task = make_mnist(setup, "smnist", args.n_train, args.n_test)
    t0 = time.time()
    w0 = sound_readout_weights(cfg, setup, task, args.n_fit, ridge=args.ridge)
    print(f"least-squares readout fitted on {args.n_fit} images in {time.time() - t0:.0f} s",
          flush=True)
    rows = []
    for model in [m for m in args.models.split(",") if m]:
        for mode in modes:
            if mode == "start":
                row = {"model": model, "mode": mode, "accuracy": start_accuracy(cfg, model, w0, task)}
            else:
                r = onchip_run(setup, model, mode, task, args.epochs, weights=lambda c, seed: w0)
                row = {"model": model, "mode": mode, "accuracy": r["accuracy"][0],
                       "curve": [(k, a[0]) for k, a in r["curve"]],
                       "weight_change": r["weight_change"][0], "seconds": r["seconds"]}
            rows.append(row)
            dw = row.get("weight_change") or {}
            print(f"{model:6s} {mode:8s} test {100 * row['accuracy']:5.1f} %   ΔW "
                  + " / ".join(percent(dw.get(m, 0.0)) for m in ("w_in", "w_rec", "w_out")),
                  flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"setup": args.setup, "set": args.set, "schedule": setup.schedule,
                       "n_fit": args.n_fit, "ridge": args.ridge, "epochs": args.epochs,
                       "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
