"""The gated adding problem on the core: test MSE against the sequence length.

    .venv/bin/python benchmarks/adding_onchip.py [--lengths 20 50 100 200] [--seeds 2]
        [--n-train 16000] [--n-test 500] [--epochs 2]
        [--models lsq fixed fixed-readout twin twin-readout] [--set neuron.tau_out=10]
        [--json OUT] [--plot OUT.png]
    .venv/bin/python benchmarks/adding_onchip.py --from-json A.json B.json --json ALL --plot P

The adding problem with the value channel gated by the marker
(:class:`fptt.tasks.AddingTask` ``gated=True``: the two values arrive only at
their marked steps, one in each half of the sequence; the readout at the last
step must give their sum) on the default core fitted to the task (two inputs,
one output; windows of ``cfg.window`` steps). The rules and their labels are
those of ``benchmarks/long_sequences.py`` (``lsq``: the least-squares readout
of the untrained network, the best a readout-only control can do). A rule
solves a length when its mean test MSE is below :data:`SOLVED`; always
answering 1.0 scores :data:`fptt.tasks.TRIVIAL_MSE` = 1/6.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_sequences import RULES, rule_row  # noqa: E402

from fptt.config import CoreConfig  # noqa: E402
from fptt.health import percent  # noqa: E402
from fptt.tasks import TRIVIAL_MSE, AddingTask  # noqa: E402

#: Test MSE below which a length counts as solved.
SOLVED = 0.01


def run(lengths, rules, seeds: int, n_train: int, n_test: int, epochs: int,
        overrides=()) -> list[dict]:
    """One row per (length, rule): mean and per-seed test MSE, ΔW per matrix, seconds."""
    base = CoreConfig().with_overrides(list(overrides))
    out = []
    for T in lengths:
        task = AddingTask(seq_len=T, n_train=n_train, n_test=n_test, seed=0, gated=True)
        cfg = base.replace(n_in=task.n_in, n_out=task.n_out)
        for rule in rules:
            row = dict(T=T, **rule_row(cfg, task, rule, seeds, n_train, epochs, overrides,
                                       score="mse"))
            print(format_row(row), flush=True)
            out.append(row)
    return out


def format_row(r: dict) -> str:
    dw = [percent(r["weight_change"][m]) if m in r["weight_change"] else "–"
          for m in ("w_in", "w_rec", "w_out")]
    seeds = " ".join(f"{v:.4f}" for v in r["seeds"])
    return "| " + " | ".join([str(r["T"]), r["rule"], f"{r['mse']:.4f}", seeds, *dw,
                              str(r["seconds"])]) + " |"


def longest_solved(rows: list[dict]) -> dict:
    """Per rule, the longest length with mean test MSE < :data:`SOLVED` (None: none)."""
    return {rule: max((r["T"] for r in rows if r["rule"] == rule and r["mse"] < SOLVED),
                      default=None)
            for rule in dict.fromkeys(r["rule"] for r in rows)}


def plot(rows: list[dict], path: str) -> None:
    """Test MSE against the length, log-log: a colour per rule (seeds as dots), dashed for
    the controls, squares for the rows whose label names a window override."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colours = {"fixed": "tab:blue", "fixed-readout": "tab:blue", "twin": "tab:green",
               "twin-readout": "tab:green", "lsq": "tab:orange", "ref-fptt": "tab:purple",
               "ref-bptt": "tab:gray"}
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for rule in dict.fromkeys(r["rule"] for r in rows):
        rr = sorted((r for r in rows if r["rule"] == rule), key=lambda r: r["T"])
        base = rule.split(" (")[0]
        colour = colours.get(base, "k")
        style = ("s" if "window" in rule else "o") + ("--" if base.endswith("readout")
                                                      or base == "lsq" else "-")
        ax.plot([r["T"] for r in rr], [r["mse"] for r in rr], style, color=colour, label=rule,
                alpha=0.6 if base.endswith("readout") else 1.0,
                markersize=9 if rr[0].get("epochs", 1) > 2 else 6)
        for r in rr:
            ax.plot([r["T"]] * len(r["seeds"]), r["seeds"], ".", color=colour, alpha=0.4)
    ax.axhline(TRIVIAL_MSE, color="k", ls=":", lw=0.8, label="always 1.0 (1/6)")
    ax.axhline(SOLVED, color="tab:red", ls=":", lw=0.8, label=f"solved ({SOLVED})")
    lengths = sorted({r["T"] for r in rows})
    ax.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="test MSE",
           title="gated adding problem on the core\n(dashed: readout only; squares: the "
                 "window overridden; large: more passes)")
    ax.set_xticks(lengths, [str(T) for T in lengths])
    ax.minorticks_off()
    # outside the axes: the lines cross the whole plot
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=120, bbox_inches="tight")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", nargs="+", type=int, default=[20, 50, 100, 200])
    p.add_argument("--models", nargs="+", choices=sorted(RULES),
                   default=["lsq", "fixed", "fixed-readout", "twin", "twin-readout"])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--n-train", type=int, default=16000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="core configuration override (repeatable)")
    p.add_argument("--json", help="write the rows as JSON")
    p.add_argument("--plot", help="write the MSE-against-length plot (PNG)")
    p.add_argument("--from-json", nargs="+", metavar="JSON",
                   help="run nothing: merge the rows of earlier --json files (table, plot)")
    args = p.parse_args(argv)
    print("| T | rule | test MSE | per seed | ΔW_in | ΔW_rec | ΔW_out | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    if args.from_json:
        rows = [r for path in args.from_json for r in json.loads(Path(path).read_text())]
        rows.sort(key=lambda r: (r["rule"], r["T"]))
        for r in rows:
            print(format_row(r))
    else:
        rows = run(args.lengths, args.models, args.seeds, args.n_train, args.n_test,
                   args.epochs, args.set)
    for rule, T in longest_solved(rows).items():
        print(f"{rule}: longest length solved (MSE < {SOLVED}): {T or 'none'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
