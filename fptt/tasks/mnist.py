"""Sequential MNIST (S-MNIST) and its permuted variant (PS-MNIST), one pixel per step.

The data are read from the standard IDX files in a directory the user names;
the project ships the loader, never the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import Sequence, SequenceList, Task, check_count, check_schedule, with_targets
from .idx import IMAGES_MAGIC, LABELS_MAGIC, find_idx, read_idx

__all__ = [
    "DATA_DIR_ENV",
    "MNIST_SPLITS",
    "T10K_SPLIT_AT",
    "MnistTask",
    "load_mnist",
    "pixel_permutation",
    "population_code",
    "resolve_data_dir",
]

#: Environment variable naming the MNIST directory when ``data_dir`` is not passed.
DATA_DIR_ENV = "FPTT_DATA_DIR"
#: ``"t10k"``: train and test both from the 10k test files (the project's convention);
#: ``"standard"``: train from the 60k train files, test from the 10k test files.
MNIST_SPLITS = ("t10k", "standard")
#: Project convention: t10k images 0..7999 train, 8000..9999 test.
T10K_SPLIT_AT = 8000

_N_CLASSES = 10


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The MNIST directory: ``data_dir`` if given, else ``$FPTT_DATA_DIR``.

    Raises
    ------
    ValueError
        If neither is given.
    FileNotFoundError
        If the directory does not exist.
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    if data_dir is None:
        raise ValueError(
            f"no MNIST data directory: pass data_dir=... or set the environment variable "
            f"{DATA_DIR_ENV} to a folder holding t10k-images-idx3-ubyte(.gz) and "
            f"t10k-labels-idx1-ubyte(.gz)"
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"MNIST data directory {path} does not exist")
    return path


def load_mnist(data_dir: str | Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one MNIST file pair, ``{prefix}-images-idx3-ubyte`` and ``{prefix}-labels-idx1-ubyte``.

    Parameters
    ----------
    data_dir : str or pathlib.Path
        Directory holding the files, gzipped (``.gz``) or not.
    prefix : {"t10k", "train"}
        Which pair.

    Returns
    -------
    images : numpy.ndarray
        uint8 ``[n, rows, cols]``.
    labels : numpy.ndarray
        uint8 ``[n]``, each in 0..9.

    Raises
    ------
    FileNotFoundError
        If a file is missing (the message names the paths tried).
    ValueError
        If a file is malformed, the counts differ, or a label is not a digit.
    """
    image_path = find_idx(data_dir, f"{prefix}-images-idx3-ubyte")
    label_path = find_idx(data_dir, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(image_path, IMAGES_MAGIC)
    labels = read_idx(label_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels"
        )
    if labels.size and labels.max() >= _N_CLASSES:
        raise ValueError(f"{label_path}: label {labels.max()} is not a digit 0..9")
    return images, labels


def pixel_permutation(perm_seed: int, n_pixels: int = 784) -> np.ndarray:
    """The fixed PS-MNIST pixel order, ``np.random.default_rng(perm_seed).permutation(n_pixels)``.

    The same seed gives the same order on every machine and in every run.
    """
    return np.random.default_rng(perm_seed).permutation(n_pixels)


def population_code(values: np.ndarray, n_channels: int) -> np.ndarray:
    """Gaussian population code of values in [0, 1] on ``n_channels`` input channels.

    Channel ``k = 0 .. K-1`` (``K = n_channels``) is tuned to the level ``μ_k = k / (K-1)``
    with the width of one level step, ``σ = 1 / (K-1)``::

        x_k = exp(-(v - μ_k)² / (2 σ²))

    so a blank pixel drives channel 0 alone (with 1) and full ink channel ``K-1`` alone,
    every level in between one or two neighbouring channels: each neuron can weigh every
    grey level, blank included, on its own (the pixel as one current gives a neuron one
    weight for all levels and nothing at all on blank steps). This is the receptive-field
    code of the released SRNN/sFPTT S-MNIST code (Yin et al.), the host's work: the core
    sees ``K`` ordinary input channels.

    Parameters
    ----------
    values : numpy.ndarray
        Values in [0, 1], any shape ``S``.
    n_channels : int
        ``K >= 2``.

    Returns
    -------
    numpy.ndarray
        ``S + (K,)``, float64 in [0, 1].

    Raises
    ------
    ValueError
        If ``n_channels`` is not an integer >= 2.
    """
    n_channels = check_count("n_channels", n_channels, 2)
    mu = np.linspace(0.0, 1.0, n_channels)
    sigma = 1.0 / (n_channels - 1)
    return np.exp(-((np.asarray(values, dtype=np.float64)[..., None] - mu) ** 2)
                  / (2.0 * sigma * sigma))


class MnistTask(Task):
    """S-MNIST / PS-MNIST: classify a digit shown one pixel per step.

    Each image is scanned row by row, one pixel per step (784 steps for MNIST),
    as the value ``pixel / 255`` in [0, 1] on a single input channel (``n_in = 1``)
    or as its :func:`population_code` on ``n_in >= 2`` channels. PS-MNIST
    first reorders the pixels by :func:`pixel_permutation` of ``perm_seed``, the
    same order for every image. The prediction is the argmax of the readout summed
    over the last ``n_decision`` steps; with schedule ``"final"`` those steps carry
    the one-hot target, with ``"every"`` all steps do.

    Parameters
    ----------
    permuted : bool
        False for S-MNIST (name ``"smnist"``), True for PS-MNIST (``"psmnist"``).
    data_dir : str or pathlib.Path, optional
        Directory of the IDX files; default ``$FPTT_DATA_DIR``.
    split : {"t10k", "standard"}
        ``"t10k"`` (default, the project's convention): the first ``split_at``
        images of ``t10k-*`` train, the rest test. ``"standard"``: train from
        ``train-*`` (60,000), test from ``t10k-*``.
    split_at : int
        Train/test boundary inside the t10k files (default 8000).
    n_train, n_test : int, optional
        Use only the first ``n_train`` / ``n_test`` images of each set
        (default: all), so that notebooks can run fast.
    perm_seed : int
        Seed of the PS-MNIST permutation (default 0); ignored for S-MNIST.
    n_decision : int
        Decision steps at the end of each sequence (default 1).
    schedule : {"final", "every"}
        Where the one-hot targets go.
    n_in : int
        Input channels: 1 (default), the pixel as one value; ``K >= 2``, its Gaussian
        :func:`population_code` on ``K`` channels.

    Raises
    ------
    ValueError, FileNotFoundError
        If the data directory or files are missing or malformed, or an option
        is out of range (the message names it).
    """

    kind = "classification"
    n_out = _N_CLASSES

    def __init__(
        self,
        permuted: bool = False,
        data_dir: str | Path | None = None,
        split: str = "t10k",
        split_at: int = T10K_SPLIT_AT,
        n_train: int | None = None,
        n_test: int | None = None,
        perm_seed: int = 0,
        n_decision: int = 1,
        schedule: str = "final",
        n_in: int = 1,
    ):
        if split not in MNIST_SPLITS:
            raise ValueError(f"unknown MNIST split {split!r}; expected one of {MNIST_SPLITS}")
        self.name = "psmnist" if permuted else "smnist"
        self.permuted = bool(permuted)
        self.data_dir = resolve_data_dir(data_dir)
        self.split = split
        self.schedule = check_schedule(schedule)
        self.perm_seed = perm_seed
        self.n_in = check_count("n_in", n_in, 1)

        if split == "t10k":
            split_at = check_count("split_at", split_at, 1)
            images, labels = load_mnist(self.data_dir, "t10k")
            if split_at >= len(images):
                raise ValueError(
                    f"split_at={split_at} leaves no test images: the t10k files in "
                    f"{self.data_dir} hold {len(images)}"
                )
            self._train = (images[:split_at], labels[:split_at])
            self._test = (images[split_at:], labels[split_at:])
        else:
            self._train = load_mnist(self.data_dir, "train")
            self._test = load_mnist(self.data_dir, "t10k")
        self.n_train = self._subset("n_train", n_train, len(self._train[1]))
        self.n_test = self._subset("n_test", n_test, len(self._test[1]))

        self.seq_len = int(np.prod(self._train[0].shape[1:]))
        self.n_decision = check_count("n_decision", n_decision, 1)
        if self.n_decision > self.seq_len:
            raise ValueError(
                f"n_decision must be at most seq_len = {self.seq_len}, got {n_decision}"
            )
        # S-MNIST keeps the identity order so both variants index pixels the same way.
        self.permutation = (
            pixel_permutation(perm_seed, self.seq_len) if permuted else np.arange(self.seq_len)
        )

    @staticmethod
    def _subset(name: str, value: int | None, available: int) -> int:
        if value is None:
            return available
        value = check_count(name, value, 0)
        if value > available:
            raise ValueError(f"{name}={value} exceeds the {available} images available")
        return value

    def train_set(self) -> SequenceList:
        return SequenceList(lambda i: self._make(self._train, i), self.n_train)

    def test_set(self) -> SequenceList:
        return SequenceList(lambda i: self._make(self._test, i), self.n_test)

    def _make(self, data: tuple[np.ndarray, np.ndarray], index: int) -> Sequence:
        images, labels = data
        pixels = images[index].reshape(-1)[self.permutation]
        decision = np.zeros(self.seq_len, dtype=bool)
        decision[-self.n_decision :] = True
        values = pixels / 255.0
        seq = Sequence(
            x=values[:, None] if self.n_in == 1 else population_code(values, self.n_in),
            target=np.zeros((self.seq_len, self.n_out)),
            has_target=np.zeros(self.seq_len, dtype=bool),
            decision=decision,
            label=int(labels[index]),
        )
        return with_targets(seq, self.schedule)
