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
``board``      the core on a board over a serial port (:mod:`fptt.board.model`)

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
import hashlib
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import CoreConfig
from .golden.compiled import ENGINES, make_core
from .health import LEARN_MODES, bias_size, frozen_params, weight_change
from .tasks.base import Sequence, Task, with_targets

__all__ = ["MODELS", "SCHEDULES", "REF_OPTIMIZERS", "REF_LOSSES", "REF_SURROGATES",
           "INPUT_SIGNS", "TrainSettings", "read_train_table", "initial_weights", "place_targets",
           "make_learner", "train", "evaluate", "TrainingInterrupted", "check_output_path",
           "write_atomic", "read_train_checkpoint"]

#: version of the training checkpoint (``train.meta``)
CHECKPOINT_VERSION = 1

MODELS = ("fixed", "twin", "ref-fptt", "ref-bptt", "board")
SCHEDULES = ("final", "every", "aux")
#: The PyTorch references' optimisers, losses and surrogates (those of
#: :mod:`fptt.golden.reference`, named here so that reading a ``[train]`` table needs no torch).
REF_OPTIMIZERS = ("sgd", "adam", "adamax")
REF_LOSSES = ("mse", "ce", "aux")
REF_SURROGATES = ("triangle", "mg-sfptt", "mg-srnn", "mg")
#: signs of the initial input weights: ``any`` (Gaussian), ``positive`` (``|W_in|``)
INPUT_SIGNS = ("any", "positive")
#: ``ref_lr`` of a ``[train]`` table meaning "each parameter's ``fptt.lr``" (``None``)
REF_LR_CONFIG = "fptt.lr"


