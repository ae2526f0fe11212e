"""The core configuration: TOML round trip, overrides and every refusal message."""

import re
from pathlib import Path

import numpy as np
import pytest

from fptt.config import PARAMS, ConfigError, CoreConfig, Fmt, LearningRates


def test_default_round_trips_through_toml(tmp_path):
    cfg = CoreConfig()
    path = tmp_path / "core.toml"
    cfg.save(path)
    assert CoreConfig.load(path) == cfg


def test_overrides():
    cfg = CoreConfig.load(None, ["n_hidden=16", "neuron.tau_mem=30", "fptt.lr=0.125",
                                 "formats.w.width=10", "formats.w.frac=6", "rounding=nearest"])
    assert cfg.n_hidden == 16 and cfg.neuron.tau_mem == 30
    assert cfg.fptt.lr == LearningRates.uniform(0.125)     # one value: every parameter
    assert cfg.formats.w == Fmt(10, 6) and cfg.rounding == "nearest"


def test_learning_rate_per_parameter():
    cfg = CoreConfig.load(None, ["fptt.lr=0.5", "fptt.lr.w_out=0.0625", "fptt.lr.b=0.25"])
    assert cfg.fptt.lr.as_dict() == dict(w_in=0.5, w_rec=0.5, b=0.25, w_out=0.0625, b_out=0.5)
    assert cfg.lr_shifts == dict(w_in=1, w_rec=1, b=2, w_out=4, b_out=1)
    # the table form round-trips through TOML, and a dict sets some rates
    assert CoreConfig.from_toml(cfg.to_toml()) == cfg
    part = CoreConfig().replace(fptt={"lr": {"w_in": 0.5}})
    assert part.fptt.lr.w_in == 0.5 and part.fptt.lr.w_out == LearningRates().w_out
    # the hidden layer steps far larger than the readout by default
    assert CoreConfig().lr_shifts["w_rec"] < CoreConfig().lr_shifts["w_out"]


def test_gradient_format_per_parameter_and_shorthand():
    cfg = CoreConfig.load(None, ["formats.grad.width=18", "formats.grad_w_in.frac=9"])
    assert {p: cfg.formats.grad(p).width for p in PARAMS} == {p: 18 for p in PARAMS}
    assert cfg.formats.grad("w_in").frac == 9 and cfg.formats.grad("w_out").frac == 10
    toml = "[formats]\ngrad = { width = 14, frac = 9 }\n"
    assert CoreConfig.from_toml(toml).formats.grad("b_out") == Fmt(14, 9)


def test_biases_are_one_column_parameters():
    cfg = CoreConfig(n_in=4, n_hidden=8, n_out=3, acc_width=0)
    assert cfg.params == PARAMS
    assert cfg.param_shapes["b"] == (8, 1) and cfg.param_shapes["b_out"] == (3, 1)
    assert cfg.n_syn == (4 + 8 + 1) * 8 + (8 + 1) * 3
    plain = cfg.replace(biases=False, acc_width=0)
    assert plain.params == ("w_in", "w_rec", "w_out") and plain.n_syn == 12 * 8 + 8 * 3
    # the always-active unit is one more worst-case term of the accumulator
    assert cfg.acc_bits_needed >= plain.acc_bits_needed


def test_derived_accumulator_format():
    cfg = CoreConfig()
    assert cfg.acc_fmt.frac == cfg.formats.w.frac + cfg.formats.x.frac
    assert cfg.acc_bits_needed <= cfg.acc_width


