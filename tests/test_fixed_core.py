"""The fixed-point golden model: batch = single, checkpoints, and tracking the float twin."""

import numpy as np
import pytest

from fptt.config import CoreConfig
from fptt.golden.fixed_core import FixedCore, FixedState, MATRICES
from fptt.golden.twin import FloatTwin
from fptt.golden.weights import init_weights

# fast learning, so that a few sequences move the weights far
SMALL = CoreConfig(n_in=6, n_hidden=10, n_out=3, window=4, window_max=8, acc_width=0).replace(
    fptt={"lr": 2.0 ** -6, "alpha": 0.5}, neuron={"tau_out": 20.0},
    formats={"w": {"width": 12, "frac": 8}, "wbar": {"width": 16, "frac": 12},
             "grad": {"width": 16, "frac": 10}})


def _data(seed, T=40, n_in=6, n_out=3):
    rng = np.random.default_rng(seed)
    x = (rng.random((T, n_in)) < 0.3) * 1.0
    return x, rng.random((T, n_out)), rng.random(T) < 0.5


def _run(core, sequences):
    return np.concatenate([core.run_sequence(*seq) for seq in sequences], axis=1)


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("lanes", [1, 3])
def test_batched_path_is_bit_exact_with_single_path(rounding, lanes):
    cfg = SMALL.replace(rounding=rounding, lanes=lanes)
    B = 4
    weights = [init_weights(cfg, seed, gain_in=3.0) for seed in range(B)]
    data = [[_data(10 * b + k) for k in range(3)] for b in range(B)]
    batched = FixedCore(cfg, {m: np.stack([w[m] for w in weights]) for m in MATRICES})
    outs = []
    for k in range(3):
        x = np.stack([data[b][k][0] for b in range(B)])
        t = np.stack([data[b][k][1] for b in range(B)])
        h = np.stack([data[b][k][2] for b in range(B)])
        outs.append(batched.run_sequence(x, t, h))
    out_batched = np.concatenate(outs, axis=1)
    full = batched.state.arrays()
    for b in range(B):
        single = FixedCore(cfg, weights[b])
        out_single = _run(single, data[b])
        np.testing.assert_array_equal(out_single[0], out_batched[b])
        for name, arr in single.state.arrays().items():
            np.testing.assert_array_equal(arr[0], full[name][b], err_msg=name)
    # the cores learned something different from each other and from their start
    assert not np.array_equal(full["w.w_out"][0], full["w.w_out"][1])
    assert batched.state.windows[0] == 3 * 10


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_save_restore_continue_is_bit_exact(tmp_path, rounding):
    cfg = SMALL.replace(rounding=rounding, lanes=2)
    w = init_weights(cfg, 1, gain_in=3.0)
    seqs = [_data(k) for k in range(4)]
    straight = FixedCore(cfg, w)
    out_straight = _run(straight, seqs)

    first = FixedCore(cfg, w)
    first.run_sequence(*seqs[0])
    x, t, h = seqs[1]
    outs = [first.step(x[i], t[i], h[i], sos=(i == 0)) for i in range(17)]  # mid-window
    first.save(tmp_path / "ckpt.npz")
    resumed = FixedCore.load(tmp_path / "ckpt.npz")
    assert resumed.cfg == cfg
    outs += [resumed.step(x[i], t[i], h[i], eos=(i == len(x) - 1)) for i in range(17, len(x))]
    out_resumed = np.concatenate([np.stack(outs, axis=1), _run(resumed, seqs[2:])], axis=1)
    np.testing.assert_array_equal(out_straight[:, 40:], out_resumed)
    for name, arr in straight.state.arrays().items():
        np.testing.assert_array_equal(arr, resumed.state.arrays()[name], err_msg=name)


def test_state_arrays_round_trip():
    core = FixedCore(SMALL, init_weights(SMALL, 0))
    core.run_sequence(*_data(0))
    again = FixedState.from_arrays(core.state.arrays())
    for name, arr in core.state.arrays().items():
        np.testing.assert_array_equal(arr, again.arrays()[name])


def _widened(cfg, extra):
    f = cfg.formats
    fm = {n: {"width": getattr(f, n).width + extra, "frac": getattr(f, n).frac + extra}
          for n in f.names() if n not in ("trace", "mean", "v")}   # the options' (off)
    return cfg.replace(formats=fm, rounding="nearest", acc_width=0)


def test_fixed_point_tracks_float_twin_and_error_shrinks_with_fraction_bits():
    """Median over seeds (a flipped spike makes single runs jumpy) of the weight error."""
    medians = []
    for extra in (0, 3, 6):
        errors = []
        for seed in range(10):
            cfg = _widened(SMALL, extra)
            w = init_weights(cfg, seed, gain_in=3.0)
            fixed, twin = FixedCore(cfg, w), FloatTwin(cfg, w)
            x, t, h = _data(seed)
            fixed.run_sequence(x, t, h)
            twin.run_sequence(x, t, h)
            errors.append(max(np.abs(fixed.weights()[m] - twin.weights()[m]).max() for m in w))
            # the run moved the weights far more than the error
            assert max(np.abs(twin.weights()[m] - w[m]).max() for m in w) > 0.05
        medians.append(np.median(errors))
    assert medians[0] < 0.2
    assert medians[1] < medians[0] / 2 and medians[2] < medians[1] / 2, medians


