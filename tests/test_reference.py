"""The float reference (PyTorch autograd) against the float twin (DESIGN sections 3, 4, 7.2).

The key property: FPTT as published, run with plain SGD (each parameter's own
step, ``cfg.fptt.lr``), no clipping, the triangle surrogate, the detached reset
and the MSE loss, with parts of ``L`` steps, gives the same weights, biases, W̄
and λ as the float twin with window ``L``, to float64 precision, for several
``L``, for LIF and ALIF.
"""

import numpy as np
import pytest
import torch

from fptt.config import PARAMS, CoreConfig
from fptt.golden.reference import (
    ALIFNetwork, BPTTTrainer, ClassPrior, FPTTTrainer, aux_beta, aux_loss, part_bounds, spike,
)
from fptt.golden.reference.surrogate import MG_PRESETS, SURROGATES
from fptt.golden.twin import FloatTwin
from fptt.golden.weights import init_weights

TOL = 1e-10

#: Neuron variants: LIF, and ALIF with a short adaptation time so that the
#: adaptation (and its gradient path) matters within a 30-step sequence, also with
#: per-neuron membrane time constants.
NEURONS = {
    "lif": {"beta_a": 0.0, "tau_out": 5.0},
    "alif": {"beta_a": 1.8, "tau_adp": 5.0, "tau_out": 5.0},
    # per-neuron membrane time constants, log-spaced from 2 to 32 steps
    "alif-tau": {"beta_a": 1.8, "tau_adp": 5.0, "tau_out": 5.0, "tau_mem": 2.0,
                 "tau_mem_spread": 16.0},
}


#: Fast steps (not the defaults) so that every parameter moves visibly; all different,
#: so that a trainer using one step for every parameter fails.
LRS = {"w_in": 2.0 ** -6, "w_rec": 2.0 ** -5, "b": 2.0 ** -7, "w_out": 2.0 ** -4,
       "b_out": 2.0 ** -8}


def make_cfg(L, neuron, window_max=None, biases=True):
    cfg = CoreConfig(n_in=5, n_hidden=7, n_out=3, window=L, window_max=window_max or max(L, 8),
                     acc_width=28, biases=biases)
    # gradients clip at ±4 (their format's range) now and then, in the twin and the reference
    return cfg.replace(neuron=dict(NEURONS[neuron]), fptt={"lr": dict(LRS), "alpha": 0.5},
                       formats={"grad": {"width": 16, "frac": 13}})


def make_weights(cfg, seed):
    # Gains large enough that the hidden neurons spike; biases nonzero from the start.
    w = init_weights(cfg, seed=seed, gain_in=3.0, gain_rec=1.5, gain_out=1.0)
    rng = np.random.default_rng(seed + 500)
    for p in ("b", "b_out"):
        if p in cfg.params:
            w[p] = rng.normal(0.0, 0.2, cfg.param_shapes[p])
    return w


def make_sequences(cfg, seed, n=2, T=30):
    """Spike inputs for even sequences, signed values for odd ones; targets on random steps."""
    rng = np.random.default_rng(seed + 1000)
    seqs = []
    for k in range(n):
        if k % 2 == 0:
            x = (rng.random((T, cfg.n_in)) < 0.4).astype(np.float64)
        else:
            x = rng.normal(0.3, 0.8, (T, cfg.n_in))
        y = rng.normal(0.0, 1.0, (T, cfg.n_out))
        has = rng.random(T) < 0.4
        has[-1] = True
        seqs.append((x, y, has))
    return seqs


def max_diff(a, b):
    assert set(a) == set(b), (sorted(a), sorted(b))
    return max(float(np.abs(np.asarray(a[m]) - np.asarray(b[m])).max()) for m in a)


