"""Headline numbers of the study, computed from the results files (never retyped by hand)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from .common import mean_std, read_csv, results_dir

__all__ = ["group_mean", "smallest_width_within", "largest_T_solved", "smallest_window_within",
           "headline", "results_markdown", "load"]


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
    for task in ("cue", "smnist"):
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


def results_markdown() -> str:
    """The README "Results" section: headline tables from the results files."""
    h = headline()
    lines = ["## Results", ""]
    for task, title in (("cue", "Cue accumulation (70 steps)"), ("smnist", "S-MNIST (784 steps)")):
        bits, floats = load(f"bits_{task}"), load(f"floats_{task}")
        if not bits:
            continue
        n_train = bits[0]["n_train"]
        seeds = len({r["seed"] for r in bits})
        lines += [f"**{title}** — test accuracy (%) of the fixed-point core against weight width, "
                  f"mean ± std over {seeds} seeds, online (batch 1), one pass over {n_train} "
                  f"training sequences:", ""]
        widths = sorted({r["width"] for r in bits})
        lines.append("| rounding | " + " | ".join(f"{w} bit" for w in widths) + " |")
        lines.append("|---|" + "---|" * len(widths))
        g = group_mean(bits, ["rounding", "width"])
        for rnd in ("nearest", "stochastic"):
            cells = []
            for w in widths:
                m, s, _ = g.get((rnd, w), (math.nan, math.nan, 0))
                cells.append(f"{_pct(m)} ± {_pct(s)}")
            lines.append(f"| {rnd} | " + " | ".join(cells) + " |")
        fl = group_mean(floats, ["model", "window"]) if floats else {}
        if fl:
            lines.append("")
            lines.append("Float lines (same data): " + "; ".join(
                f"{m}{'' if w in ('', None) else f' (L={w})'} {_pct(a)} ± {_pct(s)}"
                for (m, w), (a, s, _) in fl.items()) + ".")
        sw = h.get(f"{task}_width", {})
        if sw:
            lines.append("")
            lines.append("Smallest weight width within 1 point of the float twin: " + "; ".join(
                f"{r}: " + _width_text(v) for r, v in sw.items()) + ".")
        lines.append("")
    if "window" in h:
        lines.append("**Window trade-off (cue)** — smallest window L within 1 point of the best L: "
                     + "; ".join(f"{m}: L = {v['window']} (best L = {v['best_window']}, "
                                 f"{_pct(v['best'])} %)" for m, v in h["window"].items()
                                 if v.get("window")) + ".")
        lines.append("")
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
    lines += smnist_onchip_markdown()
    if "psmnist" in h:
        lines.append("**PS-MNIST** (small subset): " + "; ".join(
            f"{m.upper()} {_pct(a)} %" for m, (a, s) in h["psmnist"].items()) + ".")
        lines.append("")
    return "\n".join(lines)


def smnist_onchip_markdown() -> list[str]:
    """Lines of the S-MNIST on-chip section (issue 16), from ``results/smnist_onchip.json``."""
    path = results_dir(create=False) / "smnist_onchip.json"
    if not path.exists():
        return []
    from .common import read_json
    rows = read_json(path)
    names = {"fixed": "fixed point", "twin": "float twin", "ref-bptt": "ref-bptt (Adam, batch 32)",
             "lsq-readout": "least-squares readout, untrained network"}
    lines = ["**S-MNIST / PS-MNIST in the on-chip regime** (issue 16; `python -m fptt.study.smnist`): "
             "one pixel per step, images 0-7,999 of t10k train, 8,000-9,999 test; online at "
             "batch 1, FPTT windows of 56 steps. Test accuracy (%); ΔW relative L1 change "
             "(W_in / W_rec / W_out):", "",
             "| set-up | task | model | learns | passes | test accuracy | curve (images: %) | ΔW | seconds |",
             "|---|---|---|---|---:|---:|---|---|---:|"]
    for r in rows:
        acc = " / ".join(_pct(a) for a in r["accuracy"])
        curve = ", ".join(f"{c[0]}: {_pct(c[1] if not isinstance(c[1], list) else c[1][0])}"
                          for c in r.get("curve", []))
        dw = r.get("weight_change") or [{}]
        dw = " / ".join("–" if v is None or v != v else f"{100 * v:.3g} %"
                        for v in (dw[0].get(m) for m in ("w_in", "w_rec", "w_out"))) if dw[0] else "–"
        extra = (f" (rate {r['rate']:.3f}, cond {r['cond_gram']:.1e})" if "cond_gram" in r else "")
        lines.append(f"| {r['setup']} | {r['task']} | {names.get(r['model'], r['model'])}{extra} | "
                     f"{r['learn']} | {r.get('epochs', '–')} | {acc} | {curve or '–'} | {dw} | "
                     f"{'–' if r.get('seconds') is None else round(r['seconds'])} |")
    lines.append("")
    return lines


def write_results_md(path: str | Path | None = None) -> Path:
    path = Path(path) if path else results_dir().parent / "RESULTS.md"
    path.write_text(results_markdown() + "\n")
    return path
