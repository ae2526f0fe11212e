"""Co-simulation of the generated Verilog against the golden model (cocotb, Verilator, Icarus).

Every test builds (or reuses, ``build/sim/<sim>/``) the Verilog of one
configuration and runs one cocotb bench of :mod:`fptt.sim.cocotb_tests` on
it through :mod:`fptt.sim.runner`. The whole-core benches compare every
output frame with the golden model at every step and every memory at
checkpoints and at the end; any difference fails the test with the step,
quantity, address, expected and actual value.

Default set (``make test``): a learning run of 300+ steps on Verilator and
one of 200+ steps on Icarus; the random task (odd sizes, signed multi-bit
inputs, random flags, WINDOW changes) on Icarus; a sweep of seven
configurations (sizes, odd ones on the random task, number formats, both
rounding modes, lanes 1/2/3/4, windows 1 and > 1); the robustness benches
(back-pressure, reset + checkpoint restore, host-port errors); the host
benches of ``sim/cocotb_host.py`` (abuse between steps, long output stalls,
resets in the forward step / with a beat held / with a bus access pending) on
Verilator and Icarus; the neuron and eligibility/regulariser units on random
vectors; the build cache; the mismatch report; ``fptt cosim`` (cue and random).

``@pytest.mark.slow`` (``make test-long``): one training epoch of the demo task
(default configuration, default cue task) on the RTL, test accuracy equal to
the golden model's; the host benches at length on both simulators.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import numpy as np
import pytest

from fptt.config import CoreConfig, up5k_config
from fptt.sim.runner import RunError, build, run

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None,
                                reason="verilator not on PATH (make sysdeps)")


def _fmts(**kw):
    return {k: dict(width=w, frac=f) for k, (w, f) in kw.items()}


_SMALL = dict(fptt=dict(alpha=0.5, lr=2.0 ** -6))

#: The configurations of the co-simulation. Together: n_hidden 7..32, weights
#: of 12, 16 and 20 bits, both rounding modes, lanes 1, 2 and 4 (with padding
#: lanes), windows 1, > 1 and 32 (partial windows at eos), LIF and ALIF,
#: c = 1 and c = 1 - alpha, profiling counters on and off, biases on (every
#: configuration but the UP5K preset) and off, one learning rate for every
#: parameter and a distinct one (and gradient format) per parameter, the UP5K preset.
CONFIGS = {
    # n_in 8, 8 ALIF neurons, one lane, L = 1, nearest
    "base": CoreConfig().replace(n_in=8, n_hidden=8, n_out=2, window=1, window_max=8, lanes=1,
                                 rounding="nearest", **_SMALL),
    # two lanes, L = 4 of 8, stochastic rounding, three outputs
    "p2-l4-stochastic": CoreConfig().replace(n_in=8, n_hidden=12, n_out=3, window=4, window_max=8,
                                             lanes=2, rounding="stochastic", **_SMALL),
    # four lanes over 10 neurons (2 padding lanes), L = window_max = 8, narrow formats
    "p4-l8-narrow": CoreConfig().replace(
        n_in=12, n_hidden=10, n_out=2, window=8, window_max=8, lanes=4, rounding="stochastic",
        acc_width=0, fptt=dict(alpha=0.25, lr=2.0 ** -5),
        formats=_fmts(x=(6, 4), w=(12, 9), wbar=(12, 9), lam=(12, 10), u=(14, 8), a=(12, 9),
                      o=(14, 8), psi=(6, 4), delta=(14, 8), obar=(14, 8), sbar=(14, 8),
                      vbar=(14, 8), ubar=(14, 8), abar=(14, 8), ibar=(14, 8), grad=(14, 8),
                      const=(14, 11))),
    # four lanes, L = 1, wide formats, c = 1 - alpha
    "p4-l1-wide": CoreConfig().replace(
        n_in=4, n_hidden=16, n_out=2, window=1, window_max=2, lanes=4, rounding="nearest",
        acc_width=0, neuron=dict(input_scale="1-alpha", tau_mem=10.0),
        fptt=dict(alpha=0.5, lr=2.0 ** -8),
        formats=_fmts(w=(20, 16), wbar=(20, 16), lam=(20, 17), u=(20, 14), a=(18, 14),
                      o=(20, 14), delta=(20, 14), obar=(20, 14), sbar=(20, 14), vbar=(20, 14),
                      ubar=(20, 14), abar=(20, 14), ibar=(20, 14), grad=(20, 14),
                      const=(18, 16))),
    # LIF, odd neuron count over two lanes, L = 3 of 4, four outputs
    "p2-l3-lif": CoreConfig().replace(
        n_in=16, n_hidden=7, n_out=4, window=3, window_max=4, lanes=2, rounding="nearest",
        neuron=dict(beta_a=0.0, surrogate_height=1.0, surrogate_width=1.0), **_SMALL),
    # a distinct learning rate and gradient format per parameter (biases on), L = 32 of 40
    "p2-l32-rates": CoreConfig().replace(
        n_in=8, n_hidden=16, n_out=2, window=32, window_max=40, lanes=2, rounding="stochastic",
        fptt=dict(alpha=0.25, lr=dict(w_in=2.0 ** -6, w_rec=2.0 ** -7, b=2.0 ** -5,
                                      w_out=2.0 ** -9, b_out=2.0 ** -8)),
        formats=_fmts(grad_w_in=(16, 12), grad_w_rec=(16, 13), grad_b=(14, 10),
                      grad_w_out=(16, 9), grad_b_out=(14, 8))),
    # the FPGA preset (configs/up5k.toml): LIF, 12-bit formats, no profiling counters, no biases
    "up5k": up5k_config(),
    # odd sizes on the random task: 11 inputs, 23 neurons over 3 lanes (one padding lane),
    # 3 outputs; signed multi-bit inputs, random flags and WINDOW changes (1 .. 12)
    "odd-11-23-3": CoreConfig().replace(n_in=11, n_hidden=23, n_out=3, window=5, window_max=12,
                                        lanes=3, rounding="stochastic", **_SMALL),
}

#: Bench parameters of a sweep configuration beyond the common ones: sequences of 52
#: steps, so that windows of 32 close full (and the rest at eos).
SWEEP_PARAMS = {"p2-l32-rates": {"task_kw": {"delay": 30}, "steps": 200, "checkpoint_every": 100},
                "odd-11-23-3": {"task": "random", "steps": 300, "checkpoint_every": 60}}

#: The random task on Icarus: sizes no cue task has (7 inputs, 17 neurons, 3 outputs).
ICARUS_RANDOM = CoreConfig().replace(n_in=7, n_hidden=17, n_out=3, window=4, window_max=10,
                                     lanes=2, rounding="stochastic", **_SMALL)

#: Narrow formats and a large step: saturation in the units.
NARROW_UNIT = CoreConfig().replace(
    neuron=dict(beta_a=3.5, tau_adp=1.0, input_scale="1-alpha"), fptt=dict(alpha=0.5, lr=2.0 ** -2),
    formats=_fmts(u=(11, 8), a=(9, 8), w=(12, 10), wbar=(12, 10), lam=(12, 10), grad=(12, 8),
                  const=(16, 12)),
    acc_width=0)


def _check_learning(res: dict, min_steps: int) -> None:
    assert res["ok"] and res["error"] is None
    assert res["steps"] >= min_steps
    assert res["windows"] > 0, "no window closed"
    assert res["weights_moved"], "no weight changed: the run did not exercise learning"
    assert res["spikes"] > 0
    assert res["checkpoints"] >= 1
    assert res["cycles"] > 0 and res["sim_cycles_per_s"] > 0


# ----------------------------------------------------------------------------- whole core
def test_core_verilator_300_steps(tmp_path):
    """Learning run of 300+ steps of the cue task on Verilator; checkpoints every 100 steps."""
    b = build(CONFIGS["base"], "verilator")
    res = run(b, "core", {"steps": 300, "checkpoint_every": 100, "inference_every": 5},
              test_dir=tmp_path)
    _check_learning(res, 300)
    assert res["checkpoints"] >= 4     # 3 during the run + the final one


def test_core_icarus_200_steps(tmp_path):
    """The same kind of run on Icarus Verilog (the second simulator)."""
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not on PATH")
    b = build(CONFIGS["base"], "icarus")
    res = run(b, "core", {"steps": 200, "checkpoint_every": 104, "inference_every": 4,
                          "seed": 1}, test_dir=tmp_path)
    _check_learning(res, 200)


@pytest.mark.parametrize("name", [n for n in CONFIGS if n != "base"])
def test_core_sweep(name, tmp_path):
    """Each configuration of the sweep learns bit-exactly (150+ steps, checkpoints)."""
    cfg = CONFIGS[name]
    b = build(cfg, "verilator")
    params = {"steps": 150, "checkpoint_every": 78, "inference_every": 3, "seed": 3}
    params.update(SWEEP_PARAMS.get(name, {}))
    res = run(b, "core", params, test_dir=tmp_path)
    _check_learning(res, 150)
    if params.get("task") == "random":
        assert res["window_writes"] >= 5


def test_random_task_icarus(tmp_path):
    """The random task (odd sizes, multi-bit inputs, WINDOW changes) on Icarus, bit-exactly."""
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not on PATH")
    b = build(ICARUS_RANDOM, "icarus")
    res = run(b, "core", {"task": "random", "steps": 150, "checkpoint_every": 75, "seed": 2},
              test_dir=tmp_path)
    _check_learning(res, 150)
    assert res["window_writes"] >= 3


# ----------------------------------------------------------------------------- robustness
def test_backpressure_holds_frames(tmp_path):
    """A frame offered while busy waits (never dropped); unread outputs are held."""
    b = build(CONFIGS["p2-l4-stochastic"], "verilator")
    res = run(b, "backpressure", {"steps": 120}, test_dir=tmp_path)
    assert res["held_frames"] > 0 and res["held_cycles"] > 0
    assert res["stalled_output_cycles"] > 0
    assert res["windows_closed"] > 0


def test_reset_and_restore_continues_bit_exact(tmp_path):
    """Reset late in a window close, restore the saved checkpoint over the bus, continue.

    The host runs at WINDOW = 3 (reset value 4): the restore writes the checkpoint's
    ``window`` back and the read-back compares it."""
    b = build(CONFIGS["p2-l4-stochastic"], "verilator")
    res = run(b, "reset_restore", {"steps": 200, "checkpoint_every": 25, "window": 3,
                                   "reset_at": [0.5, -16]}, test_dir=tmp_path)
    backward, update = res["resets"]
    assert backward["after_cycles"] < update["after_cycles"]
    # the reset in the update sweep left part of the weights rewritten: the restore matters
    assert update["weights_disturbed"] > 0
    assert res["continued_steps"] > 40
    for r in res["resets"]:
        assert (r["window_after_reset"], r["window_restored"]) == (4, 3)


# the host at its most demanding (sim/cocotb_host.py), random task, odd sizes; the
# default runs take a few seconds each on Verilator and ~15-30 s on Icarus
_HOST_SIMS = ["verilator", "icarus"]


def _host_build(sim: str):
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("iverilog not on PATH")
    return build(CONFIGS["odd-11-23-3"] if sim == "verilator" else ICARUS_RANDOM, sim)


def _check_host_abuse(res, steps):
    assert res["steps"] >= steps and res["windows"] > 5
    assert res["reads"] > steps // 2 and res["reads_while_busy"] > 0
    assert res["reads_beside_frame"] > 0
    assert res["writes_mid_window"] > 0 and res["writes_while_busy"] > 0
    assert res["window_writes"] > 0 and res["steps_writes"] > 0


@pytest.mark.parametrize("sim", _HOST_SIMS)
def test_host_abuse_between_steps(sim, tmp_path):
    """Reads and writes while busy, weight writes mid-window, WINDOW changes: bit-exact."""
    steps = 150 if sim == "verilator" else 60
    res = run(_host_build(sim), "host_abuse", {"steps": steps, "seed": 1}, test_dir=tmp_path)
    _check_host_abuse(res, steps)


def _check_stalls(res, steps, longest):
    assert res["steps"] >= steps and res["windows_closed"] > 0
    assert res["long_stalls"] >= 3 and 1000 <= res["longest_stall"] <= longest
    assert res["stalled_output_cycles"] >= 3000
    assert res["taken_while_held"] > 0          # back to back: frames taken with a beat held
    # busy = 0 while a beat is held (docs/host_interface.md): the bus is served meanwhile
    assert res["idle_while_held"] > 0 and res["reads_while_held"] == res["idle_while_held"]


@pytest.mark.parametrize("sim", _HOST_SIMS)
def test_back_to_back_frames_with_long_output_stalls(sim, tmp_path):
    """Frames back to back, beats unread for 1000+ cycles: nothing lost, bit-exact."""
    steps, longest = (120, 4000) if sim == "verilator" else (40, 1500)
    res = run(_host_build(sim), "stalls", {"steps": steps, "max_stall": longest,
                                           "long_every": 8, "pause_every": 13},
              test_dir=tmp_path)
    _check_stalls(res, steps, longest)


def _check_resets(res, cfg):
    kinds = [r["kind"] for r in res["resets"]]
    assert kinds == ["forward", "held_output", "pending_bus"]
    for r in res["resets"]:
        # the reset returned WINDOW to cfg.window; the restore wrote the checkpoint's back
        assert r["window_after_reset"] == cfg.window
        assert 1 <= r["window_restored"] <= cfg.window_max
    assert any(r["window_restored"] != cfg.window for r in res["resets"])
    assert res["continued_steps"] > 10


@pytest.mark.parametrize("sim", _HOST_SIMS)
def test_resets_in_forward_step_held_output_pending_bus(sim, tmp_path):
    """Reset in the forward step, with a beat held, with a bus access pending; restore; continue."""
    b = _host_build(sim)
    res = run(b, "reset_anywhere", {"steps": 150 if sim == "verilator" else 60, "seed": 1,
                                    "disturbed": sim == "verilator"}, test_dir=tmp_path)
    _check_resets(res, b.cfg)
    if sim == "verilator":
        # the held beat's frame closed a window: its update ran before the reset, and
        # the restore put the weights back
        assert res["resets"][1]["weights_disturbed"] > 0


def test_bus_errors_change_nothing(tmp_path):
    """Out-of-range host accesses raise err and leave every memory and register unchanged."""
    b = build(CONFIGS["p2-l3-lif"], "verilator")
    res = run(b, "bus_errors", {"steps": 80}, test_dir=tmp_path)
    assert res["bad_accesses"] >= 20


# ----------------------------------------------------------------------------- units
def test_neuron_unit(tmp_path):
    """NeuronUnit (its own Verilog) equals golden neuron_update + surrogate, saturation included."""
    b = build(NARROW_UNIT, "verilator", design="neuron")
    res = run(b, "neuron_unit", {"vectors": 3000, "seed": 1}, test_dir=tmp_path)
    assert res["vectors"] == 3000
    assert all(v > 0 for v in res["saturated"].values()), res["saturated"]


@pytest.mark.parametrize("cfg,rounding", [(CoreConfig(), "stochastic"),
                                          (NARROW_UNIT, "nearest")],
                         ids=["default-stochastic", "narrow-nearest"])
def test_regulariser_unit(cfg, rounding, tmp_path):
    """RegulariserUnit equals golden gradient + fptt_update for both rounding modes."""
    b = build(cfg.replace(rounding=rounding), "verilator", design="regulariser")
    res = run(b, "regulariser_unit", {"vectors": 3000, "seed": 2}, test_dir=tmp_path)
    assert res["rounding"] == rounding and res["vectors"] == 3000
    assert res["saturated"]["sat_grad"] > 0


# ----------------------------------------------------------------------------- harness
def test_build_is_cached():
    """A second build of the same configuration reuses the first (no compiler run)."""
    b1 = build(CONFIGS["base"], "verilator")
    t0 = time.time()
    b2 = build(CONFIGS["base"], "verilator")
    assert b2.cached and b2.dir == b1.dir and time.time() - t0 < 10
    assert (b2.dir / "build.json").is_file()
    other = build(CONFIGS["base"].replace(lfsr_seed=99), "icarus")
    assert other.dir != b2.dir


def test_mismatch_reports_step_quantity_address_and_waveform(tmp_path):
    """A wrong golden model (different lr) is caught: the message names what differs, where."""
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not on PATH")
    cfg = CONFIGS["base"]
    b = build(cfg, "icarus")
    wrong = cfg.replace(fptt=dict(alpha=0.5, lr=2.0 ** -5))
    with pytest.raises(RunError) as exc:
        run(b, "core", {"steps": 40, "checkpoint_every": 1, "golden_config_toml": wrong.to_toml()},
            test_dir=tmp_path, waves=True)
    msg = str(exc.value)
    assert "RTL != golden at step" in msg and "expected" in msg and "actual" in msg
    assert "host address 0x" in msg or "o_frame.payload" in msg
    wave = tmp_path / "waves.vcd"
    assert str(wave) in msg and wave.is_file() and wave.stat().st_size > 0


def test_watchdog_reports_a_hang(tmp_path):
    """A testbench that stops making progress fails with a watchdog message, not a hang."""
    b = build(CONFIGS["base"], "verilator")
    with pytest.raises(RunError, match="testbench hang: no progress for .* output beat 0"):
        run(b, "backpressure", {"steps": 10, "stall_cycles": 10 ** 9}, test_dir=tmp_path)


def _cosim_args(settings, *extra):
    """``fptt cosim --set K=V ...`` (``settings``) plus ``extra`` arguments, parsed."""
    from fptt import cli_cosim
    ap = argparse.ArgumentParser(prog="fptt")
    cli_cosim.add_parser(ap.add_subparsers())
    sets = [a for key, value in settings for a in ("--set", f"{key}={value}")]
    return ap.parse_args(["cosim", *sets, *extra])


def test_cli_cosim(capsys):
    """``fptt cosim`` runs, prints speed figures and exits 0 when bit-exact."""
    from fptt import cli_cosim
    args = _cosim_args((("n_in", 8), ("n_hidden", 8), ("n_out", 2), ("window", 1),
                        ("window_max", 8), ("lanes", 1), ("rounding", "nearest"),
                        ("fptt.alpha", 0.5), ("fptt.lr", 2.0 ** -6)),
                       "--steps", "60", "--checkpoint-every", "30")
    assert cli_cosim.load_cosim_config(args) == CONFIGS["base"]
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for word in ("steps", "clock cycles", "cycles per step", "cycles/s", "steps/s", "golden",
                 "bit-exact"):
        assert word in out, word


def test_cli_cosim_random_task_any_sizes(capsys):
    """``fptt cosim --task random`` keeps n_in/n_out (no multiple of 4, not 2) and is bit-exact."""
    from fptt import cli_cosim
    args = _cosim_args((("n_in", 11), ("n_hidden", 23), ("n_out", 3), ("window", 5),
                        ("window_max", 12), ("lanes", 3), ("rounding", "stochastic"),
                        ("fptt.alpha", 0.5), ("fptt.lr", 2.0 ** -6)),
                       "--task", "random", "--steps", "80")
    assert cli_cosim.load_cosim_config(args) == CONFIGS["odd-11-23-3"]
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "n_in=11 n_hidden=23 n_out=3 lanes=3" in out and "task random" in out
    assert "WINDOW writes:" in out and "bit-exact" in out
    # the cue task still needs n_in a multiple of 4 and sets n_out = 2
    with pytest.raises(ValueError, match="multiple of 4"):
        cli_cosim.load_cosim_config(_cosim_args((("n_in", 11),), "--task", "cue"))
    fitted = cli_cosim.load_cosim_config(_cosim_args((("n_in", 12), ("n_out", 3))))
    assert (fitted.n_in, fitted.n_out) == (12, 2)


# ----------------------------------------------------------------------------- long
@pytest.mark.slow
@pytest.mark.parametrize("sim", _HOST_SIMS)
def test_host_benches_long(sim, tmp_path):
    """The three host benches at length: thousands of steps (Verilator), stalls to 8000 cycles."""
    b = _host_build(sim)
    n = 2000 if sim == "verilator" else 300
    res = run(b, "host_abuse", {"steps": n, "seed": 5}, test_dir=tmp_path / "abuse")
    _check_host_abuse(res, n)
    longest = 8000 if sim == "verilator" else 3000
    res = run(b, "stalls", {"steps": n // 2, "max_stall": longest, "seed": 5},
              test_dir=tmp_path / "stalls")
    _check_stalls(res, n // 2, longest)
    res = run(b, "reset_anywhere", {"steps": n, "seed": 5, "checkpoint_every": 100},
              test_dir=tmp_path / "resets")
    _check_resets(res, b.cfg)


@pytest.mark.slow
def test_epoch_rtl_accuracy_equals_golden(tmp_path):
    """One training epoch of the demo task on the RTL; its test accuracy equals the golden one.

    Default configuration, default cue task (1000 training sequences of 70
    steps, 200 test sequences), the trainer's schedule, order and initial
    weights (:func:`fptt.train.train`). ``FPTT_EPOCH_SEQUENCES`` limits the
    training sequences (then the golden reference is trained on the same ones).
    """
    from fptt.train import TrainSettings, evaluate, make_learner, place_targets
    from fptt.golden.weights import init_weights
    from fptt.tasks.cue import make_cue_task
    cfg = CoreConfig()
    n_train = int(os.environ.get("FPTT_EPOCH_SEQUENCES", 0)) or None
    settings = TrainSettings()
    task = make_cue_task(cfg, seed=0, preset="demo")
    # golden reference: the trainer's procedure on the same sequences
    learner = make_learner("fixed", cfg, [init_weights(cfg, settings.seed, settings.gain_in,
                                                       settings.gain_rec, settings.gain_out)],
                           settings)
    train_set = [place_targets(s, settings.schedule, cfg.window, task.n_out)
                 for s in task.train_set()]
    order = np.random.default_rng(settings.seed).permutation(len(train_set))[:n_train]
    t0 = time.time()
    learner.train_epoch([[train_set[i] for i in order]], lambda it: it)
    golden = evaluate(learner, task, task.test_set(), settings.eval_batch)
    golden_s = time.time() - t0
    if n_train is None:
        from fptt.train import train
        hist = train(cfg, task, "fixed", settings)
        assert hist[-1]["test_accuracy"] == golden["accuracy"]

    b = build(cfg, "verilator")
    res = run(b, "core", {"epoch": {"n_train": n_train, "settings": {}, "task_seed": 0},
                          "checkpoint_every": 7 * (n_train or 1000)}, test_dir=tmp_path)
    print(f"\nepoch: {res['train_sequences']} training sequences, {res['steps']} steps, "
          f"{res['cycles']} cycles ({res['cycles_per_step']:.0f}/step); RTL "
          f"{res['sim_cycles_per_s']:.0f} cycles/s, {res['sim_steps_per_s']:.1f} steps/s; golden "
          f"{res['golden_steps_per_s']:.0f} steps/s in lockstep; wall {res['wall_seconds']:.0f} s; "
          f"golden epoch alone {golden_s:.0f} s; test accuracy RTL {res['rtl_test_accuracy']:.4f}"
          f" golden {golden['accuracy']:.4f}")
    assert res["rtl_test_accuracy"] == golden["accuracy"]
    assert res["checkpoints"] >= 2
