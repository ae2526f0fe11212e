"""Training and evaluating any of the four views of the algorithm on a task.

The host side of online learning: it places the targets (the schedule), runs
one sequence at a time through the learner (batch size 1, as on chip), and
evaluates on the test set with learning off, batched.

Models
------
``fixed``      the fixed-point golden model (:class:`~fptt.golden.fixed_core.FixedCore`)
``twin``       the float twin (:class:`~fptt.golden.twin.FloatTwin`)
``ref-fptt``   the PyTorch reference, FPTT with parts of ``cfg.window`` steps
``ref-bptt``   the PyTorch reference, full BPTT (mini-batches)

Schedules (where the targets go, for classification tasks)
----------------------------------------------------------
``final``  one-hot target on the decision steps only;
``every``  one-hot target on every step;
``aux``    every step, ``y*_t = β_t·onehot + (1 - β_t)/n_out`` with ``β_t = p/P``
           for step ``t`` in window ``p`` of ``P`` (FPTT's auxiliary target with a
           uniform class prior ``Q``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from .config import CoreConfig
from .golden.compiled import ENGINES, make_core
from .health import LEARN_MODES, bias_size, frozen_params, weight_change
from .tasks.base import Sequence, Task, with_targets

__all__ = ["MODELS", "SCHEDULES", "TrainSettings", "place_targets", "make_learner", "train",
           "evaluate"]

MODELS = ("fixed", "twin", "ref-fptt", "ref-bptt")
SCHEDULES = ("final", "every", "aux")


@dataclass(frozen=True)
class TrainSettings:
    """Host-side settings of a training run (the core itself is the :class:`CoreConfig`).

    ``seeds`` models train side by side (the golden models as one batch);
    ``learn`` is ``"all"`` or ``"readout"`` (the control: the hidden layer's
    ``W_in``, ``W_rec``, ``b`` frozen; golden models only); ``engine`` runs the
    golden models compiled (:mod:`fptt.golden.compiled`, bit-exact with the NumPy
    specification, ~50× faster) or as the ``"spec"`` itself; ``gain_*`` scale the
    initial weights (``N(0, gain²/fan_in)``); ``ref_*`` configure the PyTorch
    references only.
    """

    epochs: int = 1
    learn: str = "all"
    engine: str = "compiled"
    seed: int = 0
    seeds: int = 1
    schedule: str = "aux"
    gain_in: float = 3.0
    gain_rec: float = 0.5
    gain_out: float = 0.01
    eval_batch: int = 256
    ref_optimizer: str = "adam"
    ref_lr: float | None = 1e-3
    ref_clip: float | None = 1.0
    ref_batch: int = 16
    ref_loss: str = "mse"
    ref_surrogate: str = "triangle"
    reset_to_mean: bool = False

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, not {self.epochs}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, not {self.seeds}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.learn not in LEARN_MODES:
            raise ValueError(f"learn must be one of {', '.join(LEARN_MODES)}, not {self.learn!r}")


def place_targets(seq: Sequence, schedule: str, window: int, n_classes: int | None = None) -> Sequence:
    """``seq`` with its targets placed by ``schedule`` (see the module docstring)."""
    if n_classes is None or schedule == "final":
        return seq
    seq = with_targets(seq, "every")
    if schedule == "every":
        return seq
    T = seq.steps
    parts = -(-T // window)
    beta = (np.arange(T) // window + 1) / parts
    target = beta[:, None] * seq.target + (1 - beta[:, None]) / n_classes
    return dataclasses.replace(seq, target=target)


class _GoldenLearner:
    """Fixed-point golden model or float twin: one core per seed, all stepped as one batch.

    The batch shares the step schedule, so every core sees sequences of the
    same length at the same time, each from its own shuffled order.
    """

    def __init__(self, kind, cfg, weights: list[dict], frozen: tuple = (),
                 reset_to_mean: bool = False, engine: str = "compiled"):
        self.kind, self.cfg, self.engine = kind, cfg, engine
        self.reset_to_mean = reset_to_mean
        self.n_models = len(weights)
        self.core = make_core(kind, cfg, {m: np.stack([w[m] for w in weights]) for m in weights[0]},
                              engine=engine, frozen=frozen)

    def train_epoch(self, orders: list[list[Sequence]], progress):
        for seqs in progress(list(zip(*orders))):
            self.core.run_sequence(np.stack([s.x for s in seqs]),
                                   np.stack([s.target for s in seqs]),
                                   np.stack([s.has_target for s in seqs]))
        if self.reset_to_mean:
            self.core.reset_to_mean()

    def weights(self, model: int = 0):
        return self.core.weights(model)

    def predict(self, xs: np.ndarray, model: int = 0) -> np.ndarray:
        """Readouts ``[B, T, n_out]`` of one model with learning off, ``xs`` as one batch."""
        if hasattr(self.core, "predict"):   # the compiled cores, sequences in parallel
            return self.core.predict(xs, model)
        # fixed-point weights are on the grid, so re-quantising them is exact
        w = {m: np.broadcast_to(v, (len(xs),) + v.shape) for m, v in self.weights(model).items()}
        return type(self.core)(self.cfg, w).run_sequence(xs, learn=False)


class _ReferenceLearner:
    """PyTorch reference, FPTT (one sequence at a time) or BPTT (mini-batches); one per seed.

    Defaults (``TrainSettings.ref_*``): Adam, step 1e-3, gradient-norm clipping
    1 (the released scripts), the MSE loss on the schedule's targets and the
    triangle surrogate. ``ref_optimizer="sgd", ref_lr=None, ref_clip=None``:
    plain SGD with each parameter's ``cfg.fptt.lr``, ``ref-fptt`` then being
    the float twin's algorithm (on the cue task with ``CoreConfig()``, 3 seeds,
    3 epochs, it ends 11 points below Adam). ``ref_loss="aux"`` (``ref-fptt`` only) trains on
    the released auxiliary loss instead (labels from the targets). With
    ``reset_to_mean``, ``ref-fptt`` sets ``W ← W̄`` at the end of every epoch,
    as the released scripts do (``λ`` kept, as sFPTT).
    """

    def __init__(self, kind, cfg, weights: list[dict], settings: TrainSettings):
        from .golden.reference import BPTTTrainer, FPTTTrainer
        self.kind = kind
        kw = dict(optimizer=settings.ref_optimizer, lr=settings.ref_lr, clip=settings.ref_clip,
                  surrogate=settings.ref_surrogate)
        if kind == "ref-fptt":
            # plain SGD is the twin's algorithm: the loss gradient clipped to its format's range
            clip_value = "format" if settings.ref_optimizer == "sgd" else None
            self.trainers = [FPTTTrainer(cfg, w, part_len=cfg.window, loss=settings.ref_loss,
                                         clip_value=clip_value, **kw) for w in weights]
        else:
            if settings.ref_loss not in ("mse", "ce"):
                raise ValueError(f"ref-bptt takes ref_loss 'mse' or 'ce', not {settings.ref_loss!r}")
            self.trainers = [BPTTTrainer(cfg, w, loss=settings.ref_loss, **kw) for w in weights]
        self.n_models = len(weights)
        self.batch = settings.ref_batch
        self.reset_to_mean = settings.reset_to_mean

    def train_epoch(self, orders: list[list[Sequence]], progress):
        for trainer, seqs in zip(self.trainers, orders):
            if self.kind == "ref-fptt":
                for seq in progress(seqs):
                    trainer.train_sequence(seq.x, seq.target, seq.has_target)
                trainer.end_epoch(reset_to_mean=self.reset_to_mean)
                continue
            for i in progress(range(0, len(seqs), self.batch)):
                chunk = seqs[i:i + self.batch]
                trainer.train_batch(np.stack([s.x for s in chunk]),
                                    np.stack([s.target for s in chunk]),
                                    np.stack([s.has_target for s in chunk]))

    def weights(self, model: int = 0):
        return self.trainers[model].weights()

    def predict(self, xs, model: int = 0):
        return self.trainers[model].forward(xs)


def make_learner(model: str, cfg: CoreConfig, weights: list[dict], settings: TrainSettings):
    """One learner for ``len(weights)`` models (seeds).

    It has ``n_models``, ``train_epoch(orders, progress)`` (one list of sequences
    per model), ``predict(xs, model)`` and ``weights(model)``.
    """
    frozen = frozen_params(cfg, settings.learn)
    if model in ("fixed", "twin"):
        return _GoldenLearner(model, cfg, weights, frozen, settings.reset_to_mean,
                              settings.engine)
    if model in ("ref-fptt", "ref-bptt"):
        if frozen:
            raise ValueError(f"learn={settings.learn!r} (the readout-only control) is for the "
                             f"golden models fixed and twin, not {model}")
        return _ReferenceLearner(model, cfg, weights, settings)
    raise ValueError(f"unknown model {model!r}; known models: {', '.join(MODELS)}")


def evaluate(learner, task: Task, seqs, batch: int = 256, model: int = 0) -> dict:
    """Score ``seqs`` on one model with learning off, ``batch`` sequences at a time."""
    preds = []
    seqs = list(seqs)
    for i in range(0, len(seqs), batch):
        chunk = seqs[i:i + batch]
        out = learner.predict(np.stack([s.x for s in chunk]), model)
        preds += [task.predict(out[b], s) for b, s in enumerate(chunk)]
    return task.score(preds, seqs)


def _identity(it, **_):
    return it


def train(cfg: CoreConfig, task: Task, model: str, settings: TrainSettings = TrainSettings(),
          progress: bool = False, eval_train: int = 200, on_epoch=None) -> list[dict]:
    """Train ``model`` on ``task`` for ``settings.epochs`` epochs; returns one record per epoch.

    ``settings.seeds`` models (seeds ``seed .. seed + seeds - 1``: initial weights
    and data order) train side by side. Each record holds the epoch, wall
    seconds, and per metric the mean over seeds (``test_accuracy``), the
    per-seed values (``test_accuracy_seeds``), on the test set and on the first
    ``eval_train`` training sequences (learning off); and how far each matrix
    moved, ``weight_change[m] = {"mean", "seeds"}`` (relative L1 change from the
    initial weights, :func:`fptt.health.weight_change`), with the biases' mean
    ``|b|`` in ``bias_mean_abs``.
    """
    from .golden.weights import init_weights
    if (task.n_in, task.n_out) != (cfg.n_in, cfg.n_out):
        raise ValueError(f"task {task.name} has n_in={task.n_in}, n_out={task.n_out}; the "
                         f"configuration has n_in={cfg.n_in}, n_out={cfg.n_out}")
    seeds = range(settings.seed, settings.seed + settings.seeds)
    weights = [init_weights(cfg, s, settings.gain_in, settings.gain_rec, settings.gain_out)
               for s in seeds]
    learner = make_learner(model, cfg, weights, settings)
    n_classes = task.n_out if task.kind == "classification" else None
    train_set = [place_targets(s, settings.schedule, cfg.window, n_classes)
                 for s in task.train_set()]
    test_set = task.test_set()
    bar = _identity
    if progress:
        from tqdm import tqdm
        bar = lambda it: tqdm(it, desc=f"{model} epoch", leave=False, unit="seq")  # noqa: E731
    history = []
    t0 = time.time()
    rngs = [np.random.default_rng(s) for s in seeds]
    for epoch in range(1, settings.epochs + 1):
        learner.train_epoch([[train_set[i] for i in rng.permutation(len(train_set))]
                             for rng in rngs], bar)
        record = {"epoch": epoch, "seconds": round(time.time() - t0, 2)}
        for split, seqs in (("test", test_set), ("train", task.train_set()[:eval_train])):
            scores = [evaluate(learner, task, seqs, settings.eval_batch, b)
                      for b in range(learner.n_models)]
            for k in scores[0]:
                values = [sc[k] for sc in scores]
                record[f"{split}_{k}"] = float(np.mean(values))
                record[f"{split}_{k}_seeds"] = values
        changes = [weight_change(weights[b], learner.weights(b)) for b in range(learner.n_models)]
        record["weight_change"] = {m: {"mean": float(np.mean([c[m] for c in changes])),
                                       "seeds": [c[m] for c in changes]} for m in changes[0]}
        sizes = [bias_size(learner.weights(b)) for b in range(learner.n_models)]
        if sizes[0]:
            record["bias_mean_abs"] = {p: float(np.mean([z[p] for z in sizes])) for p in sizes[0]}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return history
