"""cocotb co-simulation of the generated Verilog against the golden model (``docs/cosim.md``).

``compat`` (cocotb 1.9 / 2.x), ``drivers`` (streams, host bus, watchdog),
``scoreboard`` (golden model in lockstep), ``stimulus`` (frames from tasks),
``cocotb_tests`` (the benches), ``runner`` (cached builds, runs), ``hdl/``
(the co-simulation top level).
"""
