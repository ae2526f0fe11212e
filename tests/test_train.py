"""Training that survives interruption (issue 14, item 1): checkpoints, resume, SIGINT."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fptt.cli import main
from fptt.config import CoreConfig
from fptt.golden.fixed_core import CheckpointError, FixedCore
from fptt.tasks import make_task
from fptt.train import TrainingInterrupted, TrainSettings, train

CFG = CoreConfig(n_in=2, n_hidden=8, n_out=1, window=5, window_max=8)


def _task():
    return make_task("adding", n_train=7, n_test=3, seq_len=12, seed=0)


def _strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def _final_weights(path, model):
    with np.load(path) as data:
        return {k: data[k] for k in data.files if k != "train.meta"}


@pytest.mark.parametrize("model, settings", [
    ("fixed", TrainSettings(epochs=3, seeds=2)),
    ("fixed", TrainSettings(epochs=2, seeds=1, engine="spec", reset_to_mean=True)),
    ("twin", TrainSettings(epochs=3, seeds=2)),
    ("twin", TrainSettings(epochs=2, seeds=1, engine="spec")),
    ("ref-fptt", TrainSettings(epochs=2, seeds=2, reset_to_mean=True)),
    ("ref-bptt", TrainSettings(epochs=2, seeds=2, ref_batch=3)),
])
@pytest.mark.parametrize("stop", [(1, 2), (2, 1)])
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, model, settings, stop):
    """Stopped mid-epoch (epoch 1 after 2 steps, epoch 2 after 1), then resumed: the same
    records and the same final state, bit for bit (numerically for the references)."""
    task = _task()
    full = train(CFG, task, model, settings, checkpoint=tmp_path / "full.npz")
    ck = tmp_path / "c.npz"
    hit = {}

    def stop_after(e, d):
        if (e, d) == stop:
            hit["x"] = True
            return True
        return False
    with pytest.raises(TrainingInterrupted) as info:
        train(CFG, task, model, settings, checkpoint=ck, save_every=2, stop_after=stop_after)
    assert hit and info.value.checkpoint == ck
    resumed = train(CFG, task, model, settings, checkpoint=ck, resume=ck)
    assert _strip(resumed) == _strip(full)
    a, b = _final_weights(tmp_path / "full.npz", model), _final_weights(ck, model)
    assert a.keys() == b.keys()
    for k in a:
        if k.startswith("train.ref."):      # torch.save bytes: compare the loaded tensors
            continue
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    if model.startswith("ref"):
        import io

        import torch
        for k in (k for k in a if k.startswith("train.ref.")):
            sa, sb = (torch.load(io.BytesIO(x.tobytes()), weights_only=True) for x in (a[k], b[k]))
            for name, t in sa["net"].items():
                assert torch.equal(t, sb["net"][name]), name


def test_resume_refuses_other_arguments(tmp_path):
    task = _task()
    ck = tmp_path / "c.npz"
    train(CFG, task, "fixed", TrainSettings(epochs=1), checkpoint=ck)
    with pytest.raises(ValueError, match="another model"):
        train(CFG, task, "twin", TrainSettings(epochs=1), resume=ck)
    with pytest.raises(ValueError, match="other settings: seed=0"):
        train(CFG, task, "fixed", TrainSettings(epochs=1, seed=3), resume=ck)
    with pytest.raises(ValueError, match="another configuration"):
        train(CFG.replace(window=4), task, "fixed", TrainSettings(epochs=1), resume=ck)
    # more epochs continue the run
    assert len(train(CFG, task, "fixed", TrainSettings(epochs=2), resume=ck)) == 2
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(CheckpointError, match="junk.npz': not a readable .npz"):
        train(CFG, task, "fixed", TrainSettings(epochs=1), resume=tmp_path / "junk.npz")
    FixedCore(CFG, {"w_in": np.zeros((8, 2)), "w_rec": np.zeros((8, 8)),
                    "w_out": np.zeros((1, 8))}).save(tmp_path / "core.npz")
    with pytest.raises(CheckpointError, match="'train.meta' is missing"):
        train(CFG, task, "fixed", TrainSettings(epochs=1), resume=tmp_path / "core.npz")


def test_training_checkpoint_of_fixed_is_a_core_checkpoint(tmp_path):
    ck = tmp_path / "c.npz"
    train(CFG, _task(), "fixed", TrainSettings(epochs=1, seeds=2), checkpoint=ck)
    core = FixedCore.load(ck)
    assert core.batch == 2 and core.cfg == CFG


ARGS = ["train", "--task", "adding", "--n-train", "6", "--n-test", "3", "--seq-len", "12",
        "--quiet", "--set", "n_hidden=8", "--set", "window=5", "--set", "window_max=8"]


@pytest.mark.parametrize("extra, message", [
    (["--json", "nope/m.json"], "--json 'nope/m.json': folder 'nope' does not exist"),
    (["--checkpoint", "nope/c.npz"], "--checkpoint 'nope/c.npz': folder 'nope' does not exist"),
    (["--json", "."], "--json '.' is a directory"),
    (["--n-train", "-5"], "--n-train must be >= 1, not -5"),
    (["--epochs", "0"], "--epochs must be >= 1, not 0"),
    (["--seeds", "0"], "--seeds must be >= 1, not 0"),
    (["--save-every", "-1"], "--save-every must be >= 0, not -1"),
    (["--save-every", "2"], "--save-every needs --checkpoint FILE"),
    (["--resume", "missing.npz"], "--resume 'missing.npz': does not exist"),
    (["--set", "n_hidden=5000", "--set", "acc_width=0"], "pass --force to run it anyway"),
])
def test_train_refuses_before_any_work(tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FPTT_MEMORY_LIMIT_GB", "0.5")
    t0 = time.time()
    assert main(ARGS + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) <= 2     # (+ the task's note)
    assert time.time() - t0 < 5 and not list(tmp_path.iterdir())


def test_json_is_written_after_every_epoch_atomically(tmp_path, monkeypatch):
    import fptt.train as tr
    seen = []
    real = tr.write_atomic

    def spy(path, write):
        real(path, write)
        if str(path).endswith(".json"):
            seen.append(len(json.loads(open(path).read())["epochs"]))
    monkeypatch.setattr(tr, "write_atomic", spy)
    assert main(ARGS + ["--epochs", "3", "--json", str(tmp_path / "m.json")]) == 0
    assert seen[:3] == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]   # no temporary left


def _run(args, cwd, **kw):
    return subprocess.Popen([sys.executable, "-m", "fptt.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_sigint_saves_and_resume_matches_uninterrupted(tmp_path):
    """A real SIGINT during ``fptt train --model fixed --json m.json --checkpoint c.npz``:
    exit 130 with one line saying where; ``--resume c.npz`` then ends with the same
    metrics and weights as a run that was never interrupted."""
    args = ["train", "--model", "fixed", "--task", "adding", "--n-train", "300", "--n-test", "4",
            "--seq-len", "20", "--epochs", "2", "--engine", "spec", "--quiet",
            "--set", "n_hidden=8", "--set", "window=5", "--set", "window_max=8"]
    ref = _run(args + ["--json", "ref.json", "--checkpoint", "ref.npz"], tmp_path)
    proc = _run(args + ["--json", "m.json", "--checkpoint", "c.npz", "--save-every", "1"],
                tmp_path)
    deadline = time.time() + 120
    while not (tmp_path / "c.npz").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fptt train: interrupted in epoch 1 after ") and \
        "checkpoint c.npz (continue with --resume c.npz)" in last and "m.json" in last, err
    assert "Traceback" not in err
    assert json.loads((tmp_path / "m.json").read_text())["interrupted"]["checkpoint"] == "c.npz"
    res = _run(args + ["--json", "m.json", "--checkpoint", "c.npz", "--resume", "c.npz"],
               tmp_path)
    out, err = res.communicate(timeout=300)
    assert res.returncode == 0, err
    assert ref.wait(timeout=300) == 0
    a = json.loads((tmp_path / "ref.json").read_text())
    b = json.loads((tmp_path / "m.json").read_text())
    assert _strip(a["epochs"]) == _strip(b["epochs"]) and "interrupted" not in b
    A, B = FixedCore.load(tmp_path / "ref.npz").state.arrays(), \
        FixedCore.load(tmp_path / "c.npz").state.arrays()
    for k in A:
        np.testing.assert_array_equal(A[k], B[k], err_msg=k)
