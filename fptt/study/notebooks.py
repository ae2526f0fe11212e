"""Re-execute the study notebooks in place (``make notebooks``).

``python -m fptt.study.notebooks [NOTEBOOK ...]`` runs each notebook (default:
``notebooks/*.ipynb``) top to bottom with nbclient in its own folder and
writes it back with its new outputs. The kernel inherits the environment:
``FPTT_DATA_DIR`` (MNIST), ``FAST``, ``FPTT_REUSE_RESULTS``, ``FPTT_RESULTS_DIR``.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

__all__ = ["execute", "main"]

ROOT = Path(__file__).resolve().parents[2]


def execute(path, out=None, timeout: int = 7200, kernel: str = "python3"):
    """Execute notebook ``path``; write it to ``out`` (default: in place). Returns the notebook."""
    import nbclient
    import nbformat
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, Path(out) if out else path)
    return nb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fptt.study.notebooks", description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*")
    p.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    args = p.parse_args(argv)
    paths = args.notebooks or sorted(glob.glob(str(ROOT / "notebooks" / "*.ipynb")))
    if not paths:
        print("no notebooks/*.ipynb", file=sys.stderr)
        return 1
    for nb in paths:
        t0 = time.time()
        print(f"executing {nb} ...", flush=True)
        execute(nb, timeout=args.timeout)
        print(f"  done in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