def run_both(L, neuron, seed, passes=7, ref_part_len=None, biases=True, clip_value="format"):
    cfg = make_cfg(L, neuron, biases=biases)
    w0 = make_weights(cfg, seed)
    seqs = make_sequences(cfg, seed)
    twin = FloatTwin(cfg, w0)
    # the defaults: optimizer "sgd" with each parameter's cfg.fptt.lr, no norm clipping; the
    # loss gradient clipped to its format's range as the twin does
    ref = FPTTTrainer(cfg, w0, part_len=ref_part_len or L, alpha=cfg.fptt.alpha, loss="mse",
                      clip_value=clip_value)
    spikes = 0.0
    for _ in range(passes):
        for x, y, has in seqs:
            twin.run_sequence(x, y, has)
            with torch.no_grad():
                _, _, spk = ref.net(x, return_spikes=True)
            spikes += float(spk.sum())
            ref.train_sequence(x, y, has)
    return cfg, w0, twin, ref, spikes


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("L", [1, 3, 8])
def test_fptt_reference_equals_float_twin(L, neuron):
    seed = 11
    cfg, w0, twin, ref, spikes = run_both(L, neuron, seed)
    T = 30
    assert cfg.params == PARAMS and len(set(cfg.fptt.lr.as_dict().values())) == len(PARAMS)
    assert {g["lr"] for g in ref.optimizer.param_groups} == set(LRS.values())
    # At least 50 FPTT steps, the same number in both.
    assert ref.updates == twin.windows >= 50
    assert ref.updates == 14 * len(part_bounds(T, L))
    # The test can fail: the network spikes, and every parameter moved.
    assert spikes > 50
    for m in cfg.params:
        assert ref.weights()[m].shape == cfg.param_shapes[m]
        assert np.abs(ref.weights()[m] - w0[m]).max() > 1e-2, m
    assert max(np.abs(v).max() for v in ref.lam.values()) > 1e-3  # the regulariser is active
    twin_w = twin.weights()
    d_w = max_diff(twin_w, ref.weights())
    d_bar = max_diff({m: twin.wbar[m][0] for m in cfg.params}, ref.wbar)
    d_lam = max_diff({m: twin.lam[m][0] for m in cfg.params}, ref.lam)
    print(f"L={L} {neuron}: updates={ref.updates} spikes={spikes:.0f} "
          f"max|ΔW|={d_w:.2e} max|ΔW̄|={d_bar:.2e} max|Δλ|={d_lam:.2e}")
    assert d_w < TOL and d_bar < TOL and d_lam < TOL


def test_comparison_is_sensitive_to_the_gradient_clip():
    """Negative control: without the elementwise clip at the gradient formats' range the
    reference leaves the twin (so the clip is active in the comparison above)."""
    _, _, twin, ref, _ = run_both(8, "alif", 11, clip_value=None)
    assert max_diff(twin.weights(), ref.weights()) > 1e-3
    with pytest.raises(ValueError, match="clip_value must be None or 'format', not 'norm'"):
        FPTTTrainer(make_cfg(1, "lif"), make_weights(make_cfg(1, "lif"), 0), clip_value="norm")


def test_comparison_is_sensitive_to_the_part_length():
    """Negative control: parts of L + 1 steps against a twin window of L do not match."""
    cfg, w0, twin, ref, _ = run_both(3, "alif", seed=5, passes=2, ref_part_len=4)
    assert max_diff(twin.weights(), ref.weights()) > 1e-6


def test_network_forward_equals_float_twin():
    cfg = make_cfg(8, "alif")
    w0 = make_weights(cfg, seed=1)
    x, _, _ = make_sequences(cfg, seed=1, n=1)[0]
    twin = FloatTwin(cfg, w0)
    out_twin = twin.run_sequence(x, learn=False)[0]
    net = ALIFNetwork(cfg, w0)
    with torch.no_grad():
        out, state = net(x)
    assert np.abs(out[0].numpy() - out_twin).max() < 1e-12
    for name in ("u", "a", "s", "o"):
        assert np.abs(getattr(state, name)[0].numpy() - getattr(twin, name)[0]).max() < 1e-12


