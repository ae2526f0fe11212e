"""benchmarks/smnist_readout.py: the online readout on frozen spikes learns what it should."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "smnist_readout.py"
_spec = importlib.util.spec_from_file_location("smnist_readout", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _spikes(n, rng, T=40, H=20):
    """Class c makes neurons 2c and 2c+1 fire at rate 0.5; every neuron fires at 0.05."""
    labels = rng.integers(0, 10, n)
    s = rng.random((n, T, H)) < 0.05
    for i, c in enumerate(labels):
        s[i, :, 2 * c:2 * c + 2] |= rng.random((T, 2)) < 0.5
    return s.astype(np.uint8), labels


@pytest.mark.parametrize("mode", bench.MODES)
def test_readout_learns_separable_spikes(mode):
    rng = np.random.default_rng(0)
    s, y = _spikes(600, rng)
    st, yt = _spikes(200, rng)
    kw = dict(kappa=0.8, window=10, decision=10)
    acc = bench.readout_accuracy(s, y, st, yt, mode, 2.0 ** -8, **kw)
    assert acc > 0.95
    assert bench.least_squares(s, y, st, yt, 0.8, 10) > 0.95
    # a step past the stability limit (η·λ_max > 2) diverges to chance
    assert bench.readout_accuracy(s, y, st, yt, mode, 2.0 ** -4, **kw) < 0.3


def test_unknown_mode_is_named():
    s = np.zeros((2, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="mode must be one of raw, centred, scaled, not 'adam'"):
        bench.readout_accuracy(s, [0, 1], s, [0, 1], "adam", 1.0, kappa=0.5, window=2, decision=2)


def test_more_passes_train_further():
    """100 images, a small step: one pass leaves the readout half trained, eight finish it."""
    rng = np.random.default_rng(0)
    s, y = _spikes(100, rng)
    st, yt = _spikes(200, rng)
    kw = dict(kappa=0.8, window=10, decision=10)
    one = bench.readout_accuracy(s, y, st, yt, "centred", 2.0 ** -14, **kw)
    assert one < 0.6
    assert one == bench.readout_accuracy(s, y, st, yt, "centred", 2.0 ** -14, passes=1, **kw)
    assert bench.readout_accuracy(s, y, st, yt, "centred", 2.0 ** -14, passes=8, **kw) > 0.95


def test_passes_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--passes", "0"])
    assert "--passes must be >= 1, not 0" in capsys.readouterr().err
