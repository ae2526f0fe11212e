"""cocotb on Verilator: the board top (host UART, serial bridge, core) and the host driver.

The design is :class:`BoardSimTop`: a host-side UART pair
(:class:`~fptt.rtl.uart.UartTx`/:class:`~fptt.rtl.uart.UartRx`) wired to the
pins of a :class:`~fptt.rtl.linked_core.LinkedCore` (the
:class:`~fptt.rtl.bridge.Bridge` driving a :class:`~fptt.rtl.core.FpttCore`;
:class:`fptt.board.simlink.LinkTop`), under
the top level ``board_tb`` whose clock is made in HDL (as ``sim/hdl/fptt_tb.sv``
does for the core), so the simulator runs whole characters without a Python
callback per edge. The host side is :class:`fptt.board.driver.BoardDriver`
speaking through :class:`CocotbLink`, a byte link on the host UART's byte
ports, with optional faults (a byte dropped, or XORed) in either direction.

The bench :func:`bridge_link_bench` checks the core's identity, loads a fresh
network over the link (``write_checkpoint``, bursts of WRITE), runs the
learning steps of the cue task comparing every output with the golden model
(:class:`fptt.sim.scoreboard.Scoreboard`), reads every memory back over the
link and compares it, and writes ``result.json``. :func:`run_bridge_cosim`
builds (cached by the hash of the HDL) and runs it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

import cocotb
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from cocotb.triggers import ClockCycles, Event, First, ReadOnly, RisingEdge

from ..board.driver import BoardDriver, ByteLink
from ..board.simlink import DROP, LinkTop
from ..config import CoreConfig
from . import compat

__all__ = ["BoardSimTop", "CocotbLink", "board_verilog", "build_board", "run_bridge_cosim",
           "bridge_link_bench", "TOP", "PARAMS_ENV"]

TOP = "board_tb"
PARAMS_ENV = "FPTT_BRIDGE_PARAMS"
HALF_PERIOD_NS = 5
#: The simulated clock (the HDL toggles it every HALF_PERIOD_NS).
CLK_HZ = 1e9 / (2 * HALF_PERIOD_NS)

_WRAPPER = f"""// Co-simulation top level of the board: host UART + bridge + core, clock made here.
`timescale 1ns/1ps
module {TOP} (
    output reg       clk,
    input            rst,
    input      [7:0] h_tx__payload,
    input            h_tx__valid,
    output           h_tx__ready,
    output     [7:0] h_rx_data,
    output           h_rx_stb
);
    initial clk = 1'b0;
    always #({HALF_PERIOD_NS}) clk = ~clk;
    board_core dut (.clk(clk), .rst(rst), .h_tx__payload(h_tx__payload),
                    .h_tx__valid(h_tx__valid), .h_tx__ready(h_tx__ready),
                    .h_rx_data(h_rx_data), .h_rx_stb(h_rx_stb));
endmodule
"""


class BoardSimTop(wiring.Component):
    """:class:`~fptt.board.simlink.LinkTop` with the host UART's byte ports as its ports."""

    def __init__(self, cfg: CoreConfig, divisor: int, timeout_bits: int):
        from ..rtl.linked_core import LinkedCore
        self.link = LinkTop(LinkedCore(cfg, divisor, timeout_bits))
        super().__init__({"h_tx": In(stream.Signature(8)), "h_rx_data": Out(8),
                          "h_rx_stb": Out(1)})

    def elaborate(self, platform):
        from amaranth.hdl import Module
        m = Module()
        link = m.submodules.link = self.link
        wiring.connect(m, wiring.flipped(self.h_tx), link.host_tx.data)
        m.d.comb += [self.h_rx_data.eq(link.host_rx.data), self.h_rx_stb.eq(link.host_rx.stb)]
        return m


def board_verilog(cfg: CoreConfig, divisor: int, timeout_bits: int) -> str:
    """Verilog of ``board_core`` (:class:`BoardSimTop`) and the top level ``board_tb``."""
    from amaranth.back import verilog
    return verilog.convert(BoardSimTop(cfg, divisor, timeout_bits), name="board_core",
                           emit_src=False) + "\n" + _WRAPPER


class CocotbLink(ByteLink):
    """The host UART's byte ports of ``board_tb`` as a byte link (seconds of simulated time).

    ``tx_faults``/``rx_faults``: ``{byte index: DROP or XOR mask}`` as in
    :class:`fptt.board.simlink.SimLink`.
    """

    def __init__(self, dut, tx_faults=None, rx_faults=None):
        self.dut = dut
        self.tx_faults, self.rx_faults = dict(tx_faults or {}), dict(rx_faults or {})
        self.buffer = bytearray()
        self.event = Event()
        self._n_tx = self._n_rx = 0
        cocotb.start_soon(self._collect())

    async def _collect(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.h_rx_stb)
            await ReadOnly()
            b = compat.to_unsigned(dut.h_rx_data.value)
            fault = self.rx_faults.get(self._n_rx)
            self._n_rx += 1
            if fault == DROP:
                continue
            self.buffer.append(b ^ (fault or 0))
            self.event.set()

    async def send(self, data: bytes) -> None:
        dut = self.dut
        await RisingEdge(dut.clk)           # a writable phase, whatever woke us
        for b in bytes(data):
            fault = self.tx_faults.get(self._n_tx)
            self._n_tx += 1
            if fault == DROP:
                continue
            dut.h_tx__payload.value = b ^ (fault or 0)
            dut.h_tx__valid.value = 1
            await ReadOnly()
            if not dut.h_tx__ready.value:
                await RisingEdge(dut.h_tx__ready)
            await RisingEdge(dut.clk)       # the edge that takes the byte
            dut.h_tx__valid.value = 0

    async def recv(self, timeout: float) -> bytes:
        if not self.buffer and timeout > 0:
            self.event.clear()
            await First(self.event.wait(), compat.timer(round(timeout * 1e9), "ns"))
        out = bytes(self.buffer)
        self.buffer.clear()
        return out

    async def pause(self, seconds: float) -> None:
        if seconds > 0:
            await compat.timer(round(seconds * 1e9), "ns")


@cocotb.test()
async def bridge_link_bench(dut):
    """Load, learn, read back over the simulated UART; compare with the golden model."""
    params = json.loads(Path(os.environ[PARAMS_ENV]).read_text())
    result = {"ok": False}
    try:
        await _bench(dut, params, result)
        result["ok"] = True
    except Exception as exc:          # noqa: BLE001 - the message goes to the caller
        result["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        Path(params["result_path"]).write_text(json.dumps(result, indent=1))


async def _bench(dut, params, result):
    from ..tasks.cue import CueTask
    from .scoreboard import Scoreboard
    from .stimulus import initial_state, training_frames
    cfg = CoreConfig.from_toml(params["config_toml"])
    state = initial_state(cfg, seed=params["seed"])
    frames = training_frames(cfg, CueTask(n_in=cfg.n_in, n_train=64, n_test=1,
                                          seed=params["seed"]), params["steps"])
    board = Scoreboard(cfg, state)
    dut.rst.value = 1
    dut.h_tx__valid.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    link = CocotbLink(dut)
    drv = BoardDriver(link, cfg, timeout=params["timeout_s"], quiet=params["quiet_s"])
    t0 = time.time()
    result["info"] = await drv.info()
    await drv.check_identity()
    await drv.write_checkpoint(state.arrays())
    # faults counted from the first frame request (reply) byte on
    link.tx_faults = {link._n_tx + int(k): v for k, v in params["tx_faults"].items()}
    link.rx_faults = {link._n_rx + int(k): v for k, v in params["rx_faults"].items()}
    before = dict(drv.retried)
    for fr in frames:
        board.check_output(fr, await drv.step(fr))
    result["frames_retried"] = {k: v - before.get(k, 0) for k, v in drv.retried.items()
                                if v != before.get(k, 0)}
    board.check_state(await drv.read_checkpoint(scratch=True))
    result.update(steps=board.steps, windows=int(board.state.windows[0]),
                  retried=dict(drv.retried), wall_s=round(time.time() - t0, 2),
                  sim_ns=compat.sim_time("ns"))


def build_board(cfg: CoreConfig, divisor: int, timeout_bits: int, build_dir=None):
    """Build ``board_tb`` for ``cfg`` with Verilator, or reuse the build of the same HDL.

    Returns ``(runner, build_dir, seconds)``; the build is cached under
    ``build/sim/verilator/board-<hash of the HDL>`` and done under a file lock
    (parallel workers build it once).
    """
    from .runner import build_root
    text = board_verilog(cfg, divisor, timeout_bits)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    bdir = Path(build_dir) if build_dir else build_root() / "verilator" / f"board-{digest}"
    runner = compat.get_runner("verilator")
    t0 = time.time()
    bdir.mkdir(parents=True, exist_ok=True)
    # one build at a time (pytest-xdist workers, other sessions): a lock, then the stamp
    with open(bdir.parent / f".{bdir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (bdir / "built").is_file():
            (bdir / "board.v").write_text(text)
            runner.build(sources=[str(bdir / "board.v")], hdl_toplevel=TOP, build_dir=str(bdir),
                         build_args=["--timing", "--timescale", "1ns/1ps", "-Wno-WIDTH",
                                     "-Wno-CASEINCOMPLETE", "-Wno-fatal"],
                         log_file=str(bdir / "build.log"))
            (bdir / "built").write_text("ok\n")
        fcntl.flock(lock, fcntl.LOCK_UN)
    return runner, bdir, time.time() - t0


def run_bridge_cosim(cfg: CoreConfig, steps: int, *, seed: int = 1, divisor: int = 8,
                     timeout_bits: int = 10, tx_faults=None, rx_faults=None,
                     build_dir=None) -> dict:
    """Build (or reuse) ``board_tb`` for ``cfg`` with Verilator and run the bench.

    ``tx_faults``/``rx_faults``: ``{byte index: "drop" or XOR mask}``, the index
    counted from the first byte of the first FRAME request (reply). Returns the
    bench's result (``steps``, ``windows``, ``retried``, ``frames_retried``,
    ``wall_s``, ``sim_ns``, ``build_s``); raises ``RuntimeError`` with the
    bench's error.
    """
    runner, bdir, build_s = build_board(cfg, divisor, timeout_bits, build_dir)
    run_dir = bdir / f"run-{os.getpid()}-{int(time.time() * 1000)}"
    run_dir.mkdir()
    char_s = 10 * divisor / CLK_HZ
    window = cfg.window_max
    busy_s = 40 * window * (cfg.n_in + cfg.n_hidden + cfg.n_out) * cfg.n_hidden / CLK_HZ
    params = {"config_toml": cfg.to_toml(), "steps": steps, "seed": seed,
              "tx_faults": tx_faults or {}, "rx_faults": rx_faults or {},
              "timeout_s": 600 * char_s + busy_s, "quiet_s": 2 * (1 << timeout_bits) / CLK_HZ,
              "result_path": str(run_dir / "result.json")}
    (run_dir / "params.json").write_text(json.dumps(params))
    failure = None
    try:
        runner.test(test_module="fptt.sim.bridge_cocotb", hdl_toplevel=TOP,
                    hdl_toplevel_lang="verilog", build_dir=str(bdir), test_dir=str(run_dir),
                    extra_env={PARAMS_ENV: str(run_dir / "params.json")},
                    log_file=str(run_dir / "sim.log"))
    except (SystemExit, Exception) as exc:      # a failed test or a crashed simulator
        failure = exc
    res_path = run_dir / "result.json"
    result = json.loads(res_path.read_text()) if res_path.is_file() else {}
    if failure is not None or not result.get("ok"):
        log = run_dir / "sim.log"
        tail = log.read_text()[-2000:] if log.is_file() else ""
        raise RuntimeError(result.get("error") or f"bridge co-simulation failed ({failure}): "
                           f"{tail}")
    result["build_s"] = round(build_s, 1)
    return result
