"""The one compatibility module between cocotb 1.9 and cocotb 2.x.

Everything in :mod:`fptt.sim` that differs between the two versions goes
through here; nothing else checks a cocotb version.

=====================  ===========================  ==============================
what                   cocotb 1.9                   cocotb 2.x
=====================  ===========================  ==============================
Python runner          ``cocotb.runner``            ``cocotb_tools.runner``
time unit keyword      ``units=`` (Timer, Clock,    ``unit=``
                       get_sim_time)
signed / unsigned      ``value.signed_integer`` /   ``value.to_signed()`` /
value of a handle      ``value.integer``            ``value.to_unsigned()``
=====================  ===========================  ==============================

The runner classes (:data:`get_runner`, :data:`VerilatorRunner`) are imported
lazily, so that the cocotb test modules (which run inside the simulator) do
not pull in the runner.
"""

from __future__ import annotations

import inspect
import warnings

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time

__all__ = ["COCOTB_MAJOR", "runner_module", "get_runner", "verilator_runner_class", "clock",
           "start_clock", "timer", "sim_time", "to_signed", "to_unsigned", "UNIT_KW"]

#: Major version of the installed cocotb.
COCOTB_MAJOR = int(cocotb.__version__.split(".")[0])

#: Keyword that names a time unit (``Timer(1, units="ns")`` → ``Timer(1, unit="ns")``).
UNIT_KW = "units" if COCOTB_MAJOR < 2 else "unit"


def runner_module():
    """The module holding ``get_runner`` and the simulator runner classes."""
    if COCOTB_MAJOR < 2:
        with warnings.catch_warnings():   # 1.9: "runners are an experimental feature"
            warnings.simplefilter("ignore", UserWarning)
            import cocotb.runner as mod
    else:
        import cocotb_tools.runner as mod
    return mod


def get_runner(sim: str):
    """``get_runner(sim)`` of the installed cocotb."""
    return runner_module().get_runner(sim)


def verilator_runner_class():
    """The Verilator runner class (to subclass)."""
    return runner_module().Verilator


def clock(signal, period, unit: str = "ns") -> Clock:
    """A 50 % duty-cycle :class:`cocotb.clock.Clock` on ``signal``."""
    return Clock(signal, period, **{UNIT_KW: unit})


def start_clock(signal, period, unit: str = "ns") -> Clock:
    """Start a clock on ``signal`` (1.9: ``start_soon(Clock.start())``; 2.x: ``Clock.start()``)."""
    c = clock(signal, period, unit)
    started = c.start()
    if inspect.iscoroutine(started):
        cocotb.start_soon(started)
    return c


def timer(time, unit: str = "ns") -> Timer:
    """``Timer(time, unit)``."""
    return Timer(time, **{UNIT_KW: unit})


def sim_time(unit: str = "ns") -> float:
    """Current simulation time in ``unit``."""
    return get_sim_time(**{UNIT_KW: unit})


def to_unsigned(value) -> int:
    """Unsigned integer of a handle's ``.value`` (BinaryValue, LogicArray or Logic)."""
    if COCOTB_MAJOR < 2:
        return value.integer
    return value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)


def to_signed(value) -> int:
    """Two's-complement integer of a handle's ``.value``."""
    if COCOTB_MAJOR < 2:
        return value.signed_integer
    return value.to_signed()