def drive_twin_window(twin, x, y, has, skip=0):
    """Steps ``0..skip-1`` without learning, then the rest into the window buffer (no eos)."""
    for t in range(x.shape[0]):
        twin.step(x[t], y[t], has[t], sos=(t == 0), learn=(t >= skip))
    assert twin.count == x.shape[0] - skip


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("skip", [0, 6])
def test_bptt_gradient_equals_twin_window_gradient(neuron, skip):
    """Steps ``skip..T-1`` in one twin window (from the state after ``skip`` steps)."""
    T = 15
    cfg = make_cfg(16, neuron, window_max=16)  # window (16) > steps learned: nothing closes
    w0 = make_weights(cfg, seed=2)
    x, y, has = make_sequences(cfg, seed=2, n=1, T=T)[0]
    has[:] = np.random.default_rng(0).random(T) < 0.6
    twin = FloatTwin(cfg, w0)
    drive_twin_window(twin, x, y, has, skip)
    g_twin = {m: v[0] for m, v in twin.window_gradients().items()}
    bptt = BPTTTrainer(cfg, w0, optimizer="sgd", lr=0.0, loss="mse")
    with torch.no_grad():
        _, state = bptt.net(x[:skip])
    g_ref = bptt.gradients(x[skip:], y[skip:], has[skip:], state=state if skip else None)
    for m in cfg.params:
        assert np.abs(g_twin[m]).max() > 1e-3, m
    assert max_diff(g_twin, g_ref) < 1e-12


def test_bptt_batch_gradient_is_sum_of_twin_cores():
    T, B = 12, 3
    cfg = make_cfg(16, "alif", window_max=16)
    w0 = make_weights(cfg, seed=4)
    seqs = make_sequences(cfg, seed=4, n=B, T=T)
    x = np.stack([s[0] for s in seqs])
    y = np.stack([s[1] for s in seqs])
    has = np.stack([s[2] for s in seqs])
    twin = FloatTwin(cfg, w0, batch=B)
    for t in range(T):
        twin.step(x[:, t], y[:, t], has[:, t], sos=(t == 0))
    g_twin = {m: v.sum(0) for m, v in twin.window_gradients().items()}
    bptt = BPTTTrainer(cfg, w0, optimizer="sgd", lr=0.0, loss="mse", batch_reduction="sum")
    assert max_diff(g_twin, bptt.gradients(x, y, has)) < 1e-12


def test_regulariser_gradient_and_published_update():
    """∇R = α(W - W̄) - λ, and the post-step updates of λ and W̄ in the published order."""
    cfg = make_cfg(4, "lif")
    w0 = make_weights(cfg, seed=6)
    ref = FPTTTrainer(cfg, w0, part_len=4, alpha=0.25, lr=0.125)
    rng = np.random.default_rng(0)
    for m in cfg.params:
        ref._wbar[m] = torch.tensor(rng.normal(size=w0[m].shape))
        ref._lam[m] = torch.tensor(rng.normal(size=w0[m].shape))
    ref.net.zero_grad()
    ref.regulariser().backward()
    for m in cfg.params:
        w = w0[m]
        expect = 0.25 * (w - ref.wbar[m]) - ref.lam[m]
        assert np.abs(getattr(ref.net, m).grad.numpy() - expect).max() < 1e-14
    wbar, lam = ref.wbar, ref.lam
    # A sequence with no target: the step is the regulariser's alone.
    x = np.zeros((4, cfg.n_in))
    ref.train_sequence(x, np.zeros((4, cfg.n_out)), np.zeros(4, bool))
    for m in cfg.params:
        w_new = w0[m] - 0.125 * (0.25 * (w0[m] - wbar[m]) - lam[m])
        lam_new = lam[m] - 0.25 * (w_new - wbar[m])
        wbar_new = 0.5 * (wbar[m] + w_new) - lam_new / (2 * 0.25)
        assert np.abs(ref.weights()[m] - w_new).max() < 1e-14
        assert np.abs(ref.lam[m] - lam_new).max() < 1e-14
        assert np.abs(ref.wbar[m] - wbar_new).max() < 1e-14


