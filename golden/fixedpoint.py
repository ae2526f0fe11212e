"""Fixed-point primitives of the golden model: alignment, rounding, saturation.

All quantities are integer codes in NumPy ``int64`` arrays; a code ``q`` of a
format with ``frac`` fractional bits stands for ``q·2**-frac``
(:class:`fptt.config.Fmt`). Every exact intermediate the model forms is an
integer with a known number of fractional bits; it reaches its destination
format by exactly one :func:`round_shift` followed by :func:`saturate`.

Rounding rules (dropping ``d`` fractional bits, ``d >= 1``)
-----------------------------------------------------------
``nearest``
    ``(q + 2**(d-1)) >> d``: round half up (towards +inf); ``>>`` is the
    arithmetic (flooring) shift of two's complement hardware.
``stochastic``
    ``(q + r_d) >> d`` with ``r_d`` a uniform random integer in ``[0, 2**d)``
    derived from a 16-bit draw ``r`` of the LFSR (:mod:`fptt.golden.lfsr`):
    ``r_d = r >> (16 - d)`` for ``d <= 16`` and ``r << (d - 16)`` otherwise.
    ``E[result] = q·2**-d`` up to ``2**-16`` LSB.

``d <= 0`` is an exact left shift; nothing is rounded.
"""

from __future__ import annotations

import numpy as np

from ..config import Fmt

__all__ = [
    "RANDOM_BITS",
    "align",
    "round_shift",
    "stochastic_offset",
    "saturate",
    "SaturationCounter",
    "to_codes",
    "to_float",
]

#: Bits of one stochastic-rounding draw.
RANDOM_BITS = 16


def align(q, from_frac: int, to_frac: int):
    """Exact change of fractional bits upwards: ``q·2**(to_frac - from_frac)``.

    Raises
    ------
    ValueError
        If ``to_frac < from_frac`` (that would drop bits: use :func:`round_shift`).
    """
    d = to_frac - from_frac
    if d < 0:
        raise ValueError(f"align cannot drop bits (from frac {from_frac} to {to_frac})")
    return np.left_shift(q, d) if d else q


def stochastic_offset(r, d: int):
    """Uniform offset in ``[0, 2**d)`` from a :data:`RANDOM_BITS`-bit draw ``r``."""
    r = np.asarray(r, dtype=np.int64)
    if d <= 0:
        return np.zeros_like(r)
    if d <= RANDOM_BITS:
        return r >> (RANDOM_BITS - d)
    return r << (d - RANDOM_BITS)


def round_shift(q, d: int, mode: str = "nearest", r=None):
    """Drop ``d`` fractional bits of ``q`` by the named rule (see the module docstring).

    ``y = floor((q + offset) / 2**d)``, offset ``2**(d-1)`` (nearest) or a draw (stochastic).
    """
    q = np.asarray(q, dtype=np.int64)
    if d <= 0:
        return q << (-d)
    if mode == "nearest":
        return (q + (1 << (d - 1))) >> d
    if mode == "stochastic":
        if r is None:
            raise ValueError("stochastic rounding needs random draws r")
        return (q + stochastic_offset(r, d)) >> d
    raise ValueError(f"unknown rounding mode {mode!r}; use 'nearest' or 'stochastic'")


def saturate(q, fmt: Fmt, counter: "SaturationCounter | None" = None, name: str | None = None):
    """Clamp ``q`` to ``[fmt.min, fmt.max]``; count clamped elements under ``name``.

    ``q`` has a leading batch axis when a counter is given (one count per core).
    """
    q = np.asarray(q, dtype=np.int64)
    out = np.minimum(np.maximum(q, fmt.min), fmt.max)
    if counter is not None:
        counter.add(name, q, out)
    return out


class SaturationCounter:
    """Per quantity and per core: how many writes there were and how many saturated.

    The hls4ml-style profile of where precision is lost. ``counts[name]`` and
    ``writes[name]`` are ``int64`` arrays of shape ``(batch,)``.
    """

    def __init__(self, batch: int):
        self.batch = batch
        self.counts: dict[str, np.ndarray] = {}
        self.writes: dict[str, np.ndarray] = {}

    def add(self, name, q, out):
        q = q.reshape(self.batch, -1)
        hit = (q != out.reshape(self.batch, -1)).sum(axis=1)
        if name not in self.counts:
            self.counts[name] = np.zeros(self.batch, dtype=np.int64)
            self.writes[name] = np.zeros(self.batch, dtype=np.int64)
        self.counts[name] += hit
        self.writes[name] += q.shape[1]

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        for name in self.counts:
            out[f"sat_{name}"] = self.counts[name].copy()
            out[f"writes_{name}"] = self.writes[name].copy()
        return out

    def load(self, state: dict[str, np.ndarray]):
        self.counts = {k[4:]: np.array(v, dtype=np.int64) for k, v in state.items()
                       if k.startswith("sat_")}
        self.writes = {k[7:]: np.array(v, dtype=np.int64) for k, v in state.items()
                       if k.startswith("writes_")}

    def profile(self, core: int = 0) -> dict[str, tuple[int, int]]:
        """``{name: (saturated, writes)}`` of one core."""
        return {n: (int(self.counts[n][core]), int(self.writes[n][core])) for n in self.counts}


def to_codes(value, fmt: Fmt):
    """Nearest codes of float ``value`` in ``fmt``, saturated (host-side quantisation)."""
    q = np.floor(np.asarray(value, dtype=np.float64) * (2.0 ** fmt.frac) + 0.5)
    return np.clip(q, fmt.min, fmt.max).astype(np.int64)


def to_float(q, fmt: Fmt):
    """Value of codes ``q`` in ``fmt``."""
    return np.asarray(q, dtype=np.float64) * fmt.lsb
