"""The study notebooks execute end to end in FAST mode (into a temporary copy) and draw figures."""

import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("fixed_vs_float.ipynb", "fptt_vs_bptt.ipynb")


def _execute(path: Path, env: dict) -> "nbformat.NotebookNode":
    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _figures(nb) -> int:
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []) if "image/png" in out.get("data", {}))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_fast(name, tmp_path):
    src = ROOT / "notebooks" / name
    dst = tmp_path / name
    shutil.copy(src, dst)
    env = {"FAST": "1", "FPTT_RESULTS_DIR": str(tmp_path / "results"), "FPTT_REUSE_RESULTS": "0",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    nb = _execute(dst, env)
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    assert _figures(nb) >= 2, "the notebook drew no figures"
    assert any((tmp_path / "results").glob("*.csv")), "no results written"
    # the committed notebook is untouched
    assert nbformat.read(src, as_version=4).cells[0].source == nb.cells[0].source
