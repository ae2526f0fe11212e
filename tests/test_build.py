"""Board builds (``fptt build``): PLL settings, pins, the flow's verdicts and its one-line errors.

Fast tests elaborate a tiny core on two boards (the generated constraints)
and run the flow with the tools replaced by stand-ins that write what the
real ones would (the verdicts: fits or not, timing met or not, and every
error message); whole builds with the real tools are marked slow.
"""

import json
import shutil
import types

import pytest

from fptt.cli import main
from fptt.config import CoreConfig, up5k_config
from fptt.rtl.pll import Ecp5Pll, PllError, ecp5_pll_params, ice40_pll_params
from fptt.synth import board as bb
from fptt.synth.tools import Step

TINY = CoreConfig(n_in=4, n_hidden=4, n_out=2, window=2, window_max=2)
HAVE_ICE40 = all(shutil.which(t) for t in ("yosys", "nextpnr-ice40", "icepack"))
UP5K_TINY = up5k_config().replace(n_in=4, n_hidden=4, n_out=2, window=2, window_max=2)


# ------------------------------------------------------------------ PLL settings
def test_ice40_pll_matches_icepll():
    # icepll -i 12 -o 24: DIVR 0, DIVF 63, DIVQ 5, FILTER_RANGE 1 (VCO 768 MHz)
    p = ice40_pll_params(12, 24)
    assert (p.divr, p.divf, p.divq, p.filter_range) == (0, 63, 5, 1)
    assert p.f_out_mhz == 24
    # icepll -i 12 -o 36: DIVR 0, DIVF 47, DIVQ 4 (VCO 576 MHz)
    p = ice40_pll_params(12, 36)
    assert (p.divr, p.divf, p.divq) == (0, 47, 4) and p.f_out_mhz == 36


def test_ecp5_pll_matches_ecppll():
    # ecppll -i 25 -o 30: refclk divisor 5, feedback divisor 6, clkout0 divisor 20 (VCO 600)
    assert ecp5_pll_params(25, 30) == Ecp5Pll(25, 5, 6, 20)
    p = ecp5_pll_params(48, 30)
    assert p.f_out_mhz == 30 and 400 <= p.vco_mhz <= 800 and 48 / p.clki_div >= 3.125


def test_pll_refuses_an_inexact_frequency():
    with pytest.raises(PllError, match="no iCE40 PLL setting makes exactly 23.3 MHz from 12 MHz"):
        ice40_pll_params(12, 23.3)
    with pytest.raises(PllError, match="no ECP5 PLL setting makes exactly 24 MHz from 25 MHz"):
        ecp5_pll_params(25, 24)


# ------------------------------------------------------------------ pins
def test_board_constraints_icebreaker_and_ulx3s():
    plan, facts = bb.prepare_board(UP5K_TINY, bb.BOARDS["icebreaker"])
    pcf = plan.files["fptt_board.pcf"]
    for line in ("set_io clk12_0__io 35", "set_io uart_0__rx__io 6", "set_io uart_0__tx__io 9",
                 "set_io led_0__io 11"):
        assert line in pcf
    assert facts["divisor"] == 8 and facts["baud_actual"] == 3e6
    assert facts["pll"]["kind"] == "Ice40Pll" and facts["pll"]["divf"] == 63
    assert "SB_PLL40_PAD" in plan.files["fptt_board.il"]
    plan, facts = bb.prepare_board(UP5K_TINY, bb.BOARDS["ulx3s-85f"])
    lpf = plan.files["fptt_board.lpf"]
    for line in ('LOCATE COMP "clk25_0__io" SITE "G2";', 'LOCATE COMP "uart_0__rx__io" SITE "M1";',
                 'LOCATE COMP "uart_0__tx__io" SITE "L4";', 'LOCATE COMP "led_0__io" SITE "B2";'):
        assert line in lpf
    assert facts["freq_mhz"] == 30 and facts["divisor"] == 10
    assert "EHXPLLL" in plan.files["fptt_board.il"]


def test_added_uart_pins():
    # boards without a USB-serial bridge to the FPGA: the UART is added on header pins
    p = bb.board_platform(bb.BOARDS["upduino3"])
    uart = p.lookup("uart", 0)
    pins = {s.name: s.ios[0].names for s in uart.ios}
    assert pins == {"rx": ["4"], "tx": ["3"]}
    p = bb.board_platform(bb.BOARDS["orangecrab-85f"])
    pins = {s.name: s.ios[0].names for s in p.lookup("uart", 0).ios}
    assert pins == {"rx": ["io_0:0"], "tx": ["io_0:1"]}


