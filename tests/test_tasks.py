"""Tests of the learning tasks (fptt.tasks): data content, determinism, errors.

Never reads the real MNIST files: the MNIST tests write small synthetic IDX files.
"""

from __future__ import annotations

import gzip
import importlib
import re

import numpy as np
import pytest

from fptt.tasks import (
    TASKS,
    TRIVIAL_MSE,
    AddingTask,
    CueTask,
    MnistTask,
    Sequence,
    SequenceList,
    Task,
    make_task,
    pixel_permutation,
    with_targets,
)
from fptt.tasks.base import sample_rng
from fptt.tasks.cue import LEFT, RIGHT
from fptt.tasks.idx import IMAGES_MAGIC, LABELS_MAGIC, find_idx, read_idx, write_idx
from fptt.tasks.mnist import DATA_DIR_ENV, load_mnist, population_code, resolve_data_dir

MODULES = ["fptt.tasks", "fptt.tasks.base", "fptt.tasks.cue", "fptt.tasks.adding",
           "fptt.tasks.idx", "fptt.tasks.mnist"]


def raises(exc, text):
    """pytest.raises matching ``text`` literally."""
    return pytest.raises(exc, match=re.escape(text))


def make_seq(steps=5, n_out=3, label=1, decision=(4,)):
    flags = np.zeros(steps, dtype=bool)
    flags[list(decision)] = True
    return Sequence(x=np.zeros((steps, 2)), target=np.zeros((steps, n_out)),
                    has_target=np.zeros(steps, dtype=bool), decision=flags, label=label)


@pytest.mark.parametrize("module", MODULES)
def test_all_names_exist(module):
    mod = importlib.import_module(module)
    assert mod.__all__ and all(hasattr(mod, name) for name in mod.__all__)


# ---------------------------------------------------------------- base


def test_sequence_rejects_bad_shapes():
    ok = make_seq()
    with raises(ValueError, "Sequence.x must be 2-D [T, n_in], got shape (5,)"):
        Sequence(np.zeros(5), ok.target, ok.has_target, ok.decision, 0)
    with raises(ValueError, "Sequence.target must be [T, n_out] with T = 5, got shape (4, 3)"):
        Sequence(ok.x, np.zeros((4, 3)), ok.has_target, ok.decision, 0)
    message = "Sequence.has_target must be a bool array of shape (5,), got float64 (5,)"
    with raises(ValueError, message):
        Sequence(ok.x, ok.target, np.zeros(5), ok.decision, 0)
    with raises(ValueError, "Sequence.decision must be a bool array of shape (5,), got bool (4,)"):
        Sequence(ok.x, ok.target, ok.has_target, np.zeros(4, dtype=bool), 0)


def test_with_targets_final_and_every():
    seq = make_seq(label=2, decision=(3, 4))
    final = with_targets(seq, "final")
    assert final.has_target.tolist() == [False, False, False, True, True]
    assert final.target.tolist() == [[0, 0, 0]] * 3 + [[0, 0, 1]] * 2
    every = with_targets(seq, "every")
    assert every.has_target.all()
    assert (every.target == [0, 0, 1]).all()
    # The input sequence is untouched and the new arrays are writable (the trainer rewrites them).
    assert not seq.has_target.any() and not seq.target.any()
    every.target[0, 0] = 0.5
    assert every.target[0, 0] == 0.5 and not final.target[0, 0]


def test_with_targets_errors():
    with raises(ValueError, "unknown target schedule 'often'; expected one of ('final', 'every')"):
        with_targets(make_seq(), "often")
    with raises(ValueError, "one-hot targets need a class index in [0, 3), got label 3"):
        with_targets(make_seq(label=3), "final")
    with raises(ValueError, "one-hot targets need a class index in [0, 3), got label 1.5"):
        with_targets(make_seq(label=1.5), "final")


def test_sample_rng_is_keyed_by_split_and_index():
    draw = lambda *key: sample_rng(*key).random(4).tolist()  # noqa: E731
    assert draw(0, "train", 3) == draw(0, "train", 3)
    assert len({tuple(draw(*k)) for k in [(0, "train", 3), (0, "test", 3), (0, "train", 4),
                                          (1, "train", 3)]}) == 4
    with raises(ValueError, "unknown split 'valid'; expected 'train' or 'test'"):
        sample_rng(0, "valid", 0)


