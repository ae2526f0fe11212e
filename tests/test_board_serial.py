"""The host driver over a real serial path, and the board model of ``fptt train``.

- :class:`fptt.board.serial_link.SerialLink` through pyserial on a pty and on a
  ``socket://`` URL (in-process ends; no simulator);
- :mod:`fptt.board.model` (``fptt train --model board``): its refusals, and
  ``open_board`` refusing a core whose ID/size registers do not match;
- the CLI's errors for ``--model board``/``--port`` and ``fptt cosim --link uart``;
- :mod:`fptt.sim.serial_port`: the board top on Verilator behind a pty or a socket,
  the driver in this process through pyserial (``make test``: a short learning run
  with a corrupted and a dropped byte each way, bit-exact, every memory read
  back; ``-m slow``: 300+ steps through a socket, and ``fptt train --model board
  --port URL`` against ``--model fixed`` on the served board).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fptt.board.driver import select_keys
from fptt.board.protocol import Cmd, encode, geometry, info_payload
from fptt.board.simlink import DROP
from fptt.rtl.host import ID_VALUE, REG_INDEX, checkpoint_addresses
from fptt.train import TrainSettings

sys.path.insert(0, str(Path(__file__).parent))
from test_bridge import FakePort  # noqa: E402
from test_rtl_core import small_cfg  # noqa: E402

CFG = small_cfg(window=4)
needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                     reason="verilator not installed")


def test_select_keys():
    addrs = checkpoint_addresses(CFG, scratch=True)
    assert select_keys(addrs) is addrs
    assert sorted(select_keys(addrs, ["w.", "u", "steps"])) == \
        ["steps", "u", "w.b", "w.b_out", "w.w_in", "w.w_out", "w.w_rec"]
    # "s" names the spikes only, not "steps" or the saturation counters
    assert list(select_keys(addrs, ["s"])) == ["s"]
    assert all(k.startswith("sat_") for k in select_keys(addrs, ["sat_"]))
    assert len(select_keys(addrs, ["sat_"])) > 0


def test_serial_link_through_a_pty():
    """pyserial's Serial on a pty's slave path (the class that opens /dev/ttyUSB1)."""
    from fptt.board.serial_link import SerialLink
    from fptt.board.driver import run_sync
    master, slave = os.openpty()
    try:
        link = SerialLink(os.ttyname(slave), 3_000_000)
        run_sync(link.send(bytes(range(256))))
        got = b""
        while len(got) < 256:
            got += os.read(master, 4096)
        assert got == bytes(range(256))            # raw: no echo, no CR/LF mapping
        os.write(master, b"\xa5\x0d\x0a\x00")
        assert run_sync(link.recv(1.0)) == b"\xa5\x0d\x0a\x00"
        t0 = time.time()
        assert run_sync(link.recv(0.05)) == b""
        assert 0.04 < time.time() - t0 < 1.0
        link.close()
    finally:
        os.close(master)
        os.close(slave)


def test_serial_link_through_a_socket_url():
    from fptt.board.serial_link import SerialLink
    from fptt.board.driver import run_sync
    server = socket.create_server(("127.0.0.1", 0))
    link = SerialLink(f"socket://127.0.0.1:{server.getsockname()[1]}")
    conn, _ = server.accept()
    try:
        run_sync(link.send(b"\x01\x02\x03"))
        assert conn.recv(16) == b"\x01\x02\x03"
        conn.sendall(bytes(range(200)))
        got = b""
        while len(got) < 200:
            got += run_sync(link.recv(1.0))
        assert got == bytes(range(200))
    finally:
        link.close()
        conn.close()
        server.close()


def test_serial_link_open_error():
    from fptt.board.serial_link import SerialLink
    with pytest.raises(OSError, match=r"cannot open serial port '/nonexistent/ttyUSB9': "):
        SerialLink("/nonexistent/ttyUSB9")


def test_open_board_refuses_the_learning_rule_options():
    """A configuration with one of the golden models' rule options does not describe the
    board's core: refused before the port is opened, naming the option."""
    from fptt.board.model import open_board
    from fptt.config import CoreConfig
    cfg = CoreConfig.load(None, ['fptt.readout="trace"'])
    with pytest.raises(ValueError, match=r"^fptt\.readout = 'trace': the learning rule's "
                                         r"options are in the golden models only"):
        open_board("/nonexistent/ttyUSB9", cfg)