def test_aux_beta_goes_from_one_over_p_to_one():
    P = 5
    betas = [aux_beta(p, P) for p in range(1, P + 1)]
    assert betas[0] == pytest.approx(1 / P)
    assert betas[-1] == 1.0
    assert all(b1 < b2 for b1, b2 in zip(betas, betas[1:]))
    with pytest.raises(ValueError):
        aux_beta(0, P)


def test_class_prior_starts_uniform_and_remembers_wrong_predictions():
    """The paper's form: a uniform memory, read from the start."""
    q = ClassPrior(n_classes=3, n_parts=4, init="uniform", switch_epoch=1)
    assert torch.allclose(q.table, torch.full((3, 4, 3), 1 / 3, dtype=torch.float64))
    labels = torch.tensor([0, 1, 0, 2])
    probs = torch.tensor([[0.7, 0.2, 0.1],    # class 0, right: not stored
                          [0.6, 0.3, 0.1],    # class 1, wrong: stored in Q_2[1]
                          [0.1, 0.8, 0.1],    # class 0, wrong: stored in Q_2[0]
                          [0.3, 0.3, 0.4]],   # class 2, right
                         dtype=torch.float64)
    before = q.lookup(labels, 2)
    q.update(labels, probs, 2)
    assert torch.allclose(before, torch.full((4, 3), 1 / 3, dtype=torch.float64))
    assert torch.equal(q.table[1, 1], probs[1]) and torch.equal(q.table[0, 1], probs[2])
    assert torch.allclose(q.table[2, 1], torch.full((3,), 1 / 3, dtype=torch.float64))
    assert torch.allclose(q.table[:, [0, 2, 3]], torch.full((3, 3, 3), 1 / 3, dtype=torch.float64))
    q.update(labels, probs, 4)  # the last part is never stored
    assert torch.allclose(q.table[:, 3], torch.full((3, 3), 1 / 3, dtype=torch.float64))


def test_aux_loss_terms():
    logits = torch.tensor([[1.0, -0.5, 0.2], [0.1, 0.3, -1.0]], dtype=torch.float64)
    labels = torch.tensor([2, 1])
    q = torch.full((2, 3), 1 / 3, dtype=torch.float64)
    logp = torch.log_softmax(logits, -1)
    ce = -logp[[0, 1], labels].mean()
    h = -(q * logp).sum(-1).mean()
    assert torch.isclose(aux_loss(logits, labels, q, 1.0), ce)
    # released form (default): H divided by n_classes (torch.mean over the classes too)
    assert torch.isclose(aux_loss(logits, labels, q, 0.25), 0.25 * ce + 0.75 * h / 3)
    assert torch.isclose(aux_loss(logits, labels, q, 0.0), h / 3)
    released = torch.mean(-q * logp, dim=1).mean()      # Kag & Saligrama's expression
    assert torch.isclose(aux_loss(logits, labels, q, 0.0), released)
    # the paper's form: plain H
    assert torch.isclose(aux_loss(logits, labels, q, 0.25, aux_class_mean=False),
                         0.25 * ce + 0.75 * h)


