"""Build and run the cocotb benches through cocotb's Python runner, with cached builds.

:func:`build` generates the Verilog of a bench's design from a
:class:`~fptt.config.CoreConfig` and compiles it with Verilator (default) or
Icarus Verilog into ``build/sim/<sim>/<design>-<hash>/``. The hash covers
everything the simulator binary depends on: the generated HDL, the top level
in ``sim/hdl/`` and its parameters, waveform tracing, the build flags and the
tool and cocotb versions. An index keyed by the configuration and the
generator's sources (``rtl/``, ``golden/``, ``fptt/config.py``) finds a build
without regenerating the Verilog. A finished build leaves ``build.json``; a
later run reuses it without calling the compiler. Builds take a file lock, so
parallel pytest workers (pytest-xdist) never build the same directory twice or
read a half-written one. Verilator's run-time library (``verilated*.o``) is
compiled once and shared by every build (``build/sim/verilator/_runtime-*``).

:func:`run` runs one bench (a cocotb test of :mod:`fptt.sim.cocotb_tests` or
:mod:`fptt.sim.cocotb_host`) on a build. Its parameters travel as a JSON file
(``FPTT_COSIM_PARAMS``) and its results come back the same way (``result.json``
in the run directory).

Designs
-------
``core``
    ``fptt_core`` (:func:`fptt.rtl.verilog.generate`) under the top level
    ``sim/hdl/fptt_tb.sv``, which makes the clock in HDL (Verilator builds with
    ``--timing``), so the simulator runs whole phases of the core between
    Python callbacks.
``neuron``, ``regulariser``
    One :class:`~fptt.rtl.neuron.NeuronUnit` / :class:`~fptt.rtl.regulariser.RegulariserUnit`
    converted alone (``amaranth.back.verilog.convert``); cocotb drives its clock.

Verilator flags: the waivers of :data:`fptt.rtl.verilog.VERILATOR_WAIVERS`
that the build needs (``WIDTH``, ``CASEINCOMPLETE``; lint uses ``-Wall``, the
build does not), ``--timing`` and ``--timescale 1ns/1ps`` for the HDL clock,
and C++ at ``-O1`` (faster to compile than Verilator's default ``-Os`` and,
for this design, about twice as fast to run). cocotb's runner passes
``--public-flat-rw``, which makes every signal of the design visible to VPI
and slows the model about five-fold; :class:`_Verilator` drops it and a
control file makes only the top level's ports public. Waveforms: FST
(``--trace-fst``) with Verilator, VCD with Icarus (``$dumpvars`` in the top
level, file named by ``+fptt_waves=``). Icarus compiles with ``-g2005`` (see
:func:`_compile`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import CoreConfig
from . import compat

__all__ = ["SIMULATORS", "DESIGNS", "Build", "build", "run", "demo_params", "RunError", "build_root",
           "core_widths"]

SIMULATORS = ("verilator", "icarus")
DESIGNS = ("core", "neuron", "regulariser")
#: The modules of cocotb benches (the parameter file selects one bench of them).
TEST_MODULES = ("fptt.sim.cocotb_tests", "fptt.sim.cocotb_host")
PARAMS_ENV = "FPTT_COSIM_PARAMS"

_SIM_DIR = Path(__file__).resolve().parent
_HDL_DIR = _SIM_DIR / "hdl"
_REPO = _SIM_DIR.parent
_TOPS = {"core": "fptt_tb", "neuron": "neuron_unit", "regulariser": "regulariser_unit"}
_VERILATOR_WARN = ("-Wno-WIDTH", "-Wno-CASEINCOMPLETE")
_VERILATOR_OPT = ("OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")
_run_counter = itertools.count()


class RunError(RuntimeError):
    """A bench failed: the message is the bench's own error (mismatch) or the log's tail."""


def build_root() -> Path:
    """``$FPTT_SIM_BUILD_DIR``, else ``build/sim`` of the source tree (of the working
    directory for an installed, non-editable package)."""
    env = os.environ.get("FPTT_SIM_BUILD_DIR")
    if env:
        return Path(env)
    base = _REPO if (_REPO / "pyproject.toml").is_file() else Path.cwd()
    return base / "build" / "sim"


def core_widths(cfg: CoreConfig) -> dict[str, int]:
    """Parameters of the top level: payload widths of the two streams."""
    from ..rtl.host import frame_layout, out_layout
    return {"IN_W": frame_layout(cfg).size, "OUT_W": out_layout(cfg).size}


# ----------------------------------------------------------------------------- hashing
def _digest_files(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: (q.parent.name, q.name)):
        h.update(f"{p.parent.name}/{p.name}".encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _generator_sources():
    """The files the generated HDL depends on: ``fptt.rtl``, ``fptt.golden``, the config."""
    from .. import config, golden, rtl
    files = [Path(config.__file__)] + list(_HDL_DIR.glob("*"))
    for pkg in (rtl, golden):
        files += list(Path(pkg.__file__).parent.glob("*.py"))
    return [f for f in files if f.is_file()]


def _tool_version(sim: str) -> str:
    exe = {"verilator": "verilator", "icarus": "iverilog"}[sim]
    if shutil.which(exe) is None:
        raise RunError(f"{exe} is not on PATH (make sysdeps installs it)")
    arg = "--version" if sim == "verilator" else "-V"
    out = subprocess.run([exe, arg], capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else exe


def _build_key(design: str, cfg: CoreConfig, sim: str, waves: bool) -> dict:
    """Everything the simulator binary depends on, before generating the Verilog."""
    import amaranth
    return {
        "design": design, "sim": sim, "waves": bool(waves and sim == "verilator"),
        "config": cfg.to_toml(), "sources": _digest_files(_generator_sources()),
        "tool": _tool_version(sim), "cocotb": compat.cocotb.__version__,
        "amaranth": amaranth.__version__,
        "flags": list(_VERILATOR_WARN + _VERILATOR_OPT) if sim == "verilator" else ["-g2005"],
    }


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- Verilator
#: Objects of Verilator's run-time library: they depend only on Verilator, the
#: C++ flags and tracing, so one compile serves every build (cocotb's own
#: ``verilator.o`` includes the model's header and is compiled per build).
_RUNTIME_OBJS = ("verilated", "verilated_vpi", "verilated_timing", "verilated_threads",
                 "verilated_dpi", "verilated_fst_c", "verilated_vcd_c")


def _runtime_dir(waves: bool) -> Path:
    key = {"tool": _tool_version("verilator"), "flags": list(_VERILATOR_OPT), "waves": waves,
           "cocotb": compat.cocotb.__version__}
    return build_root() / "verilator" / f"_runtime-{_hash(key)}"


def runtime_cache(action: str, bdir: str, cache: str) -> None:
    """Copy the run-time library objects from (``restore``) or to (``save``) the shared cache."""
    bdir, cache = Path(bdir), Path(cache)
    src, dst = (cache, bdir) if action == "restore" else (bdir, cache)
    if action == "save":
        cache.mkdir(parents=True, exist_ok=True)
    for name in _RUNTIME_OBJS:
        for ext in (".o", ".d"):
            f = src / f"{name}{ext}"
            if not f.is_file() or (action == "save" and (dst / f.name).is_file()):
                continue
            tmp = dst / f".{f.name}.{os.getpid()}.tmp"
            shutil.copyfile(f, tmp)          # a fresh mtime: make sees it as up to date
            tmp.replace(dst / f.name)


def _verilator_class():
    base = compat.verilator_runner_class()

    class _Verilator(base):
        """cocotb's Verilator runner without ``--public-flat-rw``, with ``-O1`` C++ and a
        shared, compiled-once Verilator run-time library."""

        def _build_command(self):
            cmds = [list(c) for c in super()._build_command()]
            out = []
            cache = str(_runtime_dir(bool(self.waves)))
            hook = [sys.executable, "-c",
                    "import sys; from fptt.sim.runner import runtime_cache; "
                    "runtime_cache(*sys.argv[1:])"]
            for cmd in cmds:
                if cmd and cmd[0] == "make":
                    out.append(hook + ["restore", str(self.build_dir), cache])
                    out.append(cmd + list(_VERILATOR_OPT))
                    out.append(hook + ["save", str(self.build_dir), cache])
                else:
                    while "--public-flat-rw" in cmd:
                        cmd.remove("--public-flat-rw")
                    out.append(cmd)
            return out

    return _Verilator


def _runner(sim: str):
    if sim == "verilator":
        return _verilator_class()()
    return compat.get_runner(sim)


# ----------------------------------------------------------------------------- build
@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Build:
    """A finished (cached) build of one design for one configuration and simulator."""

    design: str
    sim: str
    cfg: CoreConfig
    dir: Path
    top: str
    waves: bool
    seconds: float          # compile time (0 when reused from the cache)
    cached: bool

    @property
    def key(self) -> str:
        return self.dir.name


def _unit_verilog(design: str, cfg: CoreConfig) -> str:
    from amaranth.back import verilog
    if design == "neuron":
        from ..rtl.neuron import NeuronUnit
        unit = NeuronUnit(cfg)
    else:
        from ..rtl.regulariser import RegulariserUnit
        unit = RegulariserUnit(cfg)
    return verilog.convert(unit, name=_TOPS[design], emit_src=False)


def build(cfg: CoreConfig, sim: str = "verilator", design: str = "core", waves: bool = False,
          quiet: bool = True) -> Build:
    """Generate and compile ``design`` for ``cfg``, or reuse the cached build.

    Two levels of cache: the key of the generator's inputs (configuration,
    ``rtl/``/``golden/`` sources, tools) points at a build directory named by
    the hash of the generated HDL itself, so an edit of the Python that leaves
    the Verilog unchanged costs one generation, not a compile.
    """
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")
    key = _build_key(design, cfg, sim, waves)
    root = build_root() / sim
    index = root / "index" / _hash(key)
    top = _TOPS[design]
    tracing = key["waves"]

    def done(bdir, seconds, cached):
        return Build(design, sim, cfg, bdir, top, tracing, seconds, cached)

    if index.is_file():
        bdir = root / index.read_text().strip()
        if (bdir / "build.json").is_file():
            return done(bdir, 0.0, True)
    # generate the HDL; the build directory is named by its hash
    if design == "core":
        from ..rtl.verilog import generate
        text, vname = generate(cfg), "fptt_core.v"
        parameters = core_widths(cfg)
        extra = [_HDL_DIR / "fptt_tb.sv"]
    else:
        text, vname = _unit_verilog(design, cfg), f"{top}.v"
        parameters, extra = {}, []
    hdl_key = dict(key, sources=None, hdl=hashlib.sha256(text.encode()).hexdigest(),
                   extra=_digest_files(extra) if extra else None, parameters=parameters)
    bdir = root / f"{design}-{_hash(hdl_key)}"
    stamp = bdir / "build.json"
    seconds, cached = 0.0, True
    with _locked(root / ".locks" / f"{bdir.name}.lock"):
        if not stamp.is_file():
            cached = False
            if bdir.exists():
                shutil.rmtree(bdir)
            bdir.mkdir(parents=True)
            t0 = time.time()
            vfile = bdir / vname
            vfile.write_text(text)
            (bdir / "config.toml").write_text(cfg.to_toml())
            _compile(sim, top, [vfile, *extra], bdir, parameters, tracing, quiet)
            seconds = time.time() - t0
            stamp.write_text(json.dumps({"key": hdl_key, "seconds": round(seconds, 1)},
                                        indent=1))
    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = index.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(bdir.name + "\n")
    tmp.replace(index)
    return done(bdir, seconds, cached)


def _compile(sim, top, sources, bdir: Path, parameters, tracing, quiet) -> None:
    runner = _runner(sim)
    kw = dict(sources=[str(s) for s in sources], hdl_toplevel=top, build_dir=str(bdir),
              parameters=parameters, log_file=str(bdir / "build.log") if quiet else None)
    if sim == "verilator":
        vlt = bdir / "public.vlt"
        vlt.write_text("`verilator_config\n"
                       f'public_flat_rw -module "{top}" -var "*"\n')
        args = ["--timing", "--timescale", "1ns/1ps", *_VERILATOR_WARN, str(vlt)]
        if tracing:
            args += ["--trace-fst"]
        kw.update(build_args=args, waves=tracing)
    else:
        # cocotb's runner compiles with -g2012, where Icarus applies declaration
        # initialisers before time 0; the `always @*` blocks of Yosys-written
        # Verilog then never run until an input changes (X everywhere). In
        # Verilog-2005 mode the initialisers are time-0 events, as Yosys expects.
        kw.update(timescale=("1ns", "1ps"), build_args=["-g2005"])
    try:
        runner.build(**kw)
    except (SystemExit, Exception) as exc:  # the runner exits on a failed command
        log = bdir / "build.log"
        tail = log.read_text()[-3000:] if log.is_file() else ""
        raise RunError(f"{sim} build of {top} failed ({exc}); {log}:\n{tail}") from None


# ----------------------------------------------------------------------------- run
def _run_dir(bench: str, b: Build) -> Path:
    name = f"{bench}-{b.sim}-{b.key}-{os.getpid()}-{next(_run_counter)}-{int(time.time())}"
    return build_root() / "runs" / name


def demo_params(steps: int, seed: int, checkpoint_every: int = 0, task: str = "cue") -> dict:
    """``params`` of the ``core`` bench for ``steps`` steps of a task (``fptt cosim``).

    ``task``: ``"cue"`` (the demo preset of the cue task) or ``"random"``
    (:func:`fptt.sim.stimulus.random_frames`: any sizes, random flags and
    WINDOW changes). Weights and target schedule are those of
    :class:`fptt.train.TrainSettings` with ``seed``; ``checkpoint_every``
    steps a full memory read-back (0: only at the end).
    """
    from ..train import TrainSettings
    if task not in ("cue", "random"):
        raise ValueError(f"unknown co-simulation task {task!r}; choose cue or random")
    s = TrainSettings(seed=seed)
    return {"steps": steps, "seed": seed, "task": "demo" if task == "cue" else task,
            "schedule": s.schedule,
            "checkpoint_every": checkpoint_every,
            "weights": {"seed": seed, "gain_in": s.gain_in, "gain_rec": s.gain_rec,
                        "gain_out": s.gain_out}}


def run(b: Build, bench: str, params: dict | None = None, test_dir=None, waves: bool = False,
        quiet: bool = True) -> dict:
    """Run cocotb bench ``bench`` on build ``b``; returns the bench's result dict.

    ``params`` (JSON-serialisable) reach the bench; the configuration is the
    build's. With ``waves`` the run records a waveform (``waves.fst`` with
    Verilator, which needs a build with ``waves=True``; ``waves.vcd`` with
    Icarus) in the run directory. Raises :class:`RunError` when the bench
    fails; the message is the first mismatch (step, quantity, address,
    expected, actual, waveform path) or the simulator log's tail.
    """
    test_dir = Path(test_dir) if test_dir is not None else _run_dir(bench, b)
    test_dir.mkdir(parents=True, exist_ok=True)
    result_path = test_dir / "result.json"
    with contextlib.suppress(FileNotFoundError):
        result_path.unlink()
    wave_path = None
    test_args, plusargs = [], []
    if waves:
        if b.sim == "verilator":
            if not b.waves:
                raise ValueError("waves with Verilator need a build with waves=True")
            wave_path = test_dir / "waves.fst"
            test_args = ["--trace-file", str(wave_path)]
        else:
            wave_path = test_dir / "waves.vcd"
            plusargs = [f"+fptt_waves={wave_path}"]
    p = dict(params or {})
    p.update(bench=bench, config_toml=b.cfg.to_toml(), result_path=str(result_path),
             waves=str(wave_path) if wave_path else None, sim=b.sim)
    params_path = test_dir / "params.json"
    params_path.write_text(json.dumps(p, indent=1))
    log = test_dir / "sim.log"
    runner = _runner(b.sim)
    kw = dict(test_module=list(TEST_MODULES), hdl_toplevel=b.top, hdl_toplevel_lang="verilog",
              build_dir=str(b.dir),
              test_dir=str(test_dir), extra_env={PARAMS_ENV: str(params_path)},
              waves=bool(waves and b.sim == "verilator"), test_args=test_args, plusargs=plusargs,
              log_file=str(log) if quiet else None)
    if b.sim == "icarus":
        kw["timescale"] = ("1ns", "1ps")
    t0 = time.time()
    failure = None
    try:
        runner.test(**kw)
    except (SystemExit, Exception) as exc:  # failed cocotb test or simulator crash
        failure = exc
    wall = time.time() - t0
    result = json.loads(result_path.read_text()) if result_path.is_file() else None
    if result is None or not result.get("ok") or failure is not None:
        msg = (result or {}).get("error")
        if not msg:
            tail = log.read_text()[-4000:] if log.is_file() else ""
            msg = f"bench {bench} failed ({failure}); log {log}:\n{tail}"
        raise RunError(msg)
    result.update(run_dir=str(test_dir), wall_seconds=round(wall, 2), log=str(log),
                  waves=str(wave_path) if wave_path else None)
    return result

