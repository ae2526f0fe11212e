"""benchmarks/adding_onchip.py: rows of the gated adding problem on the core, the plot."""

import importlib.util
import json
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "adding_onchip.py"
_spec = importlib.util.spec_from_file_location("adding_onchip", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_rows_label_their_training_and_the_control_freezes_the_hidden_layer():
    rows = bench.run([12], ["lsq", "fixed", "fixed-readout"], seeds=2, n_train=30, n_test=20,
                     epochs=1, overrides=["neuron.tau_out=10"])
    assert [(r["T"], r["rule"]) for r in rows] == [
        (12, "lsq (neuron.tau_out=10, fit on 30)"),
        (12, "fixed (neuron.tau_out=10, 30 × 1 pass)"),
        (12, "fixed-readout (neuron.tau_out=10, 30 × 1 pass)")]
    for r in rows:
        assert len(r["seeds"]) == 2 and abs(r["mse"] - sum(r["seeds"]) / 2) < 1e-12
    assert rows[0]["weight_change"] == {}
    assert rows[1]["weight_change"]["w_rec"] > 0
    assert rows[2]["weight_change"]["w_rec"] == rows[2]["weight_change"]["w_in"] == 0
    assert rows[2]["weight_change"]["w_out"] > 0


def test_longest_solved_and_plot(tmp_path):
    rows = [dict(T=T, rule=rule, mse=mse, seeds=[mse], weight_change={}, seconds=0)
            for T, rule, mse in ((20, "fixed", 0.005), (50, "fixed", 0.02), (100, "fixed", 0.009),
                                 (20, "lsq", 0.02))]
    assert bench.longest_solved(rows) == {"fixed": 100, "lsq": None}
    assert bench.format_row(rows[0]) == "| 20 | fixed | 0.0050 | 0.0050 | – | – | – | 0 |"
    out = tmp_path / "a.png"
    bench.plot(rows, str(out))
    assert out.stat().st_size > 10_000


def test_main_writes_json(tmp_path, capsys):
    out = tmp_path / "rows.json"
    bench.main(["--lengths", "8", "--models", "lsq", "--seeds", "1", "--n-train", "20",
                "--n-test", "10", "--json", str(out)])
    rows = json.loads(out.read_text())
    assert [(r["T"], r["rule"]) for r in rows] == [(8, "lsq (fit on 20)")]
    assert "lsq (fit on 20): longest length solved (MSE < 0.01):" in capsys.readouterr().out
    # merged from files: the rows of both, nothing run
    other = tmp_path / "other.json"
    other.write_text(json.dumps([dict(rows[0], T=4, mse=0.001, seeds=[0.001])]))
    merged = tmp_path / "all.json"
    bench.main(["--from-json", str(out), str(other), "--json", str(merged)])
    assert [r["T"] for r in json.loads(merged.read_text())] == [4, 8]
    assert "lsq (fit on 20): longest length solved (MSE < 0.01): 4" in capsys.readouterr().out
