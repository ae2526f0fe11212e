"""cocotb co-simulation harness for the FPTT RTL."""
