"""Figures of the study, drawn from the results rows (so they redraw without rerunning)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .summary import group_mean

__all__ = ["plot_bits", "plot_saturation", "plot_window", "plot_curves", "plot_adding",
           "plot_scaling", "plot_psmnist", "plot_smnist_curves", "override_label"]

_COLORS = {"nearest": "tab:red", "stochastic": "tab:blue", "twin": "tab:green",
           "ref-fptt": "tab:purple", "ref-bptt": "tab:gray", "fixed": "tab:blue",
           "bptt": "tab:gray", "fptt": "tab:purple", "fixed-readout": "tab:orange",
           "twin-readout": "tab:olive", "lsq": "tab:orange"}
#: Legend names of the float-line rows (:func:`fptt.study.fixed_vs_float.row_model`).
_NAMES = {"twin": "float twin", "fixed-readout": "readout-only control (fixed)",
          "twin-readout": "readout-only control (twin)"}


def _ax(ax, **kw):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(**kw)
    return ax


def plot_bits(bits_rows, float_rows=(), ax=None, title="", ylabel="test accuracy"):
    """Metric against weight width, one curve per rounding mode (mean ± std, seeds as dots),
    float lines (mean, band = ± std) for reference."""
    ax = _ax(ax, figsize=(6.5, 4.2))
    for rnd in ("nearest", "stochastic"):
        rows = [r for r in bits_rows if r["rounding"] == rnd]
        if not rows:
            continue
        g = group_mean(rows, ["width"])
        ws = sorted(k[0] for k in g)
        m = np.array([g[(w,)][0] for w in ws])
        s = np.array([g[(w,)][1] for w in ws])
        ax.errorbar(ws, m, yerr=s, marker="o", capsize=3, color=_COLORS[rnd],
                    label=f"fixed point, {rnd}")
        ax.scatter([r["width"] for r in rows], [r["metric"] for r in rows], s=10, alpha=0.35,
                   color=_COLORS[rnd])
    styles = ["--", ":", "-.", (0, (5, 1)), (0, (1, 3))]
    for i, ((model, window), (mu, sd, n)) in enumerate(
            group_mean(list(float_rows), ["model", "window"]).items()):
        label = (_NAMES.get(model, model) + ("" if window in ("", None) else f" L={window}")
                 + f" (n={n})")
        color = _COLORS.get(model, "k")
        ax.axhline(mu, ls=styles[i % len(styles)], color=color, label=label)
        if sd and not math.isnan(sd):
            ax.axhspan(mu - sd, mu + sd, color=color, alpha=0.08)
    if bits_rows:
        ax.set_xticks(sorted({r["width"] for r in bits_rows}))
    ax.set_xlabel("weight width N (bits; weights Q3.(N-3))")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_saturation(sat_rows, ax=None, title=""):
    """hls4ml-style profile: fraction of writes that saturated, per quantity (rows) and
    configuration (columns), mean over seeds; white = never saturated."""
    ax = _ax(ax, figsize=(8, 4.5))
    cfgs = sorted({(r["rounding"], r["width"]) for r in sat_rows},
                  key=lambda k: (k[0], k[1]))
    qs = sorted({r["quantity"] for r in sat_rows})
    g = group_mean(sat_rows, ["quantity", "rounding", "width"], "fraction")
    mat = np.full((len(qs), len(cfgs)), np.nan)
    for i, q in enumerate(qs):
        for j, (rnd, w) in enumerate(cfgs):
            v = g.get((q, rnd, w), (np.nan,))[0]
            mat[i, j] = np.log10(v) if v and v > 0 else np.nan
    im = ax.imshow(mat, aspect="auto", cmap="magma_r", vmin=-7, vmax=0)
    ax.set_yticks(range(len(qs)), qs)
    ax.set_xticks(range(len(cfgs)), [f"{w}b\n{r[:4]}" for r, w in cfgs], fontsize=8)
    for i in range(len(qs)):
        for j in range(len(cfgs)):
            if not np.isnan(mat[i, j]):
                ax.text(j, i, f"{10 ** mat[i, j]:.0e}", ha="center", va="center", fontsize=6,
                        color="w" if mat[i, j] > -3 else "k")
    ax.figure.colorbar(im, ax=ax, label="log10(saturated writes / writes)")
    ax.set_title(title or "saturation profile (blank: never saturated)")
    return ax


def plot_window(window_rows, mem_rows, ax=None, title="", control_rows=()):
    """Accuracy against window L (twin and fixed point), memory bits on a second axis.

    ``control_rows``: float-line rows (:func:`fptt.study.fixed_vs_float.float_baselines`);
    their readout-only controls are drawn as horizontal lines (mean over seeds), the
    level a window that teaches the hidden layer nothing stays at.
    """
    ax = _ax(ax, figsize=(7, 4.2))
    for model in ("fixed-readout", "twin-readout"):
        vals = [r["metric"] for r in control_rows if r["model"] == model]
        if vals:
            ax.axhline(float(np.mean(vals)), ls=":" if model == "twin-readout" else "--",
                       color=_COLORS[model], label=f"{_NAMES[model]} (L = "
                       f"{next(r['window'] for r in control_rows if r['model'] == model)})")
    for model in ("twin", "fixed"):
        g = group_mean([r for r in window_rows if r["model"] == model], ["window"])
        if not g:
            continue
        Ls = sorted(k[0] for k in g)
        ax.errorbar(Ls, [g[(L,)][0] for L in Ls], yerr=[g[(L,)][1] for L in Ls], marker="o",
                    capsize=3, color=_COLORS[model],
                    label="float twin" if model == "twin" else "fixed point (default)")
    ax.set_xlabel("window L (steps per FPTT update; buffer L deep)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    Ls = [r["window"] for r in mem_rows]
    ax2.plot(Ls, [r["window_buffer_bits"] / 1024 for r in mem_rows], "s--", color="tab:cyan",
             label="window buffer (kbit)")
    ax2.plot(Ls, [r["total_bits"] / 1024 for r in mem_rows], "^-", color="tab:brown",
             label="all on-chip memory (kbit)")
    ax2.set_ylabel("memory (kbit)")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="center right")
    ax.set_xticks(Ls, [str(L) for L in Ls])
    ax.set_title(title)
    return ax


def plot_curves(curve_rows, ax=None, title="", widths=None):
    """Test metric against training sequences seen, per (rounding, width)."""
    ax = _ax(ax, figsize=(6.5, 4))
    g = group_mean(curve_rows, ["rounding", "width", "seen"])
    keys = sorted({(r, w) for r, w, _ in g if widths is None or w in widths})
    for rnd, w in keys:
        seen = sorted(s for r2, w2, s in g if (r2, w2) == (rnd, w))
        ax.plot(seen, [g[(rnd, w, s)][0] for s in seen], marker=".",
                ls="-" if rnd == "stochastic" else "--", label=f"{w} bit {rnd}")
    ax.set_xlabel("training sequences seen")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(title)
    return ax


def plot_adding(rows, ax=None, trivial=1 / 6, solved=0.01):
    """Test MSE against sequence length, BPTT and FPTT (mean, seeds as dots), and where the
    rows have them the least-squares readout of the untrained network (``method = "lsq"``,
    dashed: the readout-only control)."""
    ax = _ax(ax, figsize=(6, 4))
    names = {"bptt": "BPTT", "fptt": "FPTT", "lsq": "least-squares readout, untrained network"}
    for m in ("bptt", "fptt", "lsq"):
        rr = [r for r in rows if r["method"] == m]
        if not rr:
            continue
        g = group_mean(rr, ["T"], "test_mse")
        Ts = sorted(k[0] for k in g)
        ax.plot(Ts, [g[(T,)][0] for T in Ts], "o--" if m == "lsq" else "o-", color=_COLORS[m],
                label=names[m])
        ax.scatter([r["T"] for r in rr], [r["test_mse"] for r in rr], s=12, alpha=0.4,
                   color=_COLORS[m])
    ax.axhline(trivial, color="k", ls=":", label="trivial predictor (1/6)")
    ax.axhline(solved, color="tab:green", ls="--", label="solved (0.01)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax


def plot_scaling(rows, orders_mem: dict, orders_time: dict, axes=None):
    """Peak memory and time per sequence against T on log axes, fitted orders in the legend."""
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for m in methods:
        rr = [r for r in rows if r["method"] == m]
        Ts = [r["T"] for r in rr]
        mem = [r["peak_bytes"] for r in rr]
        core = str(m).startswith("core")
        lab = m if core else f"{m}: T^{orders_mem.get(m, float('nan')):.2f}"
        axes[0].plot(Ts, mem, "o-" if not core else "k--", label=lab)
        if not core:
            axes[1].plot(Ts, [r["seconds_per_sequence"] for r in rr], "o-",
                         label=f"{m}: T^{orders_time.get(m, float('nan')):.2f}")
    for ax, yl in zip(axes, ("peak memory (bytes)", "seconds per sequence")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    axes[0].set_title("memory the learning rule keeps (autograd saved tensors)")
    axes[1].set_title("training time per sequence (batch 1, CPU)")
    return axes


def plot_psmnist(rows, ax=None, chance=0.1):
    ax = _ax(ax, figsize=(4, 3.5))
    ms = [m for m in ("bptt", "fptt") if any(r["method"] == m for r in rows)]
    for i, m in enumerate(ms):
        acc = [r["accuracy"] for r in rows if r["method"] == m]
        ax.bar(i, np.mean(acc), color=_COLORS[m], alpha=0.7)
        ax.scatter([i] * len(acc), acc, color="k", s=12)
    ax.axhline(chance, color="k", ls=":", label="chance")
    ax.set_xticks(range(len(ms)), [m.upper() for m in ms])
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    return ax


def override_label(override: str) -> str:
    """A ``--set KEY=VALUE`` override as a legend entry: the key's last part, and a value
    that is a power of two below 1/8 (a step) as ``2^e`` (``fptt.lr.w_out=2.384185791015625e-07`` →
    ``w_out=2^-22``)."""
    key, _, value = override.partition("=")
    try:
        e = np.log2(float(value))
    except ValueError:
        e = None
    if e is not None and np.isfinite(e) and e == round(e) and e <= -4:   # a step, not a size
        value = f"2^{int(e)}"
    return f"{key.split('.')[-1]}={value}"


def plot_smnist_curves(records, task="smnist", ax=None, chance=0.1, setup=None):
    """Test accuracy against training images seen, one line per run of ``task`` in the
    records of :mod:`fptt.study.smnist` (``results/smnist_onchip.json``; only those of
    ``setup`` if given): learning runs solid, each readout-only control dashed in its run's
    colour, the least-squares readout of the untrained network (no curve) a dotted
    horizontal line. Returns the axes; each line's label names its run.
    """
    ax = _ax(ax, figsize=(7, 4.2))
    fixed_colors = {"fixed": "tab:blue", "twin": "tab:green", "ref-bptt": "tab:gray"}
    spare = itertools.cycle(["tab:red", "tab:purple", "tab:orange", "tab:cyan", "tab:pink",
                             "tab:olive", "k", "tab:brown"])
    colors = {}
    for r in (r for r in records if r["task"] == task and setup in (None, r["setup"])):
        seeds = r.get("seeds", [0])
        run = (f"{r['model']} ({r['setup']}" + "".join(f", {override_label(o)}"
                                                        for o in r.get("set", ()))
               + ("" if seeds == [0] else f", seed {', '.join(map(str, seeds))}"))
        label = run + (", readout only)" if r["learn"] == "readout" else ")")
        if r["model"] == "lsq-readout":
            ax.axhline(r["accuracy"][0], ls=":", color="tab:brown",
                       label=f"least squares on the untrained network ({r['setup']}"
                             + ("" if seeds == [0] else f", seed {', '.join(map(str, seeds))}")
                             + ")")
            continue
        curve = r.get("curve") or []
        if not curve:
            continue
        if run not in colors:   # a run and its control share a colour; the model's own colour
            # goes to its first plain run, every other run (another set-up too) gets its own
            own = fixed_colors.get(r["model"])
            colors[run] = (own if own and own not in colors.values() and not r.get("set")
                           and seeds == [0] else next(spare))
        seen = [c[0] for c in curve]
        acc = [float(np.mean(c[1])) for c in curve]
        ax.plot(seen, acc, marker="o", ms=3, ls="--" if r["learn"] == "readout" else "-",
                color=colors[run], label=label)
    ax.axhline(chance, color="k", lw=0.8, label="chance")
    ax.set_xlabel("training images seen (8,000 a pass)")
    ax.set_ylabel("test accuracy (images 8,000-9,999)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper left", ncol=2)   # above the curves: none reaches 70 %
    ax.set_title(task.upper().replace("PSMNIST", "PS-MNIST").replace("SMNIST", "S-MNIST"))
    return ax
