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
    ("ref-bptt", TrainSettings(epochs=2, seeds=1, ref_batch=3, ref_decay=0.5)),
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


# ----------------------------------------------------------------------------- [train] table
def test_train_table_gives_the_settings_and_given_values_win(tmp_path):
    from fptt.train import read_train_table
    table = {"epochs": 3, "schedule": "final", "n_decision": 7, "gain_in": 2, "gain_out": 0.25,
             "bias_init": 0.0625, "ref_optimizer": "sgd", "ref_lr": "fptt.lr", "ref_clip": False,
             "ref_decay": 0.5, "ref_batch": 4, "ref_loss": "ce", "reset_to_mean": True}
    s = TrainSettings.from_table(table)
    assert (s.epochs, s.schedule, s.n_decision, s.gain_in, s.gain_rec, s.gain_out) == \
        (3, "final", 7, 2.0, 0.5, 0.25)
    assert isinstance(s.gain_in, float) and s.bias_init == 0.0625
    assert (s.ref_optimizer, s.ref_lr, s.ref_clip, s.ref_decay, s.ref_batch, s.ref_loss) == \
        ("sgd", None, None, 0.5, 4, "ce")
    assert s.reset_to_mean is True and s.learn == "all" and s.seed == 0
    assert (s.ref_rate_reg, s.ref_rate) == (0.0, 0.05)          # the penalty is off by default
    s = TrainSettings.from_table({"ref_rate_reg": 50, "ref_rate": 0.1})
    assert (s.ref_rate_reg, s.ref_rate) == (50.0, 0.1)
    # given values win; None leaves the table's, then the default
    s = TrainSettings.from_table(table, epochs=1, gain_out=None, learn="readout", seed=None)
    assert (s.epochs, s.gain_out, s.learn, s.seed) == (1, 0.25, "readout", 0)
    assert TrainSettings.from_table({}) == TrainSettings()
    path = tmp_path / "c.toml"
    path.write_text(CFG.to_toml() + '\n[train]\nepochs = 2\nref_lr = 5e-3\n')
    assert read_train_table(path) == {"epochs": 2, "ref_lr": 5e-3}
    assert TrainSettings.load(path, seeds=3) == TrainSettings(epochs=2, ref_lr=5e-3, seeds=3)
    path.write_text(CFG.to_toml())      # no [train]: the defaults, as before the table
    assert TrainSettings.load(path) == TrainSettings() == TrainSettings.load(None)


@pytest.mark.parametrize("table, message", [
    (3, "[train] must be a table, not 3"),
    ({"epoch": 2}, "unknown key(s) in [train]: epoch; known: bias_init, engine, epochs"),
    ({"epochs": 0}, "train.epochs must be an integer >= 1, not 0"),
    ({"epochs": 1.5}, "train.epochs must be an integer >= 1, not 1.5"),
    ({"seed": -1}, "train.seed must be an integer >= 0, not -1"),
    ({"n_decision": True}, "train.n_decision must be an integer >= 1, not True"),
    ({"input_channels": 0}, "train.input_channels must be an integer >= 1, not 0"),
    ({"gain_in": "3"}, "train.gain_in must be a finite number, not '3'"),
    ({"bias_init": float("nan")}, "train.bias_init must be a finite number, not nan"),
    ({"ref_lr": -1}, 'train.ref_lr must be a number > 0, "fptt.lr" (each parameter\'s '
                     'fptt.lr) or a table of one per parameter, not -1'),
    ({"ref_lr": {"w_in": 1e-3, "w_hid": 1e-3}},
     "train.ref_lr has no parameter w_hid; known: w_in, w_rec, b, w_out, b_out"),
    ({"ref_lr": {"w_in": 1e-3, "w_out": 0}}, "train.ref_lr.w_out must be a number > 0, not 0"),
    ({"ref_clip": True}, "train.ref_clip must be a number > 0 or false (no clipping), not True"),
    ({"ref_decay": 0}, "train.ref_decay must be a number > 0, not 0"),
    ({"ref_rate_reg": "50"}, "train.ref_rate_reg must be a finite number, not '50'"),
    ({"ref_rate_reg": -1}, "ref_rate_reg must be >= 0, not -1.0"),
    ({"ref_rate": 1.5}, "ref_rate must be in [0, 1] (spikes per step), not 1.5"),
    ({"ref_beta2": 0}, "ref_beta2 must be in (0, 1), not 0.0"),
    ({"ref_beta2": "0.99"}, "train.ref_beta2 must be a finite number, not '0.99'"),
    ({"schedule": "last"}, "train.schedule must be one of final, every, aux, not 'last'"),
    ({"ref_optimizer": "rmsprop"}, "train.ref_optimizer must be one of sgd, adam, adamax, "
                                   "not 'rmsprop'"),
    ({"ref_loss": "nll"}, "train.ref_loss must be one of mse, ce, aux, not 'nll'"),
    ({"reset_to_mean": 1}, "train.reset_to_mean must be true or false, not 1"),
    ({"input_sign": "negative"}, "train.input_sign must be one of any, positive, not 'negative'"),
])
def test_train_table_refusals_name_the_key(table, message):
    from fptt.config import ConfigError
    with pytest.raises(ConfigError) as info:
        TrainSettings.from_table(table)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_optimizer_kwargs_set_adams_second_moment_decay():
    from fptt.train import optimizer_kwargs
    assert optimizer_kwargs("adam", 0.99) == {"betas": (0.9, 0.99)}
    assert optimizer_kwargs("Adamax", 0.999) == {"betas": (0.9, 0.999)}
    assert optimizer_kwargs("sgd", 0.99) == {}


