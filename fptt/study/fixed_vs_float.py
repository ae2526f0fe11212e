"""What fixed point costs: accuracy against weight bits, saturation profile, window trade-off.

Definitions used by every sweep here
------------------------------------
*Weight width N* (:func:`weight_width_config`): the stored weights ``W_in``,
``W_rec``, ``W_out`` are ``Q3.(N-3)`` (N bits, range ±4, LSB ``2**-(N-3)``);
every other format (``W̄``, ``λ``, gradients, neuron state, backward signals)
stays at the default configuration's, and the synaptic accumulator is sized
automatically (it is exact, so its width changes no result). ``rounding`` is
the rule of the FPTT update writes (w, λ, W̄).

*Sizes*: every run is online, batch size 1, one epoch over ``n_train``
training sequences, scored on ``n_test`` test sequences with learning off;
``seeds`` independent cores (initial weights and data order from the seed)
run as one batch (:func:`fptt.study.runners.train_golden`).

*Readout-only control*: the same core with ``TrainSettings(learn="readout")``
(``W_in``, ``W_rec``, ``b`` frozen): what a trained readout on the untrained
network reaches. Every accuracy is read against it, and every row carries the
relative L1 change of each weight matrix (``dW_w_in``, ``dW_w_rec``,
``dW_w_out``; :func:`fptt.study.runners.change_columns`), so a figure shows
whether the hidden layer learned.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import CoreConfig, Fmt
from ..memory import memory_bits
from ..train import TrainSettings
from .common import Timer, data_dir, pick, progress, write_csv, write_json
from .runners import change_columns, placed_train_set, train_golden, train_reference

__all__ = ["WIDTHS", "ROUNDINGS", "WINDOWS", "weight_width_config", "fit_config",
           "CUE_BASELINES", "cue_sizes", "mnist_sizes", "make_study_task", "sweep_bits", "float_baselines",
           "sweep_window", "window_memory_table"]

WIDTHS = (6, 8, 10, 12, 16)
ROUNDINGS = ("nearest", "stochastic")
#: Windows of the trade-off: around the default L = 35 (two windows per 70-step
#: cue sequence); windows shorter than the 20-step cue-to-decision delay stay at
#: the control's level (README, "Results"), so L < 8 is not swept.
WINDOWS = (8, 16, 32, 35, 48, 64)
#: The float lines of the cue sweep: ``(model, window, learn)``; window None is
#: the base configuration's. ``fixed``/``twin`` with ``learn="readout"`` are the
#: readout-only controls (rows named ``fixed-readout``, ``twin-readout``).
CUE_BASELINES = (("twin", None, "all"), ("fixed", None, "readout"), ("twin", None, "readout"),
                 ("ref-bptt", None, "all"))


def fit_config(cfg: CoreConfig, task) -> CoreConfig:
    """``cfg`` with the task's ``n_in``/``n_out`` and an automatically sized accumulator."""
    return cfg.replace(n_in=task.n_in, n_out=task.n_out, acc_width=0)


def weight_width_config(base: CoreConfig, width: int, rounding: str | None = None) -> CoreConfig:
    """``base`` with weights ``Q3.(width-3)`` (module docstring) and, if given, ``rounding``."""
    if width < 4:
        raise ValueError(f"weight width must be >= 4 (3 integer bits + 1), not {width}")
    cfg = base.replace(formats={"w": Fmt(width, width - 3)}, acc_width=0)
    if rounding is not None:
        cfg = cfg.replace(rounding=rounding)
    return cfg


def cue_sizes() -> dict:
    """Sizes of the cue-task sweeps (full, or smoke size under ``FAST=1``)."""
    # 2,000 sequences: the hidden layer needs them (800 leave the default core at
    # the control's level); 4 seeds as benchmarks/hidden_layer.py, whose rows the
    # 16-bit stochastic point and the twin reproduce exactly.
    return pick(dict(n_train=2000, n_test=500, seeds=(0, 1, 2, 3), ref_fptt_l1_seeds=(0,),
                     window_seeds=(0, 1, 2, 3)),
                dict(n_train=6, n_test=8, seeds=(0, 1), ref_fptt_l1_seeds=(0,),
                     window_seeds=(0,)))


def mnist_sizes() -> dict:
    """Sizes of the S-MNIST sweeps (784 steps per image: the fixed-point model is slow)."""
    return pick(dict(n_train=32, n_test=200, seeds=(0, 1), widths=WIDTHS),
                dict(n_train=1, n_test=4, seeds=(0,), widths=(8, 16)))


