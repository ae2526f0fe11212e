"""Learning steps per second of the golden models: NumPy spec, compiled, float twin, PyTorch FPTT.

    .venv/bin/python benchmarks/golden_throughput.py [--sequences N] [--batch 1 8 32]
        [--seconds S] [--no-compile-time] [--smnist [--smnist-images 8000]]

A learning step is one time step of one core with learning on (forward, window
buffer, and its share of the backward pass and FPTT update). Every model runs
the same network (default :class:`CoreConfig`, the same initial weights) on
the cue task with ``aux`` targets; a batch of ``B`` is ``B`` independent cores
(seeds) sharing one schedule, as ``fptt train --seeds B`` runs them (the
PyTorch reference: ``B`` trainers one after the other, as ``_ReferenceLearner``).
Slow models run only as many sequences as fit in ``--seconds``.

The compile time is measured in fresh subprocesses with an empty numba cache
(``NUMBA_CACHE_DIR``), then again with that cache filled (the cached start).

``--smnist`` then times one training pass of S-MNIST in fixed point, compiled:
``--smnist-images`` images x 784 steps at batch 1 (data from ``$FPTT_DATA_DIR``,
default ``/work/shared/data/mnist``), plus the test-set evaluation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from fptt.config import CoreConfig
from fptt.golden.compiled import CompiledFixedCore, CompiledTwin
from fptt.golden.fixed_core import FixedCore
from fptt.golden.twin import FloatTwin
from fptt.golden.weights import init_weights
from fptt.tasks import make_task
from fptt.train import TrainSettings, place_targets

MODELS = (("fixed", "spec", FixedCore), ("fixed", "compiled", CompiledFixedCore),
          ("twin", "spec", FloatTwin), ("twin", "compiled", CompiledTwin))


def _weights(cfg, batch, settings):
    return [init_weights(cfg, b, settings.gain_in, settings.gain_rec, settings.gain_out)
            for b in range(batch)]


def measure_golden(cls, cfg, batch, seqs, settings, seconds):
    """Learning steps/s of a golden model class, ``batch`` cores, one sequence per call."""
    ws = _weights(cfg, batch, settings)
    core = cls(cfg, {m: np.stack([w[m] for w in ws]) for m in ws[0]})
    def run(seq):
        core.run_sequence(np.broadcast_to(seq.x, (batch,) + seq.x.shape),
                          np.broadcast_to(seq.target, (batch,) + seq.target.shape),
                          np.broadcast_to(seq.has_target, (batch, seq.steps)))

    run(seqs[0])    # warm-up, with the arrays of the timed calls (compilation, caches)
    steps, t0 = 0, time.perf_counter()
    for seq in seqs:
        run(seq)
        steps += seq.steps * batch
        if time.perf_counter() - t0 > seconds:
            break
    return steps / (time.perf_counter() - t0)


def measure_reference(cfg, batch, seqs, settings, seconds):
    """Learning steps/s of the PyTorch FPTT reference (parts of ``cfg.window``), ``batch`` seeds."""
    from fptt.golden.reference import FPTTTrainer
    kw = dict(optimizer=settings.ref_optimizer, lr=settings.ref_lr, clip=settings.ref_clip,
              loss="mse")
    trainers = [FPTTTrainer(cfg, w, part_len=cfg.window, **kw)
                for w in _weights(cfg, batch, settings)]
    s0 = seqs[0]
    trainers[0].train_sequence(s0.x, s0.target, s0.has_target)
    steps, t0 = 0, time.perf_counter()
    for seq in seqs:
        for tr in trainers:
            tr.train_sequence(seq.x, seq.target, seq.has_target)
            steps += seq.steps
        if time.perf_counter() - t0 > seconds:
            break
    return steps / (time.perf_counter() - t0)


_COMPILE_PROBE = """
import time
t0 = time.perf_counter()
import numpy as np
from fptt.config import CoreConfig
from fptt.golden.compiled import CompiledFixedCore, CompiledTwin
from fptt.golden.weights import init_weights
cfg = CoreConfig()
x = np.zeros((40, cfg.n_in)); x[::3, 0] = 1.0
tg = np.zeros((40, cfg.n_out)); ht = np.ones(40, bool)
t1 = time.perf_counter()
c = CompiledFixedCore(cfg, init_weights(cfg, 0))
c.run_sequence(x, tg, ht); c.predict(x[None])
t2 = time.perf_counter()
tw = CompiledTwin(cfg, init_weights(cfg, 0))
tw.run_sequence(x, tg, ht); tw.predict(x[None])
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def compile_times():
    """``(fresh, cached)``: seconds (import, fixed, twin) with an empty and a filled cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, check=True,
                                 capture_output=True, text=True).stdout
            runs.append([float(v) for v in out.split()])
    return runs


def smnist_pass(n_images, n_test, settings):
    """Wall time of one fixed-point training pass over S-MNIST (batch 1) and its evaluation."""
    data_dir = os.environ.get("FPTT_DATA_DIR", "/work/shared/data/mnist")
    t0 = time.perf_counter()
    task = make_task("smnist", data_dir=data_dir, n_train=n_images, n_test=n_test)
    cfg = CoreConfig().replace(n_in=task.n_in, n_out=task.n_out, acc_width=0)
    train = task.train_set()
    test = list(task.test_set())
    t_load = time.perf_counter() - t0
    core = CompiledFixedCore(cfg, init_weights(cfg, 0, settings.gain_in, settings.gain_rec,
                                               settings.gain_out))
    steps, t0 = 0, time.perf_counter()
    chunk = 250         # sequences per compiled call (targets placed chunk by chunk)
    for i in range(0, len(train), chunk):
        seqs = [place_targets(s, "aux", cfg.window, task.n_out) for s in train[i:i + chunk]]
        core.run_sequences([s.x for s in seqs], [s.target for s in seqs],
                           [s.has_target for s in seqs])
        steps += sum(s.steps for s in seqs)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = []
    for i in range(0, len(test), 500):
        part = test[i:i + 500]
        out = core.predict(np.stack([s.x for s in part]))
        preds += [task.predict(out[b], s) for b, s in enumerate(part)]
    score = task.score(preds, test)
    t_eval = time.perf_counter() - t0
    return dict(images=len(train), steps=steps, load_s=t_load, train_s=t_train, eval_s=t_eval,
                test_images=len(test), windows=int(core.state.windows[0]), **score)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=200,
                        help="cue sequences (each model stops early after --seconds)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="time budget per measurement of a slow model")
    parser.add_argument("--no-reference", action="store_true", help="skip the PyTorch reference")
    parser.add_argument("--no-compile-time", action="store_true")
    parser.add_argument("--smnist", action="store_true", help="time one S-MNIST training pass")
    parser.add_argument("--smnist-images", type=int, default=8000)
    parser.add_argument("--smnist-test", type=int, default=2000)
    args = parser.parse_args(argv)
    cfg, settings = CoreConfig(), TrainSettings()
    task = make_task("cue", n_train=args.sequences, n_test=1)
    seqs = [place_targets(s, "aux", cfg.window, 2) for s in task.train_set()]
    print(f"default core: n_in={cfg.n_in} n_hidden={cfg.n_hidden} n_out={cfg.n_out} "
          f"window={cfg.window} rounding={cfg.rounding} biases={cfg.biases}; cue task, "
          f"{seqs[0].steps} steps/sequence")

    if not args.no_compile_time:
        (fi, ff, ft), (ci, cf, ct) = compile_times()
        print(f"first call (empty numba cache): import {fi:.1f} s, fixed {ff:.1f} s, "
              f"twin {ft:.1f} s; cached start: import {ci:.1f} s, fixed {cf:.2f} s, "
              f"twin {ct:.2f} s", flush=True)

    rates = {}
    print(f"{'model':<7} {'engine':<9} {'batch':>5} {'learning steps/s':>17}")
    for batch in args.batch:
        for kind, engine, cls in MODELS:
            r = measure_golden(cls, cfg, batch, seqs, settings, args.seconds)
            rates[kind, engine, batch] = r
            print(f"{kind:<7} {engine:<9} {batch:>5} {r:>17,.0f}", flush=True)
        if not args.no_reference:
            r = measure_reference(cfg, batch, seqs, settings, args.seconds)
            rates["ref-fptt", "pytorch", batch] = r
            print(f"{'ref-fptt':<7} {'pytorch':<9} {batch:>5} {r:>17,.0f}", flush=True)
    print("ratios (compiled / spec; compiled fixed / PyTorch FPTT):")
    for batch in args.batch:
        fixed = rates["fixed", "compiled", batch]
        parts = [f"batch {batch:>2}: fixed {fixed / rates['fixed', 'spec', batch]:6.1f}x",
                 f"twin {rates['twin', 'compiled', batch] / rates['twin', 'spec', batch]:6.1f}x"]
        if ("ref-fptt", "pytorch", batch) in rates:
            parts.append(f"fixed vs PyTorch {fixed / rates['ref-fptt', 'pytorch', batch]:6.1f}x")
        print("  " + ", ".join(parts))

    if args.smnist:
        r = smnist_pass(args.smnist_images, args.smnist_test, settings)
        print(f"S-MNIST, fixed point compiled, batch 1: {r['images']} images x 784 steps "
              f"({r['steps']:,} learning steps, {r['windows']} windows) in {r['train_s']:.1f} s "
              f"({r['steps'] / r['train_s']:,.0f} steps/s); data load {r['load_s']:.1f} s; "
              f"test ({r['test_images']} images) {r['eval_s']:.1f} s, "
              f"accuracy {r.get('accuracy', float('nan')):.3f}")


if __name__ == "__main__":
    main()