def test_given_settings_out_of_range_and_file_errors(tmp_path):
    from fptt.config import ConfigError
    from fptt.train import read_train_table
    with pytest.raises(ConfigError, match="^n_decision must be >= 1, not 0$"):
        TrainSettings.from_table({}, n_decision=0)
    with pytest.raises(ConfigError, match="^input_channels must be >= 1, not 0$"):
        TrainSettings.from_table({}, input_channels=0)
    with pytest.raises(ConfigError, match="^ref_decay must be > 0, not -0.5$"):
        TrainSettings.from_table({}, ref_decay=-0.5)
    path = tmp_path / "c.toml"
    path.write_text(CFG.to_toml() + '\n[train]\nschedule = "last"\n')
    with pytest.raises(ConfigError, match=r"^configuration file '.*c.toml': train.schedule "
                                          r"must be one of final, every, aux, not 'last'$"):
        read_train_table(path)
    with pytest.raises(ConfigError, match="nope.toml' does not exist"):
        TrainSettings.load(tmp_path / "nope.toml")


def test_ref_names_are_the_references():
    from fptt.golden.reference import SURROGATES
    from fptt.golden.reference.common import OPTIMIZERS
    from fptt.golden.reference.losses import LOSSES
    from fptt.train import REF_LOSSES, REF_OPTIMIZERS, REF_SURROGATES
    assert (REF_OPTIMIZERS, REF_LOSSES, REF_SURROGATES) == (OPTIMIZERS, LOSSES, SURROGATES)


def test_initial_weights_take_gains_and_bias_init():
    from fptt.golden.weights import init_weights
    from fptt.train import initial_weights
    cfg = CFG.replace(biases=True)
    s = TrainSettings(gain_in=2.0, gain_out=0.5, bias_init=0.06)
    w, plain = initial_weights(cfg, 3, s), init_weights(cfg, 3, 2.0, 0.5, 0.5)
    np.testing.assert_array_equal(w["w_in"], plain["w_in"])
    np.testing.assert_array_equal(w["w_out"], plain["w_out"])
    # 0.06 on the weight grid (Q2.13): 492 / 8192
    np.testing.assert_array_equal(w["b"] - plain["b"], np.full_like(plain["b"], 492 / 8192))
    with pytest.raises(ValueError, match=r"^bias_init = 0.06 needs a core with biases "
                                         r"\(core.biases = true\)$"):
        initial_weights(CFG.replace(biases=False), 0, s)


def test_positive_input_sign_takes_the_magnitude_of_w_in_saturated():
    from fptt.golden.weights import init_weights
    from fptt.train import initial_weights
    cfg = CFG.replace(n_hidden=64)
    plain = init_weights(cfg, 0, 3.0, 0.5, 0.01)
    w = initial_weights(cfg, 0, TrainSettings(input_sign="positive"))
    fmt = cfg.formats.w
    # gain 3 on one input saturates some weights at the format's ends: -4 becomes max, not 4
    assert plain["w_in"].min() == fmt.min * fmt.lsb
    np.testing.assert_array_equal(w["w_in"], np.minimum(np.abs(plain["w_in"]), fmt.max * fmt.lsb))
    assert w["w_in"].min() >= 0 and w["w_in"].max() == fmt.max * fmt.lsb
    for name in ("w_rec", "w_out"):
        np.testing.assert_array_equal(w[name], plain[name])
    with pytest.raises(ValueError, match=r"^input_sign must be one of any, positive, not 'neg'$"):
        TrainSettings(input_sign="neg")