def test_sequence_list_is_lazy_and_indexable():
    built = []

    def build(i):
        built.append(i)
        return make_seq(label=i % 3)

    items = SequenceList(build, 10)
    assert len(items) == 10 and built == []
    assert items[-1].label == 9 % 3 and built == [9]
    view = items[2:8:2]
    assert len(view) == 3 and [s.label for s in view] == [2, 1, 0]
    assert built == [9, 2, 4, 6]
    with pytest.raises(IndexError):
        items[10]


class _Fixed(Task):
    """A minimal concrete task to test Task.predict and Task.score."""

    name, n_in, seq_len = "fixed", 2, 5

    def __init__(self, kind, n_out):
        self.kind, self.n_out = kind, n_out

    def train_set(self):
        return []

    def test_set(self):
        return []


def test_predict_classification_sums_decision_steps():
    task = _Fixed("classification", 3)
    seq = make_seq(decision=(3, 4))
    out = np.zeros((5, 3))
    out[0] = [0, 0, 9]  # not a decision step: ignored
    out[3] = [0, 2, 0]
    out[4] = [1.5, 0, 0]  # the last step alone would say class 0; the sum says 1
    assert task.predict(out, seq) == 1
    assert isinstance(task.predict(out, seq), int)


def test_predict_regression_means_channel_zero():
    task = _Fixed("regression", 2)
    out = np.array([[9, 0], [9, 0], [9, 0], [1.0, 7], [2.0, 7]])
    assert task.predict(out, make_seq(decision=(3, 4))) == pytest.approx(1.5)


def test_predict_errors():
    task = _Fixed("classification", 3)
    with raises(ValueError, "outputs must have shape (5, 3) [T, n_out], got (5, 2)"):
        task.predict(np.zeros((5, 2)), make_seq())
    with raises(ValueError, "the sequence has no decision step to predict from"):
        task.predict(np.zeros((5, 3)), make_seq(decision=()))


def test_score_values_and_errors():
    seqs = [make_seq(label=k) for k in (0, 1, 2, 1)]
    assert _Fixed("classification", 3).score([0, 1, 0, 0], seqs) == {"accuracy": 0.5}
    reg = [make_seq(label=v) for v in (1.0, 2.0)]
    assert _Fixed("regression", 1).score([1.5, 1.0], reg) == {"mse": pytest.approx((0.25 + 1) / 2)}
    with raises(ValueError, "got 1 predictions for 2 sequences"):
        _Fixed("regression", 1).score([1.0], reg)
    with raises(ValueError, "nothing to score: no sequences"):
        _Fixed("regression", 1).score([], [])


# ---------------------------------------------------------------- cue accumulation


def cue_sides(task, seq):
    """Side of each cue read back from the spikes, checking the other side is silent."""
    left, right = task.channels("left"), task.channels("right")
    sides = []
    for steps in task.cue_slices:
        n_left, n_right = seq.x[steps, left].sum(), seq.x[steps, right].sum()
        assert min(n_left, n_right) == 0 and max(n_left, n_right) > 0
        sides.append(RIGHT if n_right else LEFT)
    return sides


def test_cue_default_timeline():
    task = CueTask()
    assert (task.n_in, task.n_out, task.kind, task.seq_len) == (20, 2, "classification", 70)
    assert [(s.start, s.stop) for s in task.cue_slices] == [(6 * k, 6 * k + 4) for k in range(7)]
    assert (task.delay_slice.start, task.delay_slice.stop) == (40, 60)
    assert (task.recall_slice.start, task.recall_slice.stop) == (60, 70)


def test_cue_labels_are_the_majority_side():
    task = CueTask(n_train=200, n_test=0, p_cue=0.5, seed=3)
    labels = []
    for seq in task.train_set():
        sides = cue_sides(task, seq)
        majority = RIGHT if sides.count(RIGHT) > sides.count(LEFT) else LEFT
        assert seq.label == majority
        labels.append(seq.label)
    # Both classes occur, in roughly equal numbers (fair coin per cue, 7 cues).
    assert 70 < sum(labels) < 130


