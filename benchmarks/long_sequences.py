"""Where each learning rule stops: accuracy against the memory delay on the memory cue task.

    .venv/bin/python benchmarks/long_sequences.py [--delays 20 50 100 200 500]
        [--seeds 2] [--n-train 2000] [--n-test 500] [--epochs 1]
        [--models fixed fixed-readout twin ref-bptt] [--threads 1] [--json OUT] [--plot OUT.png]

The memory cue task (:class:`fptt.tasks.cue.CueTask`: seven cues, then ``delay``
silent steps, then the recall) on the default core (``tau_out = 5``: the
readout cannot hold the evidence through the delay, the hidden layer must). The
sequence is ``7 × (cue_len + gap) + delay + recall_len`` steps long, so the
delay sets the distance the credit must travel.

Rules compared on the same network and data:

``fixed``          the fixed-point core, FPTT-K online at batch 1: windows of
                   ``cfg.window`` steps (K = T / L windows a sequence), the FPTT
                   regulariser carrying what a window cannot see;
``fixed-readout``  its readout-only control (``W_in``, ``W_rec``, ``b`` frozen);
``twin``           the float twin of the same algorithm;
``ref-bptt``       BPTT through the whole sequence (PyTorch, Adam, mini-batches);
``lsq``            no learning rule: the least-squares readout of the *untrained*
                   network's state (:func:`fptt.study.diagnostics.readout_ceiling`),
                   whether the state carries the answer at all.

A rule "still learns" at a delay when its mean test accuracy is ≥ 90 %
(:data:`LEARNS`); the table's last lines give, per rule, the longest such delay.
The control's ceiling is the accuracy of knowing only the last cue.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fptt.config import CoreConfig
from fptt.health import percent
from fptt.study.common import set_threads
from fptt.study.fptt_vs_bptt import longest_delay_learned
from fptt.tasks.cue import CueTask
from fptt.train import TrainSettings, train

#: The accuracy at which a rule counts as still learning the task.
LEARNS = 0.90

#: The training of the first runs (2,000 sequences, one pass): rows trained otherwise say so
#: in their rule label (:func:`rule_label`), so that runs of both sizes can be merged.
BASE_TRAINING = (2000, 1)

#: name -> (model, learn) of :func:`fptt.train.train`
RULES = {"fixed": ("fixed", "all"), "fixed-readout": ("fixed", "readout"),
         "twin": ("twin", "all"), "twin-readout": ("twin", "readout"),
         "ref-fptt": ("ref-fptt", "all"), "ref-bptt": ("ref-bptt", "all"), "lsq": ("lsq", None)}


def run(delays, rules, seeds: int, n_train: int, n_test: int, epochs: int,
        overrides=()) -> list[dict]:
    """One row per (delay, rule): mean and per-seed test accuracy, ΔW per matrix, seconds.

    The rows' rule names carry the ``overrides`` (``KEY=VALUE`` of the core configuration)
    and a training other than :data:`BASE_TRAINING` (:func:`rule_label`), so that runs can be
    merged; each row also records ``n_train`` and ``epochs``.
    """
    cfg = CoreConfig().with_overrides(list(overrides))
    out = []
    for delay in delays:
        task = CueTask(n_in=cfg.n_in, delay=delay, n_train=n_train, n_test=n_test, seed=0)
        steps = task.train_set()[0].steps
        for rule in rules:
            row = dict(delay=delay, steps=steps,
                       **rule_row(cfg, task, rule, seeds, n_train, epochs, overrides))
            print(format_row(row), flush=True)
            out.append(row)
    return out


def rule_row(cfg: CoreConfig, task, rule: str, seeds: int, n_train: int, epochs: int,
             overrides=(), score: str = "accuracy") -> dict:
    """Train ``rule`` (:data:`RULES`; ``lsq`` is fitted) on ``task`` for ``seeds`` seeds side by
    side: its label (:func:`rule_label`), the mean and per-seed test ``score`` (``accuracy``,
    or ``mse`` on a regression task), the training, ΔW per matrix and the seconds taken."""
    model, learn = RULES[rule]
    t0 = time.perf_counter()
    if model == "lsq":
        values = [lsq_ceiling(cfg, task, s, score) for s in range(seeds)]
        change = {}
    else:
        h = train(cfg, task, model, TrainSettings(seeds=seeds, learn=learn, epochs=epochs))[-1]
        values = [float(v) for v in h[f"test_{score}_seeds"]]
        change = {m: c["mean"] for m, c in h["weight_change"].items()}
    return {"rule": rule_label(rule, overrides, n_train, epochs), score: sum(values) / len(values),
            "seeds": values, "n_train": n_train, "epochs": epochs, "weight_change": change,
            "seconds": round(time.perf_counter() - t0, 1)}


def rule_label(rule: str, overrides=(), n_train: int = BASE_TRAINING[0],
               epochs: int = BASE_TRAINING[1]) -> str:
    """``rule`` and what sets its run apart: the core overrides, and the training when it is
    not :data:`BASE_TRAINING`, e.g. ``fixed (core.window=64)``, ``twin (8,000 × 3 passes)``,
    ``lsq (fit on 8,000)``."""
    parts = list(overrides)
    if rule == "lsq":       # fitted, not trained: only the number of sequences counts
        if n_train != BASE_TRAINING[0]:
            parts.append(f"fit on {n_train:,}")
    elif (n_train, epochs) != BASE_TRAINING:
        parts.append(_passes(n_train, epochs))
    return f"{rule} ({', '.join(parts)})" if parts else rule


def _passes(n_train: int, epochs: int) -> str:
    return f"{n_train:,} × {epochs} pass{'es' if epochs != 1 else ''}"


def _training(row: dict) -> tuple[int, int]:
    """``(n_train, epochs)`` of a row (rows written before they recorded it: the base)."""
    return row.get("n_train", BASE_TRAINING[0]), row.get("epochs", BASE_TRAINING[1])


def lsq_ceiling(cfg: CoreConfig, task, seed: int, score: str = "accuracy") -> float:
    """The ``score`` (test ``accuracy``, or ``mse`` on a regression task) of the least-squares
    readout of the untrained network of ``seed`` (the initial weights :func:`fptt.train.train`
    gives that seed)."""
    from fptt.golden.weights import init_weights
    from fptt.study.diagnostics import readout_ceiling
    s = TrainSettings()
    w = init_weights(cfg, seed, s.gain_in, s.gain_rec, s.gain_out)
    return readout_ceiling(cfg, w, task)[score]


def longest_learned(rows: list[dict]) -> dict:
    """Per rule, the longest delay with mean accuracy ≥ :data:`LEARNS` (None: none)."""
    return {rule: longest_delay_learned(rows, rule, LEARNS)
            for rule in dict.fromkeys(r["rule"] for r in rows)}


def format_row(r: dict) -> str:
    dw = [percent(r["weight_change"][m]) if m in r["weight_change"] else "–"
          for m in ("w_in", "w_rec", "w_out")]
    seeds = " ".join(f"{100 * a:.1f}" for a in r["seeds"])
    cells = [str(r["delay"]), str(r["steps"]), r["rule"], f"{100 * r['accuracy']:.1f}", seeds,
             *dw, f"{r['seconds']}"]
    return "| " + " | ".join(cells) + " |"


def plot(rows: list[dict], path: str) -> None:
    """Accuracy against delay, seeds as points: one panel per training size (one line per
    rule, a colour per rule whatever its options; dotted where the core's window differs)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = list(dict.fromkeys(_training(r) for r in rows))
    fig, axes = plt.subplots(1, len(sizes), figsize=(1.5 + 5 * len(sizes), 4.6), sharey=True,
                             squeeze=False)
    colours = {name: f"C{i}" for i, name in enumerate(RULES)}
    delays = sorted({r["delay"] for r in rows})
    for ax, size in zip(axes[0], sizes):
        part = [r for r in rows if _training(r) == size]
        for rule in dict.fromkeys(r["rule"] for r in part):
            rr = [r for r in part if r["rule"] == rule]
            colour = colours.get(rule.split(" (")[0], "k")
            # the panel's title gives the training: the legend keeps the rest of the label
            label = rule
            for text in (_passes(*size), f"fit on {size[0]:,}"):
                label = label.replace(f", {text}", "").replace(f" ({text})", "")
            ax.plot([r["delay"] for r in rr], [100 * r["accuracy"] for r in rr],
                    "o:" if "window" in rule else "o-", color=colour, label=label)
            for r in rr:
                ax.plot([r["delay"]] * len(r["seeds"]), [100 * a for a in r["seeds"]], ".",
                        color=colour, alpha=0.4)
        ax.axhline(100 * LEARNS, color="grey", lw=0.8, ls=":")
        ax.set(xscale="log", xlabel="delay (steps)",
               title=f"training: {_passes(*size)}")
        ax.set_xticks(delays, [str(d) for d in delays])
        ax.minorticks_off()
        ax.legend(fontsize="x-small", loc="upper right")
    axes[0][0].set_ylabel("test accuracy (%)")
    fig.suptitle("memory cue task: accuracy against the delay (dotted: 64-step windows)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--delays", nargs="+", type=int, default=[20, 50, 100, 200, 500])
    p.add_argument("--models", nargs="+", default=["lsq", "fixed", "fixed-readout", "twin", "ref-bptt"],
                   choices=sorted(RULES))
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="core configuration override (repeatable)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of ref-bptt (default 1: two threads beside another "
                        "busy process ran it ten times slower on this 2-core machine)")
    p.add_argument("--json", help="write the rows as JSON")
    p.add_argument("--plot", help="write the accuracy-against-delay plot (PNG)")
    p.add_argument("--from-json", nargs="+", metavar="JSON",
                   help="run nothing: merge the rows of earlier --json files (table, plot)")
    args = p.parse_args(argv)
    if args.from_json:
        rows = [r for path in args.from_json for r in json.loads(Path(path).read_text())]
        rows.sort(key=lambda r: (r["delay"], r["rule"]))
        for r in rows:
            print(format_row(r))
        summarise(rows, args)
        return
    set_threads(args.threads)
    print("| delay | steps | rule | test acc % | per seed | ΔW_in | ΔW_rec | ΔW_out | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = run(args.delays, args.models, args.seeds, args.n_train, args.n_test, args.epochs,
               args.set)
    summarise(rows, args)


def summarise(rows: list[dict], args) -> None:
    """The longest delay each rule learned; the JSON and the plot ``args`` ask for."""
    for rule, d in longest_learned(rows).items():
        print(f"{rule}: longest delay learned (≥ {100 * LEARNS:.0f} %): {d if d else 'none'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