def test_golden_training_starts_from_bias_init(tmp_path):
    cfg = CFG.replace(biases=True)
    ck = tmp_path / "c.npz"
    settings = TrainSettings(bias_init=0.5, gain_out=0.0, learn="readout")
    train(cfg, _task(), "fixed", settings, checkpoint=ck)
    core = FixedCore.load(ck)
    # the hidden bias is frozen (readout-only control): it stays 0.5 plus init_weights' b
    from fptt.golden.weights import init_weights
    b0 = init_weights(cfg, 0, 3.0, 0.5, 0.0)["b"]
    np.testing.assert_allclose(core.weights(0)["b"], b0 + 0.5, rtol=0, atol=2.0 ** -13)
    assert np.all(core.weights(0)["b"] > 0.4)


def test_reference_step_decays_once_per_epoch():
    from fptt.train import make_learner
    task = _task()
    seqs = list(task.train_set())
    for model in ("ref-bptt", "ref-fptt"):
        settings = TrainSettings(ref_lr=1e-2, ref_decay=0.5, ref_batch=3)
        learner = make_learner(model, CFG, [init_weights_of(CFG)], settings)
        lrs = []
        for _ in range(3):
            learner.train_epoch([seqs], lambda it: it)
            lrs.append([g["lr"] for g in learner.trainers[0].optimizer.param_groups])
        assert [set(x) for x in lrs] == [{5e-3}, {2.5e-3}, {1.25e-3}], model


def test_reference_steps_per_parameter_from_the_train_table(tmp_path):
    """``ref_lr`` as a table: one Adam step per parameter group, as the S-MNIST population
    set-ups take; a table missing a parameter the configuration learns is refused."""
    from fptt.train import make_learner
    path = tmp_path / "c.toml"
    path.write_text(CFG.to_toml() + "\n[train]\nref_lr = { w_in = 5e-3, w_rec = 5e-3, "
                    "b = 5e-3, w_out = 5e-4, b_out = 5e-4 }\n")
    settings = TrainSettings.load(path)
    assert settings.ref_lr == {"w_in": 5e-3, "w_rec": 5e-3, "b": 5e-3, "w_out": 5e-4,
                               "b_out": 5e-4}
    for model in ("ref-bptt", "ref-fptt"):
        learner = make_learner(model, CFG, [init_weights_of(CFG)], settings)
        groups = learner.trainers[0].optimizer.param_groups
        assert sorted(g["lr"] for g in groups) == [5e-4, 5e-4, 5e-3, 5e-3, 5e-3], model
    partial = TrainSettings.from_table({"ref_lr": {"w_in": 1e-3, "w_rec": 1e-3, "w_out": 1e-3}})
    with pytest.raises(ValueError, match="lr has no step for b, b_out"):
        make_learner("ref-bptt", CFG, [init_weights_of(CFG)], partial)


def init_weights_of(cfg, seed=0):
    from fptt.train import initial_weights
    return initial_weights(cfg, seed, TrainSettings())


def test_resume_of_a_checkpoint_without_the_new_settings(tmp_path):
    """A checkpoint written before bias_init, n_decision and ref_decay existed resumes: those
    settings had their defaults."""
    import json as _json
    task = _task()
    ck = tmp_path / "c.npz"
    train(CFG, task, "fixed", TrainSettings(epochs=1), checkpoint=ck)
    with np.load(ck) as data:
        arrays = {k: data[k] for k in data.files}
    meta = _json.loads(str(arrays["train.meta"]))
    for key in ("bias_init", "n_decision", "ref_decay"):
        del meta["settings"][key]
    arrays["train.meta"] = np.array(_json.dumps(meta))
    np.savez(ck, **arrays)
    assert len(train(CFG, task, "fixed", TrainSettings(epochs=2), resume=ck)) == 2
    with pytest.raises(ValueError, match="other settings: bias_init=0.0"):
        train(CFG, task, "fixed", TrainSettings(epochs=2, bias_init=0.25), resume=ck)