def test_cue_spikes_are_binary_and_where_they_belong():
    task = CueTask(n_in=8, n_train=30, n_test=0, seed=1)
    cue_steps = np.zeros(task.seq_len, dtype=bool)
    for steps in task.cue_slices:
        cue_steps[steps] = True
    for seq in task.train_set():
        assert seq.x.dtype == np.float64 and seq.x.shape == (task.seq_len, 8)
        assert np.isin(seq.x, (0.0, 1.0)).all()
        sides = seq.x[:, :4]  # left and right populations
        assert not sides[~cue_steps].any()
        recall = seq.x[:, task.channels("recall")]
        assert not recall[~seq.decision].any() and recall[seq.decision].any()


def test_cue_spike_rates_match_the_probabilities():
    # long cues, so that no cue is silent by chance and its side can be read off
    task = CueTask(n_train=300, n_test=0, p_cue=0.3, p_recall=0.6, p_noise=0.1, seed=0,
                   cue_len=10, gap=5)
    cue, recall, noise = [], [], []
    for seq in task.train_set():
        for steps, side in zip(task.cue_slices, cue_sides(task, seq)):
            cue.append(seq.x[steps, task.channels("right" if side else "left")].mean())
        recall.append(seq.x[task.recall_slice, task.channels("recall")].mean())
        noise.append(seq.x[:, task.channels("noise")].mean())
    assert np.mean(cue) == pytest.approx(0.3, abs=0.01)
    assert np.mean(recall) == pytest.approx(0.6, abs=0.02)
    assert np.mean(noise) == pytest.approx(0.1, abs=0.005)


@pytest.mark.parametrize("delay", [20, 37])
def test_cue_delay_before_decision(delay):
    task = CueTask(delay=delay, n_train=5, n_test=0)
    last_cue_end = task.cue_slices[-1].stop
    for seq in task.train_set():
        first_decision = int(np.flatnonzero(seq.decision)[0])
        assert first_decision - last_cue_end == delay >= 20
        assert not seq.x[last_cue_end:first_decision, : 2 * task.population].any()
        assert seq.decision.sum() == task.recall_len
    assert task.seq_len == 7 * 4 + 6 * 2 + delay + 10


def test_cue_targets_follow_the_schedule():
    final = CueTask(n_train=4, n_test=0).train_set()
    every = CueTask(n_train=4, n_test=0, schedule="every").train_set()
    for a, b in zip(final, every):
        assert (a.has_target == a.decision).all()
        onehot = np.eye(2)[a.label]
        assert (a.target[a.decision] == onehot).all() and not a.target[~a.decision].any()
        assert b.has_target.all() and (b.target == onehot).all()
        assert (a.x == b.x).all()


def test_cue_is_deterministic_and_splits_differ():
    a = CueTask(n_train=6, n_test=6, seed=5)
    b = CueTask(n_train=20, n_test=6, seed=5)  # a longer set starts with the same sequences
    c = CueTask(n_train=6, n_test=6, seed=6)
    for i in range(6):
        assert (a.train_set()[i].x == b.train_set()[i].x).all()
        assert (a.test_set()[i].x == b.test_set()[i].x).all()
        assert not (a.train_set()[i].x == a.test_set()[i].x).all()
        assert not (a.train_set()[i].x == c.train_set()[i].x).all()
    assert [s.label for s in a.train_set()] == [s.label for s in b.train_set()[:6]]


