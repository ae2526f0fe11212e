"""Golden model of the FPTT learning core (bit-exact fixed-point NumPy)."""