@dataclass(frozen=True)
class TrainSettings:
    """Host-side settings of a training run (the core itself is the :class:`CoreConfig`).

    ``seeds`` models train side by side (the golden models as one batch);
    ``learn`` is ``"all"``, ``"readout"`` (the control: the hidden layer's
    ``W_in``, ``W_rec``, ``b`` frozen) or ``"hidden"`` (the readout frozen; both
    golden models only); ``engine`` runs the
    golden models compiled (:mod:`fptt.golden.compiled`, bit-exact with the NumPy
    specification, ~50× faster) or as the ``"spec"`` itself; ``gain_*`` scale the
    initial weights (``N(0, gain²/fan_in)``), ``input_sign = "positive"`` takes
    ``|W_in|`` (every neuron excited by a positive input) and ``bias_init`` is added to
    the initial hidden bias ``b`` (rounded to the weight grid; :func:`initial_weights`);
    ``n_decision`` is the number of decision steps of the MNIST tasks and
    ``input_channels`` their input channels (1: the pixel as one value; ``K >= 2``: its
    population code on ``K`` channels, :func:`fptt.tasks.mnist.population_code`; the
    configuration takes ``n_in = K`` from the task); both build the task
    (:class:`fptt.tasks.MnistTask`) and other tasks ignore them;
    ``ref_*`` configure the PyTorch references only, ``ref_lr`` being one step, ``None``
    (each parameter's ``fptt.lr``) or a dict of one step per parameter (an Adam readout step
    a tenth of the hidden one, as the S-MNIST ``population`` set-ups), ``ref_decay`` multiplying
    their step after every epoch (``ExponentialLR``), ``ref_beta2`` being Adam's (Adamax's)
    second-moment decay β₂ (torch's default 0.999; ignored by SGD; :func:`optimizer_kwargs`),
    and ``ref_rate_reg`` (γ, default 0: none) adding the firing-rate penalty
    ``γ Σ_j (r̄_j - ref_rate)²`` to their loss
    (:func:`fptt.golden.reference.losses.rate_penalty`; the core has no such term).

    A configuration file's ``[train]`` table holds these settings
    (:meth:`from_table`, :meth:`load`); without one, the defaults here apply.
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
    bias_init: float = 0.0
    input_sign: str = "any"
    n_decision: int = 1
    input_channels: int = 1
    eval_batch: int = 256
    ref_optimizer: str = "adam"
    ref_lr: float | dict | None = 1e-3
    ref_decay: float = 1.0
    ref_clip: float | None = 1.0
    ref_batch: int = 16
    ref_loss: str = "mse"
    ref_surrogate: str = "triangle"
    ref_rate_reg: float = 0.0
    ref_rate: float = 0.05
    ref_beta2: float = 0.999
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
        if self.input_sign not in INPUT_SIGNS:
            raise ValueError(f"input_sign must be one of {', '.join(INPUT_SIGNS)}, "
                             f"not {self.input_sign!r}")
        if self.n_decision < 1:
            raise ValueError(f"n_decision must be >= 1, not {self.n_decision}")
        if self.input_channels < 1:
            raise ValueError(f"input_channels must be >= 1, not {self.input_channels}")
        if not self.ref_decay > 0:
            raise ValueError(f"ref_decay must be > 0, not {self.ref_decay}")
        if not self.ref_rate_reg >= 0:
            raise ValueError(f"ref_rate_reg must be >= 0, not {self.ref_rate_reg}")
        if not 0 <= self.ref_rate <= 1:
            raise ValueError(f"ref_rate must be in [0, 1] (spikes per step), not {self.ref_rate}")
        if not 0 < self.ref_beta2 < 1:
            raise ValueError(f"ref_beta2 must be in (0, 1), not {self.ref_beta2}")

    @classmethod
    def from_table(cls, table: dict, **given) -> "TrainSettings":
        """Settings from a ``[train]`` table, keyword arguments that are not ``None`` winning.

        Parameters
        ----------
        table : dict
            The ``[train]`` table of a configuration file: any of this class's fields.
            ``ref_lr = "fptt.lr"`` means each parameter's ``fptt.lr`` (``None``), a table
            ``ref_lr = { w_in = 5e-3, ..., w_out = 5e-4 }`` one step per parameter,
            ``ref_clip = false`` no clipping (``None``).
        **given
            Settings given otherwise (the command line); ``None`` leaves the table's
            value, else the default.

        Returns
        -------
        TrainSettings

        Raises
        ------
        fptt.config.ConfigError
            One line naming the key: an unknown key, a value of the wrong type or out of
            its range.
        """
        from .config import ConfigError, _check_keys
        if not isinstance(table, dict):
            raise ConfigError(f"[train] must be a table, not {table!r}")
        _check_keys("train", table, [f.name for f in dataclasses.fields(cls)])
        values = {key: _table_value(key, value) for key, value in table.items()}
        values.update({k: v for k, v in given.items() if v is not None})
        try:
            return cls(**values)
        except ConfigError:
            raise
        except ValueError as exc:       # a value given by the caller out of range
            raise ConfigError(str(exc)) from None

    @classmethod
    def load(cls, path, **given) -> "TrainSettings":
        """:meth:`from_table` of the ``[train]`` table of the TOML file ``path`` (none, or
        ``path`` ``None``: the defaults, with ``given``); errors name the file."""
        return cls.from_table(read_train_table(path), **given)


_TABLE_INTS = {"epochs": 1, "seed": 0, "seeds": 1, "n_decision": 1, "input_channels": 1,
               "eval_batch": 1, "ref_batch": 1}
_TABLE_REALS = ("gain_in", "gain_rec", "gain_out", "bias_init", "ref_rate_reg", "ref_rate",
                "ref_beta2")
_TABLE_POSITIVE = ("ref_decay", "ref_lr", "ref_clip")
_TABLE_CHOICES = {"schedule": SCHEDULES, "learn": LEARN_MODES, "engine": ENGINES,
                  "ref_optimizer": REF_OPTIMIZERS, "ref_loss": REF_LOSSES,
                  "ref_surrogate": REF_SURROGATES, "input_sign": INPUT_SIGNS}


def _table_value(key: str, value):
    """One ``[train]`` value checked and converted (``ConfigError`` naming ``train.key``)."""
    from .config import ConfigError, _is_int, _is_real
    if key in _TABLE_INTS:
        low = _TABLE_INTS[key]
        if not (_is_int(value) and value >= low):
            raise ConfigError(f"train.{key} must be an integer >= {low}, not {value!r}")
        return value
    if key in _TABLE_REALS:
        if not _is_real(value):
            raise ConfigError(f"train.{key} must be a finite number, not {value!r}")
        return float(value)
    if key in _TABLE_POSITIVE:
        if key == "ref_lr" and value == REF_LR_CONFIG:
            return None
        if key == "ref_lr" and isinstance(value, dict):
            return _lr_table(value)
        if key == "ref_clip" and value is False:
            return None
        if not (_is_real(value) and value > 0):
            alt = {"ref_lr": f', "{REF_LR_CONFIG}" (each parameter\'s fptt.lr) or a table of '
                             'one per parameter',
                   "ref_clip": " or false (no clipping)"}.get(key, "")
            raise ConfigError(f"train.{key} must be a number > 0{alt}, not {value!r}")
        return float(value)
    if key in _TABLE_CHOICES:
        if value not in _TABLE_CHOICES[key]:
            raise ConfigError(f"train.{key} must be one of {', '.join(_TABLE_CHOICES[key])}, "
                              f"not {value!r}")
        return value
    if not isinstance(value, bool):         # reset_to_mean
        raise ConfigError(f"train.{key} must be true or false, not {value!r}")
    return value


def _lr_table(table: dict) -> dict:
    """``[train] ref_lr`` as a table: one step > 0 per parameter (:data:`fptt.config.PARAMS`;
    a configuration without biases ignores ``b`` and ``b_out``, one missing a step of its
    parameters is refused when the reference is built)."""
    from .config import PARAMS, ConfigError, _is_real
    unknown = sorted(set(table) - set(PARAMS))
    if unknown:
        raise ConfigError(f"train.ref_lr has no parameter {', '.join(unknown)}; "
                          f"known: {', '.join(PARAMS)}")
    for name, value in table.items():
        if not (_is_real(value) and value > 0):
            raise ConfigError(f"train.ref_lr.{name} must be a number > 0, not {value!r}")
    return {name: float(table[name]) for name in PARAMS if name in table}


def read_train_table(path) -> dict:
    """The ``[train]`` table of the configuration file ``path`` (``{}`` when it has none or
    ``path`` is ``None``), each value checked (:meth:`TrainSettings.from_table`).

    Raises
    ------
    fptt.config.ConfigError
        One line naming the file and, for a bad value, the key.
    """
    from .config import ConfigError, read_toml
    if path is None:
        return {}
    data = read_toml(path)
    table = data.get("train", {})
    try:
        TrainSettings.from_table(table)
    except ConfigError as exc:
        raise ConfigError(f"configuration file {str(path)!r}: {exc}") from None
    return dict(table)


def initial_weights(cfg: CoreConfig, seed: int, settings: "TrainSettings") -> dict:
    """The initial weights of one model: :func:`fptt.golden.weights.init_weights` with the
    settings' gains, ``W_in ← min(|W_in|, w_max)`` for ``input_sign = "positive"``, plus
    ``settings.bias_init`` on the hidden bias ``b`` (rounded to the weight grid,
    ``formats.w``, so that every view starts from the same values).

    A positive input weight matters when the input is non-negative (MNIST pixels): a neuron
    with ``W_in < 0`` and no tonic drive never reaches threshold, and the surrogate gradient
    never reaches it either (on the S-MNIST ``decision`` set-up, 33 of 64 neurons; with
    ``|W_in|``, 7).
    """
    from .golden.fixedpoint import to_codes
    from .golden.weights import init_weights
    w = init_weights(cfg, seed, settings.gain_in, settings.gain_rec, settings.gain_out)
    if settings.input_sign == "positive":
        fmt = cfg.formats.w
        # |min| is one code above the format's range: to_codes saturates it to max
        w["w_in"] = to_codes(np.abs(w["w_in"]), fmt) * fmt.lsb
    if settings.bias_init:
        if "b" not in w:
            raise ValueError(f"bias_init = {settings.bias_init} needs a core with biases "
                             f"(core.biases = true)")
        fmt = cfg.formats.w
        w["b"] = w["b"] + fmt.quantize(settings.bias_init) * fmt.lsb
    return w


def optimizer_kwargs(optimizer: str, beta2: float) -> dict:
    """The references' ``torch.optim`` keyword arguments: ``betas = (0.9, β₂)`` for Adam and
    Adamax (0.9 is torch's default β₁), none for SGD.

    β₂ sets how many steps Adam's estimate of the squared gradient remembers (about
    ``1/(1-β₂)``): at 0.999 about 1,000 batches, 16 passes of S-MNIST at batch 128, so that
    a gradient that grows suddenly is divided by a stale, small estimate and the step jumps.
    """
    return {} if optimizer.lower() == "sgd" else {"betas": (0.9, float(beta2))}


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

    def units(self, orders) -> int:
        """Steps of one epoch (sequences; the position a checkpoint records)."""
        return len(orders[0])

    def train_epoch(self, orders: list[list[Sequence]], progress, start: int = 0, after=None):
        """Train on ``orders`` from sequence ``start``; ``after(done)`` after every sequence
        may stop the epoch (returns true). Returns whether the epoch finished."""
        batches = list(zip(*orders))
        for i in progress(range(start, len(batches))):
            seqs = batches[i]
            self.core.run_sequence(np.stack([s.x for s in seqs]),
                                   np.stack([s.target for s in seqs]),
                                   np.stack([s.has_target for s in seqs]))
            if after is not None and after(i + 1) and i + 1 < len(batches):
                return False
        if self.reset_to_mean:
            self.core.reset_to_mean()
        return True

    def weights(self, model: int = 0):
        return self.core.weights(model)

    _TWIN = ("u", "a", "s", "o", "buf_x", "buf_s", "buf_psi", "buf_delta")

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every bit of the cores' state (the fixed-point model: its checkpoint arrays)."""
        core = self.core
        if self.kind == "fixed":
            return core.state.arrays()
        out = {f"{k}.{m}": np.array(getattr(core, k)[m]) for k in ("w", "wbar", "lam")
               for m in getattr(core, k)}
        out.update({name: np.array(getattr(core, name)) for name in self._TWIN})
        out.update(count=np.array(int(core.count)), windows=np.array(int(core.windows)))
        return out

    def load_state_arrays(self, arrays: dict, source=None):
        core = self.core
        if self.kind == "fixed":
            from .golden.fixed_core import FixedState
            core.state = FixedState.from_arrays(arrays, self.cfg, source)
            return
        from .golden.fixed_core import CheckpointError
        for k in ("w", "wbar", "lam"):
            for m in getattr(core, k):
                _check_array(arrays, f"{k}.{m}", getattr(core, k)[m], source, CheckpointError)
                getattr(core, k)[m] = np.array(arrays[f"{k}.{m}"], dtype=np.float64)
        for name in self._TWIN:
            _check_array(arrays, name, getattr(core, name), source, CheckpointError)
            setattr(core, name, np.array(arrays[name], dtype=np.float64))
        core.count, core.windows = int(arrays["count"]), int(arrays["windows"])
        if hasattr(core, "_sync"):
            core._sync()

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
    triangle surrogate; ``ref_decay`` multiplies the step after every epoch.
    ``ref_optimizer="sgd", ref_lr=None, ref_clip=None``:
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
                  surrogate=settings.ref_surrogate, rate_reg=settings.ref_rate_reg,
                  target_rate=settings.ref_rate,
                  optimizer_kwargs=optimizer_kwargs(settings.ref_optimizer, settings.ref_beta2))
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
        self.decay = settings.ref_decay

    def units(self, orders) -> int:
        """Steps of one epoch: sequences (``ref-fptt``) or mini-batches (``ref-bptt``)."""
        n = len(orders[0])
        return n if self.kind == "ref-fptt" else -(-n // self.batch)

    def train_epoch(self, orders: list[list[Sequence]], progress, start: int = 0, after=None):
        """Train from step ``start`` (sequence or mini-batch), every model at each step (the
        models are independent, so the order among them changes nothing); ``after(done)``
        may stop the epoch. Returns whether the epoch finished."""
        n = self.units(orders)
        for i in progress(range(start, n)):
            for trainer, seqs in zip(self.trainers, orders):
                if self.kind == "ref-fptt":
                    seq = seqs[i]
                    trainer.train_sequence(seq.x, seq.target, seq.has_target)
                else:
                    chunk = seqs[i * self.batch:(i + 1) * self.batch]
                    trainer.train_batch(np.stack([s.x for s in chunk]),
                                        np.stack([s.target for s in chunk]),
                                        np.stack([s.has_target for s in chunk]))
            if after is not None and after(i + 1) and i + 1 < n:
                return False
        if self.kind == "ref-fptt":
            for trainer in self.trainers:
                trainer.end_epoch(reset_to_mean=self.reset_to_mean)
        if self.decay != 1.0:
            # ExponentialLR's step, once per epoch; the step lives in the optimiser's state,
            # so a checkpoint (and --resume) keeps it
            for trainer in self.trainers:
                for group in trainer.optimizer.param_groups:
                    group["lr"] *= self.decay
        return True

    def weights(self, model: int = 0):
        return self.trainers[model].weights()

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Each model's network, optimiser and FPTT state (``torch.save`` bytes)."""
        import torch
        out = {}
        for i, tr in enumerate(self.trainers):
            state = {"net": tr.net.state_dict(), "optimizer": tr.optimizer.state_dict()}
            if self.kind == "ref-fptt":
                state.update(wbar=tr._wbar, lam=tr._lam, updates=tr.updates, epoch=tr.epoch,
                             prior=None if tr.prior is None else dict(vars(tr.prior)))
            buf = io.BytesIO()
            torch.save(state, buf)
            out[f"ref.{i}"] = np.frombuffer(buf.getvalue(), dtype=np.uint8).copy()
        return out

    def load_state_arrays(self, arrays: dict, source=None):
        import torch
        from .golden.fixed_core import CheckpointError
        from .golden.reference.losses import ClassPrior
        for i, tr in enumerate(self.trainers):
            key = f"ref.{i}"
            if key not in arrays:
                raise CheckpointError(f"checkpoint {str(source)!r}: field {key!r} is missing")
            try:
                state = torch.load(io.BytesIO(np.asarray(arrays[key], np.uint8).tobytes()),
                                   weights_only=True)
                tr.net.load_state_dict(state["net"])
                tr.optimizer.load_state_dict(state["optimizer"])
            except Exception as exc:     # noqa: BLE001 - any damage is the file's
                raise CheckpointError(f"checkpoint {str(source)!r}: field {key!r} is not this "
                                      f"model's state ({type(exc).__name__}: {exc})") from None
            if self.kind == "ref-fptt":
                tr._wbar, tr._lam = state["wbar"], state["lam"]
                tr.updates, tr.epoch = state["updates"], state["epoch"]
                tr.prior = None
                if state["prior"] is not None:
                    tr.prior = ClassPrior.__new__(ClassPrior)
                    vars(tr.prior).update(state["prior"])

    def predict(self, xs, model: int = 0):
        return self.trainers[model].forward(xs)


def make_learner(model: str, cfg: CoreConfig, weights: list[dict], settings: TrainSettings,
                 board=None):
    """One learner for ``len(weights)`` models (seeds); ``board``: the serial port of
    ``"board"`` (:class:`fptt.board.model.BoardLearner`).

    It has ``n_models``, ``train_epoch(orders, progress)`` (one list of sequences
    per model), ``predict(xs, model)`` and ``weights(model)``.
    """
    if model == "board":
        from .board.model import BoardLearner
        return BoardLearner(cfg, weights, settings, board)
    frozen = frozen_params(cfg, settings.learn)
    if model in ("fixed", "twin"):
        return _GoldenLearner(model, cfg, weights, frozen, settings.reset_to_mean,
                              settings.engine)
    if model in ("ref-fptt", "ref-bptt"):
        if frozen:
            what = ("the readout-only control" if settings.learn == "readout"
                    else "the readout frozen")
            raise ValueError(f"learn={settings.learn!r} ({what}) is for the golden models fixed "
                             f"and twin, not {model}")
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


def _check_array(arrays, key, like, source, error):
    if key not in arrays:
        raise error(f"checkpoint {str(source)!r}: field {key!r} is missing")
    a = np.asarray(arrays[key])
    if a.shape != np.shape(like) or a.dtype.kind != "f" or not np.all(np.isfinite(a)):
        raise error(f"checkpoint {str(source)!r}: field {key!r} has shape {a.shape} and "
                    f"dtype {a.dtype}, expected finite floats of shape {np.shape(like)}")


class TrainingInterrupted(Exception):
    """A run stopped by SIGINT after finishing its current sequence; what it had is saved.

    ``history`` the finished epochs' records, ``checkpoint`` where the run was saved,
    ``epoch`` and ``done`` (steps of that epoch) where it stopped.
    """

    def __init__(self, history, checkpoint, epoch, done, units):
        self.history, self.checkpoint = history, checkpoint
        self.epoch, self.done, self.units = epoch, done, units
        super().__init__(f"interrupted in epoch {epoch} after {done} of {units} steps; "
                         f"checkpoint {checkpoint}")


def check_output_path(path, what: str) -> Path:
    """Refuse, before any work, an output path whose folder is missing or not writable
    (a :class:`~fptt.config.ConfigError`, one line)."""
    from .config import ConfigError
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a directory")
    if not parent.is_dir():
        raise ConfigError(f"{what} {str(path)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(path)!r}: folder {str(parent)!r} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{what} {str(path)!r} is not writable")
    return path


def write_atomic(path, write) -> None:
    """``write(fileobj)`` into a temporary file beside ``path``, then rename it over
    ``path``: a reader sees the old file or the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                               prefix=f".{path.name}.", suffix=".tmp")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _task_fingerprint(task, train_set) -> str:
    """What identifies the training data: the task, the number of sequences and a hash of
    the first few (inputs and placed targets)."""
    h = hashlib.sha256(f"{task.name} {len(train_set)}".encode())
    for seq in train_set[:32]:
        for a in (seq.x, seq.target, seq.has_target):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def read_train_checkpoint(path) -> tuple[dict, dict]:
    """``(meta, arrays)`` of a training checkpoint (``--resume``); a
    :class:`~fptt.golden.fixed_core.CheckpointError` naming the file otherwise."""
    from .golden.fixed_core import CheckpointError, load_npz
    where = f"checkpoint {str(path)!r}"
    arrays = load_npz(path, where)
    if "train.meta" not in arrays:
        raise CheckpointError(f"{where}: field 'train.meta' is missing (not a checkpoint of "
                              f"fptt train)")
    try:
        meta = json.loads(str(arrays.pop("train.meta")))
        for key in ("version", "model", "task", "settings", "config_toml", "epoch", "done",
                    "rng", "history", "seconds", "sequences"):
            meta[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: field 'train.meta' is damaged ({exc})") from None
    if meta["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(f"{where}: field 'train.meta' has version {meta['version']}, "
                              f"expected {CHECKPOINT_VERSION}")
    return meta, arrays


class _SigintFlag:
    """While active (main thread only): the first SIGINT sets ``hit`` and lets the current
    sequence finish; a second one interrupts at once (the default behaviour)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.hit = False
        self._old = None

    def _handler(self, signum, frame):
        self.hit = True
        print("fptt train: SIGINT: finishing the current sequence, then saving "
              "(again to stop at once)", file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, self._old if self._old is not None else signal.default_int_handler)

    def __enter__(self):
        if self.enabled:
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._old if self._old is not None else signal.default_int_handler)
        return False