def test_cue_predict_and_score():
    task = CueTask(n_train=0, n_test=10)
    seqs = task.test_set()
    # A readout equal to the target predicts the label.
    preds = [task.predict(s.target, s) for s in seqs]
    assert preds == [s.label for s in seqs]
    assert task.score(preds, seqs) == {"accuracy": 1.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_in": 18},
         "n_in must be a multiple of 4 (left, right, recall, noise populations), got 18"),
        ({"n_in": 0}, "n_in must be an integer >= 4, got 0"),
        ({"n_cues": 6}, "n_cues must be odd so that one side always has more cues, got 6"),
        ({"delay": 0}, "delay must be an integer >= 1, got 0"),
        ({"cue_len": 2.5}, "cue_len must be an integer >= 1, got 2.5"),
        ({"gap": -1}, "gap must be an integer >= 0, got -1"),
        ({"recall_len": 0}, "recall_len must be an integer >= 1, got 0"),
        ({"p_cue": 1.5}, "p_cue must be a spike probability in [0, 1], got 1.5"),
        ({"p_noise": -0.1}, "p_noise must be a spike probability in [0, 1], got -0.1"),
        ({"n_train": -1}, "n_train must be an integer >= 0, got -1"),
        ({"schedule": "last"},
         "unknown target schedule 'last'; expected one of ('final', 'every')"),
    ],
)
def test_cue_rejects_bad_options(kwargs, message):
    with raises(ValueError, message):
        CueTask(**kwargs)


def test_cue_unknown_population():
    message = "unknown population 'up'; expected one of ('left', 'right', 'recall', 'noise')"
    with raises(ValueError, message):
        CueTask().channels("up")


# ---------------------------------------------------------------- adding problem


def test_adding_markers_and_target():
    task = AddingTask(seq_len=50, n_train=100, n_test=0, seed=2)
    assert (task.n_in, task.n_out, task.kind, task.seq_len) == (2, 1, "regression", 50)
    for seq in task.train_set():
        values, marker = seq.x[:, 0], seq.x[:, 1]
        assert ((values >= 0) & (values < 1)).all()
        marks = np.flatnonzero(marker)
        assert np.isin(marker, (0.0, 1.0)).all() and len(marks) == 2
        assert marks[0] < 25 <= marks[1]
        total = values[marks].sum()
        assert seq.label == pytest.approx(total)
        assert seq.has_target.tolist() == seq.decision.tolist() == [False] * 49 + [True]
        assert seq.target[-1, 0] == pytest.approx(total) and not seq.target[:-1].any()
        assert task.predict(seq.target, seq) == pytest.approx(total)


def test_adding_trivial_predictor_mse_is_one_sixth():
    task = AddingTask(seq_len=4, n_train=0, n_test=4000, seed=0)
    seqs = task.test_set()
    mse = task.score([1.0] * len(seqs), seqs)["mse"]
    assert TRIVIAL_MSE == pytest.approx(1 / 6)
    assert mse == pytest.approx(1 / 6, abs=0.012)


def test_adding_is_deterministic_and_splits_differ():
    a, b = AddingTask(seq_len=20, seed=1), AddingTask(seq_len=20, seed=1)
    assert (a.train_set()[7].x == b.train_set()[7].x).all()
    assert not (a.train_set()[7].x == a.test_set()[7].x).all()
    assert not (a.train_set()[7].x == AddingTask(seq_len=20, seed=2).train_set()[7].x).all()


def test_gated_adding_carries_the_values_only_at_the_marks():
    plain = AddingTask(seq_len=40, n_train=20, n_test=0, seed=3)
    gated = AddingTask(seq_len=40, n_train=20, n_test=0, seed=3, gated=True)
    for p, g in zip(plain.train_set(), gated.train_set()):
        marks = np.flatnonzero(p.x[:, 1])
        assert (g.x[:, 1] == p.x[:, 1]).all()
        assert (g.x[marks, 0] == p.x[marks, 0]).all() and (g.x[marks, 0] > 0).all()
        assert not np.delete(g.x[:, 0], marks).any() and np.delete(p.x[:, 0], marks).any()
        assert g.label == p.label == pytest.approx(g.x[:, 0].sum())
        assert (g.target == p.target).all() and (g.has_target == p.has_target).all()


def test_adding_rejects_bad_options():
    with raises(ValueError, "gated must be True or False, not 1"):
        AddingTask(gated=1)
    with raises(ValueError, "seq_len must be an integer >= 2, got 1"):
        AddingTask(seq_len=1)
    with raises(ValueError, "n_test must be an integer >= 0, got -3"):
        AddingTask(n_test=-3)


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    path = write_idx(tmp_path / name, images)
    lpath = write_idx(tmp_path / name.replace("images-idx3", "labels-idx1"), labels)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path, IMAGES_MAGIC)
    assert back.dtype == np.uint8 and (back == images).all()
    assert (read_idx(lpath, LABELS_MAGIC) == labels).all()