def test_class_prior_released_form():
    """Released: Q uniform before the switch epoch (20), then the memory, which starts at
    zero and is filled from the first epoch on."""
    from fptt.golden.reference.losses import AUX_Q_SWITCH_EPOCH
    assert AUX_Q_SWITCH_EPOCH == 20
    q = ClassPrior(n_classes=3, n_parts=4)           # the released defaults
    assert q.switch_epoch == 20 and torch.equal(q.table, torch.zeros(3, 4, 3, dtype=torch.float64))
    labels = torch.tensor([0, 1, 0, 2])
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
                         dtype=torch.float64)
    uniform = torch.full((4, 3), 1 / 3, dtype=torch.float64)
    for epoch in range(1, 20):
        q.epoch = epoch
        assert q.uniform_now and torch.equal(q.lookup(labels, 2), uniform)
        q.update(labels, probs, 2)      # the memory fills meanwhile
    assert torch.equal(q.table[1, 1], probs[1]) and torch.equal(q.table[0, 1], probs[2])
    q.epoch = 20
    assert not q.uniform_now
    got = q.lookup(labels, 2)
    assert torch.equal(got[0], probs[2]) and torch.equal(got[1], probs[1])
    assert torch.equal(got[3], torch.zeros(3, dtype=torch.float64))   # never wrong: zero
    assert torch.equal(q.lookup(labels, 1), torch.zeros(4, 3, dtype=torch.float64))


def test_fptt_aux_loss_switches_q_at_the_released_epoch():
    """FPTTTrainer's aux loss: released defaults, epochs counted by end_epoch."""
    cfg = make_cfg(5, "alif")
    ref = FPTTTrainer(cfg, make_weights(cfg, seed=3), part_len=5, loss="aux",
                      aux_q_switch_epoch=3)
    assert ref.aux_class_mean and ref.aux_q_init == "zero"
    x = (np.random.default_rng(1).random((4, 20, cfg.n_in)) < 0.4).astype(np.float64)
    labels = np.array([0, 1, 2, 1])
    seen = []
    assert ref.prior is None
    for epoch in (1, 2, 3, 4):
        ref.train_sequence(x, labels)
        seen.append((ref.prior.epoch, ref.prior.uniform_now))
        ref.end_epoch()
    assert seen == [(1, True), (2, True), (3, False), (4, False)]


def test_fptt_aux_loss_trains_with_published_defaults():
    """Terminal prediction with the aux loss, Adam, clip 1 and α = 0.1: runs and fills Q."""
    cfg = make_cfg(5, "alif")
    w0 = make_weights(cfg, seed=7)
    ref = FPTTTrainer(cfg, w0, part_len=5, optimizer="adam", lr=1e-2, alpha=0.1, clip=1.0,
                      loss="aux")
    rng = np.random.default_rng(0)
    x = (rng.random((4, 20, cfg.n_in)) < 0.4).astype(np.float64)
    labels = np.array([0, 1, 2, 1])
    loss = ref.train_sequence(x, labels)
    assert np.isfinite(loss) and ref.updates == 4
    assert ref.prior.table.shape == (3, 4, 3)
    # One-hot per-step targets give the same labels.
    onehot = np.zeros((4, 20, 3))
    onehot[np.arange(4), -1, labels] = 1
    assert torch.equal(ref._labels(onehot, None, 4, 20), torch.as_tensor(labels))
    for m in cfg.params:
        assert np.abs(ref.weights()[m] - w0[m]).max() > 0


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_bptt_train_batch_lowers_the_loss(loss, optimizer):
    cfg = make_cfg(8, "lif")
    w0 = make_weights(cfg, seed=8)
    rng = np.random.default_rng(1)
    x = (rng.random((4, 15, cfg.n_in)) < 0.4).astype(np.float64)
    y = np.eye(3)[rng.integers(0, 3, (4, 15))]
    has = np.zeros((4, 15), bool)
    has[:, -3:] = True
    lr = 0.02 if optimizer == "sgd" else 0.01
    tr = BPTTTrainer(cfg, w0, optimizer=optimizer, lr=lr, clip=1.0, loss=loss)
    first = tr.train_batch(x, y, has)
    for _ in range(30):
        last = tr.train_batch(x, y, has)
    assert last < first
    assert tr.forward(x).shape == (4, 15, 3)


