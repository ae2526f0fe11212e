"""The bench (``fptt/bench.py``): the bound formula, configurations, JSON and table shapes."""

import json

import pytest

from fptt.bench import bench_config, format_bench, inference_bound, run_bench
from fptt.cli import main
from fptt.config import CoreConfig
from fptt.rtl.controller import bound


def test_bound_formula_matches_design_section_6():
    cfg = CoreConfig()                        # 20-64-2, P = 1
    S = (20 + 64 + 2) * 64
    assert bound(cfg, 1) == 2 * S + 2 * 64
    assert bound(cfg, 8) == 8 * S + 7 * 64 ** 2 + 8 * 2 * 64 + S
    assert bound(cfg.replace(lanes=4), 8) == bound(cfg, 8) / 4
    assert inference_bound(cfg) == S


def test_bench_configs():
    r = bench_config("reckon", 8)
    assert (r.n_in, r.n_hidden, r.n_out, r.window) == (256, 256, 16, 8)
    assert bench_config("default", 1) == CoreConfig().replace(window=1)
    assert r.acc_width >= r.acc_bits_needed


def test_bench_json_and_table_shape():
    res = run_bench(["small", "reckon"], (1, 8), simulate=False, golden_steps=3,
                    log=lambda *a: None)
    json.dumps(res)
    assert [(r["config"], r["L"]) for r in res["rows"]] == [
        ("small", 1), ("small", 8), ("reckon", 1), ("reckon", 8)]
    for r in res["rows"]:
        assert r["source"] == "computed (dense)"
        assert r["ratio"] == pytest.approx(r["bound_per_window"] / r["cycles_per_window"])
        assert r["learning_steps_per_s"] == pytest.approx(24e6 * r["L"] / r["cycles_per_window"])
    m = res["configs"]["reckon"]["memory"]
    assert m["required_bits"] > 6_000_000 and not m["within_up5k_ram_capacity"]
    # weights and biases (n_syn), and the window buffer of window_max steps
    from fptt.memory import window_buffer_bits
    rc = bench_config("reckon", 8)
    assert m["parameters"] == rc.n_syn == (256 + 256 + 1) * 256 + (256 + 1) * 16
    assert m["window_buffer_bits"] == window_buffer_bits(rc) and m["window_max"] == rc.window_max
    assert res["configs"]["small"]["golden_steps_per_s"] > 0
    text = format_bench(res)
    assert "bound/cyc" in text and "reckon" in text and "256-256-16" in text
    assert res["fmax_source"].startswith("assumed")


def test_bench_fmax_from_synth_report(tmp_path):
    p = tmp_path / "synth_report.json"
    p.write_text(json.dumps({"fmax_mhz": 31.5}))
    res = run_bench(["small"], (1,), simulate=False, golden_steps=2, synth_json=p,
                    log=lambda *a: None)
    assert res["fmax_mhz"] == 31.5 and res["fmax_source"].startswith("achieved")


def test_cli_bench_writes_json(tmp_path, capsys):
    assert main(["bench", "--configs", "small", "--windows", "1", "--no-sim",
                 "-o", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["rows"][0]["config"] == "small"
    assert "cycles/window" in (tmp_path / "bench.txt").read_text()
