"""Multiplication by a constant without a multiplier: shift-and-add trees of few adders.

:func:`const_mul` and :func:`const_mul_add` build ``x·k`` (and ``x·k + offset``)
for an integer constant ``k`` from its canonical signed digits (or its binary
digits, or a shared factor, whichever needs fewer adders), as a tree of
adders a few levels deep; the value equals the product exactly for every
input. The neuron's, readout's and backward units' decay factors (``1 - 1/τ``
and the like, fixed by the configuration) are multiplied this way.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Value

from .fixed import _range

__all__ = ["const_mul", "const_mul_add"]


def _csd_digits(k: int) -> list[tuple[int, int, int]]:
    """Canonical signed digits (non-adjacent form) of ``k``: ``[(shift, ±1, 1)]``, LSB first."""
    digits, i = [], 0
    while k:
        if k & 1:
            d = 2 - (k & 3)          # +1 where k = 1 (mod 4), -1 where k = 3 (mod 4)
            digits.append((i, d, 1))
            k -= d
        k >>= 1
        i += 1
    return digits


def _binary_digits(k: int) -> list[tuple[int, int, int]]:
    """``k = sign(k)·Σ 2**shift`` over the set bits of ``|k|``: ``[(shift, sign, 1), ...]``."""
    sign, k = (1, k) if k >= 0 else (-1, -k)
    return [(i, sign, 1) for i in range(k.bit_length()) if k >> i & 1]


def _shared_digits(k: int, b: int) -> list[tuple[int, int, int]] | None:
    """Fewest digits ``k = Σ d·m·2**shift`` (``d = ±1``, ``m ∈ {1, b}``): ``[(shift, d, m)]``.

    ``b·x`` (``b = 2**a ± 1``) is built once and shared by the terms with
    ``m = b``. A shortest-path search over the remainder, bit by bit from the
    LSB. None when no term uses ``b``.
    """
    bound = abs(k) + b
    layer = {k: ()}                   # remainder -> digits so far
    best = None
    for pos in range(abs(k).bit_length() + b.bit_length() + 2):
        nxt: dict[int, tuple] = {}
        for r, digits in layer.items():
            if r == 0:
                if best is None or len(digits) < len(best):
                    best = digits
                continue
            if r % 2 == 0:
                options = [(r // 2, digits)]
            else:
                options = [((r - d * mm) // 2, digits + ((pos, d, mm),))
                           for mm in (1, b) for d in (1, -1)]
            for r2, ds in options:
                if abs(r2) <= bound and (r2 not in nxt or len(ds) < len(nxt[r2])):
                    nxt[r2] = ds
        layer = nxt
    if 0 in layer and (best is None or len(layer[0]) < len(best)):
        best = layer[0]
    if best is None or not any(mm == b for _, _, mm in best):
        return None
    return list(best)


def _signed_width(lo: int, hi: int) -> int:
    return 1 + max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length())


def _fit(value: Value, lo: int, hi: int) -> Value:
    """``value`` (exact modulo ``2**len(value)``) cut to the narrowest shape of ``[lo, hi]``."""
    width = _signed_width(lo, hi) if lo < 0 else hi.bit_length()     # [0, 0]: no bits
    if width > len(value):            # a value always holds its own range: only extend
        return value
    return value[:width].as_signed() if lo < 0 else value[:width]


def _low_bits(value: Value, n: int) -> Value:
    """The ``n`` least significant bits of ``value``, sign- or zero-extended (unsigned)."""
    if len(value) >= n:
        return value[:n]
    fill = value[-1].replicate(n - len(value)) if value.shape().signed and len(value) \
        else Const(0, n - len(value))
    return Cat(value, fill)


def _as_signed(value: Value) -> Value:
    """``value`` as a signed value of the same number (zero-extended when unsigned)."""
    return value if value.shape().signed else Cat(value, Const(0, 1)).as_signed()


#: LUTs one adder level of depth is worth when :func:`const_mul_add` picks a structure
#: (a shallower network meets timing without a pipeline register).
_DEPTH_LUTS = 4


def _build_const_mul(x: Value, terms, xlo: int, xhi: int, inverted: set,
                     offset: int = 0) -> tuple[Value, int]:
    """``Σ d·(op << shift) + offset`` added LSB first; returns (expression, estimated LUTs).

    ``terms``: ``[(shift, d, m, op)]`` sorted by shift, ``op`` an expression
    equal to ``m·x``; ``offset >= 0``. Shifts below are relative to the first
    term's ``s0``. The partial sum is ``σ·A_full`` with
    ``A_full = c·x + K = A·2**L + low``: ``low`` are finished low bits (a
    later term, shifted further, cannot reach them), ``A`` the high part, cut
    to the exact range of ``floor((c·x + K) / 2**L)`` (``c`` and ``K`` are
    known, so every adder is as wide as its value needs). A term of the sign
    of ``σ`` is added (or one of the opposite sign subtracted from ``σ = +1``)
    to ``A`` alone; a positive term after negative ones is
    ``op << shift - A_full`` (full width), and a partial sum that stays
    negative is negated at the end.

    The offset costs nothing where it fits into zeros: its bits below ``s0``
    (the product's trailing zeros), its bits below a full-width step's shift
    (``op << shift`` has zeros there), or ``2**shift`` of an addition (its
    carry-in); otherwise it is added at the end.

    The estimate counts one LUT per adder bit plus one per bit of an operand
    that must be inverted as it is (a register, not an adder's LUT, drives
    it): ``A - op`` is written ``~(~A + op)`` once ``A`` is an adder's output,
    so that only ``A``'s LUTs invert. ``inverted`` (ids of operands already
    inverted) is shared by the calls of one product.
    """
    def rng(c: int, k: int, shift: int) -> tuple[int, int]:
        lo, hi = (c * xlo + k) >> shift, (c * xhi + k) >> shift
        return min(lo, hi), max(lo, hi)

    def whole(low: Value, a: Value) -> Value:
        full = Cat(low, a)
        return full.as_signed() if a.shape().signed else full

    def invert(op: Value, bits: int) -> int:
        if bits <= 0 or id(op) in inverted:
            return 0
        inverted.add(id(op))
        return bits

    s0, sigma, c, a = terms[0]
    low_offset, rest = offset & ((1 << s0) - 1), offset >> s0
    first, raw, raw_low = a, a, 0      # raw: the operand A still is (None once A is a sum)
    low, length, cost, k = Const(0, 0), 0, 0, 0
    for shift, d, mm, op in terms[1:]:
        rel = shift - s0
        if d == sigma or sigma == 1:
            low = Cat(low, _low_bits(a, rel - length))
            if raw is not None:
                raw_low += min(rel - length, len(a))
            high = a.shift_right(rel - length)
            if d == sigma:
                high = high + op
                if sigma == 1 and rest == 1 << rel:      # the offset as the carry-in
                    high, k, rest = high + 1, rest, 0
            elif raw is not None:      # operand - operand: one of them is inverted as it is
                high = high - op
                cost += invert(op, len(op))
            else:
                high = ~(~_as_signed(high) + op)
            c += (mm << rel) * (1 if d == sigma else -1)
            a = _fit(high, *rng(c, k, rel))
            length = rel
        else:                          # -A_full + op << rel: the whole width changes
            cost += invert(first, len(first) if raw is not None else raw_low)
            term = op.shift_left(rel)
            if 0 < rest < 1 << rel:    # the offset fills the zeros below op << rel
                term = Cat(Const(rest, rel), op)
                term = term.as_signed() if op.shape().signed else term
                k, rest = rest, 0
            c = (mm << rel) - c
            sigma = 1
            a = _fit(term - whole(low, a), *rng(c, k, 0))
            low, length, raw_low = Const(0, 0), 0, 0
        raw = None
        cost += len(a)
    full = whole(low, a)
    if sigma == -1:
        cost += invert(first, len(first) if raw is not None else raw_low)
        c, k = -c, -k
        full = _fit(-full, *rng(c, k, 0))
        cost += len(full)
    if rest:
        k += rest
        full = _fit(full + rest, *rng(c, k, 0))
        cost += max(1, len(full) - (rest & -rest).bit_length() + 1)
    if low_offset:                     # into the product's trailing zeros
        signed_ = full.shape().signed
        full = Cat(Const(low_offset, s0), full)
        return (full.as_signed() if signed_ else full), cost
    return full.shift_left(s0), cost


def _build_const_mul_tree(x: Value, terms, xlo: int, xhi: int, inverted: set,
                          offset: int = 0) -> tuple[Value, int, int]:
    """As :func:`_build_const_mul`, with the terms summed as a balanced tree.

    Returns (expression, estimated LUTs, adder depth). Every node ``N = L ± H``
    (``L`` the terms of lower shifts) passes ``L``'s bits below ``H``'s shift
    through, like the chain; a node whose lower part is negative and upper
    part positive is computed ``H - L`` at full width. Depth
    ``ceil(log2(terms))`` instead of ``terms - 1`` for about the same adders.
    The offset is placed at the root only (trailing zeros, the full-width
    root's zero bits or the root's carry-in), else added at the end.
    """
    def rng(m: int, k: int, shift: int) -> tuple[int, int]:
        lo, hi = (m * xlo + k) >> shift, (m * xhi + k) >> shift
        return min(lo, hi), max(lo, hi)

    def invert(op: Value, bits: int) -> int:
        if bits <= 0 or id(op) in inverted:
            return 0
        inverted.add(id(op))
        return bits

    s0 = terms[0][0]
    low_offset, rest = offset & ((1 << s0) - 1), offset >> s0
    cost, k_root = 0, 0

    # node: [e, s, m, neg, leaf, low_op, raw_low, depth]; e·2**s = m·x, contribution ±m·x
    def build(lo: int, hi: int, root: bool):
        nonlocal cost, rest, k_root
        if hi - lo == 1:
            shift, d, mm, op = terms[lo]
            return [op, shift - s0, mm << (shift - s0), d < 0, True, op, len(op), 0]
        mid = (lo + hi + 1) // 2
        lft, rgt = build(lo, mid, False), build(mid, hi, False)
        le, ls, lm, lneg, lleaf, lop, lraw, ldep = lft
        he, hs, hm, hneg, hleaf, _, _, hdep = rgt
        delta = hs - ls
        depth = max(ldep, hdep) + 1
        if lneg and not hneg:          # H - L: the whole width is new
            cost += invert(lop, len(le) if lleaf else lraw)
            term = he.shift_left(delta)
            k = 0
            if root and 0 < rest < 1 << delta:
                term = Cat(Const(rest, delta), he)
                term = term.as_signed() if he.shape().signed else term
                k, k_root, rest = rest, rest, 0
            m = hm - lm
            e = _fit(term - le, *rng(m, k, ls))
            cost += len(e)
            return [e, ls, m, False, False, None, 0, depth]
        low = _low_bits(le, delta)
        raw = min(delta, len(le)) if lleaf else min(lraw, delta)
        high = le.shift_right(delta)
        k = 0
        if lneg == hneg:
            high = high + he
            m = lm + hm
            if root and not lneg and rest == 1 << delta:   # the offset as the carry-in
                high, k, k_root, rest = high + 1, rest, rest, 0
        else:                          # L - H
            if lleaf:
                high = high - he
                cost += invert(he, len(he) if hleaf else 0)
            else:
                high = ~(~_as_signed(high) + he)
            m = lm - hm
        high = _fit(high, *rng(m, k, hs))
        cost += len(high)
        e = Cat(low, high)
        e = e.as_signed() if high.shape().signed else e
        return [e, ls, m, lneg, False, lop, raw, depth]

    e, _, m, neg, leaf, lop, raw, depth = build(0, len(terms), True)
    k = k_root
    if neg:
        cost += invert(lop, len(e) if leaf else raw)
        m, k = -m, -k
        e = _fit(-e, *rng(m, k, 0))
        cost += len(e)
        depth += 1
    if rest:
        k += rest
        e = _fit(e + rest, *rng(m, k, 0))
        cost += max(1, len(e) - (rest & -rest).bit_length() + 1)
        depth += 1
    if low_offset:
        signed_ = e.shape().signed
        e = Cat(Const(low_offset, s0), e)
        return (e.as_signed() if signed_ else e), cost, depth
    return e.shift_left(s0), cost, depth


def const_mul(x, k: int) -> Value:
    """Exact ``k · x`` by a constant, from shifts and adders (no multiplier, no DSP).

    .. math::

        k \\, x = \\sum_i d_i \\, m_i \\, 2^{s_i} x, \\qquad
        d_i \\in \\{-1, +1\\}, \\quad m_i \\in \\{1, b\\}

    The digits of ``k`` are taken from its canonical signed-digit form
    (non-adjacent form: fewest non-zero digits, ``m_i = 1``), its plain binary
    form, or a form sharing one multiple ``b·x``, ``b = 2^a ± 1``
    (``1 <= a <= 6``), built once by one adder; the one with the fewest
    estimated LUTs is used. The terms are added from the least significant
    up: low bits that later terms cannot reach pass through, and every adder
    is exactly as wide as the range of its partial sum (from ``x``'s shape and
    the partial constant), so Yosys maps it to LUTs and carries (about one LUT
    per adder bit) instead of an ``SB_MAC16``.

    Parameters
    ----------
    x : Value
        Signed or unsigned operand.
    k : int
        The constant: any Python int (negative, zero, a power of two).

    Returns
    -------
    Value
        An expression equal to ``k * x`` for every ``x``, of the narrowest
        shape that holds every product (signed where one can be negative).
        ``k = 0`` gives ``Const(0, 1)``; ``k = 2**s`` is a plain shift.
    """
    return const_mul_add(x, k, 0)


def const_mul_add(x, k: int, offset: int) -> Value:
    """Exact ``k · x + offset`` (``offset >= 0``), the offset placed where it costs nothing.

    .. math::

        k \\, x + \\mathrm{offset}

    as :func:`const_mul`, with the constant added inside the shift-and-add
    network: into the product's trailing zero bits, into the zero low bits of
    a full-width step, or as the carry-in of an adder whose lowest bit it is;
    only where none of these exists is it added at the end (one more adder
    over the bits from its lowest set bit up). The representation of ``k``
    is chosen with the offset's cost included. Used for the rounding offset
    ``2**(d-1)`` of a sum that is then shifted right by ``d``
    (``floor((k·x + 2**(d-1) + rest) / 2**d)``, golden round-half-up).

    Parameters
    ----------
    x : Value
        Signed or unsigned operand.
    k : int
        The constant (any Python int).
    offset : int
        A non-negative constant added to the product.

    Returns
    -------
    Value
        An expression equal to ``k * x + offset`` for every ``x``, of the
        narrowest shape that holds every value.
    """
    x = Value.cast(x)
    k, offset = int(k), int(offset)
    if offset < 0:
        raise ValueError(f"const_mul_add needs a non-negative offset, not {offset}")
    if k == 0 or len(x) == 0:
        return Const(offset, max(1, offset.bit_length()))
    xlo, xhi = _range(x)
    candidates = [_csd_digits(k), _binary_digits(k)]
    for a in range(1, 7):
        for b in ((1 << a) + 1, (1 << a) - 1):
            if 1 < b < abs(k):
                digits = _shared_digits(k, b)
                if digits is not None:
                    candidates.append(digits)
    best = None
    for digits in candidates:
        for tree in (False, True):
            ops, inverted = {1: (x, 0)}, set()
            for _, _, mm in digits:
                if mm not in ops:            # b·x: the cheaper of its two-digit forms
                    forms = []
                    for form in (_binary_digits(mm), _csd_digits(mm)):
                        inv = set(inverted)
                        forms.append(_build_const_mul(x, [(s, d, 1, x) for s, d, _ in form],
                                                      xlo, xhi, inv) + (inv,))
                    value, cost, inv = min(forms, key=lambda f: f[1])
                    ops[mm] = value, cost
                    inverted |= inv
            terms = [(s, d, mm, ops[mm][0]) for s, d, mm in digits]
            if tree:
                value, cost, depth = _build_const_mul_tree(x, terms, xlo, xhi, inverted, offset)
            else:
                value, cost = _build_const_mul(x, terms, xlo, xhi, inverted, offset)
                depth = len(terms) - 1
            depth += 1 if len(ops) > 1 else 0
            cost += sum(c for _, c in ops.values())
            key = (cost + _DEPTH_LUTS * depth, cost)
            if best is None or key < best[1]:
                best = value, key
    lo, hi = sorted((k * xlo + offset, k * xhi + offset))
    return _fit(best[0], lo, hi)