def _identity_port(cfg, **wrong):
    """INFO, then the ID .. LANES registers with ``wrong`` values in place."""
    from fptt.board.serial_link import SerialLink
    regs = {"ID": ID_VALUE, "VERSION": 1, "N_IN": cfg.n_in, "N_HIDDEN": cfg.n_hidden,
            "N_OUT": cfg.n_out, "WINDOW_MAX": cfg.window_max, "LANES": cfg.lanes}
    regs.update(wrong)
    words = [regs[n] for n in sorted(regs, key=REG_INDEX.get)]
    payload = b"".join(w.to_bytes(4, "little") for w in words) + b"\x00"
    return SerialLink(FakePort([encode(Cmd.INFO, 1, info_payload(geometry(cfg), 9)),
                             encode(Cmd.READ, 10, payload)]))


def test_open_board_checks_identity():
    from fptt.board.model import open_board
    board = open_board(_identity_port(CFG), CFG)
    assert board.seq == 10 and board.retried == {}
    with pytest.raises(ValueError, match=r"^the core does not match the configuration: "
                                         r"N_HIDDEN = 16 \(config: 8\), LANES = 2 \(config: 1\)$"):
        open_board(_identity_port(CFG, N_HIDDEN=16, LANES=2), CFG)
    with pytest.raises(ValueError, match=r"ID = 0 \(config: "):
        open_board(_identity_port(CFG, ID=0), CFG)


def test_board_learner_refusals():
    from fptt.board.model import BoardLearner
    w = [{}]
    with pytest.raises(ValueError, match=r"^the board model needs a serial port \(fptt train "
                                         r"--port, train\(\.\.\., board=PORT\)\)$"):
        BoardLearner(CFG, w, TrainSettings(), None)
    with pytest.raises(ValueError, match=r"^the board model trains one core: seeds must be 1, "
                                         r"not 2$"):
        BoardLearner(CFG, w * 2, TrainSettings(seeds=2), "/dev/null")
    for learn in ("readout", "hidden"):
        with pytest.raises(ValueError, match=rf"^learn='{learn}' needs frozen parameters, which "
                                             r"the core does not have: use the golden models "
                                             r"fixed and twin$"):
            BoardLearner(CFG, w, TrainSettings(learn=learn), "/dev/null")


def _fptt(*argv, timeout=60):
    return subprocess.run([sys.executable, "-m", "fptt.cli", *argv], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "board"],
     "fptt train: error: --model board needs --port (the board's serial port)"),
    (["train", "--port", "/dev/ttyUSB1"],
     "fptt train: error: --port and --baud are for --model board, not fixed"),
    (["train", "--model", "board", "--port", "/nonexistent/ttyUSB9"],
     "fptt train: error: cannot open serial port '/nonexistent/ttyUSB9': "),
    (["cosim", "--serve"], "fptt cosim: error: --serve is for --link uart"),
    (["cosim", "--tcp-port", "7000"], "fptt cosim: error: --tcp-port is for --link uart"),
    (["cosim", "--link", "uart", "--tcp-port", "7000"],
     "fptt cosim: error: --tcp-port is for --serial socket"),
    (["cosim", "--link", "uart", "--task", "random"],
     "fptt cosim: error: --link uart runs the cue task on Verilator; --task random is for "
     "--link core"),
    (["cosim", "--link", "uart", "--waves"],
     "fptt cosim: error: --link uart runs the cue task on Verilator; --waves is for "
     "--link core"),
])
def test_cli_errors(argv, message):
    r = _fptt(*argv, "--n-train", "2", "--n-test", "2") if argv[0] == "train" else _fptt(*argv)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_sim_timeouts():
    from fptt.board.serial_link import sim_timeouts
    t = sim_timeouts(CFG)
    # 300 characters of 80 cycles and 40 * 8 * 18 * 8 busy cycles, at 20,000 cycles/s
    assert t == {"timeout": (24_000 + 46_080) / 20_000, "quiet": 0.1024}
    big = sim_timeouts(CFG.replace(n_hidden=64, window_max=64))
    assert big["timeout"] > 100 and big["quiet"] == t["quiet"]


# ---------------------------------------------------------------------- on Verilator

FAULTS = dict(tx_faults={100: 0x10, 250: DROP}, rx_faults={60: 0x02, 200: DROP})
RETRIED = {"CRC": 1, "TIMEOUT": 1, "crc": 1, "timeout": 1}


@needs_verilator
def test_uart_cosim_through_a_pty():
    """The board top on Verilator behind a pty, the driver here through pyserial: the
    network loaded, 70 learning steps bit-exact with the golden model with a corrupted and
    a dropped byte in frame requests and in replies (each frame run once: the scoreboard
    counts every step), every memory read back and compared."""
    from fptt.sim.serial_port import run_uart_cosim
    r = run_uart_cosim(CFG, 40, kind="pty", **FAULTS)
    assert r["url"].startswith("/dev/pts/")
    assert r["steps"] == 70 and r["windows"] == 18
    assert r["retried"] == RETRIED
    assert r["words_read"] == 892
    # 70 steps of UART bytes at 80 cycles each, and the core's work: a few thousand
    # cycles a step on this small core (simulated time stands while the host thinks)
    geo = geometry(CFG)
    assert 80 * (geo.in_bytes + geo.out_bytes + 10) < r["step_cycles"] / 70 < 10_000