def test_idx_header_bytes(tmp_path):
    path = write_idx(tmp_path / "l", np.array([1, 2], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2])
    assert int.from_bytes(path.read_bytes()[:4], "big") == LABELS_MAGIC


def test_idx_wrong_magic_names_the_file(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.zeros(4, dtype=np.uint8))
    with raises(ValueError, f"{path}: wrong IDX magic number 2049, expected 2051"):
        read_idx(path, IMAGES_MAGIC)


def test_idx_size_errors(tmp_path):
    path = write_idx(tmp_path / "img", np.zeros((2, 3, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-1])
    with raises(ValueError, f"{path}: header dimensions (2, 3, 3) need 18 data bytes, file has 17"):
        read_idx(path, IMAGES_MAGIC)
    path.write_bytes(IMAGES_MAGIC.to_bytes(4, "big") + bytes(6))
    with raises(ValueError, f"{path}: truncated IDX header, 10 of 16 bytes"):
        read_idx(path, IMAGES_MAGIC)
    path.write_bytes(b"\x00\x00")
    with raises(ValueError, f"{path}: too short for an IDX header (2 bytes)"):
        read_idx(path, IMAGES_MAGIC)
    path.write_bytes(gzip.compress(bytes(100))[:-8])
    with raises(ValueError, f"{path}: corrupt gzip data"):
        read_idx(path, IMAGES_MAGIC)


def test_write_idx_rejects_non_bytes(tmp_path):
    message = "write_idx needs a uint8 array of at least 1 dimension, got int64 (2,)"
    with raises(ValueError, message):
        write_idx(tmp_path / "x", np.array([1, 2], dtype=np.int64))


def test_find_idx_prefers_plain_then_gz_and_names_missing_paths(tmp_path):
    stem = "t10k-labels-idx1-ubyte"
    path = tmp_path / stem
    with raises(FileNotFoundError, f"IDX file not found: expected {path} or {path}.gz"):
        find_idx(tmp_path, stem)
    write_idx(tmp_path / f"{stem}.gz", np.zeros(1, dtype=np.uint8))
    assert find_idx(tmp_path, stem) == tmp_path / f"{stem}.gz"
    write_idx(tmp_path / stem, np.zeros(1, dtype=np.uint8))
    assert find_idx(tmp_path, stem) == tmp_path / stem


# ---------------------------------------------------------------- S-MNIST / PS-MNIST


N_FAKE, SIDE = 20, 4


@pytest.fixture
def mnist_dir(tmp_path):
    """A tiny MNIST: 20 images of 4x4 in t10k (gzipped), 12 in train (plain)."""
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("t10k", N_FAKE, ".gz"), ("train", 12, "")):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{gz}",
                  rng.integers(0, 256, (n, SIDE, SIDE), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{gz}",
                  (np.arange(n) % 10).astype(np.uint8))
    return tmp_path


def test_load_mnist_reads_both_pairs(mnist_dir):
    images, labels = load_mnist(mnist_dir, "t10k")
    assert images.shape == (N_FAKE, SIDE, SIDE)
    assert labels.tolist() == [k % 10 for k in range(N_FAKE)]
    assert load_mnist(mnist_dir, "train")[0].shape == (12, SIDE, SIDE)


def test_smnist_sequences(mnist_dir):
    task = MnistTask(data_dir=mnist_dir, split_at=15, n_decision=3)
    images, labels = load_mnist(mnist_dir, "t10k")
    assert (task.name, task.n_in, task.n_out, task.seq_len) == ("smnist", 1, 10, SIDE * SIDE)
    assert (task.n_train, task.n_test) == (15, 5)
    seq = task.test_set()[1]  # image 16
    assert seq.x.shape == (16, 1)
    assert (seq.x[:, 0] == images[16].reshape(-1) / 255.0).all()  # row by row
    assert seq.x[SIDE, 0] == images[16][1, 0] / 255.0
    assert seq.label == labels[16] == 6
    assert seq.decision.tolist() == [False] * 13 + [True] * 3
    assert (seq.has_target == seq.decision).all()
    assert (seq.target[-3:] == np.eye(10)[6]).all() and not seq.target[:-3].any()
    assert task.train_set()[0].label == 0


