"""The study engine: memory bits from the configuration, results files, headline helpers."""

import dataclasses
import json
import math

import numpy as np
import pytest

from fptt.config import CoreConfig, Fmt
from fptt.study import common
from fptt.study.fixed_vs_float import weight_width_config, window_memory_table
from fptt.study.fptt_vs_bptt import fit_order
from fptt.memory import MEMORIES, memory_bits, window_buffer_bits
from fptt.study.summary import largest_T_solved, smallest_width_within, smallest_window_within


def test_memory_bits_default_config_by_hand():
    cfg = CoreConfig()  # n_in 20, n_hidden 64, n_out 2, biases, 16-bit w/wbar/lam
    L = cfg.window_max
    # weights and a bias per hidden and readout unit (each with its own W̄ and λ)
    n_syn = (20 + 64 + 1) * 64 + (64 + 1) * 2
    assert cfg.biases and cfg.n_syn == n_syn
    assert cfg.replace(biases=False).n_syn == (20 + 64) * 64 + 2 * 64
    bits = memory_bits(cfg)
    assert bits["weights"] == n_syn * 16
    assert bits["wbar"] == n_syn * 16
    assert bits["lam"] == n_syn * 16
    assert bits["neuron_state"] == 64 * (16 + 16 + 1) + 2 * 16
    # per step: x (20 x 8 bit), s (64 x 1), psi (64 x 8), delta (2 x 16); plus s before the window
    assert bits["window_buffer"] == L * (20 * 8 + 64 * (1 + 8) + 2 * 16) + 64
    assert window_buffer_bits(cfg.replace(window_max=64)) == 64 * 768 + 64 == 49216
    assert bits["total"] == sum(bits[m] for m in MEMORIES)
    lif = memory_bits(cfg.replace(neuron=dict(beta_a=0.0)))   # a LIF core keeps no a
    assert lif["neuron_state"] == 64 * (16 + 1) + 2 * 16


def test_memory_bits_follow_the_config_only():
    base = CoreConfig()
    wide = base.replace(formats={"w": Fmt(20, 17)}, acc_width=0)
    assert memory_bits(wide)["weights"] - memory_bits(base)["weights"] == 4 * base.n_syn
    # the window buffer grows linearly with its depth and nothing else does
    a, b = (memory_bits(base.replace(window=1, window_max=1)),
            memory_bits(base.replace(window=1, window_max=33)))
    per_step = (window_buffer_bits(base.replace(window=1, window_max=33)) - window_buffer_bits(
        base.replace(window=1, window_max=1))) / 32
    assert per_step == base.n_in * 8 + base.n_hidden * 9 + base.n_out * 16
    for m in ("weights", "wbar", "lam", "neuron_state"):
        assert a[m] == b[m]
    rows = window_memory_table(base, (1, 2, 4))
    assert [r["window"] for r in rows] == [1, 2, 4]
    assert rows[2]["window_buffer_bits"] - rows[1]["window_buffer_bits"] == 2 * per_step


def test_weight_width_config():
    cfg = weight_width_config(CoreConfig(), 6, "nearest")
    assert (cfg.formats.w.width, cfg.formats.w.frac) == (6, 3)
    assert cfg.rounding == "nearest"
    assert cfg.formats.wbar == CoreConfig().formats.wbar
    assert cfg.acc_width == cfg.acc_bits_needed


def test_csv_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("FPTT_RESULTS_DIR", str(tmp_path))
    rows = [dict(a=1, b=0.25, c="x"), dict(a=2, c="y", d=3)]
    path = common.write_csv(rows, "t.csv")
    assert path == tmp_path / "t.csv"
    assert path.read_text().splitlines()[0] == "a,b,c,d"
    back = common.read_csv("t.csv")
    assert back == [dict(a=1, b=0.25, c="x", d=None), dict(a=2, b=None, c="y", d=3)]
    common.write_json({"k": (1, 2)}, "t.json")
    assert common.read_json("t.json") == {"k": [1, 2]}


def test_fast_mode_results_dir(monkeypatch):
    monkeypatch.delenv("FPTT_RESULTS_DIR", raising=False)
    monkeypatch.setenv("FAST", "1")
    assert common.is_fast() and common.results_dir(create=False).name == "fast"
    assert common.pick("full", "fast") == "fast"
    monkeypatch.setenv("FAST", "0")
    assert not common.is_fast() and common.pick("full", "fast") == "full"


def test_headline_helpers():
    bits = [dict(rounding="nearest", width=w, metric=m, seed=s)
            for w, m in ((6, 0.5), (8, 0.7), (16, 0.9)) for s in (0, 1)]
    floats = [dict(model="twin", window=8, metric=0.905, seed=0)]
    assert smallest_width_within(bits, floats, "nearest")["width"] == 16
    assert smallest_width_within(bits, [dict(model="twin", metric=0.99)], "nearest")["width"] is None
    adding = [dict(method="fptt", T=T, test_mse=m) for T, m in ((100, 0.001), (200, 0.005),
                                                              (500, 0.05))]
    assert largest_T_solved(adding, "fptt")["T"] == 200
    assert largest_T_solved(adding, "bptt")["T"] is None
    win = [dict(model="twin", window=L, metric=m) for L, m in ((1, 0.6), (4, 0.895), (8, 0.9))]
    assert smallest_window_within(win, "twin")["window"] == 4
    rows = [dict(method="a", T=T, peak_bytes=10 * T) for T in (10, 100, 1000)] + \
           [dict(method="b", T=T, peak_bytes=7) for T in (10, 100, 1000)]
    orders = fit_order(rows)
    assert math.isclose(orders["a"], 1.0) and abs(orders["b"]) < 1e-9


def test_batched_golden_runner_equals_single_runs():
    """Seeds batched by the runner give the single runs of fptt.train.train, bit for bit."""
    from fptt.study.runners import train_golden
    from fptt.tasks import make_task
    from fptt.train import TrainSettings, train
    task = make_task("cue", n_train=3, n_test=4, seed=0)
    cfg = CoreConfig().replace(n_hidden=16, acc_width=0)
    res = train_golden(cfg, task, "fixed", (0, 1), TrainSettings())
    for b, seed in enumerate((0, 1)):
        single = train(cfg, task, "fixed", TrainSettings(seed=seed), eval_train=1)
        assert res["scores"][b]["accuracy"] == pytest.approx(single[-1]["test_accuracy"])
    assert set(res["saturation"][0]) >= {"u", "w", "grad"}
    alone = train_golden(cfg, task, "fixed", (1,), TrainSettings())
    for m, v in alone["weights"].items():
        assert (v[0] == res["weights"][m][1]).all()