@pytest.mark.slow
@needs_verilator
def test_uart_cosim_through_a_socket_300_steps():
    from fptt.sim.serial_port import run_uart_cosim
    r = run_uart_cosim(CFG, 300, kind="socket",
                       tx_faults={1000: 0x01, 3000: DROP}, rx_faults={500: 0x80, 2000: DROP})
    print(json.dumps(r, indent=1, default=str))
    assert r["url"].startswith("socket://127.0.0.1:")
    assert r["steps"] >= 300 and r["retried"] == RETRIED


@pytest.mark.slow
@needs_verilator
def test_train_on_the_served_board_equals_fixed(tmp_path):
    """``fptt cosim --link uart --serve`` then ``fptt train --model board --port URL``: the
    same metrics as ``--model fixed``, and the same checkpoint arrays."""
    import numpy as np
    sets = [f"--set={k}={v}" for k, v in (("n_hidden", 8), ("window_max", 8), ("window", 4),
                                           ("lanes", 1), ("rounding", "nearest"),
                                           ("fptt.alpha", 0.5), ("fptt.lr", 2.0 ** -6))]
    server = subprocess.Popen([sys.executable, "-m", "fptt.cli", "cosim", "--link", "uart",
                               "--serve", "--serial", "socket", *sets],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in server.stdout:
            m = re.match(r"serving the simulated board on (\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url and url.startswith("socket://")
        common = ["train", "--task", "cue", "--n-train", "3", "--n-test", "2", "--epochs", "2",
                  "--quiet", *sets]
        t0 = time.time()
        board = _fptt(*common, "--model", "board", "--port", url, "--json",
                      str(tmp_path / "board.json"), "--checkpoint", str(tmp_path / "board.npz"),
                      timeout=1200)
        print(f"board: {time.time() - t0:.1f} s", board.stdout, board.stderr)
        assert board.returncode == 0, board.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(120)
    fixed = _fptt(*common, "--model", "fixed", "--json", str(tmp_path / "fixed.json"),
                  "--checkpoint", str(tmp_path / "fixed.npz"))
    assert fixed.returncode == 0, fixed.stderr

    def epochs(name):
        doc = json.loads((tmp_path / name).read_text())
        return [{k: v for k, v in r.items() if k != "seconds"} for r in doc["epochs"]]
    assert epochs("board.json") == epochs("fixed.json")
    a, b = np.load(tmp_path / "fixed.npz"), np.load(tmp_path / "board.npz")
    keys = [k for k in a.files if f"train.{k}" in b.files]
    assert len(keys) > 40
    assert [k for k in keys if not np.array_equal(a[k], b[f"train.{k}"])] == []


@pytest.mark.slow
@needs_verilator
def test_board_core_host_view_equals_fixed_core(tmp_path):
    """BoardCore on the simulated board (pty) against FixedCore: a sequence learning, one
    with learning off, single steps, the counters, the weights, and checkpoints that each
    reads from the other."""
    import numpy as np

    from fptt.board.model import BoardCore, open_board
    from fptt.golden.fixed_core import FixedCore
    from fptt.golden.weights import init_weights
    from fptt.sim.serial_port import BoardServer
    from fptt.tasks.cue import make_cue_task
    seq = make_cue_task(CFG, seed=3, preset="short", n_train=2, n_test=1).train_set()[0]
    w = init_weights(CFG, 5, 3.0, 0.5, 0.5)
    gold = FixedCore(CFG, w)
    with BoardServer(CFG, "pty") as server:
        core = BoardCore(open_board(server.url, CFG), CFG, w)
        # without a target the core still computes (and counts, writes_delta) the output
        # error, with has_target low: FixedCore does so given zero targets, has_target False
        # (given target=None it skips the error: one profile counter would differ)
        zeros, off = np.zeros_like(seq.target), np.zeros(len(seq.x), bool)
        for c in (gold, core):
            c.out = [c.run_sequence(seq.x, seq.target, seq.has_target),
                     c.run_sequence(seq.x, zeros, off, learn=False),
                     c.step(seq.x[0], seq.target[0], True, sos=True),
                     c.step(seq.x[1], zeros[1], False, eos=True, learn=False)]
        assert np.array_equal(core.run_sequence(seq.x[:3], learn=False),
                              gold.run_sequence(seq.x[:3], learn=False))
        for a, b in zip(gold.out, core.out):
            assert np.array_equal(a, b)
        n = 2 * len(seq.x) + 2 + 3
        assert core.counters()["STEPS"] == n and core.counters()["WINDOWS"] > 0
        assert all(np.array_equal(core.weights()[m], gold.weights()[m]) for m in CFG.params)
        core.save(tmp_path / "board.npz")
        loaded = FixedCore.load(tmp_path / "board.npz")
        ga, la = gold.state.arrays(), loaded.state.arrays()
        assert sorted(ga) == sorted(la)
        # the 3 steps without a target: 3 output errors (of 2 units) counted on the board only
        assert la["writes_delta"] - ga["writes_delta"] == 3 * CFG.n_out
        assert [k for k in ga if not np.array_equal(ga[k], la[k])] == ["writes_delta"]
        # the other way: a golden checkpoint restored into the board
        gold.run_sequence(seq.x, seq.target, seq.has_target)
        gold.save(tmp_path / "gold.npz")
        core.restore(tmp_path / "gold.npz")
        ga, ba = gold.state.arrays(), core.state.arrays()
        assert [k for k in ga if not np.array_equal(ga[k], ba[k])] == []
    assert server.result["bytes_in"] > 0


def test_board_core_refuses_nan_before_sending():
    """NaN inputs are refused with FixedCore's message, before a byte goes out."""
    import numpy as np

    from fptt.board.model import BoardCore
    core = BoardCore(board=None, cfg=CFG)       # never reached: the check comes first
    x = np.zeros((3, CFG.n_in))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"^input x holds nan \(NaN or infinite inputs have "
                                         r"no fixed-point code\)$"):
        core.run_sequence(x)
    with pytest.raises(ValueError, match=r"^input target holds inf "):
        core.step(np.zeros(CFG.n_in), np.full(CFG.n_out, np.inf))


@pytest.mark.slow
@needs_verilator
def test_board_training_checkpoint_resumes(tmp_path):
    """train(..., "board") stopped after one sequence and resumed from its checkpoint on
    the simulated board ends as an uninterrupted golden run."""
    from fptt.sim.serial_port import BoardServer
    from fptt.tasks.cue import make_cue_task
    from fptt.train import TrainingInterrupted, train
    task = make_cue_task(CFG, seed=0, preset="short", n_train=2, n_test=1)
    st = TrainSettings(epochs=1, seed=0)
    ref = train(CFG, task, "fixed", st, eval_train=1)
    ck = tmp_path / "board.npz"
    with BoardServer(CFG, "socket", serve=True) as server:     # two host sessions
        with pytest.raises(TrainingInterrupted):
            train(CFG, task, "board", st, eval_train=1, board=server.url, checkpoint=ck,
                  stop_after=lambda epoch, done: done == 1)
        got = train(CFG, task, "board", st, eval_train=1, board=server.url, resume=ck)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(got) == strip(ref)


def _read_until(port, n, timeout=2.0):
    got, t0 = b"", time.time()
    while len(got) < n and time.time() - t0 < timeout:
        got += port.read()
        time.sleep(0.001)
    return got


def test_virtual_ports_carry_bytes_both_ways():
    """The simulator's ends (no simulator here): a pty whose slave pyserial opens, and a
    TCP port where a new host replaces the previous one and a host leaving ends it."""
    from fptt.board.driver import run_sync
    from fptt.board.serial_link import SerialLink
    from fptt.sim.serial_port import PtyPort, SocketPort
    pty = PtyPort()
    try:
        assert pty.url.startswith("/dev/pts/") and pty.read() == b""
        host = SerialLink(pty.url)
        run_sync(host.send(b"\xa5\x0a\x0d\x11\x13"))        # raw both ways (no XON/XOFF)
        assert _read_until(pty, 5) == b"\xa5\x0a\x0d\x11\x13"
        pty.write(bytes(range(256)))
        got = b""
        while len(got) < 256:
            got += run_sync(host.recv(1.0))
        assert got == bytes(range(256))
        host.close()
        assert not pty.ended                                # a pty outlives its hosts
    finally:
        pty.close()
    sock = SocketPort()
    try:
        first = SerialLink(sock.url)
        run_sync(first.send(b"one"))
        assert _read_until(sock, 3) == b"one"
        second = SerialLink(sock.url)                       # the first never closed
        run_sync(second.send(b"two"))
        assert _read_until(sock, 3) == b"two"
        sock.write(b"back")
        assert run_sync(second.recv(1.0)) == b"back"
        second.close()
        _read_until(sock, 1, timeout=0.5)
        assert sock.ended
        first.close()
    finally:
        sock.close()
