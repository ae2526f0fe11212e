"""Amaranth expression helpers mirroring :mod:`fptt.golden.fixedpoint`.

Every helper builds a combinational Amaranth expression whose value, for every
input, equals the golden NumPy function on the same integer codes. Widths are
never written by hand: Amaranth widens ``+``, ``-``, ``*`` and constant shifts
exactly (``a + b`` is one bit wider than the wider operand, ``a * b`` has the sum
of the widths, ``shift_left(d)`` adds ``d`` bits), so an expression built from
signals of the configured formats holds its exact value and nothing wraps
before :func:`saturate` clamps it to a format. Pipeline registers that hold an
intermediate take the intermediate's own shape (``Signal(expr.shape())``).

Rules (``d`` fractional bits dropped, see :mod:`fptt.golden.fixedpoint`)

``align(q, f0, f1)``
    ``q << (f1 - f0)``, exact (``f1 >= f0``).
``round_shift(q, d, "nearest")``
    ``(q + 2**(d-1)) >> d``, arithmetic shift (round half up).
``round_shift(q, d, "stochastic", r)``
    ``(q + offset) >> d`` with ``offset = r >> (16 - d)`` (``d <= 16``) or
    ``r << (d - 16)`` (``d > 16``) from an unsigned 16-bit draw ``r``
    (golden ``stochastic_offset``).
``d <= 0``
    exact left shift by ``-d``; nothing is rounded, no draw is used.
``saturate(q, fmt)``
    clamp to ``[fmt.min, fmt.max]``, result of shape ``signed(fmt.width)``.
``sum_at(terms, dest_frac)``
    golden ``_requant``: align ``(value, frac)`` terms to their largest frac,
    sum exactly, round to nearest (or by ``mode``) once to ``dest_frac``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Shape, Signal, Value, signed

from ..config import ROUNDING_MODES, Fmt
from ..golden.fixedpoint import RANDOM_BITS

__all__ = [
    "RANDOM_BITS",
    "fmt_shape",
    "sum_width",
    "align",
    "stochastic_offset",
    "round_shift",
    "exact_sum",
    "sum_at",
    "saturate",
    "overflows",
    "requant",
    "stage",
    "delay",
    "issue_port",
    "CombPart",
    "saturate_bits",
    "rounding_offset",
    "round_pre",
]


def fmt_shape(fmt: Fmt) -> Shape:
    """The Amaranth shape of a format: ``signed(fmt.width)``."""
    return signed(fmt.width)


def sum_width(n_terms: int, *factors: Fmt, unsigned_max: int = 1) -> int:
    """Signed width of an exact sum of ``n_terms`` products of the given formats.

    The worst magnitude of one product is ``unsigned_max · Π (-fmt.min)``
    (the most negative code of each signed factor; ``unsigned_max`` covers an
    unsigned factor such as a spike, 1); the sum of ``n_terms`` of them needs
    ``bit_length + 1`` signed bits.

    Parameters
    ----------
    n_terms : int
        Number of terms of the sum.
    *factors : Fmt
        Formats of the signed factors of each term.
    unsigned_max : int
        Largest value of an extra unsigned factor (1 for spikes).

    Returns
    -------
    int
        Width of the signed port or register holding the exact sum.
    """
    worst = n_terms * unsigned_max
    for fmt in factors:
        worst *= -fmt.min
    return worst.bit_length() + 1


def _check_mode(mode: str):
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {mode!r}; use 'nearest' or 'stochastic'")


def align(value, from_frac: int, to_frac: int) -> Value:
    """Exact change of fractional bits upwards: ``value << (to_frac - from_frac)``.

    Raises
    ------
    ValueError
        If ``to_frac < from_frac`` (that would drop bits: use :func:`round_shift`).
    """
    d = to_frac - from_frac
    if d < 0:
        raise ValueError(f"align cannot drop bits (from frac {from_frac} to {to_frac})")
    return Value.cast(value).shift_left(d)


def stochastic_offset(r, d: int) -> Value:
    """Uniform offset in ``[0, 2**d)`` from an unsigned :data:`RANDOM_BITS`-bit draw ``r``.

    ``r >> (16 - d)`` for ``1 <= d <= 16`` (the top ``d`` bits of the draw),
    ``r << (d - 16)`` for ``d > 16``, zero for ``d <= 0``.
    """
    r = Value.cast(r)
    if len(r) != RANDOM_BITS or r.shape().signed:
        raise ValueError(f"a draw must be unsigned({RANDOM_BITS}), not {r.shape()}")
    if d <= 0:
        return Const(0, 1)
    if d <= RANDOM_BITS:
        return r[RANDOM_BITS - d:]
    return r.shift_left(d - RANDOM_BITS)


def round_shift(value, d: int, mode: str = "nearest", r=None) -> Value:
    """Drop ``d`` fractional bits of ``value`` by the named rule.

    ``floor((value + offset) / 2**d)`` with offset ``2**(d-1)`` (nearest) or
    :func:`stochastic_offset` of the draw ``r`` (stochastic); ``d <= 0`` is an
    exact left shift. The result is exact (no bit is lost before the shift).
    """
    _check_mode(mode)
    value = Value.cast(value)
    if d <= 0:
        return value.shift_left(-d)
    if mode == "nearest":
        return (value + Const(1 << (d - 1))).shift_right(d)
    if r is None:
        raise ValueError("stochastic rounding needs a draw r")
    return (value + stochastic_offset(r, d)).shift_right(d)


def exact_sum(terms, frac: int | None = None) -> tuple[Value, int]:
    """Exact sum of ``(value, frac)`` terms at their largest frac: ``(total, top)``.

    ``value`` may be an Amaranth value or a Python int (a constant). With
    ``frac`` given, the sum is formed at ``top = max(frac, term fracs)``. The
    result's shape is wide enough for every input (Amaranth widening).
    """
    terms = [(Value.cast(v), f) for v, f in terms]
    top = max(f for _, f in terms)
    if frac is not None:
        top = max(top, frac)
    total = None
    for v, f in terms:
        a = align(v, f, top)
        total = a if total is None else total + a
    return total, top


def sum_at(terms, dest_frac: int, mode: str = "nearest", r=None) -> Value:
    """Golden ``_requant``: sum ``(value, frac)`` terms exactly, round once to ``dest_frac``."""
    total, top = exact_sum(terms)
    return round_shift(total, top - dest_frac, mode, r)


def _range(value: Value) -> tuple[int, int]:
    shape = value.shape()
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def saturate(value, fmt: Fmt) -> Value:
    """Clamp ``value`` to ``[fmt.min, fmt.max]``; shape ``signed(fmt.width)``.

    A value whose shape already fits the format is only sign-extended.
    """
    value = Value.cast(value)
    lo, hi = _range(value)
    lo_c, hi_c = Const(fmt.min, fmt_shape(fmt)), Const(fmt.max, fmt_shape(fmt))
    clamped = value
    if hi > fmt.max:
        clamped = Mux(value > fmt.max, hi_c, clamped)
    if lo < fmt.min:
        clamped = Mux(value < fmt.min, lo_c, clamped)
    return _resize(clamped, fmt.width)


def _resize(value: Value, width: int) -> Value:
    """``value`` (whose value fits) as ``signed(width)``: sign/zero-extend or truncate."""
    n = len(value)
    if n >= width:
        return value[:width].as_signed()
    fill = value[-1].replicate(width - n) if value.shape().signed and n else Const(0, width - n)
    return Cat(value, fill).as_signed()


def overflows(value, fmt: Fmt) -> Value:
    """1 where :func:`saturate` changes ``value`` (the golden saturation count)."""
    value = Value.cast(value)
    lo, hi = _range(value)
    flag = Const(0, 1)
    if hi > fmt.max:
        flag = flag | (value > fmt.max)
    if lo < fmt.min:
        flag = flag | (value < fmt.min)
    return flag


def requant(terms, fmt: Fmt, mode: str = "nearest", r=None) -> tuple[Value, Value]:
    """``saturate(sum_at(terms, fmt.frac, mode, r), fmt)`` and its saturation flag."""
    rounded = sum_at(terms, fmt.frac, mode, r)
    return saturate(rounded, fmt), overflows(rounded, fmt)


def stage(m, value, name: str, reset_less: bool = True) -> Signal:
    """A pipeline register holding ``value`` with ``value``'s own shape (nothing is lost).

    Adds ``reg.eq(value)`` to ``m.d.sync`` and returns the register. Data
    registers are reset-less (their content only matters under ``valid``);
    pass ``reset_less=False`` for control bits such as ``valid``.
    """
    value = Value.cast(value)
    reg = Signal(value.shape(), name=name, reset_less=reset_less)
    m.d.sync += reg.eq(value)
    return reg


def delay(m, value, cycles: int, name: str, reset_less: bool = True) -> Value:
    """``value`` delayed by ``cycles`` pipeline registers (``cycles = 0``: ``value`` itself)."""
    value = Value.cast(value)
    for i in range(cycles):
        value = stage(m, value, f"{name}_d{i + 1}", reset_less)
    return value


def issue_port(m, groups: int, name: str) -> tuple[Signal, Signal, Signal, Signal]:
    """The issue side of a unit the controller steps through ``groups`` groups.

    Returns ``(issue, g, valid1, g1)``: the strobe and group counter the controller
    drives (``{name}_issue``, ``{name}_g``) and both one cycle later
    (``{name}1_valid``, ``{name}1_g``), when the memories' synchronous reads
    addressed by ``g`` have their data.
    """
    issue = Signal(name=f"{name}_issue")
    g = Signal(range(max(groups, 2)), name=f"{name}_g")
    valid1 = Signal(name=f"{name}1_valid")
    g1 = Signal.like(g, name=f"{name}1_g")
    m.d.sync += [valid1.eq(issue), g1.eq(g)]
    return issue, g, valid1, g1


class CombPart(Elaboratable):
    """A submodule holding part of a block's combinational logic (``part.m.d.comb``).

    Purely structural: the statements could live in the parent module. Kept
    apart so that Amaranth's simulator re-evaluates each part only when its
    own inputs change (several times faster simulation of the whole core).
    """

    def __init__(self):
        self.m = Module()

    def elaborate(self, platform):
        return self.m


# ---------------------------------------------------------------- faster requantisation parts

def saturate_bits(value, fmt: Fmt) -> tuple[Value, Value]:
    """``(saturate(value, fmt), overflows(value, fmt))`` from bit patterns, without comparators.

    .. math::

        \\mathrm{fits} = (v_{n-1} = \\dots = v_{w-1}), \\qquad
        \\mathrm{out} = \\begin{cases} v_{w-1..0} & \\mathrm{fits} \\\\
        \\mathrm{sign}\\,?\\,\\mathrm{fmt.min} : \\mathrm{fmt.max} & \\text{otherwise} \\end{cases}

    A value of ``n`` bits fits a ``w``-bit format exactly when its bits
    ``w-1 .. n-1`` are all equal (all zero for an unsigned value); the clamp
    code is ``Cat(~sign × (w-1), sign)`` (``fmt.max = 01…1``, ``fmt.min =
    10…0``). This is one small LUT tree and a 3-input LUT per bit, where
    :func:`saturate` / :func:`overflows` build two carry-chain comparators over
    the whole width; the values are the same for every input.

    Returns
    -------
    tuple of Value
        The saturated value (shape ``signed(fmt.width)``) and the 1-bit flag.
    """
    value = Value.cast(value)
    lo, hi = _range(value)
    width = fmt.width
    if lo >= fmt.min and hi <= fmt.max:
        return _resize(value, width), Const(0, 1)
    top = value[width - 1:]
    if value.shape().signed:
        sign = value[-1]
        fits = ~(top.any() & ~top.all())   # all equal: maps to fewer LUTs than two compares
    else:
        sign = Const(0, 1)
        fits = top == 0
    clamp = Cat((~sign).replicate(width - 1), sign)
    return Mux(fits, value[:width], clamp).as_signed(), ~fits


def rounding_offset(frac: int, top: int, dest_frac: int) -> int | None:
    """The round-to-nearest offset of a sum at frac ``top``, as a code at frac ``frac``.

    ``sum_at`` adds ``2**(d-1)`` (``d = top - dest_frac``) to the exact sum at
    frac ``top``; a term at frac ``frac <= top`` is aligned by ``top - frac``
    bits, so the offset can be pre-added to that term as
    ``2**(d-1-(top-frac))`` (with :func:`const_mul_add`, where it usually
    costs nothing) and the sum then only shifted (:func:`round_pre`).
    Returns 0 where ``d <= 0`` (nothing is rounded) and None where the offset
    is finer than the term's LSB.
    """
    d = top - dest_frac
    if d <= 0:
        return 0
    shift = d - 1 - (top - frac)
    return None if shift < 0 else 1 << shift


def round_pre(value, d: int, preadded: bool) -> Value:
    """:func:`round_shift` (nearest) of ``value`` whose offset may already be inside it.

    ``preadded``: ``value`` already holds ``2**(d-1)`` (see
    :func:`rounding_offset`), so only ``value >> d`` is left; otherwise
    ``round_shift(value, d)``. ``d <= 0`` is an exact left shift either way.
    """
    value = Value.cast(value)
    if preadded and d > 0:
        return value.shift_right(d)
    return round_shift(value, d)