def train(cfg: CoreConfig, task: Task, model: str, settings: TrainSettings = TrainSettings(),
          progress: bool = False, eval_train: int = 200, on_epoch=None, *,
          checkpoint=None, save_every: int = 0, resume=None, handle_sigint: bool = False,
          interrupt_checkpoint=None, stop_after=None, board=None) -> list[dict]:
    """Train ``model`` on ``task`` for ``settings.epochs`` epochs; returns one record per epoch.

    ``settings.seeds`` models (seeds ``seed .. seed + seeds - 1``: initial weights
    and data order) train side by side. Each record holds the epoch, wall
    seconds, and per metric the mean over seeds (``test_accuracy``), the
    per-seed values (``test_accuracy_seeds``), on the test set and on the first
    ``eval_train`` training sequences (learning off); and how far each matrix
    moved, ``weight_change[m] = {"mean", "seeds"}`` (relative L1 change from the
    initial weights, :func:`fptt.health.weight_change`), with the biases' mean
    ``|b|`` in ``bias_mean_abs``.

    Checkpoints: ``checkpoint`` (a path) is written, atomically, every ``save_every``
    training steps (sequences; mini-batches for ``ref-bptt``; ``0``: never in an
    epoch), after every epoch and at the end. It holds the models' whole state
    (weights, FPTT state, optimiser state), the data order and position, the random
    generators, the finished epochs' records and the settings. ``resume`` (a path)
    continues such a run: the result is bit-identical to an uninterrupted run for the
    golden models and numerically identical for the references (only the records'
    ``seconds`` differ). With ``handle_sigint``, SIGINT lets the current sequence
    finish, saves a checkpoint (``checkpoint``, else ``interrupt_checkpoint``) and
    raises :class:`TrainingInterrupted`; ``stop_after(epoch, done)`` returning true
    does the same without a signal (tests). ``board``: the serial port of ``model="board"``
    (a device path or pyserial URL; :mod:`fptt.board.model`).
    """
    from .config import ConfigError
    from .golden.fixed_core import CheckpointError, checkpoint_arrays
    if (task.n_in, task.n_out) != (cfg.n_in, cfg.n_out):
        raise ValueError(f"task {task.name} has n_in={task.n_in}, n_out={task.n_out}; the "
                         f"configuration has n_in={cfg.n_in}, n_out={cfg.n_out}")
    if not (isinstance(save_every, int) and save_every >= 0):
        raise ValueError(f"save_every must be an integer >= 0, not {save_every!r}")
    meta = arrays = None
    if resume is not None:
        meta, arrays = read_train_checkpoint(resume)
    seeds = range(settings.seed, settings.seed + settings.seeds)
    weights = [initial_weights(cfg, s, settings) for s in seeds]
    learner = make_learner(model, cfg, weights, settings, board)
    n_classes = task.n_out if task.kind == "classification" else None
    train_set = [place_targets(s, settings.schedule, cfg.window, n_classes)
                 for s in task.train_set()]
    test_set = task.test_set()
    fingerprint = _task_fingerprint(task, train_set)
    settings_d = json.loads(json.dumps(dataclasses.asdict(settings), default=str))
    bar = _identity
    if progress:
        from tqdm import tqdm
        bar = lambda it: tqdm(it, desc=f"{model} epoch", leave=False, unit="seq")  # noqa: E731
    rngs = [np.random.default_rng(s) for s in seeds]
    history, start_epoch, start_done, elapsed = [], 1, 0, 0.0
    epoch_rng = [r.bit_generator.state for r in rngs]
    if meta is not None:
        where = f"checkpoint {str(resume)!r}"
        mine = dict(settings_d, epochs=None)
        # settings added since the checkpoint was written had their default values then
        defaults = json.loads(json.dumps(dataclasses.asdict(TrainSettings()), default=str))
        theirs = {**defaults, **meta["settings"], "epochs": None}
        for what, a, b in (("model", meta["model"], model), ("task", meta["task"], task.name),
                           ("training data", meta["sequences"], fingerprint),
                           ("configuration", meta["config_toml"], cfg.to_toml())):
            if a != b:
                raise ConfigError(f"{where} was written by a run with another {what} "
                                  f"({a if what != 'configuration' else 'its config_toml'}); "
                                  f"resume with the same arguments")
        if mine != theirs:
            diff = sorted(k for k in mine if mine.get(k) != theirs.get(k))
            raise ConfigError(f"{where} was written with other settings: "
                              f"{', '.join(f'{k}={theirs.get(k)!r}' for k in diff)}")
        if meta["epoch"] > settings.epochs + 1:
            raise ConfigError(f"{where} has already trained {meta['epoch'] - 1} epochs, "
                              f"more than --epochs {settings.epochs}")
        if model != "fixed":
            arrays = {k[len("train."):]: v for k, v in arrays.items() if k.startswith("train.")}
        learner.load_state_arrays(arrays, resume)
        try:
            for r, st in zip(rngs, meta["rng"], strict=True):
                r.bit_generator.state = st
        except (ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(f"{where}: field 'train.meta' rng is damaged ({exc})") from None
        epoch_rng = meta["rng"]
        history, start_epoch, start_done = meta["history"], meta["epoch"], meta["done"]
        elapsed = float(meta["seconds"])
    t0 = time.time() - elapsed

    def save(path, epoch, done, rng_state):
        meta = dict(version=CHECKPOINT_VERSION, model=model, task=task.name,
                    settings=settings_d, config_toml=cfg.to_toml(), epoch=epoch, done=done,
                    rng=rng_state, history=history, seconds=round(time.time() - t0, 3),
                    sequences=fingerprint)
        out = {"train.meta": np.array(json.dumps(meta, default=str))}
        state = learner.state_arrays()
        if model == "fixed":    # also a checkpoint of the batch of cores (FixedCore.load)
            out.update(checkpoint_arrays(cfg, learner.core.state))
        else:
            out["config_toml"] = np.array(cfg.to_toml())
            out.update({f"train.{k}": v for k, v in state.items()})
        write_atomic(path, lambda fh: np.savez(fh, **out))

    with _SigintFlag(handle_sigint) as sig:
        for epoch in range(start_epoch, settings.epochs + 1):
            if epoch != start_epoch or start_done == 0:
                epoch_rng = [r.bit_generator.state for r in rngs]
            else:
                for r, st in zip(rngs, epoch_rng):
                    r.bit_generator.state = st
            orders = [[train_set[i] for i in rng.permutation(len(train_set))] for rng in rngs]
            units = learner.units(orders)
            begin = start_done if epoch == start_epoch else 0
            stop = {}

            def after(done, epoch=epoch, rng_state=epoch_rng, units=units):
                if checkpoint is not None and save_every and done < units \
                        and ((epoch - 1) * units + done) % save_every == 0:
                    save(checkpoint, epoch, done, rng_state)
                if sig.hit or (stop_after is not None and stop_after(epoch, done)):
                    stop["at"] = done
                    return True
                return False

            finished = learner.train_epoch(orders, bar, begin, after)
            if not finished:
                path = checkpoint if checkpoint is not None else interrupt_checkpoint
                if path is not None:
                    save(path, epoch, stop["at"], epoch_rng)
                raise TrainingInterrupted(history, path, epoch, stop["at"], units)
            record = {"epoch": epoch, "seconds": round(time.time() - t0, 2)}
            for split, seqs in (("test", test_set), ("train", task.train_set()[:eval_train])):
                scores = [evaluate(learner, task, seqs, settings.eval_batch, b)
                          for b in range(learner.n_models)]
                for k in scores[0]:
                    values = [sc[k] for sc in scores]
                    record[f"{split}_{k}"] = float(np.mean(values))
                    record[f"{split}_{k}_seeds"] = values
            changes = [weight_change(weights[b], learner.weights(b))
                       for b in range(learner.n_models)]
            record["weight_change"] = {m: {"mean": float(np.mean([c[m] for c in changes])),
                                           "seeds": [c[m] for c in changes]} for m in changes[0]}
            sizes = [bias_size(learner.weights(b)) for b in range(learner.n_models)]
            if sizes[0]:
                record["bias_mean_abs"] = {p: float(np.mean([z[p] for z in sizes]))
                                           for p in sizes[0]}
            history.append(record)
            next_rng = [r.bit_generator.state for r in rngs]
            if checkpoint is not None:
                save(checkpoint, epoch + 1, 0, next_rng)
            if on_epoch is not None:
                on_epoch(record)
            if sig.hit and epoch < settings.epochs:
                path = checkpoint if checkpoint is not None else interrupt_checkpoint
                if path is not None and path != checkpoint:
                    save(path, epoch + 1, 0, next_rng)
                raise TrainingInterrupted(history, path, epoch + 1, 0, units)
    return history