def test_surrogate_presets():
    """Both multi-Gaussian presets, labelled with their released widths; "mg" is sFPTT's."""
    assert {"triangle", "mg", "mg-sfptt", "mg-srnn"} <= set(SURROGATES)
    assert MG_PRESETS["sfptt"][:4] == (0.5, 0.3, 6.0, 0.15)
    assert MG_PRESETS["srnn"][:4] == (0.5, 0.5, 6.0, 0.15)
    assert "0.3" in MG_PRESETS["sfptt"].source and "sFPTT" in MG_PRESETS["sfptt"].source
    assert "0.5" in MG_PRESETS["srnn"].source
    v0 = torch.tensor([-1.0, -0.25, 0.0, 0.1, 0.5, 2.0], dtype=torch.float64)
    vn = v0.numpy()
    n = lambda mu, sig: np.exp(-(vn - mu) ** 2 / (2 * sig ** 2)) / (np.sqrt(2 * np.pi) * sig)  # noqa: E731
    grads = {}
    for kind in ("mg", "mg-sfptt", "mg-srnn"):
        v = v0.clone().requires_grad_(True)
        s = spike(v, kind)
        assert s.tolist() == [0, 0, 1, 1, 1, 1]
        s.sum().backward()
        grads[kind] = v.grad.numpy()
    for kind, sig in (("mg-sfptt", 0.3), ("mg-srnn", 0.5)):
        expect = 0.5 * (1.15 * n(0, sig) - 0.15 * n(sig, 6 * sig) - 0.15 * n(-sig, 6 * sig))
        assert np.allclose(grads[kind], expect), kind
    assert np.array_equal(grads["mg"], grads["mg-sfptt"])
    assert not np.allclose(grads["mg-sfptt"], grads["mg-srnn"])
    with pytest.raises(ValueError):
        spike(v0, "mg-other")


