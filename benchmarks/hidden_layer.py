"""What the hidden layer adds: every view against its readout-only control, on two cue tasks.

    .venv/bin/python benchmarks/hidden_layer.py [--seeds 4] [--n-train 2000] [--n-test 500]
        [--models fixed twin ref-fptt ref-bptt] [--json OUT]

Two tasks, the same core otherwise (:class:`fptt.config.CoreConfig` defaults):

``memory cue``   the default: readout time constant ``tau_out = 5`` against the
                 20-step delay, so the readout cannot hold the evidence itself;
``cue, tau_out = 100``  the earlier demo: a slow readout that adds up the cue
                 spikes by itself.

For each task every model trains one pass at batch size 1 (``ref-bptt``: its
mini-batches), seeds side by side; the golden models also train as the
readout-only control (``--learn readout``: ``W_in``, ``W_rec``, ``b`` frozen).
Printed per row: mean and per-seed test accuracy, the relative L1 change of each
weight matrix (mean over seeds) and the wall time.
"""

from __future__ import annotations

import argparse
import json
import time

from fptt.config import CoreConfig
from fptt.health import percent
from fptt.tasks import make_task
from fptt.train import TrainSettings, train

TASKS = {"memory cue (tau_out 5)": {}, "cue, tau_out 100": {"neuron.tau_out": 100.0}}


def rows(seeds: int, n_train: int, n_test: int, models) -> list[dict]:
    task = make_task("cue", n_train=n_train, n_test=n_test, seed=0)
    out = []
    for name, over in TASKS.items():
        cfg = CoreConfig().with_overrides([f"{k}={v}" for k, v in over.items()])
        for model in models:
            for learn in (("all", "readout") if model in ("fixed", "twin") else ("all",)):
                t0 = time.perf_counter()
                h = train(cfg, task, model, TrainSettings(seeds=seeds, learn=learn))[-1]
                row = dict(task=name, model=model if learn == "all" else f"{model} readout-only",
                           accuracy=h["test_accuracy"], seeds=h["test_accuracy_seeds"],
                           weight_change={m: c["mean"] for m, c in h["weight_change"].items()},
                           seconds=round(time.perf_counter() - t0, 1))
                print(format_row(row), flush=True)
                out.append(row)
    return out


def format_row(r: dict) -> str:
    dw = [percent(r["weight_change"][m]) for m in ("w_in", "w_rec", "w_out")]
    seeds = " ".join(f"{100 * a:.1f}" for a in r["seeds"])
    cells = [r["task"], r["model"], f"{100 * r['accuracy']:.1f}", seeds, *dw, f"{r['seconds']}"]
    return "| " + " | ".join(cells) + " |"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--models", nargs="+", default=["fixed", "twin", "ref-fptt", "ref-bptt"])
    p.add_argument("--json", help="write the rows as JSON")
    args = p.parse_args(argv)
    print("| task | model | test acc % | per seed | ΔW_in | ΔW_rec | ΔW_out | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    out = rows(args.seeds, args.n_train, args.n_test, args.models)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