def test_bad_baud_or_clock_is_one_line(capsys, tmp_path):
    with pytest.raises(bb.BuildError, match=r"icebreaker: 5e\+06 baud at 2\.4e\+07 Hz: divisor 5"):
        bb.prepare_board(TINY, bb.BOARDS["icebreaker"], baud=5e6)
    with pytest.raises(bb.BuildError, match="ulx3s-85f: no ECP5 PLL setting makes exactly 24 MHz"):
        bb.prepare_board(TINY, bb.BOARDS["ulx3s-85f"], freq_mhz=24)
    rc = main(["build", "--board", "icebreaker", "--set", "n_hidden=4", "--freq", "24.3",
               "-o", str(tmp_path), "--yosys", "true", "--nextpnr", "true", "--pack", "true"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1] == ("fptt build: error: icebreaker: no iCE40 PLL setting makes exactly "
                       "24.3 MHz from 12 MHz")


def test_missing_tool_names_its_variable(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("YOSYS", "true")            # found (on PATH): the nextpnr is the one missing
    monkeypatch.setenv("NEXTPNR_ECP5", str(tmp_path / "no-such-nextpnr"))
    rc = main(["build", "--board", "ulx3s-85f", "--set", "n_hidden=4", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 3
    assert "no-such-nextpnr (nextpnr for ecp5, from $NEXTPNR_ECP5) is not found" in err
    assert "check the $NEXTPNR_ECP5 that names it" in err


# ------------------------------------------------------------------ the flow with stand-in tools
ICE40_STAT = {"SB_LUT4": 4000, "SB_CARRY": 800, "SB_DFF": 1500, "SB_RAM40_4K": 28,
              "SB_SPRAM256KA": 3, "SB_MAC16": 5}
NEXTPNR_OK = """\
Info: Device utilisation:
Info: \t         ICESTORM_LC:  5000/ 5280    94%
Info: \t        ICESTORM_RAM:    28/   30    93%
Info: \t               SB_IO:     4/   96     4%

Info: Max frequency for clock 'clk$glb_clk': {fmax} MHz (PASS at 24.00 MHz)
"""
NEXTPNR_OVER = """\
Info: Device utilisation:
Info: \t         ICESTORM_LC:  5400/ 5280   102%
ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_LC'
"""


@pytest.fixture
def fake_flow(monkeypatch):
    """Replace the elaboration and the tools: ``state`` says what they answer."""
    state = types.SimpleNamespace(cells=dict(ICE40_STAT), pnr=NEXTPNR_OK, fmax="26.10",
                                  pnr_rc=0, yosys_rc=0, pack_rc=0)

    def prepare(cfg, board, *, freq_mhz=None, baud=3e6, timeout_bits=16):
        plan = types.SimpleNamespace(files={"fptt_board.debug.v": "// verilog\n",
                                            "fptt_board.pcf": "set_io uart_0__rx__io 6\n",
                                            "fptt_board.lpf": "LOCATE ...\n"})
        return plan, dict(freq_mhz=freq_mhz or board.freq_mhz, osc_mhz=board.osc_mhz, baud=baud,
                          divisor=8, baud_actual=3e6, timeout_bits=16, pll=None)

    def yosys(path, script, cwd, name, timeout):
        (cwd / "stat.json").write_text(json.dumps(
            {"modules": {"\\fptt_board": {"num_cells_by_type": state.cells}}}))
        return Step(name, [path], rc=state.yosys_rc, log="ERROR: boom\n")

    def step(st, cwd, timeout, log_file):
        st.rc = state.pack_rc
        if st.rc == 0:
            (cwd / st.cmd[2]).write_bytes(b"\0" * 100)
        return st

    def nextpnr(path, dev, netlist, out, **kw):
        log = state.pnr.replace("{fmax}", state.fmax)
        if float(state.fmax) < kw["freq"]:
            log = log.replace("PASS", "FAIL")
        from fptt.synth.logs import parse_nextpnr
        pnr = parse_nextpnr(log)
        pnr["critical_path"] = None
        return Step("nextpnr", [path], rc=state.pnr_rc), pnr

    monkeypatch.setattr(bb, "prepare_board", prepare)
    monkeypatch.setattr(bb, "run_yosys", yosys)
    monkeypatch.setattr(bb, "run_step", step)
    monkeypatch.setattr(bb, "run_nextpnr", nextpnr)
    tools = ["--yosys", "true", "--nextpnr", "true", "--pack", "true"]
    return state, tools


def _build(tmp_path, tools, *extra):
    return main(["build", "--board", "icebreaker", "--set", "n_hidden=4", "-o", str(tmp_path),
                 *tools, *extra])


def test_build_ok_writes_bitstream_and_report(fake_flow, tmp_path, capsys):
    state, tools = fake_flow
    assert _build(tmp_path, tools) == 0
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "build_report.json").read_text())
    assert rep["status"] == "ok: timing met at 24 MHz" and rep["fmax_mhz"] == 26.1
    assert rep["utilisation"]["luts"] == 4000 and rep["utilisation"]["bram"] == 28
    assert rep["files"] == {"constraints": "fptt_board.pcf", "bitstream": "fptt_board.bin"}
    assert (tmp_path / "fptt_board.bin").stat().st_size == 100
    assert (tmp_path / "fptt_board.pcf").read_text() == "set_io uart_0__rx__io 6\n"
    assert "fmax 26.10 MHz (met at 24 MHz)" in out and "ICESTORM_LC" in out
    assert (tmp_path / "build_report.txt").read_text() == out.split("wrote ")[0]


def test_build_does_not_fit_after_synthesis(fake_flow, tmp_path, capsys):
    state, tools = fake_flow
    state.cells["SB_LUT4"] = 6000
    state.cells["SB_RAM40_4K"] = 31
    assert _build(tmp_path, tools) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("fptt build: error: icebreaker: the core and bridge do not fit the "
                       "ice40-up5k: LUT4 6000/5280, SB_RAM40_4K 31/30")
    rep = json.loads((tmp_path / "build_report.json").read_text())
    assert rep["status"] == "does not fit" and not (tmp_path / "fptt_board.bin").exists()


def test_build_does_not_fit_after_packing(fake_flow, tmp_path, capsys):
    state, tools = fake_flow
    state.pnr, state.pnr_rc = NEXTPNR_OVER, 1
    assert _build(tmp_path, tools) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "fptt build: error: icebreaker: the core and bridge do not fit the ice40-up5k after "
        "packing: ICESTORM_LC 5400/5280")


def test_build_timing_not_met(fake_flow, tmp_path, capsys):
    state, tools = fake_flow
    state.fmax = "21.45"
    assert _build(tmp_path, tools) == 1
    cap = capsys.readouterr()
    assert cap.err.strip().splitlines()[-1] == (
        "fptt build: error: icebreaker: timing not met: fmax 21.45 MHz < the 24 MHz clock "
        "(try --freq with a lower clock)")
    assert "fmax 21.45 MHz (NOT met at 24 MHz)" in cap.out
    assert not (tmp_path / "fptt_board.bin").exists()


def test_build_tool_failures(fake_flow, tmp_path, capsys):
    state, tools = fake_flow
    state.yosys_rc = 1
    assert _build(tmp_path, tools) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"fptt build: error: yosys failed (see {tmp_path}/yosys.log)")
    state.yosys_rc, state.pnr, state.pnr_rc = 0, "ERROR: cannot route net x\n", 1
    assert _build(tmp_path, tools) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "fptt build: error: nextpnr failed: cannot route net x")
    state.pnr, state.pnr_rc, state.pack_rc = NEXTPNR_OK, 0, 1
    assert _build(tmp_path, tools) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"fptt build: error: true failed (see {tmp_path}/pack.log)")


def test_missing_amaranth_boards_is_one_line():
    board = bb.Board("x", "no_such_boards_module:P", "ice40-up5k", (), "clk", 12, 12)
    with pytest.raises(bb.BuildError, match=r"amaranth-boards is not installed \(No module "
                       r"named 'no_such_boards_module'\): pip install amaranth-boards==0.0.21"):
        bb.board_platform(board)


# ------------------------------------------------------------------ real tools
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ICE40, reason="yosys/nextpnr-ice40/icepack not installed")
def test_tiny_core_bitstream_icebreaker(tmp_path):
    # the UP5K formats (the default ones take ~7,600 LUT4 at any size: ALIF, profiling, 16 bits)
    rep = bb.build_board(UP5K_TINY, "icebreaker", tmp_path, log=lambda *a: None)
    assert rep["status"] == "ok: timing met at 24 MHz" and rep["fmax_mhz"] >= 24
    assert (tmp_path / "fptt_board.bin").stat().st_size > 100_000
    assert rep["pnr"]["utilisation"]["SB_IO"]["used"] == 4        # clk, rx, tx, led
    assert rep["pnr"]["utilisation"]["ICESTORM_PLL"]["used"] == 1
