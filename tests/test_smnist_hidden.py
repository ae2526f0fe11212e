"""benchmarks/smnist_hidden.py and the least-squares readout it starts from."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from test_study import _tiny_mnist

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "smnist_hidden.py"
_spec = importlib.util.spec_from_file_location("smnist_hidden", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _setup():
    from fptt.study import smnist
    return dataclasses.replace(smnist.SETUPS["decision"], n_decision=4)


def test_least_squares_readout_is_the_cores_readout_summed_over_the_decision(tmp_path):
    """With the fitted W_out, b_out in the network, the readout summed over the decision
    steps is the least-squares prediction: ``W_out F + b_out C``, ``C`` the bias's gain."""
    import torch

    from fptt.golden.reference.network import ALIFNetwork
    from fptt.study import smnist
    from fptt.study.diagnostics import least_squares_readout, readout_features
    setup = _setup()
    cfg = smnist.setup_config(setup)
    task = _tiny_mnist(tmp_path)
    seqs = list(task.train_set())
    w = smnist.setup_weights(cfg, setup, 0)
    w_out, b_out = least_squares_readout(cfg, w, seqs, task.n_out, ridge=1e-9)
    assert w_out.shape == (task.n_out, cfg.n_hidden) and b_out.shape == (task.n_out, 1)
    xs = np.stack([s.x for s in seqs])
    decision = seqs[0].decision.astype(bool)
    net = ALIFNetwork(cfg, dict(w, w_out=w_out, b_out=b_out), dtype=torch.float64)
    with torch.no_grad():
        o = net(torch.as_tensor(xs))[0].numpy()
    summed = o[:, decision].sum(axis=1)
    f, _ = readout_features(cfg, w, xs, decision)
    kappa = cfg.neuron.kappa
    c = sum((1 - kappa ** (t + 1)) / (1 - kappa) for t in np.flatnonzero(decision))
    np.testing.assert_allclose(summed, f @ w_out.T + c * b_out[:, 0], rtol=1e-4, atol=1e-6)
    # 16 sequences, 65 unknowns per class: the fit reproduces every training target
    target = np.eye(task.n_out)[[int(s.label) for s in seqs]] * decision.sum()
    np.testing.assert_allclose(summed, target, atol=0.05 * decision.sum())


def test_sound_readout_weights_are_on_the_grid_and_keep_the_hidden_layer(tmp_path):
    from fptt.study import smnist
    setup = _setup()
    cfg = smnist.setup_config(setup)
    task = _tiny_mnist(tmp_path)
    w0 = smnist.setup_weights(cfg, setup, 0)
    w = bench.sound_readout_weights(cfg, setup, task, n_fit=16)
    lsb = cfg.formats.w.lsb
    for name in ("w_in", "w_rec", "b"):
        np.testing.assert_array_equal(w[name], w0[name])
    for name in ("w_out", "b_out"):
        assert np.any(w[name] != w0[name])
        np.testing.assert_array_equal(w[name] / lsb, np.round(w[name] / lsb))


def test_main_runs_each_mode_from_the_same_start(tmp_path, monkeypatch, capsys):
    task = _tiny_mnist(tmp_path)
    monkeypatch.setattr(bench, "make_mnist", lambda *a, **k: task)
    out = tmp_path / "h.json"
    setup = bench.SETUPS["decision"]
    monkeypatch.setitem(bench.SETUPS, "decision", dataclasses.replace(setup, n_decision=4))
    assert bench.main(["--models", "fixed", "--n-fit", "16", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {r["mode"]: r for r in data["rows"]}
    assert list(rows) == ["start", "all", "readout", "hidden"]
    assert 0 <= rows["start"]["accuracy"] <= 1
    assert rows["hidden"]["weight_change"]["w_out"] == 0
    assert rows["hidden"]["weight_change"]["w_rec"] > 0
    assert rows["readout"]["weight_change"]["w_rec"] == 0
    assert rows["readout"]["weight_change"]["w_out"] > 0
    assert "fixed  hidden   test" in capsys.readouterr().out


def test_main_refuses_an_unknown_mode_and_a_bad_override(capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(["--modes", "start,frozen"])
    assert info.value.code == 2
    assert "--modes: unknown mode 'frozen'; known: start, all, readout, hidden" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        bench.main(["--set", "core.nope=1"])
    assert info.value.code == 2
    assert "--set: " in capsys.readouterr().err
