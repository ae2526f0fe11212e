"""Headline numbers of the study, computed from the results files (never retyped by hand)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from .common import mean_std, read_csv, results_dir

__all__ = ["group_mean", "smallest_width_within", "largest_T_solved", "smallest_window_within",
           "headline", "cue_markdown", "results_markdown", "load", "width_text",
           "write_results_md"]


def load(name: str) -> list[dict]:
    """Rows of ``results/<name>.csv``; empty when the sweep has not run (or was skipped)."""
    path = results_dir() / f"{name}.csv"
    return read_csv(path) if path.is_file() else []


def group_mean(rows, keys, value="metric") -> dict:
    """``{key tuple: (mean, std, n)}`` of ``value`` over rows grouped by ``keys``."""
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r[value])
    return {k: (*mean_std(v), len(v)) for k, v in groups.items()}


def smallest_width_within(bits_rows, float_rows, rounding: str, ref_model: str = "twin",
                          tol: float = 0.01, chance: float | None = None,
                          margin: float = 0.05) -> dict:
    """Smallest weight width whose mean accuracy is within ``tol`` of ``ref_model``'s mean.

    With ``chance`` given, a reference no more than ``margin`` above chance
    makes the comparison meaningless: ``width`` is then None and ``at_chance`` True.
    """
    ref = [r["metric"] for r in float_rows if r["model"] == ref_model]
    if not ref or not bits_rows:
        return dict(width=None, ref=None, best=None, at_chance=False)
    ref_mean = float(np.mean(ref))
    means = group_mean([r for r in bits_rows if r["rounding"] == rounding], ["width"])
    ok = sorted(w for (w,), (m, _, _) in means.items() if m >= ref_mean - tol)
    best_w, (best_m, _, _) = max(((w, v) for (w,), v in means.items()), key=lambda kv: kv[1][0])
    at_chance = chance is not None and ref_mean <= chance + margin
    return dict(width=None if at_chance else (ok[0] if ok else None), ref=ref_mean, best=best_m,
                best_width=best_w, at_chance=at_chance,
                means={w: m for (w,), (m, _, _) in sorted(means.items())})


#: Chance accuracy of the classification tasks.
CHANCE = {"cue": 0.5, "smnist": 0.1, "psmnist": 0.1}


def largest_T_solved(adding_rows, method: str, threshold: float = 0.01) -> dict:
    """Largest ``T`` whose mean test MSE over seeds is below ``threshold``; and every mean."""
    means = group_mean([r for r in adding_rows if r["method"] == method], ["T"], "test_mse")
    solved = [T for (T,), (m, _, _) in means.items() if m < threshold]
    return dict(T=max(solved) if solved else None,
                means={T: m for (T,), (m, _, _) in sorted(means.items())})


def smallest_window_within(window_rows, model: str, tol: float = 0.01) -> dict:
    """Smallest window ``L`` whose mean accuracy is within ``tol`` of the best ``L``'s."""
    means = group_mean([r for r in window_rows if r["model"] == model], ["window"])
    if not means:
        return dict(window=None)
    best = max(m for (m, _, _) in means.values())
    ok = sorted(L for (L,), (m, _, _) in means.items() if m >= best - tol)
    best_L = min(L for (L,), (m, _, _) in means.items() if m == best)
    return dict(window=ok[0], best=best, best_window=best_L,
                means={L: m for (L,), (m, _, _) in sorted(means.items())})


def headline() -> dict:
    """Every headline number the study reports, from the results files present."""
    from .fptt_vs_bptt import fit_order
    out = {}
    for task in ("cue",):    # S-MNIST: not learned on chip yet (issue 16)
        bits, floats = load(f"bits_{task}"), load(f"floats_{task}")
        if bits:
            out[f"{task}_width"] = {r: smallest_width_within(bits, floats, r,
                                                             chance=CHANCE[task])
                                    for r in ("nearest", "stochastic")}
    adding = load("adding")
    if adding:
        out["adding"] = {m: largest_T_solved(adding, m) for m in ("bptt", "fptt")}
    scaling = load("scaling")
    if scaling:
        measured = [r for r in scaling if not str(r["method"]).startswith("core")]
        out["memory_order"] = fit_order(measured, "peak_bytes")
        out["time_order"] = fit_order(measured, "seconds_per_sequence")
        out["memory_order_top"] = fit_order(measured, "peak_bytes", last=3)
    window = load("window_cue")
    if window:
        out["window"] = {m: smallest_window_within(window, m) for m in ("twin", "fixed")}
    ps = load("psmnist")
    if ps:
        out["psmnist"] = {m: mean_std([r["accuracy"] for r in ps if r["method"] == m])
                          for m in ("bptt", "fptt")}
    return out