def make_study_task(name: str, n_train: int, n_test: int, seed: int = 0):
    """``cue`` (seeded) or ``smnist``/``psmnist`` from ``$FPTT_DATA_DIR`` (None when absent)."""
    from ..tasks import make_task
    if name in ("smnist", "psmnist"):
        d = data_dir()
        if d is None:
            return None
        return make_task(name, data_dir=d, n_train=n_train, n_test=n_test)
    return make_task(name, n_train=n_train, n_test=n_test, seed=seed)


def _metric(score: dict) -> float:
    return score.get("accuracy", score.get("mse"))


def sweep_bits(task_name: str = "cue", widths=WIDTHS, roundings=ROUNDINGS, sizes: dict | None = None,
               base: CoreConfig | None = None, settings: TrainSettings = TrainSettings(),
               tag: str | None = None) -> list[dict]:
    """Fixed-point accuracy for every weight width × rounding mode, seeds as one batch.

    Writes ``bits_<tag>.csv`` (one row per seed and point), ``saturation_<tag>.csv``
    (per quantity: saturated writes / all writes, per seed and point),
    ``curves_<tag>.csv`` (test metric after a fraction of the training set) and
    ``bits_<tag>.json`` (sizes and base configuration). Returns the accuracy rows.
    """
    tag = tag or task_name
    sizes = sizes or (cue_sizes() if task_name == "cue" else mnist_sizes())
    task = make_study_task(task_name, sizes["n_train"], sizes["n_test"])
    if task is None:
        return []
    base = fit_config(base or CoreConfig(), task)
    seeds = sizes["seeds"]
    train_seqs = placed_train_set(task, base, settings.schedule)
    test_seqs = list(task.test_set())
    n = len(train_seqs)
    eval_at = sorted({max(1, n * k // 4) for k in (1, 2, 3, 4)})
    rows, sat_rows, curve_rows = [], [], []
    points = [(w, r) for r in roundings for w in widths]
    for width, rounding in progress(points, desc=f"{tag}: bits x rounding"):
        cfg = weight_width_config(base, width, rounding)
        res = train_golden(cfg, task, "fixed", seeds, settings, train_seqs, test_seqs,
                           eval_at=eval_at, desc=f"W{width} {rounding}")
        mem = memory_bits(cfg)
        for b, seed in enumerate(seeds):
            rows.append(dict(task=tag, model="fixed", rounding=rounding, width=width, seed=seed,
                             metric=_metric(res["scores"][b]), n_train=n, n_test=len(test_seqs),
                             seconds=round(res["seconds"], 2), memory_bits=mem["total"],
                             **change_columns(res["weight_change"][b])))
            for q, (hit, writes) in sorted(res["saturation"][b].items()):
                sat_rows.append(dict(task=tag, rounding=rounding, width=width, seed=seed,
                                     quantity=q, saturated=hit, writes=writes,
                                     fraction=hit / writes if writes else 0.0))
            for seen, scores in res["curve"]:
                curve_rows.append(dict(task=tag, model="fixed", rounding=rounding, width=width,
                                       seed=seed, seen=seen, metric=_metric(scores[b])))
        write_csv(rows, f"bits_{tag}.csv")
        write_csv(sat_rows, f"saturation_{tag}.csv")
        write_csv(curve_rows, f"curves_{tag}.csv")
    write_json(dict(task=tag, sizes=dict(sizes, n_train=n, n_test=len(test_seqs)),
                    settings=dataclasses.asdict(settings), base_config=base.to_dict(),
                    width_definition="weights Q3.(N-3); other formats as the base"),
               f"bits_{tag}.json")
    return rows


def _baseline(entry) -> tuple:
    """``(model, window, learn)`` from a 2- or 3-tuple (``learn`` defaults to ``"all"``)."""
    model, window, *rest = entry
    return model, window, (rest[0] if rest else "all")


def row_model(model: str, learn: str) -> str:
    """The ``model`` column of a float-line row: ``twin``, or ``twin-readout`` for its control."""
    return model if learn == "all" else f"{model}-{learn}"


def float_baselines(task_name: str = "cue", models=CUE_BASELINES,
                    sizes: dict | None = None, base: CoreConfig | None = None,
                    settings: TrainSettings = TrainSettings(), tag: str | None = None) -> list[dict]:
    """The reference lines: the float twin, the readout-only controls (seeds batched) and the
    PyTorch references (one seed at a time).

    ``models`` are ``(model, window[, learn])`` tuples (``window`` None: the
    base's; ``learn`` ``"all"`` or ``"readout"``, golden models only).
    ``ref-fptt`` with ``L = 1`` is slow (an optimiser step per time step), so
    it runs ``sizes["ref_fptt_l1_seeds"]`` when given. Writes ``floats_<tag>.csv``
    (with the per-matrix weight change of every run).
    """
    tag = tag or task_name
    sizes = sizes or (cue_sizes() if task_name == "cue" else mnist_sizes())
    task = make_study_task(task_name, sizes["n_train"], sizes["n_test"])
    if task is None:
        return []
    base = fit_config(base or CoreConfig(), task)
    test_seqs = list(task.test_set())
    rows = []
    for model, window, learn in map(_baseline, models):
        L = window or base.window
        cfg = base.replace(window=L, window_max=max(L, base.window_max))
        train_seqs = placed_train_set(task, cfg, settings.schedule)
        seeds = sizes["seeds"]
        if model == "ref-fptt" and L == 1 and "ref_fptt_l1_seeds" in sizes:
            seeds = sizes["ref_fptt_l1_seeds"]
        if model in ("twin", "fixed"):
            st = dataclasses.replace(settings, learn=learn)
            res = train_golden(cfg, task, model, seeds, st, train_seqs, test_seqs,
                               desc=f"{row_model(model, learn)} L={L}")
            per = [(s, res["scores"][b], res["seconds"], res["weight_change"][b])
                   for b, s in enumerate(seeds)]
        else:
            per = []
            for s in seeds:
                r = train_reference(cfg, task, model, s, settings, train_seqs, test_seqs,
                                    desc=f"{model} L={L} seed {s}")
                per.append((s, r["score"], r["seconds"], r.get("weight_change", {})))
        for s, score, sec, change in per:
            rows.append(dict(task=tag, model=row_model(model, learn),
                             window=L if model != "ref-bptt" else "", seed=s,
                             metric=_metric(score), n_train=len(train_seqs),
                             n_test=len(test_seqs), seconds=round(sec, 2), **change_columns(change)))
        write_csv(rows, f"floats_{tag}.csv")
    return rows


def window_memory_table(base: CoreConfig | None = None, windows=WINDOWS) -> list[dict]:
    """On-chip memory bits of a core whose window buffer is exactly ``L`` deep, per ``L``."""
    base = base or CoreConfig()
    rows = []
    for L in windows:
        mem = memory_bits(base.replace(window=L, window_max=L))
        rows.append(dict(window=L, **{f"{k}_bits": v for k, v in mem.items()}))
    return rows


def sweep_window(task_name: str = "cue", windows=WINDOWS, models=("twin", "fixed"),
                 sizes: dict | None = None, base: CoreConfig | None = None,
                 settings: TrainSettings = TrainSettings(), reuse: list[dict] | None = None,
                 tag: str | None = None) -> list[dict]:
    """Accuracy against the window ``L`` (window buffer exactly ``L`` deep) for the float twin
    and the default fixed point, with the memory each ``L`` costs.

    ``reuse``: rows of :func:`sweep_bits` / :func:`float_baselines` already run
    with the same sizes; a point they hold (the base window, default width and
    rounding) is taken from them instead of rerun. Writes ``window_<tag>.csv``.
    """
    tag = tag or task_name
    sizes = sizes or cue_sizes()
    task = make_study_task(task_name, sizes["n_train"], sizes["n_test"])
    base = fit_config(base or CoreConfig(), task)
    seeds = sizes.get("window_seeds", sizes["seeds"])
    test_seqs = list(task.test_set())
    rows = []
    reuse = reuse or []
    for L in progress(list(windows), desc=f"{tag}: window L"):
        cfg = base.replace(window=L, window_max=L)
        mem = memory_bits(cfg)
        train_seqs = None
        for model in models:
            old = [r for r in reuse if r.get("model") == model and r.get("seed") in seeds
                   and (r.get("window") == L if "window" in r and r.get("window") not in ("", None)
                        else L == base.window)
                   and r.get("width", base.formats.w.width) == base.formats.w.width
                   and r.get("rounding", base.rounding) == base.rounding
                   and r.get("n_train") == sizes["n_train"]]
            if len(old) == len(seeds):
                got = [(r["seed"], r["metric"], r["seconds"],
                        {k: v for k, v in r.items() if k.startswith("dW_")}) for r in old]
            else:
                if train_seqs is None:
                    train_seqs = placed_train_set(task, cfg, settings.schedule)
                res = train_golden(cfg, task, model, seeds, settings, train_seqs, test_seqs,
                                   desc=f"{model} L={L}")
                got = [(s, _metric(res["scores"][b]), round(res["seconds"], 2),
                        change_columns(res["weight_change"][b])) for b, s in enumerate(seeds)]
            for s, metric, sec, change in got:
                rows.append(dict(task=tag, model=model, window=L, seed=s, metric=metric,
                                 seconds=sec, n_train=sizes["n_train"],
                                 window_buffer_bits=mem["window_buffer"],
                                 total_bits=mem["total"], **change))
        write_csv(rows, f"window_{tag}.csv")
    return rows
