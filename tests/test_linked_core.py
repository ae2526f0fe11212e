# amaranth: UnusedElaboratable=no
"""The core behind its serial bridge (``fptt.rtl.linked_core.LinkedCore``).

Its ports (the UART pins, or the byte streams without UART, and ``busy``),
its refusals, and a short run of the real core through the UART pins and
the host driver, bit-exact with the golden model. The bridge's own
behaviour is tested in ``tests/test_bridge.py`` (through the same class).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from amaranth.back import verilog

from fptt.board.driver import BoardDriver
from fptt.board.simlink import LinkTop, simulate_link
from fptt.config import CoreConfig, up5k_config
from fptt.rtl.linked_core import LinkedCore


# created here, elaborated elsewhere or not at all (ports and refusals only)
@pytest.mark.filterwarnings("ignore::amaranth.hdl._ir.UnusedElaboratable")
def test_ports():
    cfg = up5k_config()
    lc = LinkedCore(cfg, 8, 12)
    assert sorted(lc.signature.members) == ["busy", "rx", "tx"]
    assert (lc.rx.init, lc.tx.init) == (1, 1)         # UART lines idle high
    assert (lc.divisor, lc.timeout_bits, lc.bridge.divisor) == (8, 12, 8)
    assert lc.core.cfg is cfg
    raw = LinkedCore(cfg, None)
    assert sorted(raw.signature.members) == ["busy", "rx_byte", "tx_byte"]


def test_refusals():
    cfg = CoreConfig(n_in=2, n_hidden=4, n_out=1)
    with pytest.raises(ValueError, match=r"LinkedCore: give init or core, not both "
                                         r"\(init is FpttCore's\)"):
        LinkedCore(cfg, 8, 10, init={}, core=object())
    # the bridge's own refusal comes through, before a core is built
    with pytest.raises(ValueError, match=r"timeout_bits 7: the pause timer has 8 \.\. 24 bits"):
        LinkedCore(cfg, 8, 7)


@pytest.mark.filterwarnings("ignore::amaranth.hdl._ir.UnusedElaboratable")
def test_verilog_top_has_only_the_pins():
    cfg = CoreConfig(n_in=2, n_hidden=4, n_out=1)
    v = verilog.convert(LinkedCore(cfg, 8, 10), name="linked")
    head = v[v.index("module linked("):]
    head = head[:head.index(");")]
    assert sorted(p.strip() for p in head[len("module linked("):].split(",")) == \
        ["busy", "clk", "rst", "rx", "tx"]


def test_core_through_the_pins():
    """Host UART at divisor 8, bridge, core: 6 steps bit-exact with the golden model (the
    last one as a raw FRAME packet); ``busy`` high while the core runs that step, low
    before and after."""
    from test_rtl_core import cue_frames, golden_run, small_cfg, start_state

    from fptt.board.protocol import Cmd, Decoder, encode, pack_frame, unpack_output
    from fptt.golden.fixed_core import FixedState
    cfg = small_cfg(window=4)
    frs = cue_frames(cfg, 6)[:6]
    st = start_state(cfg)
    rtl_init = FixedState.from_arrays(st.arrays())
    want = golden_run(cfg, st, frs)
    top = LinkTop(LinkedCore(cfg, 8, 10, init=rtl_init))
    busy = top.linked.busy
    got = {}

    async def bench(ctx, link):
        got["idle0"] = ctx.get(busy)
        drv = BoardDriver(link, cfg, timeout=0.05, quiet=2 * (1 << 10) / 24e6)
        got["outs"] = [await drv.step(fr) for fr in frs[:5]]
        await ctx.tick().repeat(20_000)              # the window's backward pass and update
        got["idle1"] = ctx.get(busy)
        await link.send(encode(Cmd.FRAME, 200, pack_frame(cfg, frs[5])))
        # the last character takes 80 cycles on the wire after send() returns
        got["busy"] = 0
        for _ in range(400):
            await ctx.tick()
            got["busy"] += ctx.get(busy)
        dec, pkts = Decoder(), []
        while not pkts:
            pkts = dec.feed(await link.recv(0.01))
        got["outs"].append(unpack_output(cfg, pkts[0].payload))

    simulate_link(top, bench, clk_hz=24e6)
    assert (got["idle0"], got["idle1"]) == (0, 0)
    assert 20 < got["busy"] < 400
    assert [int(o["steps"]) for o in got["outs"]] == [1, 2, 3, 4, 5, 6]
    for w, o in zip(want, got["outs"]):
        assert np.array_equal(w, o["o"])


def test_linked_verilog_and_tool_lookup(monkeypatch, tmp_path):
    """The linked core's Verilog for the resource flow; a tool that cannot be found is
    named with the variable that would name it."""
    from fptt.board import resources
    v = resources.linked_verilog(CoreConfig(n_in=2, n_hidden=4, n_out=1), 8, 10)
    head = v[v.index("module fptt_linked("):]
    assert sorted(p.strip() for p in head[len("module fptt_linked("):head.index(");")]
                  .split(",")) == ["busy", "clk", "rst", "rx", "tx"]
    monkeypatch.setenv("YOSYS", "/opt/yosys-0.23/bin/yosys")
    assert resources._tool("yosys") == "/opt/yosys-0.23/bin/yosys"
    monkeypatch.delenv("NEXTPNR_ICE40", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"^nextpnr-ice40 not found: set NEXTPNR_ICE40 "
                                                r"or install it \(make sysdeps-ice40\)$"):
        resources._tool("nextpnr-ice40")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yosys") is None or shutil.which("nextpnr-ice40") is None,
                    reason="yosys / nextpnr-ice40 not installed")
def test_linked_cells_up5k():
    """The UP5K preset behind its bridge fits the UP5K and closes 24 MHz (Debian's yosys
    0.23 and nextpnr-ice40 0.4, seed 1: 4,729 logic cells, 25.67 MHz; ~5 minutes)."""
    from fptt.board.resources import linked_cells
    r = linked_cells(up5k_config(), 8, 16)
    u = r["util"]
    assert r["logic_cells"] <= 0.95 * r["logic_cells_available"] == 0.95 * 5280
    assert (u["bram"], u["spram"], u["dsp"]) == (21, 3, 5)
    assert r["timing_met"] and r["fmax_mhz"] >= 24.0
