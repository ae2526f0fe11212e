"""Learning steps per second of the golden model (single core and batched) and the float twin.

    .venv/bin/python benchmarks/golden_throughput.py [--sequences N] [--batch 1 8 32]

A learning step is one time step of one core with learning on (forward, window
buffer, and its share of the backward pass and FPTT update). Prints a table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fptt.config import CoreConfig
from fptt.golden.fixed_core import FixedCore
from fptt.golden.twin import FloatTwin
from fptt.golden.weights import init_weights
from fptt.tasks import make_task
from fptt.train import TrainSettings, place_targets


def measure(cls, cfg, batch, seqs, settings):
    weights = [init_weights(cfg, b, settings.gain_in, settings.gain_rec, settings.gain_out)
               for b in range(batch)]
    core = cls(cfg, {m: np.stack([w[m] for w in weights]) for m in weights[0]})
    t0 = time.perf_counter()
    steps = 0
    for seq in seqs:
        core.run_sequence(np.broadcast_to(seq.x, (batch,) + seq.x.shape),
                          np.broadcast_to(seq.target, (batch,) + seq.target.shape),
                          np.broadcast_to(seq.has_target, (batch, seq.steps)))
        steps += seq.steps * batch
    return steps / (time.perf_counter() - t0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)
    cfg, settings = CoreConfig(), TrainSettings()
    task = make_task("cue", n_train=args.sequences, n_test=1)
    seqs = [place_targets(s, "aux", cfg.window, 2) for s in task.train_set()]
    print(f"default core: n_in={cfg.n_in} n_hidden={cfg.n_hidden} n_out={cfg.n_out} "
          f"window={cfg.window} rounding={cfg.rounding}; cue task, {seqs[0].steps} steps/sequence")
    print(f"{'model':<8} {'batch':>6} {'learning steps/s':>17}")
    for name, cls in (("fixed", FixedCore), ("twin", FloatTwin)):
        for batch in args.batch:
            print(f"{name:<8} {batch:>6} {measure(cls, cfg, batch, seqs, settings):>17,.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
