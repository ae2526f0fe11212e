"""cocotb co-simulation of the generated Verilog against the golden model (``docs/cosim.md``).

``compat`` (cocotb 1.9 / 2.x), ``drivers`` (streams, host bus, watchdog),
``scoreboard`` (golden model in lockstep), ``stimulus`` (frames from tasks),
``cocotb_tests`` (the benches), ``runner`` (cached builds, runs), ``hdl/``
(the co-simulation top level).
"""

__all__ = ["verilator_speed"]


def verilator_speed(cfg, steps: int = 200, seed: int = 1) -> float | None:
    """Verilator cycles per second of the whole core learning the demo task (``fptt bench``).

    Builds (or reuses the cached build of) the core for ``cfg`` and runs the
    lockstep co-simulation for ``steps`` steps; the figure includes the cocotb
    drivers. ``None`` when Verilator or cocotb is missing or the run fails.
    """
    import shutil
    if shutil.which("verilator") is None:
        return None
    try:
        from .runner import RunError, build, demo_params, run
    except ImportError:
        return None
    try:
        res = run(build(cfg, "verilator"), "core", demo_params(steps, seed))
    except RunError:
        return None
    return float(res["sim_cycles_per_s"])
