"""Shared plumbing of the study sweeps: FAST mode, sizes, results files, progress bars.

Every sweep writes its rows to ``notebooks/results/<name>.csv`` (and a JSON
sidecar with the sizes and configuration it ran with), so the notebooks can
redraw every figure without rerunning. ``FAST=1`` in the environment shrinks
every sweep to a smoke size (seconds); :func:`pick` chooses between the two.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["FAST", "is_fast", "pick", "results_dir", "write_csv", "read_csv", "write_json",
           "read_json", "progress", "Timer", "data_dir", "set_threads", "committed_results_dir"]

#: Environment variable that shrinks every sweep to smoke size.
FAST_ENV = "FAST"
#: Environment variable naming where results go (default ``notebooks/results``).
RESULTS_ENV = "FPTT_RESULTS_DIR"
#: Environment variable naming the MNIST directory.
DATA_ENV = "FPTT_DATA_DIR"

_ROOT = Path(__file__).resolve().parents[2]


def is_fast() -> bool:
    """True when ``FAST`` is set to anything but ``""``/``0``/``false``/``no``."""
    return os.environ.get(FAST_ENV, "").strip().lower() not in ("", "0", "false", "no")


FAST = is_fast()


def pick(full, fast):
    """``fast`` under ``FAST=1``, else ``full`` (read at call time)."""
    return fast if is_fast() else full


def results_dir(create: bool = True) -> Path:
    """``$FPTT_RESULTS_DIR``, else ``<repo>/notebooks/results`` (``.../results/fast`` under FAST), created."""
    default = _ROOT / "notebooks" / "results"
    if is_fast():
        default = default / "fast"
    path = Path(os.environ.get(RESULTS_ENV) or default)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def committed_results_dir() -> Path:
    """``<repo>/notebooks/results``, whatever ``FAST`` or ``$FPTT_RESULTS_DIR`` say: where the
    results of runs too long for a notebook (``benchmarks/long_sequences.py``) are committed."""
    return _ROOT / "notebooks" / "results"


def data_dir() -> Path | None:
    """The MNIST directory from ``$FPTT_DATA_DIR`` if it holds the t10k files, else None."""
    d = os.environ.get(DATA_ENV)
    if not d:
        return None
    p = Path(d).expanduser()
    names = [f.name for f in p.glob("t10k-*")] if p.is_dir() else []
    ok = any(n.startswith("t10k-images") for n in names) and \
        any(n.startswith("t10k-labels") for n in names)
    return p if ok else None


def _resolve(path) -> Path:
    path = Path(path)
    if not path.is_absolute() and path.parent == Path("."):
        path = results_dir() / path
    return path


def _cell(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    return v


def write_csv(rows: list[dict], path) -> Path:
    """Write ``rows`` (dicts) as CSV; columns are the union of keys in first-seen order.

    A bare file name goes to :func:`results_dir`. Returns the path written.
    """
    path = _resolve(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(r.get(k, "")) for k in cols})
    return path


def _parse(text: str):
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_csv(path) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv`, numbers parsed back (empty cells: None)."""
    with open(_resolve(path), newline="") as f:
        return [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(f)]


def write_json(obj, path) -> Path:
    path = _resolve(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=lambda o: _cell(o) if not isinstance(
        o, (set, tuple)) else list(o)) + "\n")
    return path


def read_json(path):
    return json.loads(_resolve(path).read_text())


def progress(iterable=None, desc: str = "", total: int | None = None, **kw):
    """A tqdm bar (plain text outside notebooks), or the iterable itself when tqdm is missing."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, mininterval=2.0, **kw)


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` afterwards."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        return False


def set_threads(n: int = 1) -> None:
    """Keep torch to ``n`` threads (the sweeps are small; the machine is shared)."""
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover
        pass


def mean_std(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and not (isinstance(x, float)
                                                                and math.isnan(x))], float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


@contextmanager
def quiet_numpy():
    with np.errstate(all="ignore"):
        yield
