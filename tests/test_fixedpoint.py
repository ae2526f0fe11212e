"""Rounding, saturation and alignment of the golden model (DESIGN section 5)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fptt.config import Fmt
from fptt.golden.fixedpoint import (RANDOM_BITS, SaturationCounter, align, round_shift,
                                    saturate, stochastic_offset, to_codes)

fmts = st.builds(lambda w, f: Fmt(w, min(f, w - 1)), st.integers(2, 32), st.integers(0, 31))
ints = st.integers(-(1 << 40), 1 << 40)


@given(ints, fmts)
def test_saturate_stays_in_format(q, fmt):
    out = int(saturate(q, fmt))
    assert fmt.min <= out <= fmt.max
    if fmt.min <= q <= fmt.max:
        assert out == q


@given(ints, st.integers(1, 30))
def test_nearest_error_at_most_half_lsb(q, d):
    y = int(round_shift(q, d, "nearest"))
    err = y * (1 << d) - q
    assert -(1 << (d - 1)) < err <= (1 << (d - 1))


@given(ints, st.integers(1, 30), st.integers(0, (1 << RANDOM_BITS) - 1))
def test_stochastic_rounds_to_a_neighbour(q, d, r):
    y = int(round_shift(q, d, "stochastic", r))
    assert y in (q >> d, (q >> d) + 1)


@given(ints, st.integers(-8, 0))
def test_non_positive_shift_is_exact(q, d):
    assert int(round_shift(q, d, "nearest")) == q << -d


def test_nearest_rounds_half_up():
    assert list(round_shift(np.array([-3, -1, 1, 3]), 1)) == [-1, 0, 1, 2]


@pytest.mark.parametrize("d", [1, 3, 8, 16, 20])
def test_stochastic_is_unbiased(d):
    rng = np.random.default_rng(d)
    q = rng.integers(-(1 << 24), 1 << 24, size=200)
    r = rng.integers(0, 1 << RANDOM_BITS, size=(4000, 200))
    mean = round_shift(q[None, :], d, "stochastic", r).mean(axis=0)
    exact = q / 2.0 ** d
    # each mean of 4000 draws: standard error <= 0.5/sqrt(4000) ≈ 0.008 LSB
    assert np.abs(mean - exact).max() < 0.05
    assert abs((mean - exact).mean()) < 0.005


def test_stochastic_offset_covers_all_residues():
    r = np.arange(1 << RANDOM_BITS)
    off = stochastic_offset(r, 3)
    assert sorted(set(off.tolist())) == list(range(8))
    assert np.all(np.bincount(off) == (1 << RANDOM_BITS) // 8)


def test_align_refuses_to_drop_bits():
    with pytest.raises(ValueError, match="align cannot drop bits"):
        align(5, 4, 2)


def test_round_shift_errors():
    with pytest.raises(ValueError, match="stochastic rounding needs random draws"):
        round_shift(5, 2, "stochastic")
    with pytest.raises(ValueError, match="unknown rounding mode 'floor'"):
        round_shift(5, 2, "floor")


def test_saturation_counter_counts_per_core():
    c = SaturationCounter(2)
    fmt = Fmt(4, 0)
    saturate(np.array([[9, 0, -9], [1, 2, 3]]), fmt, c, "x")
    assert c.profile(0) == {"x": (2, 3)} and c.profile(1) == {"x": (0, 3)}


@given(st.floats(-300, 300, allow_nan=False), fmts)
@settings(max_examples=200)
def test_to_codes_is_nearest_code(v, fmt):
    q = int(to_codes(v, fmt))
    assert fmt.min <= q <= fmt.max
    if fmt.min <= v * 2 ** fmt.frac <= fmt.max:
        assert abs(q * fmt.lsb - v) <= fmt.lsb / 2
