"""Health metrics: weight change per matrix, and the frozen parameters of the readout-only control."""

import numpy as np
import pytest

from fptt.config import CoreConfig
from fptt.golden.fixed_core import FixedCore
from fptt.golden.twin import FloatTwin
from fptt.golden.weights import init_weights
from fptt.health import bias_size, frozen_params, weight_change

CFG = CoreConfig(n_in=6, n_hidden=8, n_out=2, window=5, window_max=8, acc_width=0).replace(
    fptt={"lr": 2.0 ** -6})


def test_weight_change_is_relative_l1():
    w0 = {"w_in": np.array([[1.0, -2.0]]), "w_rec": np.array([[0.0, 4.0]]),
          "w_out": np.array([[0.0, 0.0]]), "b": np.zeros((1, 1))}
    w1 = {"w_in": np.array([[1.5, -2.0]]), "w_rec": np.array([[-1.0, 4.0]]),
          "w_out": np.array([[1.0, 0.0]]), "b": np.array([[-0.5]])}
    ch = weight_change(w0, w1)
    assert ch["w_in"] == pytest.approx(0.5 / 3) and ch["w_rec"] == pytest.approx(0.25)
    assert np.isnan(ch["w_out"])        # from all zeros: no relative change
    assert bias_size(w1) == {"b": 0.5}


def test_frozen_params_per_learn_mode():
    assert frozen_params(CFG, "all") == ()
    assert frozen_params(CFG, "readout") == ("w_in", "w_rec", "b")
    assert frozen_params(CFG.replace(biases=False, acc_width=0), "readout") == ("w_in", "w_rec")
    assert frozen_params(CFG, "hidden") == ("w_out", "b_out")
    assert frozen_params(CFG.replace(biases=False, acc_width=0), "hidden") == ("w_out",)
    with pytest.raises(ValueError, match="learn must be one of all, readout, hidden, not 'none'"):
        frozen_params(CFG, "none")


@pytest.mark.parametrize("cls", [FixedCore, FloatTwin])
def test_frozen_parameters_keep_their_state_and_the_draws_advance(cls):
    rng = np.random.default_rng(0)
    x = (rng.random((30, 6)) < 0.4) * 1.0
    t, h = rng.random((30, 2)), np.ones(30, bool)
    w = init_weights(CFG, 0, gain_in=3.0)
    free, frozen = cls(CFG, w), cls(CFG, w, frozen=("w_in", "w_rec", "b"))
    free.run_sequence(x, t, h)
    frozen.run_sequence(x, t, h)
    for m in ("w_in", "w_rec", "b"):
        np.testing.assert_array_equal(frozen.weights()[m], np.asarray(w[m]).reshape(
            frozen.weights()[m].shape))
        assert not np.array_equal(free.weights()[m], frozen.weights()[m])
    assert not np.array_equal(frozen.weights()["w_out"], w["w_out"])
    if cls is FixedCore:    # the readout's rounding draws are those of the unfrozen run
        np.testing.assert_array_equal(free.state.lfsr, frozen.state.lfsr)
        np.testing.assert_array_equal(frozen.state.lam["w_in"], 0)


def test_freezing_an_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="cannot freeze b: the core's parameters are "
                                         "w_in, w_rec, w_out"):
        FixedCore(CFG.replace(biases=False, acc_width=0), init_weights(CFG, 0), frozen=("b",))


def test_percent_never_uses_an_exponent():
    from fptt.health import percent
    assert [percent(v) for v in (13.1, 0.374, 0.0126, 0.0, float("nan"))] == \
        ["1310%", "37.4%", "1.26%", "0%", "n/a"]
