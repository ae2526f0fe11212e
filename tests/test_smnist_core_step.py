"""benchmarks/smnist_core_step.py: the core's step rule as a torch optimiser, and its run."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "smnist_core_step.py"
_spec = importlib.util.spec_from_file_location("smnist_core_step", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_core_step_is_rms_for_the_hidden_layer_and_sgd_for_the_readout():
    w_rec = torch.tensor([1.0, 1.0, 1.0], requires_grad=True)
    w_out = torch.tensor([1.0, 1.0], requires_grad=True)
    opt = bench.CoreStep([("w_rec", w_rec), ("w_out", w_out)], hidden_lr=0.1, readout_lr=0.01,
                         beta=0.5)
    for g_rec, g_out in (([2.0, -4.0, 0.0], [3.0, -1.0]), ([1.0, -4.0, 0.0], [1.0, 1.0])):
        w_rec.grad = torch.tensor(g_rec)
        w_out.grad = torch.tensor(g_out)
        opt.step()
    # v = g² first, then ½ v + ½ g²: [4, 16, 0] -> [2.5, 16, 0]; steps 0.1·g/√v
    expected = [1 - 0.1 * (1.0 + 1 / 2.5 ** 0.5), 1 + 0.1 * 2, 1.0]
    assert torch.allclose(w_rec, torch.tensor(expected, dtype=w_rec.dtype))
    assert torch.allclose(w_out, torch.tensor([1 - 0.01 * 4, 1 - 0.01 * 0], dtype=w_out.dtype))


def test_core_step_refuses_bad_steps():
    p = [("w_in", torch.zeros(2, requires_grad=True))]
    with pytest.raises(ValueError, match=r"steps must be > 0, not 0 and 0.1"):
        bench.CoreStep(p, 0, 0.1)
    with pytest.raises(ValueError, match=r"beta must be in \(0, 1\), not 1"):
        bench.CoreStep(p, 0.1, 0.1, beta=1)


def test_main_trains_the_reference_with_the_core_step(tmp_path, monkeypatch):
    import fptt.golden.reference as reference
    import numpy as np

    from fptt.study import smnist
    from fptt.tasks.idx import write_idx
    from fptt.tasks.mnist import MnistTask
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (16, 8, 8), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 16, dtype=np.uint8))
    # the onchip-rule network: each pixel as its population code on 16 input channels
    task = MnistTask(data_dir=tmp_path, split_at=8, n_decision=4, n_in=16)
    monkeypatch.setattr(smnist, "make_mnist", lambda *a, **k: task)
    out = tmp_path / "run.json"
    before = reference.BPTTTrainer
    steps = []
    step = bench.CoreStep.step
    monkeypatch.setattr(bench.CoreStep, "step", lambda self: steps.append(1) or step(self))
    assert bench.main(["--batch", "4", "--epochs", "1", "--json", str(out)]) == 0
    assert reference.BPTTTrainer is before          # the patch is undone
    assert len(steps) == 2                          # 8 training images in batches of 4
    rec = json.loads(out.read_text())
    assert rec["step_rule"] == "core" and rec["batch"] == 4 and rec["epochs"] == 1
    assert rec["weight_change"][0]["w_rec"] > 0 and rec["weight_change"][0]["w_out"] > 0


@pytest.mark.parametrize("argv, message", [(["--batch", "0"], "--batch must be >= 1, not 0"),
                                           (["--hidden-lr", "0"], "must be > 0")])
def test_main_refuses_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err
