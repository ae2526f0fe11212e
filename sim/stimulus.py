"""Stimulus of the co-simulation: frames (integer codes) from a task, the initial state.

A frame is the host's view of one time step (``docs/host_interface.md``):
``{"x": [n_in codes], "target": [n_out codes] or None, "has_target", "sos",
"eos", "learn"}``, exactly the arguments of golden
:func:`fptt.golden.fixed_core.step`. Sequences get ``sos`` on their first step
and ``eos`` on their last, as in :func:`fptt.golden.sequence.run_sequence`;
targets are placed as the trainer places them (:func:`fptt.train.place_targets`).
:func:`sequence_frames` (one sequence's frames) is :mod:`fptt.board.frames`'.

:func:`random_frames` is the host at its most varied (any ``n_in``/``n_out``,
:class:`fptt.tasks.random_task.RandomTask`): a frame may also carry
``"window": L``, a host write of the WINDOW register just before it (the
scoreboard's golden model follows, :meth:`fptt.sim.scoreboard.Scoreboard.set_window`).
"""

from __future__ import annotations

import numpy as np

from ..board.frames import sequence_frames
from ..config import CoreConfig
from ..golden.fixed_core import FixedState, init_state
from ..golden.weights import init_weights

__all__ = ["sequence_frames", "training_frames", "random_frames", "epoch_plan", "initial_state"]


def training_frames(cfg: CoreConfig, task, n_steps: int, schedule: str = "aux",
                    inference_every: int = 0) -> list[dict]:
    """Frames of training sequences in order until at least ``n_steps`` steps.

    With ``inference_every = k``, every k-th sequence runs with ``learn = 0``
    (and no targets), as an evaluation between learning sequences would.
    """
    from ..train import place_targets
    seqs = task.train_set()
    n_classes = task.n_out if task.kind == "classification" else None
    frames, i = [], 0
    while len(frames) < n_steps:
        seq = place_targets(seqs[i % len(seqs)], schedule, cfg.window, n_classes)
        infer = inference_every and i % inference_every == inference_every - 1
        frames += sequence_frames(cfg, seq, learn=not infer, targets=not infer)
        i += 1
    return frames


def random_frames(cfg: CoreConfig, n_steps: int, seed: int = 0, p_window: float = 0.4,
                  window_max: int | None = None) -> list[dict]:
    """Frames of the random task with random host flags, until at least ``n_steps`` steps.

    Per sequence (:func:`fptt.tasks.random_task.make_random_task`, a quarter of
    them one step long: ``sos`` and ``eos`` on one step): learning with
    targets (55 %), learning off with targets present (15 %), learning off
    without targets (10 %), or ``learn`` drawn per step (20 %, partial windows
    discarded mid-sequence); ``sos`` left out with probability 0.1 (the
    sequence continues the previous state), ``eos`` with 0.1 (the window stays
    open into the next sequence). Before a sequence, with probability
    ``p_window``, the host writes a random WINDOW ``L``, uniform in ``1 ..
    window_max`` (``cfg.window_max`` unless given) or, half the time, in
    ``1 .. 4`` (short windows close often): the first frame carries ``"window": L``.
    """
    from ..tasks.random_task import make_random_task
    task = make_random_task(cfg, seed=seed)
    rng = np.random.default_rng([seed, 14])
    top = cfg.window_max if window_max is None else window_max
    frames, i = [], 0
    while len(frames) < n_steps:
        seq = task.make("train", i)
        mode = rng.choice(4, p=[0.55, 0.15, 0.10, 0.20])
        fr = sequence_frames(cfg, seq, learn=mode in (0, 3), targets=mode != 2)
        if mode == 3:
            for f in fr:
                f["learn"] = bool(rng.random() < 0.6)
        if i and rng.random() < 0.1:
            fr[0]["sos"] = False
        if rng.random() < 0.1:
            fr[-1]["eos"] = False
        if rng.random() < p_window:
            fr[0]["window"] = int(rng.integers(1, (top if rng.random() < 0.5 else min(top, 4))
                                               + 1))
        frames += fr
        i += 1
    return frames


def epoch_plan(cfg: CoreConfig, task, settings, n_train: int | None = None):
    """What :func:`fptt.train.train` does in one epoch, as frames.

    Returns ``(train_frames, test_frames, test_bounds)``: the training
    sequences in the trainer's shuffled order (first ``n_train`` of them), then
    every test sequence with learning off and no targets; ``test_bounds[i]`` is
    the ``(start, stop)`` of test sequence ``i`` in ``test_frames``.
    """
    from ..train import place_targets
    n_classes = task.n_out if task.kind == "classification" else None
    train_set = [place_targets(s, settings.schedule, cfg.window, n_classes)
                 for s in task.train_set()]
    order = np.random.default_rng(settings.seed).permutation(len(train_set))
    if n_train is not None:
        order = order[:n_train]
    train = [fr for i in order for fr in sequence_frames(cfg, train_set[i])]
    test, bounds = [], []
    for seq in task.test_set():
        start = len(test)
        test += sequence_frames(cfg, seq, learn=False, targets=False)
        bounds.append((start, len(test)))
    return train, test, bounds


def initial_state(cfg: CoreConfig, seed: int = 1, gain_in: float = 4.0, gain_rec: float = 1.0,
                  gain_out: float = 1.0) -> FixedState:
    """Golden state of a fresh core with Gaussian weights (:func:`fptt.golden.weights.init_weights`).

    Biases (``cfg.biases``) are drawn too (``N(0, 0.3²)`` hidden, ``N(0, 0.1²)``
    readout, on the grid of ``formats.w``) instead of starting at 0, so that the
    co-simulation exercises them from the first step.
    """
    w = init_weights(cfg, seed=seed, gain_in=gain_in, gain_rec=gain_rec, gain_out=gain_out)
    rng = np.random.default_rng(seed + 100)
    for b, scale in (("b", 0.3), ("b_out", 0.1)):
        if b in w:
            w[b] = np.round(rng.normal(0.0, scale, w[b].shape) / cfg.formats.w.lsb) \
                * cfg.formats.w.lsb
    return init_state(cfg, w)