def _width_text(v: dict) -> str:
    if v.get("at_chance"):
        return (f"not measurable (the float twin itself is at chance, {_pct(v.get('ref'))} %)")
    if v.get("width"):
        return f"{v['width']} bits"
    return (f"none (best {_pct(v.get('best'))} % at {v.get('best_width')} bits vs twin "
            f"{_pct(v.get('ref'))} %)")


def width_text(v: dict) -> str:
    """One line for a :func:`smallest_width_within` result."""
    return _width_text(v)


def _order(x: float) -> str:
    return f"{round(x, 2) + 0.0:.2f}"


def _pct(x):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _dw(rows, m: str) -> str:
    """Mean relative L1 change of matrix ``m`` over ``rows`` as a percentage (``–`` if absent)."""
    v = [r.get(f"dW_{m}") for r in rows]
    v = [x for x in v if isinstance(x, (int, float)) and math.isfinite(x)]
    return "–" if not v else f"{100 * float(np.mean(v)):.3g} %"


#: Row names of the float lines in the results tables.
FLOAT_NAMES = {"twin": "float twin", "fixed-readout": "fixed point, readout-only control",
               "twin-readout": "float twin, readout-only control", "ref-bptt": "ref-bptt",
               "ref-fptt": "ref-fptt"}


def cue_markdown(h: dict) -> list[str]:
    """The cue sections: accuracy against weight width with ΔW, float lines, window trade-off."""
    bits, floats = load("bits_cue"), load("floats_cue")
    if not bits:
        return []
    n_train = bits[0]["n_train"]
    seeds = len({r["seed"] for r in bits})
    lines = [f"**Memory cue task (70 steps)** — test accuracy (%) of the fixed-point core "
             f"against weight width, mean ± std over {seeds} seeds, online (batch 1), one pass "
             f"over {n_train} training sequences, {bits[0]['n_test']} test sequences:", ""]
    widths = sorted({r["width"] for r in bits})
    lines.append("| rounding | " + " | ".join(f"{w} bit" for w in widths) + " |")
    lines.append("|---|" + "---|" * len(widths))
    g = group_mean(bits, ["rounding", "width"])
    for rnd in ("nearest", "stochastic"):
        cells = []
        for w in widths:
            m, sd, _ = g.get((rnd, w), (math.nan, math.nan, 0))
            cells.append(f"{_pct(m)} ± {_pct(sd)}")
        lines.append(f"| {rnd} | " + " | ".join(cells) + " |")
    lines += ["", "Every point with its per-seed accuracies and the relative L1 change of each "
              "matrix (mean over seeds; ΔW_out is large because `W_out` starts near zero, and "
              "undefined, –, where its initial weights all round to zero):", "",
              "| run | test accuracy | per seed | ΔW_in | ΔW_rec | ΔW_out |",
              "|---|---:|---|---:|---:|---:|"]

    def row(name, rows):
        m, sd = mean_std([r["metric"] for r in rows])
        per = " / ".join(_pct(r["metric"]) for r in sorted(rows, key=lambda r: r["seed"]))
        return (f"| {name} | {_pct(m)} ± {_pct(sd)} | {per} | {_dw(rows, 'w_in')} | "
                f"{_dw(rows, 'w_rec')} | {_dw(rows, 'w_out')} |")

    for rnd in ("nearest", "stochastic"):
        for w in widths:
            rs = [r for r in bits if r["rounding"] == rnd and r["width"] == w]
            if rs:
                lines.append(row(f"fixed point, {w} bit, {rnd}", rs))
    for model in dict.fromkeys(r["model"] for r in floats):
        rs = [r for r in floats if r["model"] == model]
        L = rs[0].get("window")
        lines.append(row(FLOAT_NAMES.get(model, model) + ("" if L in ("", None) else f" (L = {L})"),
                         rs))
    sw = h.get("cue_width", {})
    if sw:
        lines += ["", "Smallest weight width within 1 point of the float twin: " + "; ".join(
            f"{r}: " + _width_text(v) for r, v in sw.items()) + "."]
    lines.append("")
    window = load("window_cue")
    if window:
        gw = group_mean(window, ["model", "window"])
        Ls = sorted({r["window"] for r in window})
        mem = {r["window"]: (r["window_buffer_bits"], r["total_bits"]) for r in window}
        ctrl = [r["metric"] for r in floats if r["model"] == "fixed-readout"]
        lines += [f"**Window trade-off (memory cue task)** — test accuracy (%) against the window "
                  f"L (buffer exactly L deep), mean ± std over "
                  f"{len({r['seed'] for r in window})} seeds, same protocol; the fixed-point "
                  f"readout-only control is at {_pct(float(np.mean(ctrl)) if ctrl else None)} %:",
                  "", "| L | fixed point | float twin | window buffer (bits) | on-chip memory (bits) |",
                  "|---:|---:|---:|---:|---:|"]
        for L in Ls:
            f, t = gw.get(("fixed", L)), gw.get(("twin", L))
            lines.append(f"| {L} | {_pct(f[0]) if f else '–'} ± {_pct(f[1]) if f else '–'} | "
                         f"{_pct(t[0]) if t else '–'} ± {_pct(t[1]) if t else '–'} | "
                         f"{mem[L][0]:,} | {mem[L][1]:,} |")
        if "window" in h:
            lines += ["", "Smallest window L within 1 point of the best L: "
                      + "; ".join(f"{m}: L = {v['window']} (best L = {v['best_window']}, "
                                  f"{_pct(v['best'])} %)" for m, v in h["window"].items()
                                  if v.get("window")) + "."]
        lines.append("")
    return lines


