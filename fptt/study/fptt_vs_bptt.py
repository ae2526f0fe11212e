"""FPTT against BPTT on the float reference: the adding problem, memory and time against the
sequence length, and PS-MNIST.

Both algorithms train the same ALIF network (:mod:`fptt.golden.reference`)
from the same initial weights, on the same sequences in the same mini-batches,
with the same optimiser (Adam, gradient-norm clipping 1.0, as published); only
the learning rule differs:

``bptt``   one step per mini-batch, the exact gradient of the whole sequence's loss;
``fptt``   the sequence cut into ``K`` parts of ``T/K`` steps, one step per part on
           the part's loss plus FPTT's dynamic regulariser (Kag & Saligrama's code;
           the :class:`~fptt.golden.reference.FPTTTrainer`).

Targets follow the published scripts: on the adding problem BPTT's loss is the
squared error at the last step; FPTT (sFPTT's ``add_task_train_online``)
regresses the readout onto the sum at the end of every part. On PS-MNIST BPTT
uses the cross-entropy at the last step, FPTT the auxiliary loss.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..config import CoreConfig
from ..memory import memory_bits
from .common import Timer, data_dir, pick, progress, set_threads, write_csv, write_json

__all__ = ["RefSetup", "adding_sizes", "adding_gated_sizes", "scaling_sizes", "psmnist_sizes",
           "adding_sweep", "adding_ceiling_run", "scaling_sweep", "fit_order", "psmnist_compare",
           "SavedTensorMeter", "load_long_sequences", "longest_delay_learned"]


@dataclass(frozen=True)
class RefSetup:
    """Network and optimiser of the FPTT-vs-BPTT comparisons."""

    n_hidden: int = 64
    tau_out: float = 10.0
    lr: float = 3e-3
    clip: float = 1.0
    fptt_alpha: float = 0.1
    parts: int = 10            # K: FPTT parts per sequence
    batch: int = 16
    gain_in: float = 3.0
    gain_rec: float = 0.5
    gain_out: float = 0.5

    def config(self, n_in: int, n_out: int) -> CoreConfig:
        return CoreConfig().replace(n_in=n_in, n_out=n_out, n_hidden=self.n_hidden, acc_width=0,
                                    neuron={"tau_out": self.tau_out})

    def weights(self, cfg: CoreConfig, seed: int):
        from ..golden.weights import init_weights
        return init_weights(cfg, seed, self.gain_in, self.gain_rec, self.gain_out)


def adding_sizes() -> dict:
    return pick(dict(lengths=(100, 200, 500, 1000), n_train=1280, n_test=200, seeds=(0, 1)),
                dict(lengths=(20, 40), n_train=32, n_test=16, seeds=(0,)))


def adding_gated_sizes() -> dict:
    """The gated adding problem (:class:`fptt.tasks.AddingTask` ``gated=True``): shorter
    sequences, where the untrained state still carries the sum, and more of them."""
    return pick(dict(lengths=(20, 50, 100, 200), n_train=16000, n_test=500, seeds=(0, 1)),
                dict(lengths=(20, 40), n_train=32, n_test=16, seeds=(0,)))


def scaling_sizes() -> dict:
    return pick(dict(lengths=(50, 100, 200, 400, 800, 1600), reps=2, parts=8),
                dict(lengths=(10, 20, 40), reps=1, parts=4))


def psmnist_sizes() -> dict:
    return pick(dict(n_train=800, n_test=500, seeds=(0,), parts=14),
                dict(n_train=16, n_test=8, seeds=(0,), parts=4))


def _make_trainer(method: str, cfg, w, setup: RefSetup, part_len: int, loss: str):
    from ..golden.reference import BPTTTrainer, FPTTTrainer
    if method == "bptt":
        return BPTTTrainer(cfg, w, "adam", setup.lr, clip=setup.clip, loss=loss)
    return FPTTTrainer(cfg, w, part_len=part_len, optimizer="adam", lr=setup.lr,
                       alpha=setup.fptt_alpha, clip=setup.clip, loss=loss)


def _adding_batch(xs, labels, method: str, part_len: int):
    B, T = xs.shape[0], xs.shape[1]
    tgt = np.zeros((B, T, 1))
    has = np.zeros((B, T), bool)
    if method == "bptt":
        tgt[:, -1, 0] = labels
        has[:, -1] = True
    else:
        tgt[:, :, 0] = labels[:, None]
        has[:, part_len - 1::part_len] = True
        has[:, -1] = True
    return tgt, has


def adding_run(T: int, method: str, seed: int, n_train: int, n_test: int,
               setup: RefSetup = RefSetup(), desc: str = "", gated: bool = False) -> dict:
    """Train one seed of ``method`` on the adding problem of length ``T`` (``gated``: the
    values only at the marked steps, :class:`fptt.tasks.AddingTask`); test MSE and time."""
    from ..tasks import make_task
    set_threads(1)
    task = make_task("adding", seq_len=T, n_train=n_train, n_test=n_test, seed=seed, gated=gated)
    cfg = setup.config(task.n_in, task.n_out)
    part_len = max(1, T // setup.parts)
    tr = task.train_set()
    te = list(task.test_set())
    trainer = _make_trainer(method, cfg, setup.weights(cfg, seed), setup, part_len, "mse")
    with Timer() as t:
        for i in progress(range(0, n_train, setup.batch), desc=desc or f"{method} T={T}"):
            seqs = [tr[j] for j in range(i, min(i + setup.batch, n_train))]
            xs = np.stack([s.x for s in seqs])
            labels = np.array([s.label for s in seqs])
            tgt, has = _adding_batch(xs, labels, method, part_len)
            if method == "bptt":
                trainer.train_batch(xs, tgt, has)
            else:
                trainer.train_sequence(xs, tgt, has)
    out = np.concatenate([trainer.forward(np.stack([s.x for s in te[i:i + 256]]))[:, -1, 0]
                          for i in range(0, len(te), 256)])
    labels = np.array([s.label for s in te])
    mse = float(np.mean((out - labels) ** 2))
    if not math.isfinite(mse):
        mse = float("inf")
    return dict(task="adding", gated=gated, T=T, method=method, seed=seed, test_mse=mse,
                n_train=n_train, n_test=len(te), batch=setup.batch,
                updates=(-(-n_train // setup.batch)) * (1 if method == "bptt" else
                                                        len(range(0, T, part_len))),
                seconds=round(t.seconds, 2))


def adding_ceiling_run(T: int, seed: int, n_train: int, n_test: int,
                       setup: RefSetup = RefSetup(), gated: bool = False) -> dict:
    """The least-squares readout of the untrained network (:func:`.diagnostics.readout_ceiling`,
    fitted on ``n_train`` sequences): the best any readout-only control can do; an
    :func:`adding_run` row with ``method = "lsq"``."""
    from ..tasks import make_task
    from .diagnostics import readout_ceiling
    task = make_task("adding", seq_len=T, n_train=n_train, n_test=n_test, seed=seed, gated=gated)
    cfg = setup.config(task.n_in, task.n_out)
    with Timer() as t:
        r = readout_ceiling(cfg, setup.weights(cfg, seed), task)
    return dict(task="adding", gated=gated, T=T, method="lsq", seed=seed, test_mse=r["mse"],
                n_train=n_train, n_test=n_test, batch=n_train, updates=0,
                seconds=round(t.seconds, 2))


def adding_sweep(sizes: dict | None = None, setup: RefSetup = RefSetup(),
                 methods=("bptt", "fptt"), gated: bool = False) -> list[dict]:
    """Test MSE against ``T`` for BPTT and FPTT (and ``"lsq"``, :func:`adding_ceiling_run`, if
    in ``methods``); writes ``adding.csv`` and ``adding.json`` (``gated``: the gated task,
    ``adding_gated.csv`` and ``adding_gated.json``)."""
    sizes = sizes or adding_sizes()
    name = "adding_gated" if gated else "adding"
    rows = []
    jobs = [(T, m, s) for T in sizes["lengths"] for m in methods for s in sizes["seeds"]]
    for T, m, s in progress(jobs, desc=f"{name}: T x method x seed"):
        if m == "lsq":
            rows.append(adding_ceiling_run(T, s, sizes["n_train"], sizes["n_test"], setup, gated))
        else:
            rows.append(adding_run(T, m, s, sizes["n_train"], sizes["n_test"], setup,
                                   desc=f"{m} T={T} seed {s}", gated=gated))
        write_csv(rows, f"{name}.csv")
    write_json(dict(sizes=sizes, setup=dataclasses.asdict(setup)), f"{name}.json")
    return rows


class SavedTensorMeter:
    """Peak bytes of the tensors autograd keeps for the backward pass.

    Inside the context every tensor saved for backward is counted once, by
    its own extent (``numel · element size``; a view counts the elements it
    spans, not the whole buffer it points into, so a slice of the input
    sequence costs only its steps); :meth:`cut` (called just before each
    optimiser step, when the part's graph has been used) closes a part and
    keeps the largest total seen. This is the memory that grows with the part
    length: activations and their surrogate inputs, not the weights or the
    optimiser state (constant in ``T``).
    """

    def __init__(self):
        self.peak = 0
        self._seen: dict[tuple, int] = {}

    def _pack(self, t):
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype)
        self._seen[key] = t.element_size() * t.nelement()
        return t

    def cut(self, *_):
        self.peak = max(self.peak, sum(self._seen.values()))
        self._seen = {}

    def __enter__(self):
        import torch
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self.cut()
        return self._ctx.__exit__(*exc)


def _measure_one(method: str, T: int, part_len: int, setup: RefSetup, reps: int, seed: int = 0):
    """Peak saved-tensor bytes and seconds per sequence of one training sequence (batch 1)."""
    from ..tasks import make_task
    task = make_task("adding", seq_len=T, n_train=reps, n_test=1, seed=seed)
    cfg = setup.config(task.n_in, task.n_out)
    kind = "bptt" if method == "bptt" else "fptt"
    trainer = _make_trainer(kind, cfg, setup.weights(cfg, seed), setup, part_len, "mse")
    handle = None
    meter = SavedTensorMeter()
    handle = trainer.optimizer.register_step_pre_hook(lambda *a: meter.cut())
    times = []
    for i in range(reps):
        s = task.train_set()[i]
        xs = s.x[None]
        tgt, has = _adding_batch(xs, np.array([s.label]), kind, part_len)
        with Timer() as t, meter:
            if kind == "bptt":
                trainer.train_batch(xs, tgt, has)
            else:
                trainer.train_sequence(xs, tgt, has)
        times.append(t.seconds)
    handle.remove()
    return meter.peak, float(np.median(times))


def scaling_sweep(sizes: dict | None = None, setup: RefSetup = RefSetup()) -> list[dict]:
    """Peak autograd memory and time per sequence against ``T`` (batch 1, adding problem) for
    BPTT, FPTT with ``L = 1``, FPTT-K (``K`` parts of ``T/K``) and FPTT with a fixed
    ``L = 10``; plus the on-chip memory of the default core (from
    :func:`fptt.memory.memory_bits`). Writes ``scaling.csv``."""
    sizes = sizes or scaling_sizes()
    set_threads(1)
    K = sizes["parts"]
    rows = []
    methods = [("bptt", lambda T: T), ("fptt L=1", lambda T: 1),
               (f"fptt K={K}", lambda T: max(1, T // K)), ("fptt L=10", lambda T: 10)]
    jobs = [(m, f, T) for m, f in methods for T in sizes["lengths"]]
    for method, part, T in progress(jobs, desc="memory/time vs T"):
        L = part(T)
        peak, sec = _measure_one(method, T, L, setup, sizes["reps"])
        rows.append(dict(method=method, T=T, part_len=L, peak_bytes=peak,
                         seconds_per_sequence=round(sec, 5)))
        write_csv(rows, "scaling.csv")
    # the default core (window L, buffer window_max deep): its memory is the configuration's
    cfg = setup.config(2, 1)
    for T in sizes["lengths"]:
        rows.append(dict(method=f"core (on-chip bits/8, L={cfg.window}, buffer {cfg.window_max})",
                         T=T, part_len=cfg.window, peak_bytes=memory_bits(cfg)["total"] / 8,
                         seconds_per_sequence=None))
    write_csv(rows, "scaling.csv")
    return rows


def fit_order(rows: list[dict], key: str = "peak_bytes", last: int | None = None) -> dict[str, float]:
    """Slope of ``log(key)`` against ``log(T)`` per method (the measured growth order).

    ``last``: fit only the ``last`` largest ``T`` of each method (the order at the top of
    the range, where a constant offset such as the weights saved once matters least).
    """
    out = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["T"], r[key]) for r in rows if r["method"] == m and r.get(key))
        pts = [(t, v) for t, v in pts if v and v > 0]
        if last:
            pts = pts[-last:]
        if len(pts) >= 2:
            t, v = np.log(np.array(pts, float)).T
            out[m] = float(np.polyfit(t, v, 1)[0])
    return out


def psmnist_compare(sizes: dict | None = None, setup: RefSetup = RefSetup(lr=1e-3, tau_out=20.0),
                    task_name: str = "psmnist") -> list[dict]:
    """PS-MNIST, BPTT (cross-entropy at the last step) against FPTT (auxiliary loss, ``K``
    parts); None-free list (empty) when ``$FPTT_DATA_DIR`` is absent. Writes ``psmnist.csv``."""
    from ..tasks import make_task
    d = data_dir()
    if d is None:
        return []
    sizes = sizes or psmnist_sizes()
    set_threads(1)
    task = make_task(task_name, data_dir=d, n_train=sizes["n_train"], n_test=sizes["n_test"])
    cfg = setup.config(task.n_in, task.n_out)
    T = task.seq_len
    part_len = -(-T // sizes["parts"])
    tr, te = task.train_set(), list(task.test_set())
    rows = []
    for seed in sizes["seeds"]:
        order = np.random.default_rng(seed).permutation(len(tr))
        for method in ("bptt", "fptt"):
            trainer = _make_trainer(method, cfg, setup.weights(cfg, seed), setup, part_len,
                                    "ce" if method == "bptt" else "aux")
            with Timer() as t:
                for i in progress(range(0, len(order), setup.batch), desc=f"{task_name} {method}"):
                    seqs = [tr[int(j)] for j in order[i:i + setup.batch]]
                    xs = np.stack([s.x for s in seqs])
                    labels = np.array([s.label for s in seqs])
                    if method == "bptt":
                        tgt = np.zeros((len(seqs), T, task.n_out))
                        tgt[np.arange(len(seqs)), -1, labels] = 1.0
                        has = np.zeros((len(seqs), T), bool)
                        has[:, -1] = True
                        trainer.train_batch(xs, tgt, has)
                    else:
                        trainer.train_sequence(xs, labels)
                if method == "fptt":    # one epoch: the released Q schedule counts epochs
                    trainer.end_epoch()
            preds = []
            for i in range(0, len(te), 256):
                out = trainer.forward(np.stack([s.x for s in te[i:i + 256]]))
                preds += list(out[:, -1].argmax(-1))
            acc = float(np.mean(np.array(preds) == np.array([s.label for s in te])))
            rows.append(dict(task=task_name, method=method, seed=seed, accuracy=acc,
                             n_train=len(tr), n_test=len(te), parts=sizes["parts"],
                             seconds=round(t.seconds, 2)))
            write_csv(rows, f"{task_name}.csv")
    write_json(dict(sizes=sizes, setup=dataclasses.asdict(setup)), f"{task_name}.json")
    return rows


def load_long_sequences(path=None) -> list[dict]:
    """Rows of ``benchmarks/long_sequences.py`` (``delay``, ``rule``, ``accuracy``, ``seeds``),
    read from the committed ``notebooks/results/long_sequences.json`` (an hour's run: the
    notebooks show it, they do not rerun it); empty when absent."""
    import json
    from .common import committed_results_dir
    path = committed_results_dir() / "long_sequences.json" if path is None else path
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def longest_delay_learned(rows: list[dict], rule: str, threshold: float = 0.9) -> int | None:
    """Longest delay whose mean accuracy over seeds reaches ``threshold`` for ``rule``."""
    ok = [r["delay"] for r in rows if r["rule"] == rule and r["accuracy"] >= threshold]
    return max(ok) if ok else None