@pytest.mark.parametrize("overrides, message", [
    (["n_in=0"], "n_in must be an integer >= 1, not 0"),
    (["n_hidden=-3"], "n_hidden must be an integer >= 1, not -3"),
    (["lanes=0"], "lanes must be an integer >= 1, not 0"),
    (["window=65"], "window must satisfy 1 <= window <= window_max = 64, not 65"),
    (["window=0"], "window must satisfy 1 <= window <= window_max = 64, not 0"),
    (["biases=1"], "biases must be true or false, not 1"),
    (["rounding=floor"], "rounding must be one of nearest, stochastic, not 'floor'"),
    (["lfsr_seed=0"], "lfsr_seed must satisfy 1 <= lfsr_seed < 2**32, not 0"),
    (["profile_counters=1"], "profile_counters must be true or false, not 1"),
    (["single_port_weights=0"], "single_port_weights must be true or false, not 0"),
    (["formats.u.width=40"], "formats.u.width must satisfy 2 <= width <= 32, not 40"),
    (["formats.w.width=12", "formats.w.frac=12"],
     "formats.w.frac = 12 must satisfy 0 <= frac <= width - 1 = 11"),
    (["neuron.tau_mem=0"], "neuron.tau_mem must be > 0, not 0"),
    (["neuron.beta_a=-1"], "neuron.beta_a must be >= 0, not -1"),
    (["neuron.theta0=0"], "neuron.theta0 must be > 0, not 0"),
    (["neuron.input_scale='half'"], "neuron.input_scale must be one of one, 1-alpha, not 'half'"),
    (["neuron.surrogate_width=0.3"], "neuron.surrogate_width = 0.3 must be a power of two"),
    (["fptt.alpha=0.1"], "fptt.alpha = 0.1 must be a power of two 2**-k with k >= 0"),
    (["fptt.lr=2.0"], "fptt.lr.w_in = 2.0 must be a power of two 2**-k with k >= 0"),
    (["fptt.lr.w_rec=0.3"], "fptt.lr.w_rec = 0.3 must be a power of two 2**-k with k >= 0"),
    (["fptt.lr.v=0.5"], "unknown configuration key 'fptt.lr.v': use fptt.lr (every parameter) "
                        "or fptt.lr.P with P one of w_in, w_rec, b, w_out, b_out"),
    (["formats.x.width=7"], "formats.x = Q1.6 cannot hold a spike (1.0): needs width >= frac + 2"),
    (["neuron.beta_a=5"], "formats.const = Q3.13 cannot hold the neuron constant beta_a = 5"),
    (["neuron.tau_mem=0.3", "formats.const.frac=2", "formats.const.width=8"],
     "neuron constant alpha rounds to 0 in formats.const = Q6.2"),
    (["neuron.tau_mem_spread=0.5"], "neuron.tau_mem_spread must be >= 1 (the ratio of the "
                                    "longest membrane time constant to tau_mem), not 0.5"),
    (["neuron.tau_mem_spread=4", "neuron.input_scale='1-alpha'"],
     "neuron.tau_mem_spread = 4 needs neuron.input_scale = \"one\": the input scale 1 - alpha "
     "would differ per neuron too"),
    (["neuron.theta0=64"], "neuron.theta0 = 64 does not fit formats.u = Q6.10"),
    (["neuron.surrogate_height=2"], "neuron.surrogate_height = 2 does not fit formats.psi = Q2.6"),
    (["n_hidden=32", "formats.w.width=12", "formats.w.frac=8", "acc_width=16"],
     "acc_width = 16 is too narrow for n_in + n_hidden = 52 worst-case terms: "
     "needs at least 25 bits"),
    (["acc_width=50"], "acc_width = 50 is too wide"),
    (["formats.grad.frac=31", "formats.grad.width=32", f"fptt.lr={2.0 ** -30}",
      "formats.w.width=12", "formats.w.frac=8"],
     "the FPTT update of w needs a 68-bit intermediate, above the 62-bit bound"),
    (["nonsense=1"], "unknown configuration key 'nonsense'"),
    (["formats.w.bits=3"], "unknown configuration key 'formats.w.bits'"),
    (["n_in"], "override 'n_in' must have the form KEY=VALUE"),
])
def test_refusals_name_quantity_and_bound(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        CoreConfig.load(None, overrides)


def test_unknown_sections_and_keys_in_toml():
    with pytest.raises(ConfigError, match=r"unknown configuration section\(s\): extra"):
        CoreConfig.from_toml("[extra]\na = 1\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[neuron\]: tau"):
        CoreConfig.from_toml("[neuron]\ntau = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        CoreConfig.from_toml("[core\n")
    with pytest.raises(ConfigError, match="formats.w must be a table"):
        CoreConfig.from_toml("[formats]\nw = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in fptt.lr: w; known: w_in"):
        CoreConfig.from_toml("[fptt]\nlr = { w = 0.5 }\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file .*nope.toml' does not exist"):
        CoreConfig.load(tmp_path / "nope.toml")


def test_up5k_file_is_the_preset():
    from pathlib import Path
    from fptt.config import up5k_config
    path = Path(__file__).resolve().parent.parent / "configs" / "up5k.toml"
    assert CoreConfig.load(path) == up5k_config()
    up = up5k_config()
    assert up.formats.u.width == 12 and not up.profile_counters
    assert not up.adaptive and up.acc_width == up.acc_bits_needed == 22 and not up.biases
    assert (up.n_in, up.n_hidden, up.n_out, up.formats.x.width, up.formats.x.frac) == \
        (20, 16, 2, 2, 0)


def test_adaptive_follows_the_quantised_beta():
    """LIF exactly when β_a's code is 0 (a β_a below half an LSB of formats.const is LIF)."""
    assert CoreConfig().adaptive
    assert not CoreConfig().replace(neuron=dict(beta_a=0.0)).adaptive
    lsb = 2.0 ** -CoreConfig().formats.const.frac
    assert not CoreConfig().replace(neuron=dict(beta_a=0.4 * lsb)).adaptive
    assert CoreConfig().replace(neuron=dict(beta_a=lsb)).adaptive


# ----------------------------------------------------------------------------- issue 14, item 3
@pytest.mark.parametrize("override, message", [
    ("window=true", "window must be an integer"),
    ("neuron.tau_mem=true", "neuron.tau_mem must be a finite number, not True"),
    ("fptt.alpha=true", "fptt.alpha must be a finite number, not True"),
    ("neuron.beta_a=true", "neuron.beta_a must be a finite number, not True"),
    ("neuron.beta_a=\"x\"", "neuron.beta_a must be a finite number, not 'x'"),
    ("theta0=inf", "neuron.theta0 must be a finite number, not inf"),
    ("neuron.tau_adp=nan", "neuron.tau_adp must be a finite number, not nan"),
    ("neuron.tau_mem_spread=inf", "neuron.tau_mem_spread must be a finite number, not inf"),
    ("formats.w.width=12.7", "formats.w.width must be an integer, not 12.7"),
    ("formats.w.width=\"abc\"", "formats.w.width must be an integer, not 'abc'"),
    ("formats.u.frac=true", "formats.u.frac must be an integer, not True"),
    ("acc_width=false", "acc_width must be an integer"),
    ("neuron.surrogate_height=true", "neuron.surrogate_height must be a finite number"),
    ("fptt.lr=true", "fptt.lr.w_in must be a finite number, not True"),
    ("lfsr_seed=true", "lfsr_seed must satisfy"),
])
def test_strict_types_name_the_key(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        CoreConfig.load(None, [override])


def test_width_is_not_truncated_in_toml():
    with pytest.raises(ConfigError, match=re.escape("formats.w.width must be an integer, not 12.7")):
        CoreConfig.from_toml("[formats]\nw = { width = 12.7, frac = 8 }\n")


def test_acc_width_message_suggests_zero():
    with pytest.raises(ConfigError, match=re.escape("acc_width = 0 picks the narrowest")):
        CoreConfig.load(None, ["n_hidden=5000"])


def test_unreadable_config_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="is a directory"):
        CoreConfig.load(tmp_path)
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="bin.toml' cannot be read"):
        CoreConfig.load(bad)
    locked = tmp_path / "locked.toml"
    locked.write_text("[core]\n")

    def refuse(self, *a, **k):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError, match="locked.toml' cannot be read: Permission denied"):
        CoreConfig.load(locked)


def test_size_guard_names_the_figure_and_the_flag():
    cfg = CoreConfig.load(None, ["window_max=1000000000"])
    with pytest.raises(ConfigError, match=r"needs about 1\.1 TiB of memory .*pass --force"):
        cfg.check_size()
    big = CoreConfig.load(None, ["n_hidden=5000", "acc_width=0"])
    with pytest.raises(ConfigError, match=r"needs about 1\.3 GiB"):
        big.check_size(limit=2 ** 30)
    CoreConfig().check_size(limit=2 ** 30)      # the default core passes


def test_train_table_is_the_host_side_and_ignored_by_the_core(tmp_path):
    """A configuration file's [train] table (fptt.train.TrainSettings) is not part of the
    core: CoreConfig reads the file as if it were not there; other sections still refuse."""
    core = CoreConfig(n_hidden=12).to_toml()
    path = tmp_path / "c.toml"
    path.write_text(core + '\n[train]\nepochs = 3\nschedule = "final"\n')
    assert CoreConfig.load(path) == CoreConfig(n_hidden=12)
    assert CoreConfig.from_toml(core + "\n[train]\nnonsense = 1\n") == CoreConfig(n_hidden=12)
    assert CoreConfig.load(path, ["n_hidden=20"]).n_hidden == 20
    assert "[train]" not in CoreConfig.load(path).to_toml()
    with pytest.raises(ConfigError, match=r"unknown configuration section\(s\): extra$"):
        CoreConfig.from_toml("[train]\nepochs = 3\n[extra]\na = 1\n")
    (tmp_path / "bad.toml").write_text("[core\n")
    with pytest.raises(ConfigError, match=r"configuration file .*bad.toml': invalid TOML"):
        CoreConfig.load(tmp_path / "bad.toml")


def test_smnist_config_holds_the_decision_setup():
    cfg = CoreConfig.load(Path(__file__).resolve().parents[1] / "configs" / "smnist.toml")
    assert (cfg.n_in, cfg.n_hidden, cfg.n_out, cfg.window) == (1, 64, 10, 56)
    assert cfg.neuron.tau_out == 200
    assert cfg.formats.grad_w_out == Fmt(24, 10) and cfg.formats.grad_b_out == Fmt(24, 12)
    assert cfg.formats.grad_w_in == Fmt(16, 15)
    assert [cfg.fptt.lr.as_dict()[p] for p in PARAMS] == [2.0 ** -12] * 3 + [2.0 ** -20, 2.0 ** -26]


def test_per_neuron_membrane_time_constants():
    """``tau_mem_spread = r``: τ_j log-spaced from tau_mem (neuron 0) to r·tau_mem (the last
    neuron), α_j = exp(-1/τ_j) and its code; r = 1 gives every neuron tau_mem's α."""
    cfg = CoreConfig.load(None, ["n_hidden=5", "neuron.tau_mem=5", "neuron.tau_mem_spread=16"])
    assert cfg.per_neuron_tau
    np.testing.assert_allclose(cfg.tau_mem_neurons, [5, 10, 20, 40, 80])
    np.testing.assert_allclose(cfg.alpha_neurons, np.exp(-1 / np.array([5, 10, 20, 40, 80])))
    one = 1 << cfg.formats.const.frac
    assert cfg.alpha_q == tuple(round(a * one) for a in cfg.alpha_neurons)
    assert cfg.alpha_q[0] == cfg.const_q["alpha"] < cfg.alpha_q[-1]
    assert CoreConfig.from_toml(cfg.to_toml()) == cfg
    shared = cfg.replace(neuron={"tau_mem_spread": 1.0})
    assert not shared.per_neuron_tau
    assert shared.alpha_q == (shared.const_q["alpha"],) * 5
    assert shared.tau_mem_neurons == (5.0,) * 5
    assert CoreConfig.load(None, ["n_hidden=1", "neuron.tau_mem_spread=4"]).tau_mem_neurons \
        == (20.0,)