def results_markdown() -> str:
    """The README "Results" section: headline tables from the results files."""
    h = headline()
    lines = ["## Results", ""]
    lines += cue_markdown(h)
    if "adding" in h:
        Ts = sorted({T for v in h["adding"].values() for T in v["means"]})
        lines += ["**Adding problem** — test MSE (mean over seeds; trivial predictor 0.167, "
                  "solved < 0.01):", "",
                  "| method | " + " | ".join(f"T = {T}" for T in Ts) + " | largest T solved |",
                  "|---|" + "---|" * (len(Ts) + 1)]
        for m, v in h["adding"].items():
            lines.append(f"| {m.upper()} | " + " | ".join(f"{v['means'].get(T, math.nan):.3f}"
                                                        for T in Ts)
                         + f" | {v['T'] if v['T'] else 'none'} |")
        lines.append("")
    if "memory_order" in h:
        top = h.get("memory_order_top", {})
        lines.append("**Memory against T** (peak bytes autograd keeps for the backward pass, batch 1, "
                     "T = 50…1600; fitted order of growth over all T / over the three largest T): "
                     + "; ".join(f"{m}: T^{_order(o)} / T^{_order(top.get(m, float('nan')))}"
                                 for m, o in h["memory_order"].items())
                     + ". The core's on-chip memory does not depend on T.")
        lines.append("")
    lines += long_sequences_markdown()
    lines += smnist_onchip_markdown()
    lines += ["**S-MNIST / PS-MNIST**: `ref-bptt`, and `ref-fptt` with parts of 196 steps, learn "
              "the `decision` set-up's hidden layer in float, and `ref-bptt` the `population-h8` "
              "set-up's best (table above, when its records are there: each above its "
              "readout-only control); the float twin and the fixed-point core, online at batch 1, "
              "do not yet (issue 16 open). What limits them, measured: the README's S-MNIST "
              "section.", ""]
    return "\n".join(lines)


