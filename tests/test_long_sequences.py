"""benchmarks/long_sequences.py: rule labels, rows and the plot."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "long_sequences.py"
_spec = importlib.util.spec_from_file_location("long_sequences", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_rule_label_names_overrides_and_a_training_other_than_the_base():
    assert bench.BASE_TRAINING == (2000, 1)
    assert bench.rule_label("fixed") == "fixed"
    assert bench.rule_label("fixed", ["core.window=64"]) == "fixed (core.window=64)"
    assert bench.rule_label("twin", (), 8000, 3) == "twin (8,000 × 3 passes)"
    assert bench.rule_label("fixed", ["core.window=64"], 2000, 2) == \
        "fixed (core.window=64, 2,000 × 2 passes)"
    assert bench.rule_label("ref-bptt", (), 500, 1) == "ref-bptt (500 × 1 pass)"
    assert bench.rule_label("lsq", (), 8000, 3) == "lsq (fit on 8,000)"
    assert bench.rule_label("lsq", (), 2000, 3) == "lsq"


def test_rows_record_their_training_and_merge_by_label(tmp_path):
    rows = bench.run([2], ["fixed", "fixed-readout"], seeds=1, n_train=6, n_test=4, epochs=2)
    assert [r["rule"] for r in rows] == ["fixed (6 × 2 passes)", "fixed-readout (6 × 2 passes)"]
    assert all(r["n_train"] == 6 and r["epochs"] == 2 and r["delay"] == 2 for r in rows)
    assert rows[1]["weight_change"]["w_rec"] == 0.0 and rows[0]["weight_change"]["w_rec"] > 0
    assert bench.longest_learned(rows + [dict(rows[0], delay=9, accuracy=0.95)]) == {
        "fixed (6 × 2 passes)": 9, "fixed-readout (6 × 2 passes)": None}
    out = tmp_path / "long.png"
    bench.plot(rows + [dict(rows[0], rule="fixed", n_train=2000, epochs=1)], str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
