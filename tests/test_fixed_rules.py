"""The learning rule's options (``fptt.readout``, ``.error``, ``.hidden_step``): the fixed-point
blocks of :mod:`fptt.golden.fixed_rules` against their float equations, the float twin's
readout trace against its definition, the fixed-point core against the twin, checkpoints,
and the configuration's and the RTL's refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fptt.config import ConfigError, CoreConfig
from fptt.golden import fixed_rules as fr
from fptt.golden.fixed_core import FixedCore
from fptt.golden.fixedpoint import SaturationCounter
from fptt.golden.twin import FloatTwin

RULES = ['fptt.readout="trace"', 'fptt.error="softmax"', 'fptt.hidden_step="rms"']


def rule_cfg(*extra) -> CoreConfig:
    return CoreConfig.load(None, ["n_in=4", "n_hidden=6", "n_out=3", "window=5", "window_max=5",
                                  "fptt.lr.w_out=0.0078125", "fptt.lr.b_out=0.0078125",
                                  "fptt.lr.w_in=0.0078125", "fptt.lr.w_rec=0.0078125",
                                  "fptt.lr.b=0.0078125", *RULES, *extra])


def test_softmax_error_matches_the_float_softmax():
    cfg = rule_cfg()
    rng = np.random.default_rng(1)
    o = rng.normal(0, 3, (200, 3))
    y = np.eye(3)[rng.integers(0, 3, 200)]
    fo, fd = cfg.formats.o.frac, cfg.formats.delta.frac
    got = fr.softmax_error(cfg, np.round(o * 2 ** fo).astype(np.int64),
                           (y * 2 ** fo).astype(np.int64)) * 2.0 ** -fd
    e = np.exp(o - o.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True) - y
    err = np.abs(got - want)
    assert err.max() < 2e-3 and err.mean() < 5e-4     # the 64-entry table and f_o's rounding
    # equal outputs give equal shares; one far above the others takes everything
    flat = fr.softmax_error(cfg, np.zeros((1, 3), np.int64), np.zeros((1, 3), np.int64))
    assert flat.tolist() == [[341, 341, 341]]                      # round(1024/3)
    far = fr.softmax_error(cfg, np.array([[40 << fo, 0, 0]]), np.array([[1 << fo, 0, 0]]))
    assert far.tolist() == [[0, 0, 0]]


def test_rms_normalise_is_g_over_root_v_to_the_tables_precision():
    cfg = rule_cfg()
    fg, fv = cfg.formats.grad_w_in.frac, cfg.formats.v.frac
    rng = np.random.default_rng(2)
    g = rng.integers(-3000, 3000, 5000)
    v = np.round(np.exp(rng.uniform(np.log(1e-10), np.log(1e-4), 5000)) * 2.0 ** fv).astype(
        np.int64)
    sat = SaturationCounter(1)
    got = fr.rms_normalise(cfg, "w_in", g[None], v[None], sat)[0] * 2.0 ** -fg
    want = g * 2.0 ** -fg / np.sqrt(v * 2.0 ** -fv)
    inside = np.abs(want) < 0.99
    rel = np.abs(got[inside] - want[inside]) / np.maximum(np.abs(want[inside]), 2 ** -10)
    assert rel.max() < 0.035 and np.median(rel) < 0.01    # 16 entries per octave of M
    fmt = cfg.formats.grad_w_in
    clipped = ~inside
    assert clipped.sum() > 100      # and those saturate to the format's range: a clip
    np.testing.assert_array_equal(got[clipped], np.where(want[clipped] > 0, fmt.max, fmt.min)
                                  * fmt.lsb)
    assert sat.profile()["grad"] == (int(clipped.sum()), 5000)
    # v = 0: the largest step of g's sign, or none
    zero = fr.rms_normalise(cfg, "w_in", np.array([5, -5, 0]), np.zeros(3, np.int64))
    assert zero.tolist() == [fmt.max, fmt.min, 0]


def test_rms_moment_and_mean_and_trace_are_their_equations():
    cfg = rule_cfg("fptt.rms_shift=3", "fptt.mean_shift=2")
    fv, fg = cfg.formats.v.frac, cfg.formats.grad_w_in.frac
    v = np.array([0, 1 << 30, 7 << 20])
    g = np.array([1 << 10, 0, -(1 << 5)])
    got = fr.rms_moment(cfg, "w_in", v, g)
    want = v + ((g.astype(float) ** 2 * 2.0 ** (fv - 2 * fg)) - v) / 8
    np.testing.assert_array_equal(got, np.floor(want + 0.5).astype(np.int64))
    fm = cfg.formats.mean.frac
    m = fr.update_mean(cfg, np.array([0, 1 << fm, 1 << (fm - 1)]), np.array([1, 0, 1]))
    assert m.tolist() == [1 << (fm - 2), 3 << (fm - 2), 5 << (fm - 3)]
    ft = cfg.formats.trace.frac
    kappa = cfg.const_q["kappa"] * cfg.formats.const.lsb
    tr, tr1 = fr.readout_trace(cfg, np.array([[10 << ft, 0]]), np.array([2 << ft]),
                               np.array([[1, 0]]), np.array([[1 << (fm - 1), 1 << (fm - 2)]]))
    np.testing.assert_allclose(tr[0] * 2.0 ** -ft, [10 * kappa + 0.5, -0.25], atol=2.0 ** -ft)
    np.testing.assert_allclose(tr1 * 2.0 ** -ft, [2 * kappa + 1], atol=2.0 ** -ft)


def _task(rng, T=12, n_in=4, n_out=3):
    x = rng.uniform(-1, 1, (T, n_in))
    y = np.zeros((T, n_out))
    y[:, rng.integers(n_out)] = 1
    has = np.zeros(T, bool)
    has[-4:] = True
    return x, y, has


def test_twin_readout_gradient_is_the_trace_of_the_centred_spikes():
    """With every parameter frozen, the window's ``W_out`` gradient is Σ_t δ_t ĉ_tᵀ with
    ``ĉ_t = Σ_{τ<=t} κ^(t-τ) (s_τ - m_{τ-1})`` over the whole sequence (not the window), and
    ``m`` the running mean of the spikes of every learning step before."""
    cfg = rule_cfg("window=20", "window_max=20", 'fptt.error="mse"')
    rng = np.random.default_rng(3)
    w = dict(w_in=rng.normal(0, 1, (6, 4)), w_rec=rng.normal(0, 0.5, (6, 6)),
             w_out=rng.normal(0, 0.3, (3, 6)))
    twin = FloatTwin(cfg, w, frozen=cfg.params)
    x, y, has = _task(rng, T=30)
    twin.run_sequence(x[:12], y[:12], np.zeros(12, bool))    # the mean moves, no target
    kappa, ms = cfg.neuron.kappa, 2.0 ** -cfg.fptt.mean_shift
    spikes, means, deltas = [], [], []
    for t in range(30):
        means.append(twin.mean[0].copy())
        o = twin.step(x[t], y[t], has[t], sos=t == 0)
        spikes.append(twin.s[0].copy())
        deltas.append(np.where(has[t], o[0] - y[t], 0))
        if t == 19:     # the first window (20 steps) just closed: its sums were cleared
            assert not twin.gacc["w_out"].any()
    trace, g = np.zeros(6), np.zeros((3, 6))
    for t in range(30):
        trace = kappa * trace + spikes[t] - means[t]
        if t >= 20:
            g += np.outer(deltas[t], trace)
    assert np.abs(g).max() > 0.1
    np.testing.assert_allclose(twin.gacc["w_out"][0], g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(twin.mean[0], means[-1] + ms * (spikes[-1] - means[-1]))


@pytest.mark.parametrize("rules", [[], RULES[:1], RULES[1:2], RULES[2:], RULES])
def test_fixed_point_core_tracks_the_twin_with_each_option(rules):
    cfg = CoreConfig.load(None, ["n_in=4", "n_hidden=6", "n_out=3", "window=5", "window_max=5",
                                 "rounding=\"nearest\"", "fptt.lr=0.0078125",
                                 "fptt.lr.w_out=0.001953125", "fptt.lr.b_out=0.001953125",
                                 *rules])
    rng = np.random.default_rng(4)
    w = dict(w_in=rng.normal(0, 1, (6, 4)), w_rec=rng.normal(0, 0.5, (6, 6)),
             w_out=rng.normal(0, 0.3, (3, 6)))
    fixed, twin = FixedCore(cfg, w), FloatTwin(cfg, w)
    for _ in range(6):
        x, y, has = _task(rng)
        fixed.run_sequence(x, y, has)
        twin.run_sequence(x, y, has)
    for m in cfg.params:
        moved = np.abs(twin.weights()[m] - (w[m] if m in w else 0)).max()
        apart = np.abs(fixed.weights()[m] - twin.weights()[m]).max()
        assert apart < 0.25 * moved + 4 * cfg.formats.w.lsb, m
    st = fixed.state
    assert (st.tr is not None) == ("trace" in str(rules)) and (st.v is not None) == (
        "rms" in str(rules))
    if st.v is not None:
        for m in st.v:      # spikes that differ make single synapses' moments differ
            total = twin.v[m].sum()
            assert total > 0 and abs(st.v[m].sum() * cfg.formats.v.lsb - total) < 0.25 * total, m
    if st.tr is not None:   # within two spikes' share of the mean
        np.testing.assert_allclose(st.mean[0] * cfg.formats.mean.lsb, twin.mean[0],
                                   atol=2 * 2.0 ** -cfg.fptt.mean_shift)


def test_checkpoint_carries_the_rules_state(tmp_path):
    cfg = rule_cfg()
    rng = np.random.default_rng(5)
    w = dict(w_in=rng.normal(0, 1, (6, 4)), w_rec=rng.normal(0, 0.5, (6, 6)),
             w_out=rng.normal(0, 0.3, (3, 6)))
    a = FixedCore(cfg, w)
    x, y, has = _task(rng)
    a.run_sequence(x, y, has)
    for t in range(3):       # stop inside a window: the sums gacc are live state
        a.step(x[t], y[t], True, sos=t == 0)
    a.save(tmp_path / "c.npz")
    b = FixedCore.load(tmp_path / "c.npz")
    assert b.state.gacc["w_out"].any() and b.state.v["w_in"].any() and b.state.mean.any()
    for t in range(3, 12):
        assert np.array_equal(a.step(x[t], y[t], has[t], eos=t == 11),
                              b.step(x[t], y[t], has[t], eos=t == 11))
    for k, v in a.state.arrays().items():
        np.testing.assert_array_equal(v, b.state.arrays()[k], err_msg=k)
    # a checkpoint of the plain rule lacks the options' arrays: refused, naming one
    plain = FixedCore(CoreConfig.load(None, ["n_in=4", "n_hidden=6", "n_out=3"]), w)
    arrays = {k: v for k, v in plain.state.arrays().items()}
    from fptt.golden.fixed_core import CheckpointError, validate_arrays
    with pytest.raises(CheckpointError, match="field 'tr' is missing"):
        validate_arrays(rule_cfg("window=35", "window_max=64"), arrays)


@pytest.mark.parametrize("item, msg", [
    ('fptt.readout="exact"', "fptt.readout must be one of window, trace, not 'exact'"),
    ('fptt.error="ce"', "fptt.error must be one of mse, softmax, not 'ce'"),
    ('fptt.hidden_step="adam"', "fptt.hidden_step must be one of sgd, rms, not 'adam'"),
    ("fptt.mean_shift=0", "fptt.mean_shift must be an integer 1 <= mean_shift <= 24"),
    ("fptt.rms_shift=2.5", "fptt.rms_shift must be an integer 1 <= rms_shift <= 24"),
    ("formats.v.frac=49", "formats.v.frac = 49 must satisfy 0 <= frac <= 48"),
    ("formats.mean.frac=24", "formats.mean.frac = 24 must satisfy 0 <= frac <= width - 1 = 23"),
    (["fptt.hidden_step=\"rms\"", "fptt.rms_shift=24", "formats.grad_w_in.width=32",
      "formats.grad_w_in.frac=31"],
     "the second moment of w_in (fptt.hidden_step) needs a 88-bit intermediate, above the "
     "62-bit bound"),
])
def test_config_refuses_bad_rule_options(item, msg):
    with pytest.raises(ConfigError, match=re.escape(msg)):
        CoreConfig.load(None, [item] if isinstance(item, str) else item)


def test_rtl_refuses_the_rule_options():
    from fptt.rtl.core import FpttCore
    for item in RULES:
        cfg = CoreConfig.load(None, [item])
        with pytest.raises(ValueError, match=r"the learning rule's options are in the golden "
                                             r"models only"):
            FpttCore(cfg)
    cfg = CoreConfig.load(None, RULES[1:])
    with pytest.raises(ValueError, match=r"^fptt\.error = 'softmax', fptt\.hidden_step = 'rms': "):
        FpttCore(cfg)