def long_sequences_markdown() -> list[str]:
    """The long-sequence table (``benchmarks/long_sequences.py``, committed JSON; not rerun)."""
    from .fptt_vs_bptt import load_long_sequences, longest_delay_learned
    rows = load_long_sequences()
    if not rows:
        return []
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    delays = sorted({r["delay"] for r in rows})
    acc = {(r["rule"], r["delay"]): r["accuracy"] for r in rows}
    n_seeds = sorted({len(r.get("seeds", [])) for r in rows})
    seeds = f"{n_seeds[0]}" if len(n_seeds) == 1 else f"{n_seeds[0]}–{n_seeds[-1]}"
    lines = ["**Long sequences** (memory cue task, delay from the last cue to the decision; "
             f"`benchmarks/long_sequences.py`, {seeds} seeds, 500 test sequences; "
             "`notebooks/results/long_sequences.json`) — test accuracy (%), and the longest delay "
             "learned to ≥ 90 %. Each rule trained on 2,000 sequences once unless its name "
             "gives more (e.g. `8,000 × 3 passes`: 24,000 sequences seen):", "",
             "| rule | " + " | ".join(f"{d}" for d in delays) + " | longest ≥ 90 % |",
             "|---|" + "---:|" * (len(delays) + 1)]
    for rule in rules:
        cells = [_pct(acc[(rule, d)]) if (rule, d) in acc else "–" for d in delays]
        longest = longest_delay_learned(rows, rule)
        lines.append(f"| {rule} | " + " | ".join(cells) + f" | {longest or 'none'} |")
    lines.append("")
    return lines


def smnist_onchip_markdown() -> list[str]:
    """Lines of the S-MNIST on-chip section (issue 16), from ``results/smnist_onchip.json``."""
    path = results_dir(create=False) / "smnist_onchip.json"
    if not path.exists():
        return []
    from .common import read_json
    rows = read_json(path)
    names = {"fixed": "fixed point", "twin": "float twin", "ref-bptt": "ref-bptt (Adam)",
             "ref-fptt": "ref-fptt (Adam)", "lsq-readout": "least-squares readout, untrained network"}
    lines = ["**S-MNIST / PS-MNIST in the on-chip regime** (issue 16; `python -m fptt.study.smnist`): "
             "one pixel per step, images 0-7,999 of t10k train, 8,000-9,999 test; the golden "
             "models online at batch 1 with FPTT windows of 56 steps, the PyTorch references in "
             "mini-batches. Test accuracy (%); ΔW relative L1 change (W_in / W_rec / W_out):", "",
             "| set-up | task | model | learns | passes | test accuracy | curve (images: %) | ΔW | seconds |",
             "|---|---|---|---|---:|---:|---|---|---:|"]
    for r in rows:
        acc = " / ".join(_pct(a) for a in r["accuracy"])
        curve = ", ".join(f"{c[0]}: {_pct(c[1] if not isinstance(c[1], list) else c[1][0])}"
                          for c in r.get("curve", []))
        dw = r.get("weight_change") or [{}]
        dw = " / ".join("–" if v is None or v != v else f"{100 * v:.3g} %"
                        for v in (dw[0].get(m) for m in ("w_in", "w_rec", "w_out"))) if dw[0] else "–"
        extra = (f" (rate {r['rate']:.3f}, cond {r['cond_gram']:.1e})" if "cond_gram" in r
                 else f", batch {r['batch']}" if "batch" in r else "")
        if r.get("lr_scale", 1.0) != 1.0:
            extra += f", steps ×{r['lr_scale']:g}"
        if r.get("set"):
            extra += ", " + ", ".join(f"`{o}`" for o in r["set"])
        if r.get("seeds", [0]) != [0]:
            extra += f", seed{'s' if len(r['seeds']) > 1 else ''} " + \
                ", ".join(str(s) for s in r["seeds"])
        lines.append(f"| {r['setup']} | {r['task']} | {names.get(r['model'], r['model'])}{extra} | "
                     f"{r['learn']} | {r.get('epochs', '–')}{' (stopped)' if r.get('stopped') else ''}"
                     f" | {acc} | {curve or '–'} | {dw} | "
                     f"{'–' if r.get('seconds') is None else round(r['seconds'])} |")
    lines.append("")
    return lines


#: Line of ``RESULTS.md`` after which the hand-written notes start; :func:`write_results_md`
#: keeps them (they explain the figures; the tables above them are regenerated).
NOTES_MARKER = "<!-- notes (kept by fptt.study.summary.write_results_md) -->"


def write_results_md(path: str | Path | None = None) -> Path:
    """Write the tables of :func:`results_markdown` to ``RESULTS.md``, keeping its notes."""
    path = Path(path) if path else results_dir().parent / "RESULTS.md"
    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            notes = "\n" + old[old.index(NOTES_MARKER):]
    path.write_text(results_markdown() + "\n" + notes)
    return path
