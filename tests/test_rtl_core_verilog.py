"""Verilog generation of the whole core: report, CLI entry point, Verilator lint."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from fptt import cli_verilog
from fptt.config import CoreConfig
from fptt.rtl.controller import bound, cycle_model
from fptt.rtl.report import build_report, format_report
from fptt.rtl.verilog import TOP, VERILATOR_WAIVERS, generate, lint

SMALL = CoreConfig(n_in=8, n_hidden=8, n_out=2, window=2, window_max=4, lanes=2)


def _run_cli(argv):
    ap = argparse.ArgumentParser(prog="fptt")
    cli_verilog.add_parser(ap.add_subparsers())
    args = ap.parse_args(argv)
    return args.func(args)


def test_cli_writes_verilog_and_report(tmp_path):
    out = tmp_path / "core.v"
    assert _run_cli(["verilog", "--set", "n_in=8", "--set", "n_hidden=8", "--set", "lanes=2",
                     "-o", str(out)]) == 0
    text = out.read_text()
    assert f"module {TOP}" in text
    rep = json.loads((tmp_path / "core.report.json").read_text())
    assert rep["config"]["core"]["lanes"] == 2
    names = {p["name"] for p in rep["ports"]}
    assert {"i_frame__payload", "o_frame__payload", "bus__addr", "bus__err"} <= names
    for p in rep["ports"]:
        assert f"{p['name']}" in text
    assert "Memories" in (tmp_path / "core.report.txt").read_text()


def test_cli_refuses_bad_config(tmp_path, capsys):
    assert _run_cli(["verilog", "--set", "window=99", "-o", str(tmp_path / "x.v")]) == 2
    assert "window" in capsys.readouterr().err


def test_report_contents():
    rep = build_report(SMALL)
    mems = {m["name"]: m for m in rep["memories"]}
    # 8 posts of w_in over 2 lanes: 8 columns x 4 words x 2 lanes x w bits
    assert mems["w.w_in"]["bits"] == 8 * 4 * 2 * SMALL.formats.w.width
    assert rep["total_memory_bits"] == sum(m["bits"] for m in rep["memories"])
    fields = {f["field"]: f for f in rep["i_frame_fields"]}
    assert fields["x[0]"]["lsb"] == 0 and fields["x[1]"]["lsb"] == SMALL.formats.x.width
    assert "learn" in fields
    assert "Registers" in format_report(rep)
    # cycle model: dense bound arithmetic of DESIGN section 6
    S = (8 + 8 + 2) * 8
    assert bound(SMALL, 4) == (4 * S + 3 * 64 + 4 * 16 + S) / 2
    m = cycle_model(SMALL, 4)
    assert m["total"] == m["forward"] + m["backward"] + m["update"]
    assert cycle_model(SMALL, 4, 0, 0)["total"] < m["total"]


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not on PATH")
@pytest.mark.parametrize("cfg", [SMALL, CoreConfig(lanes=3, n_out=5)],
                         ids=["small-P2", "default-P3"])
def test_verilator_lint_clean(tmp_path, cfg):
    path = tmp_path / "core.v"
    path.write_text(generate(cfg))
    res = lint(path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(VERILATOR_WAIVERS) <= 4