def test_learn_off_changes_no_weight_and_eos_closes_partial_window():
    cfg = SMALL.replace(window=8)
    w = init_weights(cfg, 2, gain_in=3.0)
    core = FixedCore(cfg, w)
    x, t, h = _data(3, T=13)
    core.run_sequence(x, t, h, learn=False)
    assert core.state.windows[0] == 0
    np.testing.assert_array_equal(core.state.w["w_out"][0],
                                  np.round(w["w_out"] / cfg.formats.w.lsb))
    core.run_sequence(x, t, h)
    assert core.state.windows[0] == 2 and core.state.count[0] == 0   # 8 + partial 5


def test_saturation_profile_counts_writes():
    core = FixedCore(SMALL, init_weights(SMALL, 0, gain_in=3.0))
    core.run_sequence(*_data(0))
    prof = core.state.sat.profile()
    assert prof["u"][1] == 40 * SMALL.n_hidden and prof["w"][1] == 10 * SMALL.n_syn
    assert all(0 <= sat <= writes for sat, writes in prof.values())


def test_stochastic_rounding_keeps_small_updates_that_nearest_loses():
    """At low weight precision, tiny updates vanish under nearest; stochastic keeps them."""
    base = SMALL.replace(formats={"w": {"width": 8, "frac": 4}}, acc_width=0,
                         fptt={"lr": 2.0 ** -10, "alpha": 0.5})
    w = init_weights(base, 0, gain_in=3.0)
    moved = {}
    for rounding in ("nearest", "stochastic"):
        cfg = base.replace(rounding=rounding)
        core = FixedCore(cfg, w)
        for k in range(3):
            core.run_sequence(*_data(k))
        moved[rounding] = sum(np.abs(core.weights()[m] - w[m]).sum() for m in w)
    assert moved["stochastic"] > 2 * moved["nearest"]


def test_reset_to_mean_writes_the_running_mean_into_the_weights():
    """W <- W̄ (λ kept), the released scripts' end-of-epoch step, in both golden views."""
    w = init_weights(SMALL, 4, gain_in=3.0)
    fixed, twin = FixedCore(SMALL, w), FloatTwin(SMALL, w)
    for core in (fixed, twin):
        core.run_sequence(*_data(4))
    lam = {m: v.copy() for m, v in fixed.state.lam.items()}
    assert any(not np.array_equal(fixed.state.w[m] << 4, fixed.state.wbar[m]) for m in lam)
    fixed.reset_to_mean()
    twin.reset_to_mean()
    for m in SMALL.params:      # w is Q4.8, W̄ Q4.12: W̄ rounded to nearest, 4 bits dropped
        np.testing.assert_array_equal(fixed.state.w[m], (fixed.state.wbar[m] + 8) >> 4)
        np.testing.assert_array_equal(fixed.state.lam[m], lam[m])
        np.testing.assert_array_equal(twin.w[m], twin.wbar[m])


def test_float_twin_clips_each_gradient_to_its_format_range():
    """The hardware saturates the window gradient in ``formats.grad_P``: the twin clips there."""
    cfg = SMALL.replace(window=8, formats={"grad": {"width": 6, "frac": 4}})   # range ±2
    twin = FloatTwin(cfg, init_weights(cfg, 5, gain_in=3.0))
    x, t, h = _data(5, T=7)
    for k in range(7):
        twin.step(x[k], 20 * t[k], True, sos=(k == 0))
    g = twin.window_gradients()
    assert max(np.abs(v).max() for v in g.values()) > 2     # the clip is active
    before = {m: (twin.w[m].copy(), twin.wbar[m].copy(), twin.lam[m].copy()) for m in cfg.params}
    twin.close_window()
    a = cfg.fptt.alpha
    for m, (w, wbar, lam) in before.items():
        gc = np.clip(g[m], -2.0, 2.0 - 2.0 ** -4)
        np.testing.assert_allclose(twin.w[m], w - getattr(cfg.fptt.lr, m) * (gc + a * (w - wbar) - lam))


def test_per_neuron_membrane_decay():
    """With ``neuron.tau_mem_spread > 1`` neuron ``j`` decays by its own ``α_j`` in the
    fixed-point core and in the twin: no input, no spike, ``u_t = α_j u_{t-1}``."""
    from fptt.golden.fixed_core import neuron_update
    cfg = CoreConfig.load(None, ["n_hidden=4", "neuron.tau_mem=2", "neuron.tau_mem_spread=8",
                                 "neuron.beta_a=0"])
    u0 = 1000
    u = np.full((1, 4), u0, dtype=np.int64)
    zero = np.zeros((1, 4), dtype=np.int64)
    u1, _, s, _ = neuron_update(cfg, u, zero, zero, zero)
    fc = cfg.formats.const.frac
    expect = np.array(cfg.alpha_q) * u0 / (1 << fc)
    assert np.abs(u1[0] - expect).max() <= 0.5 and s.sum() == 0
    assert list(u1[0]) == sorted(set(u1[0]))        # four different decays, slowest last
    w = {m: np.zeros(cfg.param_shapes[m]) for m in cfg.params}
    twin = FloatTwin(cfg, w)
    twin.u[:] = 0.5
    twin.step(np.zeros(cfg.n_in), learn=False)
    np.testing.assert_allclose(twin.u[0], 0.5 * np.array(cfg.alpha_neurons))
