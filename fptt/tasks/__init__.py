"""Learning tasks for the FPTT core: cue accumulation, adding problem, S-MNIST, PS-MNIST,
and a random stimulus for co-simulation of any size (``random``).

Every task yields :class:`Sequence` records (inputs, per-step targets, decision
steps, label) and turns the readout into a prediction and a score; see
:mod:`fptt.tasks.base`. :func:`make_task` builds one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .adding import TRIVIAL_MSE, AddingTask
from .base import KINDS, SCHEDULES, Sequence, SequenceList, Task, with_targets
from .cue import CueTask
from .idx import read_idx, write_idx
from .mnist import MnistTask, load_mnist, pixel_permutation
from .random_task import RandomTask, make_random_task

__all__ = [
    "KINDS",
    "SCHEDULES",
    "TASKS",
    "TRIVIAL_MSE",
    "AddingTask",
    "CueTask",
    "MnistTask",
    "RandomTask",
    "Sequence",
    "SequenceList",
    "Task",
    "load_mnist",
    "make_random_task",
    "make_task",
    "pixel_permutation",
    "read_idx",
    "with_targets",
    "write_idx",
]

#: Task constructors by registry name.
TASKS: dict[str, Callable[..., Task]] = {
    "cue": CueTask,
    "adding": AddingTask,
    "smnist": partial(MnistTask, permuted=False),
    "psmnist": partial(MnistTask, permuted=True),
    "random": RandomTask,
}


def make_task(name: str, **kwargs) -> Task:
    """Build the task registered as ``name`` with the keyword options of its class.

    Parameters
    ----------
    name : {"cue", "adding", "smnist", "psmnist", "random"}
        Registry name.
    **kwargs
        Options of :class:`CueTask`, :class:`AddingTask`, :class:`MnistTask` or
        :class:`RandomTask`.

    Returns
    -------
    Task

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the known names.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name](**kwargs)