def test_surrogates():
    v = torch.tensor([-1.0, -0.25, 0.0, 0.1, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    s = spike(v, "triangle", 0.5, 0.5)
    assert s.tolist() == [0, 0, 1, 1, 1, 1]
    s.sum().backward()
    expect = 0.5 * np.maximum(0, 1 - np.abs(v.detach().numpy()) / 0.5)
    assert np.allclose(v.grad.numpy(), expect)
    v2 = v.detach().clone().requires_grad_(True)
    spike(v2, "mg-srnn").sum().backward()
    g = v2.grad.numpy()
    vn = v.detach().numpy()
    n = lambda mu, sig: np.exp(-(vn - mu) ** 2 / (2 * sig ** 2)) / (np.sqrt(2 * np.pi) * sig)  # noqa: E731
    mg = 0.5 * (1.15 * n(0, 0.5) - 0.15 * n(0.5, 3.0) - 0.15 * n(-0.5, 3.0))
    assert np.allclose(g, mg) and g[2] == g.max()
    net = ALIFNetwork(make_cfg(8, "lif"), surrogate="mg-sfptt")
    assert net.surrogate == "mg-sfptt"


def test_fptt_reference_equals_float_twin_without_biases():
    cfg, w0, twin, ref, _ = run_both(3, "alif", seed=11, passes=3, biases=False)
    assert cfg.params == ("w_in", "w_rec", "w_out") and set(ref.weights()) == set(cfg.params)
    assert max_diff(twin.weights(), ref.weights()) < TOL


def test_optimizer_steps_per_parameter():
    """SGD without lr: cfg.fptt.lr per parameter (BPTT too); Adam without lr: one 1e-3;
    a number: one step for all."""
    cfg = make_cfg(4, "lif")
    w0 = make_weights(cfg, seed=1)
    for tr in (FPTTTrainer(cfg, w0, optimizer="sgd"), BPTTTrainer(cfg, w0, optimizer="sgd")):
        assert len(tr.optimizer.param_groups) == len(cfg.params)
        assert {tuple(g["params"][0].shape): g["lr"] for g in tr.optimizer.param_groups} == \
            {cfg.param_shapes[p]: LRS[p] for p in cfg.params}
    assert {g["lr"] for g in FPTTTrainer(cfg, w0, optimizer="adam").optimizer.param_groups} == {1e-3}
    assert {g["lr"] for g in BPTTTrainer(cfg, w0, optimizer="sgd", lr=0.5).optimizer.param_groups} \
        == {0.5}
    # BPTT with plain SGD: one step is W - η_W ∇_W L for every parameter
    x, y, has = make_sequences(cfg, seed=1, n=1, T=10)[0]
    tr = BPTTTrainer(cfg, w0, optimizer="sgd")
    g = tr.gradients(x, y, has)
    tr.train_batch(x, y, has)
    for p in cfg.params:
        assert np.abs(tr.weights()[p] - (w0[p] - LRS[p] * g[p])).max() < 1e-14, p


def test_reference_learner_resets_to_mean_at_epoch_end():
    """TrainSettings.reset_to_mean: W <- W-bar at the end of every ref-fptt epoch (lambda kept)."""
    from fptt.train import TrainSettings, _ReferenceLearner
    from fptt.tasks.base import Sequence
    cfg = make_cfg(5, "alif")
    w0 = make_weights(cfg, seed=9)
    seqs = make_sequences(cfg, seed=9, n=2, T=20)
    order = [[Sequence(x=x, target=y, has_target=has, decision=has, label=0)
              for x, y, has in seqs]]
    ident = lambda it: it  # noqa: E731
    results = {}
    for reset in (False, True):
        st = TrainSettings(reset_to_mean=reset, ref_optimizer="sgd", ref_lr=None, ref_clip=None)
        assert TrainSettings().reset_to_mean is False
        lr = _ReferenceLearner("ref-fptt", cfg, [w0], st)
        tr = lr.trainers[0]
        calls = []
        orig = tr.reset_to_mean
        tr.reset_to_mean = lambda zero_lambda=False: (calls.append(zero_lambda), orig(zero_lambda))
        for epoch in (1, 2):
            lr.train_epoch(order, ident)
            assert tr.epoch == epoch + 1
            wbar, w = tr.wbar, lr.weights()
            if reset:
                assert max_diff(wbar, w) == 0.0
            else:
                assert max_diff(wbar, w) > 1e-6
        assert calls == ([False, False] if reset else [])
        results[reset] = (lr.weights(), tr.lam)
    assert max(np.abs(v).max() for v in results[True][1].values()) > 0     # λ kept
    assert max_diff(results[False][0], results[True][0]) > 1e-6


def test_rate_penalty_value_and_gradient():
    """R = γ Σ_j (r̄_j - r*)², r̄_j over batch and steps; ∂R/∂s = 2γ(r̄_j - r*)/(B·T)."""
    from fptt.golden.reference.losses import rate_penalty
    s = torch.tensor([[[1., 0.], [1., 0.], [0., 0.], [1., 1.]],
                      [[0., 0.], [1., 0.], [1., 0.], [1., 0.]]], dtype=torch.float64,
                     requires_grad=True)                     # B = 2, T = 4: rates 6/8, 1/8
    r = rate_penalty(s, 0.25, 3.0)
    assert float(r.detach()) == pytest.approx(3.0 * ((0.75 - 0.25) ** 2 + (0.125 - 0.25) ** 2))
    r.backward()
    expect = np.broadcast_to([2 * 3.0 * 0.5 / 8, 2 * 3.0 * -0.125 / 8], (2, 4, 2))
    assert np.allclose(s.grad.numpy(), expect)


@pytest.mark.parametrize("trainer", [BPTTTrainer, FPTTTrainer])
def test_rate_penalty_arguments_are_checked(trainer):
    cfg = make_cfg(5, "lif")
    w0 = make_weights(cfg, seed=3)
    with pytest.raises(ValueError, match=r"^rate_reg must be >= 0, not -1\.0$"):
        trainer(cfg, w0, rate_reg=-1.0)
    with pytest.raises(ValueError, match=r"^target_rate must be in \[0, 1\] \(spikes per step\), "
                                         r"not 1\.5$"):
        trainer(cfg, w0, rate_reg=1.0, target_rate=1.5)


@pytest.mark.parametrize("trainer", [BPTTTrainer, FPTTTrainer])
def test_rate_penalty_is_added_to_the_loss(trainer):
    """With γ > 0 the loss of a whole sequence (FPTT: one part) is the data loss plus
    γ Σ_j (r̄_j - r*)² of its spikes, and the step it takes differs."""
    from fptt.golden.reference.losses import rate_penalty
    cfg = make_cfg(8, "alif")
    w0 = make_weights(cfg, seed=4)
    x, y, has = make_sequences(cfg, seed=4, n=1, T=20)[0]
    kw = dict(loss="mse", optimizer="sgd", lr=0.01)
    if trainer is FPTTTrainer:
        kw["part_len"] = 20
    plain, reg = trainer(cfg, w0, **kw), trainer(cfg, w0, rate_reg=2.0, target_rate=0.5, **kw)
    with torch.no_grad():
        _, _, spk = plain.net(x, return_spikes=True)
    penalty = float(rate_penalty(spk, 0.5, 2.0))
    assert penalty > 0.05
    step = "train_batch" if trainer is BPTTTrainer else "train_sequence"
    l0, l1 = getattr(plain, step)(x, y, has), getattr(reg, step)(x, y, has)
    assert l1 == pytest.approx(l0 + penalty, rel=1e-12)
    assert max_diff(plain.weights(), reg.weights()) > 1e-6


def test_reference_learner_takes_the_rate_penalty_from_the_settings():
    from fptt.train import TrainSettings, _ReferenceLearner
    cfg = make_cfg(5, "alif")
    w0 = make_weights(cfg, seed=9)
    for kind in ("ref-fptt", "ref-bptt"):
        tr = _ReferenceLearner(kind, cfg, [w0], TrainSettings(ref_rate_reg=20.0, ref_rate=0.1,
                                                              ref_loss="ce")).trainers[0]
        assert (tr.rate_reg, tr.target_rate) == (20.0, 0.1)
        assert _ReferenceLearner(kind, cfg, [w0], TrainSettings()).trainers[0].rate_reg == 0.0


def test_trainers_record_the_gradient_norm_before_clipping():
    """``grad_norms`` holds ‖∇‖₂ of each update before the clip: the norm of the gradients the
    same batch gives, however small the clip; without a clip the gradients are left as they are."""
    from fptt.golden.reference import clip_gradients
    cfg = make_cfg(6, "alif")
    w0 = make_weights(cfg, 2)
    rng = np.random.default_rng(3)
    x, target = rng.random((4, 12, cfg.n_in)), rng.random((4, 12, cfg.n_out))
    bptt = BPTTTrainer(cfg, w0, lr=1e-3, clip=1e-6)
    norm = np.sqrt(sum((g ** 2).sum() for g in bptt.gradients(x, target).values()))
    assert norm > 1e-3          # the clip is active: the record is not the clipped norm
    bptt.train_batch(x, target)
    bptt.train_batch(x, target)
    assert len(bptt.grad_norms) == 2 and bptt.grad_norms[0] == pytest.approx(norm, rel=1e-9)
    assert bptt.grad_norms[1] != bptt.grad_norms[0]     # the weights moved in between
    fptt = FPTTTrainer(cfg, w0, lr=1e-3, clip=1.0)
    fptt.train_sequence(x[0], target[0])
    assert len(fptt.grad_norms) == fptt.updates == 2 and min(fptt.grad_norms) > 0
    # clip None: the norm, and the gradients untouched
    p = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    p.grad = torch.tensor([3.0, 4.0])
    assert clip_gradients([p], None) == pytest.approx(5.0)
    assert p.grad.tolist() == [3.0, 4.0]
    assert clip_gradients([p], 1.0) == pytest.approx(5.0)
    assert p.grad.tolist() == pytest.approx([0.6, 0.8])
    assert clip_gradients([torch.nn.Parameter(torch.zeros(2))], 1.0) == 0.0   # no gradient yet
