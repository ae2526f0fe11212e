"""Cue accumulation: count left and right cues, remember the majority across a delay.

The evidence-accumulation task of e-prop (Bellec et al., Nature Communications
2020) and ReckOn's navigation task (Frenkel & Indiveri, ISSCC 2022), scaled to
few steps so the fixed-point model can train it online at batch size 1.
"""

from __future__ import annotations

import numpy as np

from .base import (
    SampledTask,
    Sequence,
    check_count,
    check_rate,
    check_schedule,
    sample_rng,
    with_targets,
)

__all__ = ["CueTask", "LEFT", "RIGHT", "CUE_PRESETS", "make_cue_task"]

#: Label of a sequence whose majority of cues came from the left.
LEFT = 0
#: Label of a sequence whose majority of cues came from the right.
RIGHT = 1


class CueTask(SampledTask):
    """Cue accumulation with ``n_cues`` Poisson cues, a delay and a recall period.

    The ``n_in`` channels form four equal populations, in this order: left cue,
    right cue, recall cue, background noise. Spikes are Bernoulli draws per step
    and channel (discrete-time Poisson). Timeline of one sequence::

        | cue 0 | gap | cue 1 | gap | ... | cue n-1 |  delay  | recall |
          cue_len  gap                      cue_len    delay   recall_len

    - cue ``k`` starts at step ``k·(cue_len + gap)``; during it the population of
      its side (left or right, a fair coin per cue) fires at ``p_cue`` and the
      other side is silent;
    - after the last cue, ``delay`` silent steps (noise only);
    - then ``recall_len`` steps where the recall population fires at ``p_recall``;
    - the noise population fires at ``p_noise`` throughout.

    The label is the side with more cues (:data:`LEFT` = 0, :data:`RIGHT` = 1;
    ``n_cues`` is odd, so there are no ties). The recall steps are the decision
    steps; with schedule ``"final"`` they also carry the one-hot target, with
    ``"every"`` all steps do. The defaults give
    ``seq_len = 7·4 + 6·2 + 20 + 10 = 70``: the first cue lies 60 steps before
    the decision, the last one 20.

    Parameters
    ----------
    n_in : int
        Input channels, a multiple of 4 (default 20: 5 per population).
    n_cues : int
        Number of cues, odd (default 7).
    cue_len : int
        Steps per cue (default 4).
    gap : int
        Silent steps between consecutive cues (default 2).
    delay : int
        Steps from the end of the last cue to the first recall step (default 20).
    recall_len : int
        Steps of the recall period (default 10).
    p_cue, p_recall, p_noise : float
        Per-step spike probability of an active cue, recall and noise channel
        (defaults 0.4, 0.4, 0.05).
    n_train, n_test : int
        Sizes of the train and test sets (defaults 1000 and 200).
    seed : int
        Seed; every sequence is a pure function of ``(seed, split, index)`` and
        the two splits draw from disjoint streams.
    schedule : {"final", "every"}
        Where the one-hot targets go.

    Raises
    ------
    ValueError
        If a size, count or probability is out of range (the message names it).
    """

    name = "cue"
    kind = "classification"
    n_out = 2

    def __init__(
        self,
        n_in: int = 20,
        n_cues: int = 7,
        cue_len: int = 4,
        gap: int = 2,
        delay: int = 20,
        recall_len: int = 10,
        p_cue: float = 0.4,
        p_recall: float = 0.4,
        p_noise: float = 0.05,
        n_train: int = 1000,
        n_test: int = 200,
        seed: int = 0,
        schedule: str = "final",
    ):
        self.n_in = check_count("n_in", n_in, 4)
        if n_in % 4:
            raise ValueError(
                f"n_in must be a multiple of 4 (left, right, recall, noise populations), got {n_in}"
            )
        self.n_cues = check_count("n_cues", n_cues, 1)
        if n_cues % 2 == 0:
            raise ValueError(
                f"n_cues must be odd so that one side always has more cues, got {n_cues}"
            )
        self.cue_len = check_count("cue_len", cue_len, 1)
        self.gap = check_count("gap", gap, 0)
        self.delay = check_count("delay", delay, 1)
        self.recall_len = check_count("recall_len", recall_len, 1)
        self.p_cue = check_rate("p_cue", p_cue)
        self.p_recall = check_rate("p_recall", p_recall)
        self.p_noise = check_rate("p_noise", p_noise)
        self.n_train = check_count("n_train", n_train, 0)
        self.n_test = check_count("n_test", n_test, 0)
        self.seed = seed
        self.schedule = check_schedule(schedule)
        self.seq_len = self.recall_slice.stop

    @property
    def population(self) -> int:
        """Channels per population (``n_in // 4``)."""
        return self.n_in // 4

    def channels(self, which: str) -> slice:
        """Channel slice of a population: ``"left"``, ``"right"``, ``"recall"`` or ``"noise"``."""
        order = ("left", "right", "recall", "noise")
        if which not in order:
            raise ValueError(f"unknown population {which!r}; expected one of {order}")
        k = order.index(which) * self.population
        return slice(k, k + self.population)

    @property
    def cue_slices(self) -> tuple[slice, ...]:
        """The steps of each cue, in order."""
        stride = self.cue_len + self.gap
        return tuple(slice(k * stride, k * stride + self.cue_len) for k in range(self.n_cues))

    @property
    def delay_slice(self) -> slice:
        """The steps between the end of the last cue and the recall period."""
        end = self.cue_slices[-1].stop
        return slice(end, end + self.delay)

    @property
    def recall_slice(self) -> slice:
        """The recall (decision) steps."""
        start = self.delay_slice.stop
        return slice(start, start + self.recall_len)

    def make(self, split: str, index: int) -> Sequence:
        """Build sequence ``index`` of ``split`` (``"train"`` or ``"test"``)."""
        rng = sample_rng(self.seed, split, index)
        sides = rng.integers(0, 2, size=self.n_cues)
        x = np.zeros((self.seq_len, self.n_in))
        k = self.population

        def fire(steps: slice, channels: slice, p: float) -> None:
            x[steps, channels] = rng.random((steps.stop - steps.start, k)) < p

        fire(slice(0, self.seq_len), self.channels("noise"), self.p_noise)
        for steps, side in zip(self.cue_slices, sides):
            fire(steps, self.channels("right" if side == RIGHT else "left"), self.p_cue)
        fire(self.recall_slice, self.channels("recall"), self.p_recall)

        decision = np.zeros(self.seq_len, dtype=bool)
        decision[self.recall_slice] = True
        label = RIGHT if 2 * int(sides.sum()) > self.n_cues else LEFT
        seq = Sequence(
            x=x,
            target=np.zeros((self.seq_len, self.n_out)),
            has_target=np.zeros(self.seq_len, dtype=bool),
            decision=decision,
            label=label,
        )
        return with_targets(seq, self.schedule)


#: Short cue sequences (26 steps) for the quick runs; the demo task uses the CueTask defaults.
CUE_PRESETS = {"short": dict(n_cues=3, cue_len=4, gap=2, delay=6, recall_len=4, p_cue=0.6,
                             p_recall=0.6, p_noise=0.15), "demo": {}}


def make_cue_task(cfg, seed: int = 0, preset: str = "short", **kw):
    """The cue task for a core configuration's ``cfg.n_in`` inputs (a multiple of 4).

    ``preset``: ``"short"`` (26-step sequences, the quick co-simulations) or
    ``"demo"`` (the :class:`CueTask` defaults); ``kw`` overrides its options.
    """
    opts = dict(CUE_PRESETS[preset])
    opts.update(kw)
    return CueTask(n_in=cfg.n_in, seed=seed, **opts)
