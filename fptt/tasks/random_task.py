"""A random stimulus task: any sizes, signed multi-bit inputs, random targets and lengths.

Not a learning problem: it exists to drive the core (golden model, RTL
co-simulation) through inputs the cue task never produces. Every input value
lies on the grid of a fixed-point format (``formats.x``), so quantisation is
exact, and covers the whole format: zeros (no event), spikes (``1.0``), the
extremes and any other signed code. Sequences have random lengths, including
a single step (``sos`` and ``eos`` on the same step), and random target steps.
The co-simulation adds the host-side randomness (learning on or off, missing
``sos``/``eos``, WINDOW changes) in :func:`fptt.sim.stimulus.random_frames`.
"""

from __future__ import annotations

import numpy as np

from .base import SampledTask, Sequence, check_count, check_rate, sample_rng

__all__ = ["RandomTask", "make_random_task"]


class RandomTask(SampledTask):
    """Random sequences of signed codes on ``n_in`` channels with random targets on ``n_out``.

    Per step and channel the input is 0 with probability ``p_zero``, a spike
    (``1.0``) with probability ``p_spike``, else a uniformly drawn code of the
    input format (its extremes included with probability ``p_extreme``).
    Targets are uniform codes of the output format within ``±target_max`` on
    a random subset of steps (each step with probability ``p_target``); the
    last step is the decision step and its first target channel the label.

    Parameters
    ----------
    n_in, n_out : int
        Input channels and readout units (any, at least 1).
    x_width, x_frac : int
        Input format (signed ``x_width`` bits, ``x_frac`` fractional bits).
    o_frac : int
        Fractional bits of the target grid (``formats.o.frac``).
    target_max : float
        Largest target magnitude.
    max_len : int
        Longest sequence; lengths are uniform in ``1 .. max_len``, and a
        quarter of the sequences are one step long.
    p_zero, p_spike, p_extreme, p_target : float
        Probabilities described above.
    n_train, n_test : int
        Sizes of the two sets.
    seed : int
        Every sequence is a pure function of ``(seed, split, index)``.

    Raises
    ------
    ValueError
        If a size or probability is out of range (the message names it).
    """

    name = "random"
    kind = "regression"

    def __init__(self, n_in: int = 4, n_out: int = 2, x_width: int = 8, x_frac: int = 6,
                 o_frac: int = 10, target_max: float = 2.0, max_len: int = 24,
                 p_zero: float = 0.4, p_spike: float = 0.2, p_extreme: float = 0.05,
                 p_target: float = 0.5, n_train: int = 1000, n_test: int = 10, seed: int = 0):
        self.n_in = check_count("n_in", n_in, 1)
        self.n_out = check_count("n_out", n_out, 1)
        self.x_width = check_count("x_width", x_width, 2)
        self.x_frac = check_count("x_frac", x_frac, 0)
        self.o_frac = check_count("o_frac", o_frac, 0)
        self.max_len = check_count("max_len", max_len, 1)
        self.seq_len = self.max_len
        for name, p in (("p_zero", p_zero), ("p_spike", p_spike), ("p_extreme", p_extreme),
                        ("p_target", p_target)):
            check_rate(name, p)
        if p_zero + p_spike > 1.0:
            raise ValueError(f"p_zero + p_spike must be <= 1, got {p_zero + p_spike}")
        if not np.isfinite(target_max) or target_max < 0:
            raise ValueError(f"target_max must be a finite value >= 0, got {target_max!r}")
        self.target_max = float(target_max)
        self.p_zero, self.p_spike, self.p_extreme, self.p_target = p_zero, p_spike, p_extreme, \
            p_target
        self.n_train = check_count("n_train", n_train, 0)
        self.n_test = check_count("n_test", n_test, 0)
        self.seed = seed

    def make(self, split: str, index: int) -> Sequence:
        """Build sequence ``index`` of ``split`` (``"train"`` or ``"test"``)."""
        rng = sample_rng(self.seed, split, index)
        steps = 1 if rng.random() < 0.25 else int(rng.integers(1, self.max_len + 1))
        lo, hi = -(1 << (self.x_width - 1)), (1 << (self.x_width - 1)) - 1
        codes = rng.integers(lo, hi + 1, size=(steps, self.n_in))
        ext = rng.random((steps, self.n_in)) < self.p_extreme
        codes[ext] = np.where(rng.random(int(ext.sum())) < 0.5, lo, hi)
        kind = rng.random((steps, self.n_in))
        spike = min(1 << self.x_frac, hi)      # 1.0, or the largest code if 1.0 saturates
        codes[kind < self.p_zero + self.p_spike] = spike
        codes[kind < self.p_zero] = 0
        x = codes * 2.0 ** -self.x_frac
        t_max = int(self.target_max * 2 ** self.o_frac)
        target = rng.integers(-t_max, t_max + 1, size=(steps, self.n_out)) * 2.0 ** -self.o_frac
        has_target = rng.random(steps) < self.p_target
        target[~has_target] = 0.0
        decision = np.zeros(steps, dtype=bool)
        decision[-1] = True
        return Sequence(x=x, target=target, has_target=has_target, decision=decision,
                        label=float(target[-1, 0]))


def make_random_task(cfg, seed: int = 0, **kwargs) -> RandomTask:
    """The random task on the sizes and number formats of configuration ``cfg``.

    ``kwargs`` override :class:`RandomTask` options; sequences are at most
    ``min(window_max + 4, 32)`` steps long (full and partial windows both occur,
    and a run of a few hundred steps holds many sequences).
    """
    f = cfg.formats
    opts = dict(n_in=cfg.n_in, n_out=cfg.n_out, x_width=f.x.width, x_frac=f.x.frac,
                o_frac=f.o.frac, target_max=min(2.0, f.o.max * f.o.lsb),
                max_len=min(cfg.window_max + 4, 32), seed=seed)
    opts.update(kwargs)
    return RandomTask(**opts)
