"""The command line: configuration printing, training with JSON metrics, error reporting."""

import dataclasses
import json

import numpy as np
import pytest

from fptt.cli import main
from fptt.config import CoreConfig
from fptt.tasks import make_task
from fptt.train import TrainSettings, place_targets, train


def test_config_default_prints_loadable_toml(capsys):
    assert main(["config", "--default"]) == 0
    assert CoreConfig.from_toml(capsys.readouterr().out) == CoreConfig()


def test_config_applies_overrides(tmp_path):
    out = tmp_path / "c.toml"
    assert main(["config", "--set", "n_hidden=12", "--set", "formats.w.width=10",
                 "--set", "formats.w.frac=7",
                 "-o", str(out)]) == 0
    cfg = CoreConfig.load(out)
    assert cfg.n_hidden == 12 and cfg.formats.w.width == 10


def test_bad_override_is_reported(capsys):
    assert main(["config", "--set", "window=99"]) == 2
    assert "window must satisfy 1 <= window <= window_max = 64, not 99" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["fixed", "twin", "ref-fptt", "ref-bptt"])
def test_train_writes_metrics_per_epoch(tmp_path, capsys, model):
    out = tmp_path / "m.json"
    assert main(["train", "--task", "adding", "--model", model, "--epochs", "2",
                 "--n-train", "4", "--n-test", "3", "--seq-len", "12", "--quiet",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [e["epoch"] for e in data["epochs"]] == [1, 2]
    assert all(e["test_mse"] >= 0 for e in data["epochs"])
    assert data["config"]["core"]["n_in"] == 2      # fitted to the task
    assert "final: model=" in capsys.readouterr().out


def test_data_dir_only_for_mnist(capsys):
    assert main(["train", "--task", "cue", "--data-dir", "/nowhere", "--quiet"]) == 2
    assert "--data-dir is for smnist/psmnist, not cue" in capsys.readouterr().err


def test_missing_mnist_names_the_file(tmp_path, capsys):
    assert main(["train", "--task", "smnist", "--data-dir", str(tmp_path), "--quiet"]) == 2
    assert "t10k-images-idx3-ubyte" in capsys.readouterr().err


def test_aux_targets_ramp_to_the_label():
    task = make_task("cue", n_train=1, n_test=1)
    seq = place_targets(task.train_set()[0], "aux", window=10, n_classes=2)
    T = seq.steps
    parts = -(-T // 10)
    assert seq.has_target.all()
    np.testing.assert_allclose(seq.target[0].sum(), 1.0)
    label = seq.label
    np.testing.assert_allclose(seq.target[0, label], 1 / parts + (1 - 1 / parts) / 2)
    np.testing.assert_allclose(seq.target[-1, label], 1.0)


def test_train_refuses_mismatched_sizes():
    task = make_task("adding", n_train=2, n_test=2, seq_len=10)
    with pytest.raises(ValueError, match="task adding has n_in=2, n_out=1; the configuration "
                                         "has n_in=20, n_out=2"):
        train(CoreConfig(), task, "twin", TrainSettings())


@pytest.mark.parametrize("model", ["fixed", "twin"])
def test_seeds_side_by_side_equal_separate_runs(model):
    cfg = CoreConfig(n_in=8, n_hidden=6, n_out=2, acc_width=0).replace(fptt={"lr": 2.0 ** -8})
    task = make_task("cue", n_in=8, n_train=6, n_test=20, seed=1)
    both = train(cfg, task, model, TrainSettings(seed=3, seeds=2, epochs=2))
    for k, seed in enumerate((3, 4)):
        alone = train(cfg, task, model, TrainSettings(seed=seed, epochs=2))
        for a, b in zip(both, alone):
            assert a["test_accuracy_seeds"][k] == b["test_accuracy"]
            assert a["train_accuracy_seeds"][k] == b["train_accuracy"]


@pytest.mark.parametrize("model", ["fixed", "twin"])
def test_readout_only_control_freezes_the_hidden_layer(tmp_path, capsys, model):
    out = tmp_path / "m.json"
    common = ["train", "--task", "cue", "--model", model, "--n-train", "6", "--n-test", "4",
              "--seeds", "2", "--quiet", "--set", "window=10"]
    assert main(common + ["--learn", "readout", "--json", str(out)]) == 0
    change = json.loads(out.read_text())["epochs"][-1]["weight_change"]
    assert change["w_in"]["seeds"] == [0.0, 0.0] and change["w_rec"]["mean"] == 0.0
    assert min(change["w_out"]["seeds"]) > 0
    assert "weight change (relative L1, mean over seeds): w_in 0%, w_rec 0%" in \
        capsys.readouterr().out
    assert main(common + ["--json", str(out)]) == 0
    change = json.loads(out.read_text())["epochs"][-1]["weight_change"]
    assert min(change["w_in"]["seeds"] + change["w_rec"]["seeds"]) > 0


def test_readout_only_control_is_for_the_golden_models(capsys):
    assert main(["train", "--task", "cue", "--model", "ref-fptt", "--learn", "readout",
                 "--n-train", "2", "--n-test", "2", "--quiet"]) == 2
    assert "learn='readout' (the readout-only control) is for the golden models fixed and " \
        "twin, not ref-fptt" in capsys.readouterr().err
    assert main(["train", "--task", "cue", "--model", "ref-bptt", "--learn", "hidden",
                 "--n-train", "2", "--n-test", "2", "--quiet"]) == 2
    assert "learn='hidden' (the readout frozen) is for the golden models fixed and " \
        "twin, not ref-bptt" in capsys.readouterr().err


def test_hidden_mode_freezes_the_readout(tmp_path):
    out = tmp_path / "h.json"
    assert main(["train", "--task", "cue", "--model", "fixed", "--learn", "hidden",
                 "--n-train", "8", "--n-test", "4", "--quiet", "--json", str(out)]) == 0
    change = json.loads(out.read_text())["epochs"][-1]["weight_change"]
    assert change["w_out"]["seeds"] == [0.0]
    assert change["w_rec"]["seeds"][0] > 0


@pytest.mark.parametrize("argv", [
    ["verilog", "--set", "window_max=1000000000", "-o", "{tmp}/x.v"],
    ["verilog", "--set", "n_hidden=5000", "--set", "acc_width=0", "-o", "{tmp}/x.v"],
    ["synth", "--set", "window_max=1000000000", "-o", "{tmp}/s"],
    ["cosim", "--set", "window_max=1000000000"],
])
def test_hardware_commands_refuse_a_core_no_fpga_holds(argv, tmp_path, capsys):
    """verilog, synth and cosim refuse before elaborating (which would run for hours),
    with the figure and the override flag; nothing is written."""
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "Mibit of on-chip memory, more than any FPGA holds (limit 512 Mibit)" in err
    assert err.endswith("pass --force to generate it anyway") and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_rtl_size_guard_figure_and_override():
    from fptt.config import ConfigError
    from fptt.memory import check_rtl_size, memory_bits
    cfg = CoreConfig()
    check_rtl_size(cfg)                                    # the default core passes
    bits = memory_bits(cfg)["total"]
    with pytest.raises(ConfigError, match=r"pass --yes to generate"):
        check_rtl_size(cfg, limit_bits=bits - 1, flag="--yes")
    check_rtl_size(cfg, limit_bits=bits)


# ----------------------------------------------------------------------------- [train] table
def _config_with_train(tmp_path, train_table: str):
    path = tmp_path / "c.toml"
    path.write_text(CoreConfig(n_in=2, n_hidden=8, n_out=1, window=5, window_max=8).to_toml()
                    + "\n[train]\n" + train_table)
    return path


TINY = ["train", "--task", "adding", "--n-train", "4", "--n-test", "3", "--seq-len", "12",
        "--quiet"]


def test_train_takes_its_settings_from_the_config_and_options_win(tmp_path):
    cfg = _config_with_train(tmp_path, 'epochs = 2\nschedule = "every"\ngain_out = 0.25\n'
                                       'bias_init = 0.125\nseed = 3\n')
    out = tmp_path / "m.json"
    assert main(TINY + ["--config", str(cfg), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    s = data["settings"]
    assert len(data["epochs"]) == 2
    assert (s["epochs"], s["schedule"], s["gain_out"], s["bias_init"], s["seed"]) == \
        (2, "every", 0.25, 0.125, 3)
    assert (s["gain_in"], s["ref_lr"], s["n_decision"], s["ref_decay"]) == (3.0, 1e-3, 1, 1.0)
    assert main(TINY + ["--config", str(cfg), "--json", str(out), "--epochs", "1",
                        "--gain-out", "0.5", "--seed", "0", "--schedule", "final",
                        "--ref-decay", "0.75", "--reset-to-mean", "--input-sign", "positive",
                        "--ref-rate-reg", "20", "--ref-rate", "0.1"]) == 0
    data = json.loads(out.read_text())
    s = data["settings"]
    assert (s["ref_rate_reg"], s["ref_rate"]) == (20.0, 0.1)
    assert len(data["epochs"]) == 1
    assert (s["epochs"], s["schedule"], s["gain_out"], s["bias_init"], s["seed"]) == \
        (1, "final", 0.5, 0.125, 0)
    assert (s["ref_decay"], s["reset_to_mean"], s["input_sign"]) == (0.75, True, "positive")
    # without --config: TrainSettings' defaults, as before the table
    assert main(TINY + ["--json", str(out)]) == 0
    assert json.loads(out.read_text())["settings"] == dataclasses.asdict(TrainSettings())


def test_reference_models_follow_the_table(tmp_path):
    import io

    import torch
    cfg = _config_with_train(tmp_path, 'epochs = 2\nref_lr = 0.01\nref_decay = 0.5\n'
                                       'ref_batch = 2\nref_optimizer = "adamax"\n'
                                       'ref_beta2 = 0.99\n')
    ck = tmp_path / "c.npz"
    assert main(TINY + ["--config", str(cfg), "--model", "ref-bptt", "--checkpoint", str(ck)]) == 0
    with np.load(ck) as data:
        state = torch.load(io.BytesIO(data["train.ref.0"].tobytes()), weights_only=True)
    groups = state["optimizer"]["param_groups"]
    assert {g["lr"] for g in groups} == {0.0025}        # 0.01 · 0.5 · 0.5 after 2 epochs
    assert "betas" in groups[0] and "amsgrad" not in groups[0]    # Adamax, not Adam
    assert {tuple(g["betas"]) for g in groups} == {(0.9, 0.99)}


def test_reference_steps_per_parameter_from_the_table(tmp_path):
    """A table of steps in [train] ref_lr reaches the optimiser's groups, the JSON and the
    checkpoint (from which the run resumes)."""
    import io

    import torch
    cfg = _config_with_train(tmp_path, "ref_lr = { w_in = 0.02, w_rec = 0.02, b = 0.02, "
                                       "w_out = 0.002, b_out = 0.002 }\nref_batch = 2\n")
    ck, out = tmp_path / "c.npz", tmp_path / "r.json"
    args = TINY + ["--config", str(cfg), "--model", "ref-bptt", "--checkpoint", str(ck)]
    assert main(args + ["--json", str(out)]) == 0
    steps = {"w_in": 0.02, "w_rec": 0.02, "b": 0.02, "w_out": 0.002, "b_out": 0.002}
    assert json.loads(out.read_text())["settings"]["ref_lr"] == steps
    with np.load(ck) as data:
        state = torch.load(io.BytesIO(data["train.ref.0"].tobytes()), weights_only=True)
    assert sorted(g["lr"] for g in state["optimizer"]["param_groups"]) == \
        [0.002, 0.002, 0.02, 0.02, 0.02]
    assert main(TINY + ["--config", str(cfg), "--model", "ref-bptt", "--epochs", "2",
                        "--resume", str(ck)]) == 0


@pytest.mark.parametrize("extra, message", [
    (["--n-decision", "4"], "--n-decision is for smnist/psmnist, not adding"),
    (["--n-decision", "0"], "--n-decision must be >= 1, not 0"),
    (["--input-channels", "4"], "--input-channels is for smnist/psmnist, not adding"),
    (["--input-channels", "0"], "--input-channels must be >= 1, not 0"),
    (["--ref-batch", "0"], "--ref-batch must be >= 1, not 0"),
    (["--ref-lr", "-1"], "--ref-lr must be > 0, not -1"),
    (["--ref-decay", "0"], "--ref-decay must be > 0, not 0"),
    (["--ref-clip", "0"], "--ref-clip must be > 0, not 0"),
    (["--ref-rate-reg", "-1"], "--ref-rate-reg must be >= 0, not -1"),
    (["--ref-rate", "2"], "--ref-rate must be in [0, 1] (spikes per step), not 2"),
    (["--ref-beta2", "1"], "--ref-beta2 must be in (0, 1), not 1"),
])
def test_train_option_refusals(capsys, extra, message):
    assert main(TINY + extra) == 2
    err = capsys.readouterr().err
    assert f"fptt train: error: {message}\n" in err


def test_bad_train_table_is_one_line_naming_file_and_key(tmp_path, capsys):
    cfg = _config_with_train(tmp_path, "gain_in = \"big\"\n")
    assert main(TINY + ["--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err == (f"fptt train: error: configuration file {str(cfg)!r}: train.gain_in must be "
                   f"a finite number, not 'big'\n")


def _fake_t10k(path, n):
    """t10k IDX files of ``n`` random 4×4 images in ``path`` (the first 8,000 train)."""
    from fptt.tasks.idx import write_idx
    rng = np.random.default_rng(0)
    write_idx(path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n, 4, 4), dtype=np.uint8))
    write_idx(path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))


def _mnist_train_args(tmp_path, task: str, train_table: str):
    """``fptt train --task TASK`` arguments on a fake t10k with ``train_table`` as [train]."""
    from fptt.cli import build_parser
    _fake_t10k(tmp_path, 8010)
    cfg = _config_with_train(tmp_path, train_table)
    return build_parser().parse_args(["train", "--task", task, "--config", str(cfg),
                                      "--data-dir", str(tmp_path), "--n-train", "3"])


def test_mnist_task_takes_n_decision_from_the_table(tmp_path):
    from fptt.cli import make_task_from_args, train_settings
    args = _mnist_train_args(tmp_path, "smnist", "n_decision = 5\n")
    task = make_task_from_args(args, train_settings(args))
    assert task.n_decision == 5
    assert list(np.flatnonzero(task.train_set()[0].decision)) == [11, 12, 13, 14, 15]
    args.n_decision = 2
    assert make_task_from_args(args, train_settings(args)).n_decision == 2


def test_mnist_population_input_from_the_table_and_the_option(tmp_path):
    """``input_channels`` builds the population-coded task; the configuration takes its n_in."""
    from fptt.cli import make_task_from_args, train_settings
    from fptt.cli_args import fit_config_to_task, load_config
    args = _mnist_train_args(tmp_path, "psmnist", "input_channels = 6\n")
    task = make_task_from_args(args, train_settings(args))
    assert task.n_in == 6 and task.train_set()[0].x.shape == (16, 6)
    assert fit_config_to_task(load_config(args), task, quiet=True).n_in == 6
    args.input_channels = 1
    assert make_task_from_args(args, train_settings(args)).train_set()[0].x.shape == (16, 1)


def test_train_runs_the_core_on_population_coded_mnist(tmp_path):
    """fptt train with --input-channels: the fixed-point core takes the K channels end to end
    and the JSON document records n_in = K."""
    _fake_t10k(tmp_path, 8003)
    out = tmp_path / "r.json"
    assert main(["train", "--task", "smnist", "--data-dir", str(tmp_path), "--input-channels",
                 "4", "--n-train", "3", "--n-test", "2", "--quiet", "--set", "n_hidden=8",
                 "--set", "window=8", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["config"]["core"]["n_in"] == 4 and doc["settings"]["input_channels"] == 4
    assert doc["epochs"][-1]["weight_change"]["w_in"]["mean"] > 0


def test_gated_is_for_the_adding_task(capsys):
    from fptt.cli import build_parser, make_task_from_args, train_settings
    assert main(["train", "--task", "cue", "--gated", "--quiet"]) == 2
    assert "fptt train: error: --gated is for the adding task\n" in capsys.readouterr().err
    for extra, gated in (([], False), (["--gated"], True)):
        args = build_parser().parse_args(TINY + extra)
        task = make_task_from_args(args, train_settings(args))
        assert task.gated is gated
        assert bool(np.delete(task.train_set()[0].x[:, 0],
                              np.flatnonzero(task.train_set()[0].x[:, 1])).any()) is not gated


def test_verilog_refuses_per_neuron_time_constants(tmp_path, capsys):
    """The golden models take per-neuron membrane time constants, the RTL does not: building
    the hardware from such a configuration is one line naming the key, and writes nothing."""
    out = tmp_path / "core.v"
    assert main(["verilog", "--set", "neuron.tau_mem_spread=20", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "fptt verilog: error: neuron.tau_mem_spread = 20: per-neuron membrane time " \
           "constants are in the golden models only" in err
    assert "Traceback" not in err and not out.exists()


def test_verilog_refuses_the_learning_rule_options(tmp_path, capsys):
    """The learning rule's options are in the golden models only: building the hardware with
    one is one line naming it, and writes nothing."""
    out = tmp_path / "core.v"
    assert main(["verilog", "--set", 'fptt.hidden_step="rms"', "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "fptt verilog: error: fptt.hidden_step = 'rms': the learning rule's options are in " \
           "the golden models only" in err
    assert "Traceback" not in err and not out.exists()