def test_readout_ceiling_fits_a_linear_readout():
    """The least-squares readout ceiling: scores in range, conditioning >= 1, deterministic."""
    pytest.importorskip("torch")
    from fptt.golden.weights import init_weights
    from fptt.study.diagnostics import readout_ceiling, readout_features
    from fptt.tasks import make_task
    task = make_task("cue", n_train=40, n_test=20, seed=0)
    cfg = CoreConfig(n_in=task.n_in, n_out=task.n_out, n_hidden=16)
    w = init_weights(cfg, 0, 3.0, 0.5, 0.01)
    a, b = readout_ceiling(cfg, w, task), readout_ceiling(cfg, w, task)
    assert a == b
    assert 0.0 <= a["accuracy"] <= 1.0 and 0.0 <= a["rate"] <= 1.0
    assert a["cond_gram"] >= 1.0 and 0 < a["live"] <= 16
    # the features are the readout's own input: W_out F reproduces the summed readout
    seqs = list(task.test_set())[:3]
    xs = np.stack([s.x for s in seqs])
    f, _ = readout_features(cfg, w, xs, seqs[0].decision)
    from fptt.golden.twin import FloatTwin
    out = FloatTwin(cfg, {**w, "b_out": np.zeros((cfg.n_out, 1))}, batch=len(xs)).run_sequence(
        xs, learn=False)
    np.testing.assert_allclose(out[:, seqs[0].decision].sum(axis=1), f @ w["w_out"].T, atol=1e-3)


def test_online_readout_shows_what_a_shared_feature_mean_costs():
    """Features with a large common mean: plain SGD stays at chance, centred SGD learns."""
    from fptt.study.diagnostics import online_readout
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    signal = np.eye(3)[labels] @ rng.normal(0, 1, (3, 8))
    f = 50.0 + signal + rng.normal(0, 0.3, (3000, 8))    # every neuron near the same rate
    fit, test = slice(0, 2000), slice(2000, None)
    lr = 1.0 / (8 * 50.0 ** 2)                            # stable for the raw mean direction
    raw = online_readout(f[fit], labels[fit], f[test], labels[test], lr)
    centred = online_readout(f[fit], labels[fit], f[test], labels[test], 0.01, centre=True)
    assert raw < 0.5 < 0.9 < centred


def test_train_golden_takes_initial_weights():
    """``weights=`` replaces the seeds' initial weights: given those same weights the run
    is identical; given other ones it is not."""
    from fptt.study.runners import stack_weights, train_golden
    from fptt.tasks import make_task
    from fptt.train import TrainSettings
    task = make_task("cue", n_train=6, n_test=4, seed=0)
    cfg = CoreConfig(n_in=task.n_in, n_out=task.n_out, n_hidden=8)
    settings = TrainSettings()
    base = train_golden(cfg, task, "fixed", (0,), settings)
    same = train_golden(cfg, task, "fixed", (0,), settings,
                        weights=stack_weights(cfg, (0,), settings))
    other = train_golden(cfg, task, "fixed", (0,), settings,
                         weights=stack_weights(cfg, (1,), settings))
    for m in base["weights"]:
        np.testing.assert_array_equal(base["weights"][m], same["weights"][m])
    assert any((base["weights"][m] != other["weights"][m]).any() for m in base["weights"])


def test_float_baselines_carry_the_readout_only_control(tmp_path, monkeypatch):
    """The cue float lines include the readout-only controls, whose hidden matrices do not move
    (ΔW_in = ΔW_rec = 0) while their readout and the learning twin's hidden layer do."""
    from fptt.study.fixed_vs_float import float_baselines
    monkeypatch.setenv("FPTT_RESULTS_DIR", str(tmp_path))
    sizes = dict(n_train=4, n_test=4, seeds=(0,))
    rows = float_baselines("cue", models=(("twin", None), ("fixed", None, "readout"),
                                          ("twin", None, "readout")), sizes=sizes)
    by = {r["model"]: r for r in rows}
    assert list(by) == ["twin", "fixed-readout", "twin-readout"]
    for m in ("fixed-readout", "twin-readout"):
        assert by[m]["dW_w_in"] == 0.0 and by[m]["dW_w_rec"] == 0.0 and by[m]["dW_w_out"] > 0
        assert by[m]["window"] == CoreConfig().window
    assert by["twin"]["dW_w_rec"] > 0
    assert common.read_csv(tmp_path / "floats_cue.csv")[1]["model"] == "fixed-readout"


def test_cue_sizes_learn_the_hidden_layer(monkeypatch):
    """Full cue sizes: 2,000 training sequences and 4 seeds (800 leave the hidden layer
    untrained); FAST stays a smoke size."""
    from fptt.study.fixed_vs_float import WINDOWS, cue_sizes
    monkeypatch.setenv("FAST", "0")
    assert cue_sizes()["n_train"] == 2000 and cue_sizes()["seeds"] == (0, 1, 2, 3)
    monkeypatch.setenv("FAST", "1")
    assert cue_sizes()["n_train"] <= 10
    assert CoreConfig().window in WINDOWS


