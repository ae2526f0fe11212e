"""The co-simulated board behind a real serial path: a pty or a TCP socket on the host UART.

The board top ``board_tb`` (:mod:`fptt.sim.bridge_cocotb`: host UART, serial
bridge, core) runs in cocotb on Verilator. The cocotb test
:func:`serial_port_bench` opens a virtual serial port and pumps bytes between
it and the simulated host UART's byte ports, so that the host driver runs in
*another process* through pyserial, exactly as it talks to a board:

- ``pty``: a pseudo-terminal; the host opens its slave path (``/dev/pts/N``)
  with ``serial.Serial``, the class that opens ``/dev/ttyUSB1``;
- ``socket``: a TCP port on 127.0.0.1; the host opens ``socket://127.0.0.1:P``
  with ``serial.serial_for_url``.

The pump reads the port without blocking and feeds each byte to the host
UART (a character time each); every byte the host UART receives goes back to
the port. While a request is outstanding (bytes went in, no reply came out),
or less than two bridge pause periods (``2**timeout_bits`` cycles) after an
error reply (the bridge's quiet rule), simulated time runs on in slices of
one character time. Otherwise (the host is thinking)
the pump waits for the port in wall time without advancing the simulation,
so simulated time is what a board would take with a host of zero turnaround
(the convention of ``docs/bridge.md`` section 6), and the simulator spends
no CPU while the host computes.

:class:`BoardServer` builds ``board_tb`` (cached) and runs the simulator in
the background, with the port's address in :attr:`BoardServer.url`;
:func:`run_uart_cosim` is the bit-exact learning run of ``fptt cosim --link
uart``: the driver in this process loads a network, runs the cue task's
learning steps compared with the golden model frame by frame, and reads every
memory back.
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
import tty
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles

from ..board.driver import ByteLink
from ..board.serial_link import sim_timeouts
from ..config import CoreConfig
from . import compat

__all__ = ["PtyPort", "SocketPort", "BoardServer", "FaultyLink", "serial_port_bench",
           "run_uart_cosim", "KINDS", "PARAMS_ENV"]

PARAMS_ENV = "FPTT_SERIAL_PORT_PARAMS"
#: The virtual serial ports.
KINDS = ("pty", "socket")
#: Wall seconds the pump waits on the port per look while the host thinks.
_LOOK_S = 0.05
#: Characters of simulated time per slice while a reply is awaited.
_SLICE_CHARS = 4


class PtyPort:
    """A pseudo-terminal in raw mode; the host opens :attr:`url`, its slave path.

    The pump keeps the slave open too: the pty then lives however often a host
    opens and closes it.
    """

    def __init__(self):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)         # no echo, no line editing before pyserial opens it
        os.set_blocking(self.master, False)
        self.url = os.ttyname(self._slave)
        self.ended = False              # a pty has no end of session

    def fileno(self) -> int:
        return self.master

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""

    def write(self, data: bytes) -> None:
        # the host reads as it goes; a pty buffers a few kB, far more than a reply
        view = memoryview(bytes(data))
        while view:
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                select.select([], [self.master], [], 1.0)

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)


class SocketPort:
    """A TCP port on ``host``; one host connection at a time (``socket://`` in pyserial),
    the newest replacing any before it.

    :attr:`ended` becomes true when a connected host closes its end.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.server = socket.create_server((host, port))
        self.server.setblocking(False)
        self.url = f"socket://{host}:{self.server.getsockname()[1]}"
        self.conn = None
        self.ended = False

    def fileno(self) -> int:
        return (self.conn or self.server).fileno()

    def read(self) -> bytes:
        try:
            conn, _ = self.server.accept()
        except BlockingIOError:
            pass
        else:
            # a new host replaces the previous one (which may not have closed its end)
            if self.conn is not None:
                self.conn.close()
            self.conn = conn
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.conn is None:
            return b""
        try:
            data = self.conn.recv(4096)
        except BlockingIOError:
            return b""
        if not data:                    # the host closed its end
            self.conn.close()
            self.conn, self.ended = None, True
        return data

    def write(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.setblocking(True)
            try:
                self.conn.sendall(bytes(data))
            finally:
                self.conn.setblocking(False)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def _open_port(kind: str, port: int):
    if kind == "pty":
        return PtyPort()
    if kind == "socket":
        return SocketPort(port=port)
    raise ValueError(f"unknown serial port kind {kind!r}; known: {', '.join(KINDS)}")


@cocotb.test()
async def serial_port_bench(dut):
    """Serve the board top on a virtual serial port until told to stop."""
    from ..board.protocol import Decoder, Status
    from .bridge_cocotb import HALF_PERIOD_NS, CocotbLink
    params = json.loads(Path(os.environ[PARAMS_ENV]).read_text())
    stop_file = Path(params["stop_file"])
    dut.rst.value = 1
    dut.h_tx__valid.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    link = CocotbLink(dut)
    port = _open_port(params["kind"], params.get("port", 0))
    Path(params["url_file"]).write_text(port.url)
    char = 10 * params["divisor"]

    def slice_timer(chars):
        return compat.timer(2 * HALF_PERIOD_NS * char * chars, "ns")

    # after an error reply the bridge ignores the line until it has been quiet for
    # 2**timeout_bits cycles: time runs on that long (twice) before it may stand
    quiet = 2 * (1 << params["timeout_bits"])
    replies = Decoder()
    n_in = n_out = n_replies = 0
    outstanding = False     # bytes went in and no reply has come out yet
    settle = 0              # cycles of line silence to simulate before time may stand
    idle_cycles = looks = 0
    parent = os.getppid()
    t_seen = t0 = time.time()
    try:
        while not port.ended or params["serve"]:
            data = port.read()
            if data:
                t_seen = time.time()
                n_in += len(data)
                outstanding, idle_cycles = True, 0
                await link.send(data)
            elif (outstanding and idle_cycles < params["max_wait"]) or idle_cycles < settle:
                # a request in the bridge or the core (or a broken one the bridge is
                # timing out): its reply comes only as time runs. Slices of a few
                # characters (one callback each, not one per clock edge): the host
                # waits for a whole reply anyway
                await slice_timer(_SLICE_CHARS)
                idle_cycles += _SLICE_CHARS * char
            else:
                # the host is thinking: wait for it in wall time, simulated time stands
                select.select([port], [], [], _LOOK_S)
                if stop_file.exists() or os.getppid() != parent or (
                        params["idle_exit_s"] and time.time() - t_seen > params["idle_exit_s"]):
                    break       # told to, orphaned (the launcher was killed), or left idle
                continue
            if link.buffer:
                out = bytes(link.buffer)
                link.buffer.clear()
                n_out += len(out)
                idle_cycles = 0
                port.write(out)
                got = replies.feed(out)
                n_replies += len(got)
                if got:
                    outstanding = False
                    ok = (Status.OK, Status.EMPTY)
                    settle = 0 if all(getattr(p, "status", None) in ok for p in got) else quiet
            looks += 1
            if looks % 256 == 0 and stop_file.exists():
                break
    finally:
        port.close()
        Path(params["result_path"]).write_text(json.dumps(
            {"sim_ns": compat.sim_time("ns"), "bytes_in": n_in, "bytes_out": n_out,
             "replies": n_replies, "wall_s": round(time.time() - t0, 3)}))


class BoardServer:
    """``board_tb`` for ``cfg`` simulated in the background, served on a virtual serial port.

    Parameters
    ----------
    cfg
        The core's configuration.
    kind
        ``"pty"`` or ``"socket"`` (:data:`KINDS`).
    port
        The TCP port of ``"socket"`` (0: any free one).
    serve
        Keep serving when a socket host disconnects (a pty always does).
    idle_exit_s
        Stop when the host has sent nothing for this many wall seconds (0: never).
    divisor, timeout_bits
        The bridge's (:class:`~fptt.rtl.bridge.Bridge`).

    Use as a context manager: :attr:`url` is the port to open; on leaving, the
    simulator is stopped and :attr:`result` holds its figures (``sim_ns``,
    ``bytes_in``, ``bytes_out``, ``replies``, ``wall_s``, ``build_s``).
    """

    def __init__(self, cfg: CoreConfig, kind: str = "pty", *, port: int = 0, serve: bool = False,
                 idle_exit_s: float = 0.0, divisor: int = 8, timeout_bits: int = 10,
                 start_timeout_s: float = 300.0):
        if kind not in KINDS:
            raise ValueError(f"unknown serial port kind {kind!r}; known: {', '.join(KINDS)}")
        self.cfg, self.kind, self.port, self.serve = cfg, kind, port, serve
        self.idle_exit_s, self.divisor, self.timeout_bits = idle_exit_s, divisor, timeout_bits
        self.start_timeout_s = start_timeout_s
        self.url = None
        self.result = None
        self._failure = None
        self._thread = None

    def __enter__(self) -> "BoardServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> str:
        """Build (cached), start the simulator, wait for its port; returns :attr:`url`."""
        from .bridge_cocotb import TOP, build_board
        runner, bdir, self.build_s = build_board(self.cfg, self.divisor, self.timeout_bits)
        self.run_dir = bdir / f"serve-{os.getpid()}-{int(time.time() * 1000)}"
        self.run_dir.mkdir()
        d = self.run_dir
        busy = 40 * self.cfg.window_max * self.cfg.n_syn
        params = {"kind": self.kind, "port": self.port, "serve": self.serve,
                  # an outstanding request's reply comes within a core phase and a
                  # READ burst, else it never will (its bytes were lost)
                  "max_wait": 4 * (1 << self.timeout_bits) + 700 * 10 * self.divisor + busy,
                  "idle_exit_s": self.idle_exit_s, "divisor": self.divisor,
                  "timeout_bits": self.timeout_bits, "url_file": str(d / "url"),
                  "stop_file": str(d / "stop"), "result_path": str(d / "result.json")}
        (d / "params.json").write_text(json.dumps(params))

        def simulate():
            try:
                runner.test(test_module="fptt.sim.serial_port", hdl_toplevel=TOP,
                            hdl_toplevel_lang="verilog", build_dir=str(bdir), test_dir=str(d),
                            extra_env={PARAMS_ENV: str(d / "params.json")},
                            log_file=str(d / "sim.log"))
            except (SystemExit, Exception) as exc:     # a crashed simulator
                self._failure = exc

        self._thread = threading.Thread(target=simulate, name="board-sim", daemon=True)
        self._thread.start()
        t0 = time.time()
        while not (d / "url").is_file():
            if not self._thread.is_alive() or time.time() - t0 > self.start_timeout_s:
                self.stop()
                raise RuntimeError(f"the simulated board did not open its serial port: "
                                   f"{self._log_tail()}")
            time.sleep(0.05)
        self.url = (d / "url").read_text()
        return self.url

    def wait(self) -> None:
        """Until the simulator ends by itself (``idle_exit_s``, a socket host leaving)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> dict | None:
        """Tell the simulator to stop, wait for it; its figures (also :attr:`result`)."""
        if self._thread is None:
            return self.result
        (self.run_dir / "stop").write_text("stop\n")
        self._thread.join()
        self._thread = None
        res = self.run_dir / "result.json"
        if res.is_file():
            self.result = dict(json.loads(res.read_text()), build_s=round(self.build_s, 1))
        elif self._failure is not None:
            raise RuntimeError(f"the simulated board failed ({self._failure}): "
                               f"{self._log_tail()}")
        return self.result

    def _log_tail(self) -> str:
        log = self.run_dir / "sim.log"
        return log.read_text()[-2000:] if log.is_file() else "(no simulator log)"


class FaultyLink(ByteLink):
    """Another byte link with faults injected on the host's side of the port.

    ``tx_faults``/``rx_faults``: ``{byte index: "drop" or XOR mask}``, counted
    from the moment :meth:`arm` is called (e.g. the first FRAME request).
    """

    def __init__(self, link: ByteLink, tx_faults=None, rx_faults=None):
        self.link = link
        self.tx_faults, self.rx_faults = dict(tx_faults or {}), dict(rx_faults or {})
        self.armed = False
        self._n_tx = self._n_rx = 0

    def arm(self) -> None:
        """Count bytes from here on."""
        self.armed, self._n_tx, self._n_rx = True, 0, 0

    def _apply(self, data: bytes, faults: dict, n: int) -> tuple[bytes, int]:
        if not self.armed:
            return data, n
        from ..board.simlink import DROP
        out = bytearray()
        for b in data:
            fault = faults.get(n)
            n += 1
            if fault != DROP:
                out.append(b ^ (fault or 0))
        return bytes(out), n

    async def send(self, data: bytes) -> None:
        data, self._n_tx = self._apply(bytes(data), self.tx_faults, self._n_tx)
        await self.link.send(data)

    async def recv(self, timeout: float) -> bytes:
        data = await self.link.recv(timeout)
        data, self._n_rx = self._apply(data, self.rx_faults, self._n_rx)
        return data

    async def pause(self, seconds: float) -> None:
        await self.link.pause(seconds)


def run_uart_cosim(cfg: CoreConfig, steps: int, *, kind: str = "pty", seed: int = 1,
                   tx_faults=None, rx_faults=None, baud: int = 3_000_000) -> dict:
    """A learning run through a virtual serial port, bit for bit against the golden model.

    The simulated board (:class:`BoardServer`) serves a pty or a socket; this
    process opens it with pyserial (:class:`~fptt.board.serial_link.SerialLink`),
    checks the core's identity, loads a fresh network (WRITE bursts), runs
    ``steps`` learning steps or more (whole sequences of the cue task),
    comparing every output frame with the golden model
    (:class:`~fptt.sim.scoreboard.Scoreboard`), and reads every memory back
    and compares it. Faults (``{byte index: "drop" or XOR mask}``, counted from
    the first FRAME request / reply byte) are injected on this side of the
    port (:class:`FaultyLink`). Returns ``steps``, ``windows``, ``retried``
    (by cause, frames only), ``url``, ``wall_s`` (the learning steps),
    ``steps_per_s_wall``, ``step_cycles`` (simulated cycles of the learning
    steps, from the core's CYCLES counter; None without ``profile_counters``),
    ``sim_cycles`` (the whole session), ``load_s`` (identity check and network load),
    ``readback_s``, ``words_read``,
    ``bytes_in``/``bytes_out`` (through the port), ``build_s``; raises
    :class:`~fptt.sim.scoreboard.Mismatch` at the first difference.
    """
    from ..board.driver import BoardDriver, run_sync
    from ..board.serial_link import SerialLink
    from ..rtl.host import checkpoint_addresses
    from ..tasks.cue import CueTask
    from .scoreboard import Scoreboard
    from .stimulus import initial_state, training_frames
    state = initial_state(cfg, seed=seed)
    frames = training_frames(cfg, CueTask(n_in=cfg.n_in, n_train=64, n_test=1, seed=seed), steps)
    board = Scoreboard(cfg, state)
    res = {}
    with BoardServer(cfg, kind) as server:
        serial_link = SerialLink(server.url, baud)
        link = FaultyLink(serial_link, tx_faults, rx_faults)
        drv = BoardDriver(link, cfg, **sim_timeouts(cfg))
        try:
            t0 = time.time()
            res["info"] = run_sync(drv.info())
            run_sync(drv.check_identity())
            run_sync(drv.write_checkpoint(state.arrays()))
            res["load_s"] = time.time() - t0
            before = dict(drv.retried)
            c0 = run_sync(drv.read_counters())["CYCLES"]
            link.arm()
            t0 = time.time()
            for fr in frames:
                board.check_output(fr, run_sync(drv.step(fr)))
            res["wall_s"] = time.time() - t0
            # the core's free-running clock counter: simulated cycles of the steps alone
            # (simulated time stands while this process thinks); 0 without profile_counters
            c1 = run_sync(drv.read_counters())["CYCLES"]
            res["step_cycles"] = (c1 - c0) % (1 << 32) if cfg.profile_counters else None
            res["retried"] = {k: v - before.get(k, 0) for k, v in drv.retried.items()
                              if v != before.get(k, 0)}
            t0 = time.time()
            board.check_state(run_sync(drv.read_checkpoint(scratch=True)))
            res["readback_s"] = time.time() - t0
        finally:
            serial_link.close()
        res["url"] = server.url
    sim = server.result
    n = board.steps
    res.update(steps=n, windows=int(board.state.windows[0]), sim_ns=sim["sim_ns"],
               build_s=sim["build_s"], bytes_in=sim["bytes_in"], bytes_out=sim["bytes_out"],
               steps_per_s_wall=n / res["wall_s"],
               words_read=int(sum(a.size for a in checkpoint_addresses(cfg, True).values())))
    from .bridge_cocotb import CLK_HZ
    res["sim_cycles"] = round(sim["sim_ns"] * CLK_HZ / 1e9)     # the whole session
    return res
