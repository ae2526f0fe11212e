"""Amaranth 0.5 RTL of the FPTT learning core."""