def test_long_sequence_rows_are_read_not_rerun():
    """The committed long-sequence rows: after one pass the fixed core learns delay 20 (89.3 %),
    with L = 64 to >= 90 % only at delay 20; BPTT never reaches 90 %."""
    from fptt.study.fptt_vs_bptt import load_long_sequences, longest_delay_learned
    rows = load_long_sequences()
    acc = {(r["rule"], r["delay"]): r["accuracy"] for r in rows}
    assert acc[("fixed", 20)] == pytest.approx(0.893)
    assert longest_delay_learned(rows, "fixed (window=64)") == 20
    assert longest_delay_learned(rows, "ref-bptt") is None
    assert longest_delay_learned(rows, "ref-bptt", threshold=0.85) == 30
    # trained 12 times longer (8,000 sequences, 3 passes; 4 seeds at delay 50): FPTT on chip
    # and BPTT alike at 50 (83.6 %), 28 points over the control; nothing learns from 100 on
    long = {rule: acc[(rule + " (8,000 × 3 passes)", 50)]
            for rule in ("fixed", "twin", "ref-bptt", "fixed-readout")}
    assert long == pytest.approx({"fixed": 0.836, "twin": 0.8395, "ref-bptt": 0.836,
                                  "fixed-readout": 0.5535})
    assert longest_delay_learned(rows, "ref-bptt (8,000 × 3 passes)") == 20
    assert longest_delay_learned(rows, "fixed (8,000 × 3 passes)", threshold=0.8) == 50
    assert all(r["accuracy"] <= 0.52 for r in rows if r["delay"] >= 100 and "lsq" not in r["rule"])
    assert load_long_sequences("/nonexistent/long.json") == []


def test_long_sequence_table_gives_the_seed_range_and_every_training_size():
    from fptt.study.summary import long_sequences_markdown
    lines = long_sequences_markdown()
    assert "2–4 seeds" in lines[0] and "unless its name gives more" in lines[0]
    row = next(line for line in lines if line.startswith("| fixed (8,000 × 3 passes) |"))
    assert row.split(" | ")[1:] == ["82.3", "63.9", "–", "83.6", "50.0", "50.0", "50.0", "none |"]