def test_population_code_values():
    # K = 5: levels 0, 1/4, 1/2, 3/4, 1, sigma = 1/4
    x = population_code(np.array([0.0, 0.5, 0.125]), 5)
    assert x.shape == (3, 5)
    assert x[0].tolist() == pytest.approx([1.0, np.exp(-0.5), np.exp(-2.0), np.exp(-4.5),
                                           np.exp(-8.0)])
    assert x[1].tolist() == pytest.approx([np.exp(-2.0), np.exp(-0.5), 1.0, np.exp(-0.5),
                                           np.exp(-2.0)])
    # half-way between two levels: both at exp(-1/8), the strongest
    assert x[2, 0] == x[2, 1] == pytest.approx(np.exp(-0.125))
    assert x[2].argmax() in (0, 1) and x[2, 2:].max() < x[2, 1]
    assert population_code(np.zeros((2, 3)), 4).shape == (2, 3, 4)
    with raises(ValueError, "n_channels must be an integer >= 2, got 1"):
        population_code(np.zeros(3), 1)


def test_smnist_population_input(mnist_dir):
    task = MnistTask(data_dir=mnist_dir, split_at=15, n_in=8)
    plain = MnistTask(data_dir=mnist_dir, split_at=15)
    assert (task.n_in, plain.n_in) == (8, 1)
    seq, ref = task.test_set()[1], plain.test_set()[1]
    assert seq.x.shape == (16, 8)
    assert np.array_equal(seq.x, population_code(ref.x[:, 0], 8))
    # the strongest channel is the nearest level: round(7 * pixel / 255)
    assert seq.x.argmax(axis=1).tolist() == np.rint(7 * ref.x[:, 0]).astype(int).tolist()
    assert seq.label == ref.label and (seq.target == ref.target).all()
    assert MnistTask(data_dir=mnist_dir, split_at=15, n_in=8, permuted=True).n_in == 8


def test_mnist_every_schedule_and_subsets(mnist_dir):
    task = MnistTask(data_dir=mnist_dir, split_at=15, n_train=4, n_test=2, schedule="every")
    assert (len(task.train_set()), len(task.test_set())) == (4, 2)
    seq = task.train_set()[3]
    assert seq.has_target.all() and (seq.target == np.eye(10)[3]).all()
    assert seq.decision.tolist() == [False] * 15 + [True]


def test_mnist_standard_split_uses_train_files(mnist_dir):
    task = MnistTask(data_dir=mnist_dir, split="standard")
    train_images, _ = load_mnist(mnist_dir, "train")
    assert (task.n_train, task.n_test) == (12, N_FAKE)
    assert (task.train_set()[5].x[:, 0] == train_images[5].reshape(-1) / 255.0).all()


def test_psmnist_permutation(mnist_dir):
    task = MnistTask(permuted=True, data_dir=mnist_dir, split_at=15, perm_seed=3)
    images, _ = load_mnist(mnist_dir, "t10k")
    perm = np.random.default_rng(3).permutation(16)
    assert task.name == "psmnist" and (task.permutation == perm).all()
    assert (task.train_set()[2].x[:, 0] == images[2].reshape(-1)[perm] / 255.0).all()
    same = MnistTask(permuted=True, data_dir=mnist_dir, split_at=15, perm_seed=3)
    assert (same.permutation == task.permutation).all()
    other = MnistTask(permuted=True, data_dir=mnist_dir, split_at=15, perm_seed=4)
    assert not (other.permutation == task.permutation).all()
    plain = MnistTask(data_dir=mnist_dir, split_at=15, perm_seed=3)
    assert (plain.permutation == np.arange(16)).all()


def test_pixel_permutation_is_fixed_per_seed():
    p0 = pixel_permutation(0)
    assert sorted(p0.tolist()) == list(range(784))
    assert (p0 == pixel_permutation(0)).all()
    assert (p0 == np.random.default_rng(0).permutation(784)).all()
    assert (p0 != pixel_permutation(1)).sum() > 700


