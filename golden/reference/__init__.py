"""Float reference implementations (published FPTT, PyTorch)."""
