"""Compiled golden models: the fixed-point specification and the float twin under numba.

:class:`CompiledFixedCore` is bit for bit :class:`~fptt.golden.fixed_core.FixedCore`
(every state array, the saturation counters, the readouts, the checkpoints) and
:class:`CompiledTwin` is :class:`~fptt.golden.twin.FloatTwin` to a few ulp; both
run a whole sequence (or a list of them) inside one compiled call. The NumPy
modules stay the readable specification; ``tests/test_compiled.py`` holds the
two to each other on random configurations.

Compilation is cached on disk (``numba`` ``cache=True``): the first run of a new
checkout compiles for some seconds, later runs start at once.

``make_core(kind, cfg, weights, batch=None, engine="compiled")`` picks an
implementation; without numba it falls back to the specification with a one-line
notice on stderr.
"""

from __future__ import annotations

import sys

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:     # pragma: no cover - numba is a dependency
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "ENGINES", "KINDS", "make_core", "CompiledFixedCore", "CompiledTwin",
           "infer_codes", "infer_twin"]

ENGINES = ("compiled", "spec")
KINDS = ("fixed", "twin")

if HAVE_NUMBA:
    from .fixed import CompiledFixedCore, infer_codes
    from .twin import CompiledTwin, infer_twin


def make_core(kind: str, cfg, weights: dict, batch: int | None = None, engine: str = "compiled",
              frozen: tuple = ()):
    """A ``kind`` core (``"fixed"`` or ``"twin"``) on ``engine`` (``"compiled"`` or ``"spec"``).

    ``engine="compiled"`` without numba gives the spec class and says so on stderr.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown core kind {kind!r}; known: {', '.join(KINDS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine == "compiled" and not HAVE_NUMBA:
        print("fptt: numba is not installed; running the NumPy specification (slow)",
              file=sys.stderr)
        engine = "spec"
    if engine == "compiled":
        cls = CompiledFixedCore if kind == "fixed" else CompiledTwin
    elif kind == "fixed":
        from ..fixed_core import FixedCore as cls
    else:
        from ..twin import FloatTwin as cls
    return cls(cfg, weights, batch, frozen=frozen)