def test_mnist_data_dir_from_environment(mnist_dir, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(mnist_dir))
    assert resolve_data_dir() == mnist_dir
    assert MnistTask(split_at=10).n_test == 10


def test_mnist_data_dir_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    message = ("no MNIST data directory: pass data_dir=... or set the environment variable "
               "FPTT_DATA_DIR to a folder holding t10k-images-idx3-ubyte(.gz)")
    with raises(ValueError, message):
        MnistTask()
    with raises(FileNotFoundError, f"MNIST data directory {tmp_path / 'nope'} does not exist"):
        MnistTask(data_dir=tmp_path / "nope")


def test_mnist_missing_files_name_the_paths(tmp_path):
    images = tmp_path / "t10k-images-idx3-ubyte"
    with raises(FileNotFoundError, f"IDX file not found: expected {images} or {images}.gz"):
        MnistTask(data_dir=tmp_path)
    write_idx(images, np.zeros((20, 2, 2), dtype=np.uint8))
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    with raises(FileNotFoundError, f"IDX file not found: expected {labels} or {labels}.gz"):
        MnistTask(data_dir=tmp_path)
    write_idx(labels, np.zeros(20, dtype=np.uint8))
    train = tmp_path / "train-images-idx3-ubyte"
    with raises(FileNotFoundError, f"IDX file not found: expected {train} or {train}.gz"):
        MnistTask(data_dir=tmp_path, split="standard")


def test_mnist_inconsistent_files(tmp_path):
    images = write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2), dtype=np.uint8))
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2], dtype=np.uint8))
    with raises(ValueError, f"{images} has 3 images but {labels} has 2 labels"):
        load_mnist(tmp_path, "t10k")
    write_idx(labels, np.array([1, 12, 3], dtype=np.uint8))
    with raises(ValueError, f"{labels}: label 12 is not a digit 0..9"):
        load_mnist(tmp_path, "t10k")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "val"}, "unknown MNIST split 'val'; expected one of ('t10k', 'standard')"),
        ({}, "split_at=8000 leaves no test images: the t10k files in {dir} hold 20"),
        ({"split_at": 0}, "split_at must be an integer >= 1, got 0"),
        ({"split_at": 15, "n_train": 16}, "n_train=16 exceeds the 15 images available"),
        ({"split_at": 15, "n_test": -1}, "n_test must be an integer >= 0, got -1"),
        ({"split_at": 15, "n_decision": 17}, "n_decision must be at most seq_len = 16, got 17"),
        ({"split_at": 15, "n_decision": 0}, "n_decision must be an integer >= 1, got 0"),
        ({"split_at": 15, "schedule": "x"},
         "unknown target schedule 'x'; expected one of ('final', 'every')"),
        ({"split_at": 15, "n_in": 0}, "n_in must be an integer >= 1, got 0"),
        ({"split_at": 15, "n_in": 2.0}, "n_in must be an integer >= 1, got 2.0"),
    ],
)
def test_mnist_rejects_bad_options(mnist_dir, kwargs, message):
    with raises(ValueError, message.format(dir=mnist_dir)):
        MnistTask(data_dir=mnist_dir, **kwargs)


# ---------------------------------------------------------------- registry


def test_make_task_builds_each_task(mnist_dir):
    assert sorted(TASKS) == ["adding", "cue", "psmnist", "random", "smnist"]
    cue = make_task("cue", n_in=8, delay=25, n_train=3)
    assert isinstance(cue, CueTask) and (cue.n_in, cue.delay, len(cue.train_set())) == (8, 25, 3)
    assert isinstance(make_task("adding", seq_len=30), AddingTask)
    for name in ("smnist", "psmnist"):
        task = make_task(name, data_dir=mnist_dir, split_at=15)
        assert isinstance(task, MnistTask) and task.name == name
    assert make_task("psmnist", data_dir=mnist_dir, split_at=15).permuted


def test_make_task_unknown_name():
    with raises(ValueError,
                "unknown task 'mnist'; known tasks: adding, cue, psmnist, random, smnist"):
        make_task("mnist")