def test_cue_markdown_reports_control_and_weight_change(tmp_path, monkeypatch):
    """The results table: per-point accuracy with ΔW, the control's row, the window table."""
    from fptt.study.summary import cue_markdown, headline
    monkeypatch.setenv("FPTT_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("FAST", "0")
    bits = [dict(task="cue", model="fixed", rounding=r, width=16, seed=s, metric=m, n_train=2000,
                 n_test=500, dW_w_in=0.01, dW_w_rec=0.3, dW_w_out=13.0)
            for r in ("nearest", "stochastic") for s, m in ((0, 0.9), (1, 0.92))]
    floats = [dict(task="cue", model="twin", window=35, seed=0, metric=0.905, dW_w_in=0.012,
                   dW_w_rec=0.36, dW_w_out=13.1),
              dict(task="cue", model="fixed-readout", window=35, seed=0, metric=0.652,
                   dW_w_in=0.0, dW_w_rec=0.0, dW_w_out=13.5)]
    window = [dict(model=m, window=L, seed=0, metric=a, window_buffer_bits=b, total_bits=t)
              for m in ("fixed", "twin") for L, a, b, t in ((8, 0.6, 6208, 100), (35, 0.91, 1, 2))]
    common.write_csv(bits, "bits_cue.csv")
    common.write_csv(floats, "floats_cue.csv")
    common.write_csv(window, "window_cue.csv")
    text = "\n".join(cue_markdown(headline()))
    assert "| fixed point, 16 bit, stochastic | 91.0 ± 1.4 | 90.0 / 92.0 | 1 % | 30 % | 1.3e+03 % |" in text
    assert "| fixed point, readout-only control (L = 35) | 65.2 ± 0.0 | 65.2 | 0 % | 0 % |" in text
    assert "control is at 65.2 %" in text and "| 8 | 60.0 ± 0.0 | 60.0 ± 0.0 | 6,208 | 100 |" in text
    assert "nearest: 16 bits; stochastic: 16 bits" in text


def test_write_results_md_keeps_the_notes(tmp_path, monkeypatch):
    """Regenerating RESULTS.md rewrites the tables and keeps the notes after the marker."""
    from fptt.study.summary import NOTES_MARKER, write_results_md
    monkeypatch.setenv("FPTT_RESULTS_DIR", str(tmp_path / "results"))
    path = tmp_path / "RESULTS.md"
    write_results_md(path)
    assert path.read_text().startswith("## Results") and NOTES_MARKER not in path.read_text()
    path.write_text("old tables\n" + NOTES_MARKER + "\n- a note\n")
    write_results_md(path)
    text = path.read_text()
    assert "old tables" not in text and text.startswith("## Results")
    assert text.endswith(NOTES_MARKER + "\n- a note\n")


def _tiny_mnist(tmp_path, n=24, side=8):
    """t10k IDX files of ``n`` random ``side × side`` images (sequences of side² steps)."""
    from fptt.tasks.idx import write_idx
    from fptt.tasks.mnist import MnistTask
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return MnistTask(data_dir=tmp_path, split_at=n - 8, n_decision=4)


def test_reference_run_takes_its_optimiser_from_the_setup(tmp_path):
    import dataclasses
    from fptt.study import smnist
    setup = dataclasses.replace(smnist.SETUPS["decision"], n_decision=4,
                                bptt=dict(lr=1e-2, decay=0.5, batch=8, loss="ce"))
    task = _tiny_mnist(tmp_path)
    lines = []
    passes = []
    rec = smnist.reference_run(setup, task, epochs=2, log=lines.append, after_pass=passes.append)
    assert rec["batch"] == 8 and rec["loss"] == "ce"
    # the curve is in training images seen, as the online runs' curves
    assert [c[0] for c in rec["curve"]] == [16, 32]
    assert rec["accuracy"] == [rec["curve"][-1][1]]
    assert len(lines) == 2 and lines[0].startswith("ref-bptt (all) pass 1: test ")
    assert rec["weight_change"][0]["w_rec"] > 0
    # each pass hands over the record so far: a run stopped early keeps its passes
    assert [p["epochs"] for p in passes] == [1, 2] and passes[-1] == rec
    assert passes[0]["curve"] == rec["curve"][:1]
    # per pass, the median and the largest gradient norm before clipping (8 + 8 images a pass)
    assert len(rec["grad_norm"]) == 2
    assert all(0 < med <= top for med, top in rec["grad_norm"])


def test_reference_run_takes_adams_beta2_from_the_setup(tmp_path, monkeypatch):
    import dataclasses

    import fptt.golden.reference as reference
    from fptt.study import smnist
    seen = []

    class Recording(reference.BPTTTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append([tuple(g["betas"]) for g in self.optimizer.param_groups])

    monkeypatch.setattr(reference, "BPTTTrainer", Recording)
    setup = dataclasses.replace(smnist.SETUPS["decision"], n_decision=4,
                                bptt=dict(lr=1e-2, batch=8, loss="ce", beta2=0.99))
    smnist.reference_run(setup, _tiny_mnist(tmp_path), epochs=1)
    smnist.reference_run(dataclasses.replace(setup, bptt=dict(setup.bptt, beta2=0.999)),
                         _tiny_mnist(tmp_path), epochs=1)
    assert [set(b) for b in seen] == [{(0.9, 0.99)}, {(0.9, 0.999)}]


def test_reference_run_batch_and_loss_arguments_win(tmp_path):
    import dataclasses
    from fptt.study import smnist
    setup = dataclasses.replace(smnist.SETUPS["decision"], n_decision=4,
                                bptt=dict(lr=1e-2, batch=8, loss="ce"))
    rec = smnist.reference_run(setup, _tiny_mnist(tmp_path), epochs=1, batch=16, loss="mse")
    assert rec["batch"] == 16 and rec["loss"] == "mse"
    assert [c[0] for c in rec["curve"]] == [16]


def test_reference_run_readout_only_control_freezes_the_hidden_layer(tmp_path):
    import dataclasses
    from fptt.study import smnist
    setup = dataclasses.replace(smnist.SETUPS["decision"], n_decision=4,
                                bptt=dict(lr=1e-2, batch=8, loss="ce"))
    rec = smnist.reference_run(setup, _tiny_mnist(tmp_path), epochs=1, learn="readout")
    dw = rec["weight_change"][0]
    assert rec["learn"] == "readout"
    assert dw["w_in"] == 0 and dw["w_rec"] == 0 and dw["w_out"] > 0


def test_smnist_curve_labels_shorten_the_overrides():
    from fptt.study.plots import override_label
    assert override_label("fptt.lr.w_out=2.384185791015625e-07") == "w_out=2^-22"
    assert override_label("core.window=196") == "window=196"
    assert override_label("core.window=64") == "window=64"          # 2^6, but a size
    assert override_label("core.rounding=nearest") == "rounding=nearest"


def test_smnist_curves_plot_draws_each_record(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from fptt.study.plots import plot_smnist_curves
    from fptt.study.smnist import plot_records
    records = [
        {"setup": "s", "task": "smnist", "model": "ref-bptt", "learn": "all",
         "accuracy": [0.6], "curve": [(8000, 0.2, 10.0), (16000, 0.6, 20.0)]},
        {"setup": "s", "task": "smnist", "model": "twin", "learn": "readout",
         "accuracy": [0.1], "curve": [(2000, [0.12]), (4000, [0.1])]},
        {"setup": "s", "task": "smnist", "model": "lsq-readout", "learn": "readout",
         "accuracy": [0.55]},
        {"setup": "s", "task": "psmnist", "model": "ref-bptt", "learn": "all",
         "accuracy": [0.3], "curve": [(8000, 0.3, 10.0)]},
    ]
    ax = plot_smnist_curves(records, "smnist")
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert list(lines["ref-bptt (s)"].get_ydata()) == [0.2, 0.6]
    assert list(lines["ref-bptt (s)"].get_xdata()) == [8000, 16000]
    assert lines["twin (s, readout only)"].get_linestyle() == "--"
    assert list(lines["least squares on the untrained network (s)"].get_ydata()) == [0.55, 0.55]
    assert "psmnist" not in " ".join(lines)
    # a run's control shares its colour; a set-up filter keeps only its records
    other = dict(records[0], setup="t", set=["core.window=196"])
    ax = plot_smnist_curves(records + [other, dict(other, learn="readout")], "smnist")
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert lines["ref-bptt (t, window=196)"].get_color() == \
        lines["ref-bptt (t, window=196, readout only)"].get_color() != \
        lines["ref-bptt (s)"].get_color()
    # two set-ups' plain runs of one model get two colours
    ax = plot_smnist_curves(records + [dict(records[0], setup="u")], "smnist")
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert lines["ref-bptt (s)"].get_color() != lines["ref-bptt (u)"].get_color()
    ax = plot_smnist_curves(records + [other], "smnist", setup="s")
    assert [ln.get_label() for ln in ax.get_lines() if "(t" in ln.get_label()] == []
    out = tmp_path / "c.png"
    assert plot_records(records, str(out)) == 0 and out.stat().st_size > 0
    assert plot_records([], str(tmp_path / "none.png")) == 1
    assert plot_records(records, str(tmp_path / "none.png"), setup="t") == 1
    assert not (tmp_path / "none.png").exists()


def test_reference_run_fptt_uses_parts_and_the_aux_loss(tmp_path):
    import dataclasses
    from fptt.study import smnist
    setup = dataclasses.replace(smnist.SETUPS["decision"], n_decision=4,
                                overrides=smnist.SETUPS["decision"].overrides + ("core.window=16",),
                                fptt=dict(lr=1e-2, batch=8, loss="aux"))
    lines = []
    rec = smnist.reference_run(setup, _tiny_mnist(tmp_path), epochs=1, rule="fptt",
                               log=lines.append)
    assert rec["model"] == "ref-fptt" and rec["loss"] == "aux" and rec["batch"] == 8
    assert lines[0].startswith("ref-fptt (all) pass 1: test ")
    assert rec["weight_change"][0]["w_in"] > 0
    with pytest.raises(ValueError, match="rule must be 'bptt' or 'fptt', not 'sgd'"):
        smnist.reference_run(setup, None, rule="sgd")
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, not 0"):
        smnist.reference_run(setup, None, epochs=0)


def test_ceiling_run_record_has_a_list_of_accuracies(tmp_path):
    import dataclasses
    from fptt.study import smnist
    setup = dataclasses.replace(smnist.SETUPS["decision"], n_decision=4)
    rec = smnist.ceiling_run(setup, _tiny_mnist(tmp_path), n_fit=16)
    # one accuracy per seed, as every other record (the summary and the plot index it)
    assert isinstance(rec["accuracy"], list) and len(rec["accuracy"]) == 1
    assert 0.0 <= rec["accuracy"][0] <= 1.0
    assert rec["model"] == "lsq-readout" and rec["learn"] == "readout"


def test_smnist_markdown_names_batch_passes_and_stopped_runs(tmp_path, monkeypatch):
    from fptt.study.common import RESULTS_ENV, write_json
    from fptt.study.summary import smnist_onchip_markdown
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    write_json([
        {"setup": "decision", "task": "smnist", "model": "ref-bptt", "learn": "all", "epochs": 12,
         "batch": 128, "accuracy": [0.587], "curve": [(8000, 0.202, 1.0), (96000, 0.587, 9.0)],
         "weight_change": [{"w_in": 0.0153, "w_rec": 0.332, "w_out": 1.78}], "seconds": 3865},
        {"setup": "decision", "task": "psmnist", "model": "ref-bptt", "learn": "all", "epochs": 2,
         "batch": 128, "accuracy": [0.222], "curve": [(8000, 0.1645, 1.0), (16000, 0.222, 2.0)],
         "weight_change": [], "seconds": 974, "stopped": "stopped after 2 passes"},
    ], tmp_path / "smnist_onchip.json")
    rows = [ln for ln in smnist_onchip_markdown() if ln.startswith("| decision")]
    assert rows[0] == ("| decision | smnist | ref-bptt (Adam), batch 128 | all | 12 | 58.7 | "
                       "8000: 20.2, 96000: 58.7 | 1.53 % / 33.2 % / 178 % | 3865 |")
    assert "| all | 2 (stopped) | 22.2 |" in rows[1] and rows[1].endswith("| – | 974 |")


def test_smnist_main_keeps_one_reference_record_per_seed(tmp_path, monkeypatch):
    """``--seed 1`` adds a record beside seed 0's instead of replacing it; the table and the
    plot name the seed."""
    import matplotlib
    matplotlib.use("Agg")
    from fptt.study import smnist
    from fptt.study.common import RESULTS_ENV, read_json
    from fptt.study.plots import plot_smnist_curves
    from fptt.study.summary import smnist_onchip_markdown
    (tmp_path / "data").mkdir()
    task = _tiny_mnist(tmp_path / "data")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    monkeypatch.setattr(smnist, "make_mnist", lambda *a, **k: task)
    argv = ["--setup", "decision", "--models", "", "--no-ceiling", "--bptt-epochs", "1",
            "--n-train", "16", "--n-test", "8"]
    assert smnist.main(argv) == 0
    assert smnist.main(argv + ["--seed", "1"]) == 0
    assert smnist.main(argv + ["--seed", "1"]) == 0   # a rerun replaces its own seed's record
    recs = read_json(tmp_path / smnist.RESULTS)
    assert sorted(r["seeds"][0] for r in recs) == [0, 1]
    rows = [ln for ln in smnist_onchip_markdown() if ln.startswith("| decision")]
    assert [("seed 1" in r) for r in rows] == [False, True]
    labels = [ln.get_label() for ln in plot_smnist_curves(recs, "smnist").get_lines()]
    assert "ref-bptt (decision)" in labels and "ref-bptt (decision, seed 1)" in labels


def test_smnist_main_set_overrides_are_recorded_and_checked(tmp_path, monkeypatch, capsys):
    """``--set`` changes the set-up's core (here ref-fptt's parts), gets its own record and
    is named in the table; a bad key stops the study before any run."""
    from fptt.study import smnist
    from fptt.study.common import RESULTS_ENV, read_json
    from fptt.study.summary import smnist_onchip_markdown
    (tmp_path / "data").mkdir()
    task = _tiny_mnist(tmp_path / "data")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    monkeypatch.setattr(smnist, "make_mnist", lambda *a, **k: task)
    argv = ["--setup", "decision", "--models", "", "--no-ceiling", "--fptt-epochs", "1"]
    assert smnist.main(argv + ["--set", "core.window=32"]) == 0
    assert smnist.main(argv + ["--set", "core.window=16"]) == 0
    recs = read_json(tmp_path / smnist.RESULTS)
    assert sorted(r["set"] for r in recs) == [["core.window=16"], ["core.window=32"]]
    rows = [ln for ln in smnist_onchip_markdown() if ln.startswith("| decision")]
    assert "`core.window=32`" in rows[0] and "`core.window=16`" in rows[1]
    with pytest.raises(SystemExit) as stop:
        smnist.main(argv + ["--set", "core.nope=1"])
    assert stop.value.code == 2
    assert "--set: unknown configuration key 'core.nope'" in capsys.readouterr().err
    assert len(read_json(tmp_path / smnist.RESULTS)) == 2


def test_scale_reference_steps_scales_every_step_of_both_references():
    import dataclasses
    from fptt.study import smnist
    setup = dataclasses.replace(smnist.SETUPS["decision"], bptt=dict(lr={"w_in": 4e-3, "w_out": 4e-4}),
                                fptt=dict(lr=2e-3, batch=8))
    half = smnist.scale_reference_steps(setup, 0.5)
    assert half.bptt["lr"] == {"w_in": 2e-3, "w_out": 2e-4}
    assert half.fptt == {"lr": 1e-3, "batch": 8}
    assert setup.bptt["lr"] == {"w_in": 4e-3, "w_out": 4e-4}     # the set-up itself unchanged
    assert smnist.scale_reference_steps(dataclasses.replace(setup, bptt={}), 2).bptt["lr"] == 2e-3
    with pytest.raises(ValueError, match="the set-up's reference step is each parameter's "
                                         "fptt.lr: scale those with --set fptt.lr.<param>=..."):
        smnist.scale_reference_steps(dataclasses.replace(setup, bptt=dict(lr=None)), 2)


def test_smnist_main_reference_batch_and_step_scale(tmp_path, monkeypatch, capsys):
    """``--ref-batch`` and ``--ref-lr-scale`` reach the reference, get their own records beside
    the set-up's own batch, and are named in the table; bad values stop the study."""
    from fptt.study import smnist
    from fptt.study.common import RESULTS_ENV, read_json
    from fptt.study.summary import smnist_onchip_markdown
    (tmp_path / "data").mkdir()
    task = _tiny_mnist(tmp_path / "data")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    monkeypatch.setattr(smnist, "make_mnist", lambda *a, **k: task)
    argv = ["--setup", "decision", "--models", "", "--no-ceiling", "--bptt-epochs", "1"]
    assert smnist.main(argv) == 0
    assert smnist.main(argv + ["--ref-batch", "2", "--ref-lr-scale", "0.25"]) == 0
    recs = read_json(tmp_path / smnist.RESULTS)
    own = smnist.SETUPS["decision"].bptt["batch"]
    assert sorted((r["batch"], r.get("lr_scale")) for r in recs) == [(2, 0.25), (own, None)]
    rows = [ln for ln in smnist_onchip_markdown() if ln.startswith("| decision")]
    assert [", batch 2, steps ×0.25 |" in r for r in rows] == [False, True]
    for flag, value, message in (("--ref-batch", "0", "--ref-batch must be >= 1, not 0"),
                                 ("--ref-lr-scale", "0", "--ref-lr-scale must be > 0, not 0.0")):
        with pytest.raises(SystemExit) as stop:
            smnist.main(argv + [flag, value])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    assert len(read_json(tmp_path / smnist.RESULTS)) == 2


def test_decision_setup_is_configs_smnist_toml():
    """SETUPS["decision"] is read from configs/smnist.toml: core and [train] table, no
    overrides; its FPTT reference is the BPTT one with the auxiliary loss."""
    from fptt.study import smnist
    from fptt.train import TrainSettings
    d = smnist.SETUPS["decision"]
    assert sorted(smnist.SETUPS) == ["decision", "decision-positive", "decision-rate",
                                     "onchip-rule", "population", "population-h8",
                                     "population-h8-100", "population-h8-long", "population-tau",
                                     "reservoir"]
    assert d.overrides == () and smnist.setup_config(d) == CoreConfig.load(smnist.CONFIG)
    assert (d.schedule, d.n_decision, d.gain_in, d.gain_rec, d.gain_out, d.bias_init,
            d.input_sign, d.input_channels) == ("final", 56, 3.0, 0.5, 0.1, 0.0, "any", 1)
    # the same but for the input weights' sign
    assert dataclasses.replace(smnist.SETUPS["decision-positive"], input_sign="any",
                               note=d.note) == d
    assert d.bptt == dict(optimizer="adam", lr=5e-3, decay=0.85, batch=128, loss="ce", clip=1.0,
                          rate_reg=0.0, rate=0.05, beta2=0.999)
    assert d.fptt == dict(d.bptt, loss="aux")
    # the same but for the references' firing-rate penalty
    r = smnist.SETUPS["decision-rate"]
    assert (r.bptt, r.fptt) == (dict(d.bptt, rate_reg=50.0), dict(d.fptt, rate_reg=50.0))
    assert dataclasses.replace(r, bptt=d.bptt, fptt=d.fptt, note=d.note) == d
    # what fptt train --config configs/smnist.toml takes for the golden models
    golden = ("epochs", "schedule", "n_decision", "gain_in", "gain_rec", "gain_out",
              "bias_init", "input_sign", "input_channels")
    cli, study = TrainSettings.load(smnist.CONFIG), smnist._settings(d)
    assert {k: getattr(study, k) for k in golden} == {k: getattr(cli, k) for k in golden}
    assert dataclasses.replace(study, **{k: getattr(cli, k) for k in (
        "ref_optimizer", "ref_lr", "ref_decay", "ref_batch", "ref_loss", "ref_clip",
        "ref_rate_reg", "ref_rate", "ref_beta2")}) == cli


def test_population_setup_is_decision_with_sixteen_input_channels(tmp_path, monkeypatch):
    """The population set-up: the decision network with n_in = 16 population-coded channels,
    the same gain per channel (3·√16), a tenth of the references' step on the readout."""
    from fptt.study import smnist
    from fptt.tasks.idx import write_idx
    d, p = smnist.SETUPS["decision"], smnist.SETUPS["population"]
    assert (p.input_channels, p.gain_in, smnist.setup_config(p).n_in) == (16, 12.0, 16)
    assert smnist.setup_config(p) == smnist.setup_config(d).replace(n_in=16)
    lr = p.bptt["lr"]
    assert lr["w_out"] == lr["b_out"] == lr["w_rec"] / 10 == 5e-4
    assert p.fptt == dict(p.bptt, loss="aux")
    assert dataclasses.replace(p, overrides=(), gain_in=3.0, input_channels=1, bptt=d.bptt,
                               fptt=d.fptt, note=d.note) == d
    assert smnist._settings(p).input_channels == 16
    # the task the study builds for it has 16 channels
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte",
              rng.integers(0, 256, (8004, 4, 4), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 8004, dtype=np.uint8))
    monkeypatch.setenv("FPTT_DATA_DIR", str(tmp_path))
    task = smnist.make_mnist(dataclasses.replace(p, n_decision=2), n_train=4, n_test=2)
    assert task.n_in == 16 and task.train_set()[0].x.shape == (16, 16)


def test_setup_from_config_reads_the_train_table(tmp_path):
    from fptt.study.smnist import Setup
    path = tmp_path / "c.toml"
    path.write_text(CoreConfig().to_toml() + '\n[train]\nbias_init = 0.06\ngain_rec = 1.5\n'
                    'ref_lr = "fptt.lr"\nref_optimizer = "sgd"\nref_clip = false\n')
    s = Setup.from_config(path, note="n")
    assert (s.overrides, s.schedule, s.n_decision, s.gain_rec, s.bias_init, s.note) == \
        ((), "aux", 1, 1.5, 0.06, "n")
    assert s.bptt == dict(optimizer="sgd", lr=None, decay=1.0, batch=16, loss="mse", clip=None,
                          rate_reg=0.0, rate=0.05, beta2=0.999)


def test_reservoir_setup_keeps_its_network():
    """The reservoir set-up undoes the decision set-up's changes to configs/smnist.toml."""
    from fptt.study import smnist
    cfg = smnist.setup_config(smnist.SETUPS["reservoir"])
    assert cfg.neuron.tau_out == 200
    assert cfg.formats.grad_w_out == Fmt(16, 10) and cfg.formats.grad_b_out == Fmt(16, 15)
    assert cfg.fptt.lr.as_dict() == {"w_in": 2.0 ** -10, "w_rec": 2.0 ** -10, "b": 2.0 ** -10,
                                     "w_out": 2.0 ** -21, "b_out": 2.0 ** -21}
    assert cfg.replace(neuron={"tau_out": 200}) == cfg


def test_headline_command_reproduces_the_study(tmp_path):
    """`fptt train --task smnist --config configs/smnist.toml --model fixed` and the study's
    onchip_run(SETUPS["decision"], "fixed") end with the same accuracy and weights."""
    from fptt.cli import main
    from fptt.golden.fixed_core import FixedCore
    from fptt.study import runners, smnist
    from fptt.tasks import make_task
    from fptt.tasks.idx import write_idx
    rng = np.random.default_rng(1)
    n = 8000 + 40       # images 0-7999 train, the rest test (8 × 8: 64 steps each)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    out, ck = tmp_path / "m.json", tmp_path / "c.npz"
    assert main(["train", "--task", "smnist", "--config", str(smnist.CONFIG), "--model", "fixed",
                 "--data-dir", str(tmp_path), "--json", str(out), "--n-train", "120",
                 "--n-test", "40", "--checkpoint", str(ck), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    setup = smnist.SETUPS["decision"]
    task = make_task("smnist", data_dir=tmp_path, n_train=120, n_test=40,
                     n_decision=setup.n_decision)
    rec = smnist.onchip_run(setup, "fixed", task=task, eval_every=40)
    last = doc["epochs"][-1]
    assert doc["settings"]["n_decision"] == 56 and doc["settings"]["schedule"] == "final"
    assert rec["accuracy"] == last["test_accuracy_seeds"]
    assert rec["weight_change"][0] == {m: c["mean"] for m, c in last["weight_change"].items()}
    assert rec["weight_change"][0]["w_rec"] > 0
    # the weights, bit for bit: the run's checkpoint against the study's runner
    cfg = smnist.setup_config(setup)
    w0 = {m: smnist.setup_weights(cfg, setup, 0)[m][None] for m in cfg.params}
    res = runners.train_golden(cfg, task, "fixed", [0], smnist._settings(setup), weights=w0)
    core = FixedCore.load(ck)
    assert core.cfg == cfg
    for m in cfg.params:
        np.testing.assert_array_equal(core.state.w[m], res["weights"][m], err_msg=m)


def test_adding_sweep_of_the_gated_task_writes_its_own_files(tmp_path, monkeypatch):
    from fptt.study.fptt_vs_bptt import adding_sweep
    monkeypatch.setenv("FPTT_RESULTS_DIR", str(tmp_path))
    sizes = dict(lengths=(12,), n_train=40, n_test=20, seeds=(0,))
    rows = adding_sweep(sizes, methods=("bptt", "lsq"), gated=True)
    assert [(r["gated"], r["T"], r["method"]) for r in rows] == [(True, 12, "bptt"),
                                                                  (True, 12, "lsq")]
    assert 0 < rows[0]["test_mse"] < 10
    # the least-squares readout of the untrained network carries the sum at T = 12
    assert 0 < rows[1]["test_mse"] < 0.05
    assert common.read_csv("adding_gated.csv")[0]["gated"] == 1     # CSV: booleans as 0/1
    assert common.read_json("adding_gated.json")["sizes"]["lengths"] == [12]
    assert not (tmp_path / "adding.csv").exists()


def test_plot_adding_draws_the_least_squares_control():
    import matplotlib
    matplotlib.use("Agg")
    from fptt.study.plots import plot_adding
    rows = [dict(method=m, T=T, test_mse=v, seed=0)
            for m, T, v in (("bptt", 20, 0.01), ("bptt", 50, 0.1), ("lsq", 20, 0.02),
                            ("lsq", 50, 0.07))]
    ax = plot_adding(rows)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert list(lines["least-squares readout, untrained network"].get_ydata()) == [0.02, 0.07]
    assert lines["least-squares readout, untrained network"].get_linestyle() == "--"
    assert list(lines["BPTT"].get_ydata()) == [0.01, 0.1] and "FPTT" not in lines


def test_gradient_support_counts_the_steps_inside_the_surrogate():
    """With no drive every membrane sits at v = -θ0 = -1: outside a triangle of width 0.5
    (no gradient anywhere, every neuron silent), inside one of width 2 (gradient everywhere)."""
    pytest.importorskip("torch")
    import dataclasses

    from fptt.study.diagnostics import gradient_support
    cfg = CoreConfig(n_in=1, n_out=2, n_hidden=3)
    zeros = {m: np.zeros(shape) for m, shape in cfg.param_shapes.items()}
    xs = np.ones((4, 10, 1))
    narrow = gradient_support(cfg, zeros, xs)
    assert narrow["support"] == 0.0 and narrow["rate"] == 0.0 and narrow["silent"] == 3
    assert narrow["per_neuron"].shape == (3,)
    assert narrow["v_percentiles"] == pytest.approx([-1.0, -1.0, -1.0], abs=0.02)
    wide = dataclasses.replace(cfg, neuron=dataclasses.replace(cfg.neuron, surrogate_width=2.0))
    assert gradient_support(wide, zeros, xs)["support"] == 1.0
    # a neuron driven hard spikes and leaves the support; the others stay where they were
    driven = {**zeros, "w_in": np.array([[0.0], [0.0], [4.0]])}
    res = gradient_support(cfg, driven, xs)
    assert res["silent"] == 2 and res["rate"] > 0
    assert res["per_neuron"][:2].tolist() == [0.0, 0.0]


def test_population_h8_setup_is_population_with_a_flatter_surrogate():
    """population-h8: the population set-up with ψ's height 1/8 in every view and the
    references' step decaying by 0.93 a pass; nothing else differs."""
    from fptt.study import smnist
    p, h = smnist.SETUPS["population"], smnist.SETUPS["population-h8"]
    cfg = smnist.setup_config(h)
    assert cfg.neuron.surrogate_height == 0.125
    assert cfg == smnist.setup_config(p).replace(
        neuron=dataclasses.replace(smnist.setup_config(p).neuron, surrogate_height=0.125))
    assert (h.bptt["decay"], h.fptt["decay"]) == (0.93, 0.93)
    assert dataclasses.replace(h, overrides=p.overrides, bptt=p.bptt, fptt=p.fptt,
                               note=p.note) == p
    # on the core ψ peaks at 8 LSBs of formats.psi (Q2.6): 9 levels, 0 to 2^-3
    assert cfg.surrogate_height_q == 8
    # the long variant, configs/smnist-population.toml: the same network, the references in
    # batches of 64, x 0.95 a pass
    long = smnist.SETUPS["population-h8-long"]
    assert (long.config, long.overrides) == (smnist.POPULATION_CONFIG, ())
    assert smnist.setup_config(long) == cfg
    assert long.bptt == dict(h.bptt, batch=64, decay=0.95)
    assert long.fptt == dict(h.fptt, batch=64, decay=0.95)
    assert dataclasses.replace(long, bptt=h.bptt, fptt=h.fptt, note=h.note, config=h.config,
                               overrides=h.overrides) == h


def test_population_tau_setup_is_population_h8_long_with_per_neuron_time_constants():
    from fptt.study import smnist
    long, tau = smnist.SETUPS["population-h8-long"], smnist.SETUPS["population-tau"]
    cfg = smnist.setup_config(tau)
    base = smnist.setup_config(long)
    assert cfg == base.replace(
        neuron=dataclasses.replace(base.neuron, tau_mem=5.0, tau_mem_spread=20.0))
    assert (cfg.tau_mem_neurons[0], cfg.tau_mem_neurons[-1]) == (5.0, pytest.approx(100.0))
    assert dataclasses.replace(tau, overrides=(), note=long.note) == long


def test_population_h8_100_setup_is_population_h8_long_with_a_slower_decay():
    from fptt.study import smnist
    long, slow = smnist.SETUPS["population-h8-long"], smnist.SETUPS["population-h8-100"]
    assert (slow.bptt["decay"], slow.fptt["decay"]) == (0.97, 0.97)
    assert dataclasses.replace(slow, bptt=dict(slow.bptt, decay=0.95),
                               fptt=dict(slow.fptt, decay=0.95), note=long.note) == long


def test_onchip_config_is_the_population_network_under_the_rule_options(tmp_path):
    """configs/smnist-onchip.toml is configs/smnist-population.toml but for the learning
    rule's options, K = 4 windows, the golden models' steps, the readout's initial gain and 16
    passes; ``fptt train --config`` runs it on the fixed-point core, learning the hidden
    layer."""
    from fptt.cli import main
    from fptt.study import smnist
    from fptt.tasks.idx import write_idx
    from fptt.train import TrainSettings
    pop, chip = CoreConfig.load(smnist.POPULATION_CONFIG), CoreConfig.load(smnist.ONCHIP_CONFIG)
    assert (chip.fptt.readout, chip.fptt.error, chip.fptt.hidden_step) == ("trace", "softmax",
                                                                          "rms")
    assert (chip.window, chip.window_max) == (196, 196)
    assert chip.fptt.lr.as_dict() == dict(w_in=2.0 ** -14, w_rec=2.0 ** -14, b=2.0 ** -14,
                                          w_out=2.0 ** -22, b_out=2.0 ** -22)
    assert chip.replace(window=56, window_max=64, fptt=dict(
        lr=pop.fptt.lr, readout="window", error="mse", hidden_step="sgd"), formats=dict(
            grad_w_out=pop.formats.grad_w_out, grad_b_out=pop.formats.grad_b_out)) == pop
    a, b = TrainSettings.load(smnist.POPULATION_CONFIG), TrainSettings.load(smnist.ONCHIP_CONFIG)
    assert (b.gain_out, b.epochs) == (0.001, 16)
    assert dataclasses.replace(b, gain_out=a.gain_out, epochs=a.epochs) == a
    assert smnist.setup_config(smnist.SETUPS["onchip-rule"]) == chip
    rng = np.random.default_rng(3)
    n = 8000 + 8
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    out = tmp_path / "r.json"
    assert main(["train", "--task", "smnist", "--config", str(smnist.ONCHIP_CONFIG),
                 "--model", "fixed", "--epochs", "1", "--data-dir", str(tmp_path), "--json",
                 str(out), "--n-train", "12", "--n-test", "8", "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["config"]["fptt"]["hidden_step"] == "rms"
    change = doc["epochs"][-1]["weight_change"]
    assert change["w_rec"]["mean"] > 0 and change["w_out"]["mean"] > 0


def test_population_config_runs_through_fptt_train(tmp_path):
    """``fptt train --config configs/smnist-population.toml`` takes the set-up
    ``population-h8-long`` from the file alone: the golden models' host side as the study's,
    and a ref-bptt pass with the file's 16 population-coded channels, per-parameter steps and
    batch of 64."""
    from fptt.cli import main
    from fptt.study import smnist
    from fptt.tasks.idx import write_idx
    from fptt.train import TrainSettings
    cli = TrainSettings.load(smnist.POPULATION_CONFIG)
    golden = ("epochs", "schedule", "n_decision", "gain_in", "gain_rec", "gain_out",
              "bias_init", "input_sign", "input_channels")
    study = smnist._settings(smnist.SETUPS["population-h8-long"])
    assert {k: getattr(study, k) for k in golden} == {k: getattr(cli, k) for k in golden}
    assert (cli.input_channels, cli.gain_in, cli.ref_batch, cli.ref_decay) == (16, 12.0, 64, 0.95)
    assert cli.ref_lr == {"w_in": 5e-3, "w_rec": 5e-3, "b": 5e-3, "w_out": 5e-4, "b_out": 5e-4}
    rng = np.random.default_rng(2)
    n = 8000 + 16       # images 0-7999 train, the rest test (8 × 8: 64 steps each)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    out = tmp_path / "r.json"
    assert main(["train", "--task", "smnist", "--config", str(smnist.POPULATION_CONFIG),
                 "--model", "ref-bptt", "--data-dir", str(tmp_path), "--json", str(out),
                 "--n-train", "128", "--n-test", "16", "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert (doc["settings"]["input_channels"], doc["settings"]["ref_batch"]) == (16, 64)
    assert doc["settings"]["ref_lr"]["w_out"] == 5e-4
    change = doc["epochs"][-1]["weight_change"]
    assert all(change[m]["mean"] > 0 for m in ("w_in", "w_rec", "w_out"))
