"""What every learning task shares: the :class:`Sequence` record and the :class:`Task` interface.

A task hands the trainer sequences of per-step inputs with per-step targets and
says which steps form the prediction. The loss on a step with a target is
``½ Σ_k (o_k,t − y*_k,t)²`` (DESIGN.md section 4), so where targets sit *is* the
training schedule: ``"final"`` puts the one-hot label on the decision steps only,
``"every"`` on every step. Targets are plain arrays so the trainer may rewrite
them (FPTT's auxiliary loss, for instance).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from collections.abc import Sequence as AbcSequence
from dataclasses import dataclass, replace
from typing import overload

import numpy as np

__all__ = [
    "KINDS",
    "SCHEDULES",
    "Sequence",
    "SequenceList",
    "Task",
    "SampledTask",
    "sample_rng",
    "with_targets",
]

#: What a task's readout means: a class (argmax) or a value (mean readout).
KINDS = ("classification", "regression")
#: Where a classification task puts its one-hot targets.
SCHEDULES = ("final", "every")

# Spawn-key codes of the two splits: train and test draw from disjoint streams.
_SPLIT_CODES = {"train": 0, "test": 1}


@dataclass(frozen=True)
class Sequence:
    """One input sequence with its targets.

    Parameters
    ----------
    x : numpy.ndarray
        ``[T, n_in]`` float64 input values; spikes are exactly 0.0 or 1.0.
    target : numpy.ndarray
        ``[T, n_out]`` float64 target readout ``y*_t``; 0 where ``has_target`` is False.
    has_target : numpy.ndarray
        ``[T]`` bool, the steps that carry a target.
    decision : numpy.ndarray
        ``[T]`` bool, the steps whose readout forms the prediction.
    label : int or float
        Class index (classification) or target value (regression).

    Raises
    ------
    ValueError
        If the arrays do not have the shapes and dtypes above.
    """

    x: np.ndarray
    target: np.ndarray
    has_target: np.ndarray
    decision: np.ndarray
    label: int | float

    def __post_init__(self) -> None:
        if self.x.ndim != 2:
            raise ValueError(f"Sequence.x must be 2-D [T, n_in], got shape {self.x.shape}")
        steps = self.x.shape[0]
        if self.target.ndim != 2 or self.target.shape[0] != steps:
            raise ValueError(
                f"Sequence.target must be [T, n_out] with T = {steps}, "
                f"got shape {self.target.shape}"
            )
        for name in ("has_target", "decision"):
            flags = getattr(self, name)
            if flags.shape != (steps,) or flags.dtype != np.bool_:
                raise ValueError(
                    f"Sequence.{name} must be a bool array of shape ({steps},), "
                    f"got {flags.dtype} {flags.shape}"
                )

    @property
    def steps(self) -> int:
        """Number of time steps ``T``."""
        return self.x.shape[0]


def with_targets(seq: Sequence, schedule: str) -> Sequence:
    """Return ``seq`` with one-hot targets of its class label placed by ``schedule``.

    Parameters
    ----------
    seq : Sequence
        A classification sequence; ``n_out`` is taken from ``seq.target``.
    schedule : {"final", "every"}
        ``"final"``: targets on the decision steps only; ``"every"``: on every step.

    Returns
    -------
    Sequence
        A new sequence with fresh ``target`` and ``has_target`` arrays.

    Raises
    ------
    ValueError
        If the schedule is unknown, or the label is not a class index below ``n_out``.
    """
    check_schedule(schedule)
    n_out = seq.target.shape[1]
    label = seq.label
    # A float label means a regression sequence: a one-hot target would be meaningless.
    is_index = isinstance(label, (int, np.integer)) and not isinstance(label, bool)
    if not (is_index and 0 <= label < n_out):
        raise ValueError(f"one-hot targets need a class index in [0, {n_out}), got label {label!r}")
    has_target = seq.decision.copy() if schedule == "final" else np.ones(seq.steps, dtype=bool)
    target = np.zeros((seq.steps, n_out))
    target[has_target, int(label)] = 1.0
    return replace(seq, target=target, has_target=has_target)


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Random generator of one sample, independent of every other sample and split.

    Keying the stream by ``(split, index)`` lets sequences be built lazily, in any
    order, and keeps train and test disjoint whatever their sizes.

    Parameters
    ----------
    seed : int
        The task's seed.
    split : {"train", "test"}
        Which set the sample belongs to.
    index : int
        The sample's position in its set.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"test"``.
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    key = np.random.SeedSequence(seed, spawn_key=(_SPLIT_CODES[split], index))
    return np.random.default_rng(key)


class SequenceList(AbcSequence):
    """A lazily built, indexable list of sequences.

    Each item is built on access by ``build(i)``, so a set of thousands of long
    sequences costs no memory until used. Slicing gives another lazy list.

    Parameters
    ----------
    build : callable
        ``build(i) -> Sequence`` for ``0 <= i < n``; must be deterministic.
    n : int
        Number of sequences.
    """

    def __init__(self, build: Callable[[int], Sequence], n: int):
        self._build = build
        self._indices = range(n)

    @classmethod
    def _view(cls, build: Callable[[int], Sequence], indices: range) -> SequenceList:
        view = cls(build, 0)
        view._indices = indices
        return view

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, i: int) -> Sequence: ...
    @overload
    def __getitem__(self, i: slice) -> SequenceList: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SequenceList._view(self._build, self._indices[i])
        # range indexing raises IndexError itself and handles negative indices.
        return self._build(self._indices[i])

    def __repr__(self) -> str:
        return f"SequenceList(n={len(self)})"


class Task(abc.ABC):
    """A learning task: sizes, the train and test sets, and how readouts become predictions.

    Subclasses set the attributes below and implement :meth:`train_set` and
    :meth:`test_set`.

    Attributes
    ----------
    name : str
        Registry name of the task.
    n_in, n_out : int
        Input channels and readout units.
    kind : {"classification", "regression"}
        How :meth:`predict` and :meth:`score` read the readout.
    seq_len : int
        Steps per sequence.
    """

    name: str
    n_in: int
    n_out: int
    kind: str
    seq_len: int

    @abc.abstractmethod
    def train_set(self) -> AbcSequence[Sequence]:
        """The training sequences (a list or a lazily indexable :class:`SequenceList`)."""

    @abc.abstractmethod
    def test_set(self) -> AbcSequence[Sequence]:
        """The test sequences (a list or a lazily indexable :class:`SequenceList`)."""

    def predict(self, outputs: np.ndarray, seq: Sequence) -> int | float:
        """Prediction from the readout of one sequence.

        Parameters
        ----------
        outputs : numpy.ndarray
            ``[T, n_out]`` readout ``o_t`` over the sequence.
        seq : Sequence
            The sequence that produced it (for its decision steps).

        Returns
        -------
        int or float
            Classification: the argmax of the readout summed over the decision steps.
            Regression: the mean of readout channel 0 over the decision steps.

        Raises
        ------
        ValueError
            If ``outputs`` has the wrong shape or the sequence has no decision step.
        """
        outputs = np.asarray(outputs)
        if outputs.shape != (seq.steps, self.n_out):
            raise ValueError(
                f"outputs must have shape ({seq.steps}, {self.n_out}) [T, n_out], "
                f"got {outputs.shape}"
            )
        if not seq.decision.any():
            raise ValueError("the sequence has no decision step to predict from")
        chosen = outputs[seq.decision]
        if self.kind == "classification":
            return int(np.argmax(chosen.sum(axis=0)))
        return float(chosen[:, 0].mean())

    def score(self, predictions: Iterable[int | float], sequences: Iterable[Sequence]) -> dict:
        """Score predictions against the sequences' labels.

        Parameters
        ----------
        predictions : iterable of int or float
            One prediction per sequence, as from :meth:`predict`.
        sequences : iterable of Sequence
            The sequences, in the same order.

        Returns
        -------
        dict
            ``{"accuracy": fraction correct}`` for classification,
            ``{"mse": mean squared error}`` for regression.

        Raises
        ------
        ValueError
            If the counts differ or there is nothing to score.
        """
        predicted = np.asarray(list(predictions), dtype=float)
        labels = np.asarray([seq.label for seq in sequences], dtype=float)
        if predicted.shape != labels.shape:
            raise ValueError(f"got {predicted.size} predictions for {labels.size} sequences")
        if labels.size == 0:
            raise ValueError("nothing to score: no sequences")
        if self.kind == "classification":
            return {"accuracy": float(np.mean(predicted == labels))}
        return {"mse": float(np.mean((predicted - labels) ** 2))}


class SampledTask(Task):
    """A task whose sequences are drawn one by one: sequence ``i`` of a split is
    :meth:`make` ``(split, i)``, reproducible from ``(seed, split, i)`` alone
    (:func:`sample_rng`), so the sets are lazy :class:`SequenceList` s of
    ``n_train`` and ``n_test`` sequences."""

    n_train: int
    n_test: int

    @abc.abstractmethod
    def make(self, split: str, index: int) -> Sequence:
        """Build sequence ``index`` of ``split`` (``"train"`` or ``"test"``)."""

    def train_set(self) -> SequenceList:
        return SequenceList(lambda i: self.make("train", i), self.n_train)

    def test_set(self) -> SequenceList:
        return SequenceList(lambda i: self.make("test", i), self.n_test)


def check_count(name: str, value: int, minimum: int) -> int:
    """Return ``value`` if it is an int ``>= minimum``, else raise a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_rate(name: str, value: float) -> float:
    """Return ``value`` if it is a probability in [0, 1], else raise a ValueError naming it."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a spike probability in [0, 1], got {value!r}")
    return float(value)


def check_schedule(schedule: str) -> str:
    """Return ``schedule`` if known, else raise a ValueError listing the known ones."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown target schedule {schedule!r}; expected one of {SCHEDULES}")
    return schedule
