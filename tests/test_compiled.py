"""The compiled golden model equals the NumPy specification bit for bit.

Property tests over random accepted configurations (sizes, formats, windows,
lanes, rounding, LIF/ALIF, biases, per-parameter learning rates, input scale,
per-neuron membrane time constants, frozen parameters, the learning rule's options:
readout trace, softmax error, RMS-normalised hidden step, with their formats), random
inputs (spikes and signed multi-bit values), random schedules (sos/eos/learn, targets
present or not) and batches of independent cores: every state array of
:meth:`FixedState.arrays` (weights, W̄, λ, neuron state, window buffers, LFSR states,
step/window counts, the options' traces, spike means, readout gradient sums and second
moments, saturation counters) and every readout must be equal; checkpoints written by
one load in the other.
The float twin is checked to a few ulp.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis import reject  # noqa: E402

from fptt.config import PARAMS, V_MAX_FRAC, ConfigError, CoreConfig  # noqa: E402
from fptt.golden import compiled  # noqa: E402
from fptt.golden.compiled import CompiledFixedCore, CompiledTwin, make_core  # noqa: E402
from fptt.golden.compiled import _fixed_kernels as kr  # noqa: E402
from fptt.golden.fixed_core import FixedCore  # noqa: E402
from fptt.golden.twin import FloatTwin  # noqa: E402
from fptt.golden.weights import init_weights  # noqa: E402

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.filter_too_much],
                derandomize=True)

FORMAT_NAMES = ("x", "w", "wbar", "lam", "u", "a", "o", "psi", "delta", "obar", "sbar", "vbar",
                "ubar", "abar", "ibar", "grad_w_in", "grad_w_rec", "grad_b", "grad_w_out",
                "grad_b_out")


@st.composite
def configs(draw):
    """A random configuration the constructor accepts (small, to keep the spec quick)."""
    window_max = draw(st.integers(1, 6))
    rule = draw(st.integers(0, 7))      # the learning rule's options, one bit each
    fmts = {}
    names = draw(st.lists(st.sampled_from(FORMAT_NAMES), max_size=6, unique=True))
    # the options' own formats, mostly where the option is on
    names += [n for n, bit in (("trace", 1), ("mean", 1), ("v", 4))
              if draw(st.integers(0, 3)) < (3 if rule & bit else 1)]
    for name in names:
        width = draw(st.integers(4, 20))
        # v's frac may exceed its width (it holds squares of gradients far below 1)
        top = V_MAX_FRAC if name == "v" else width - 2
        fmts[name] = {"width": width, "frac": draw(st.integers(0, top))}
    lr = {p: 2.0 ** -draw(st.integers(0, 12)) for p in PARAMS}
    kw = dict(
        n_in=draw(st.integers(1, 5)), n_hidden=draw(st.integers(1, 7)),
        n_out=draw(st.integers(1, 3)), window_max=window_max,
        window=draw(st.integers(1, window_max)), lanes=draw(st.integers(1, 3)),
        rounding=draw(st.sampled_from(["nearest", "stochastic"])),
        lfsr_seed=draw(st.integers(1, 2 ** 32 - 1)), biases=draw(st.booleans()), acc_width=0,
    )
    neuron = dict(beta_a=draw(st.sampled_from([0.0, 1.8, 0.3])),
                  input_scale=draw(st.sampled_from(["one", "1-alpha"])),
                  tau_out=draw(st.sampled_from([2.0, 5.0, 20.0])),
                  tau_mem=draw(st.sampled_from([2.0, 20.0])),
                  tau_mem_spread=draw(st.sampled_from([1.0, 1.0, 16.0])),
                  surrogate_width=draw(st.sampled_from([0.25, 0.5, 1.0])))
    fptt = dict(lr=lr, alpha=2.0 ** -draw(st.integers(0, 4)),
                readout=("window", "trace")[rule & 1], error=("mse", "softmax")[rule >> 1 & 1],
                hidden_step=("sgd", "rms")[rule >> 2 & 1],
                mean_shift=draw(st.integers(1, 14)), rms_shift=draw(st.integers(1, 12)))
    try:
        cfg = CoreConfig(**kw).replace(neuron=neuron, fptt=fptt, formats=fmts)
        cfg = cfg.replace(acc_width=cfg.acc_bits_needed)
    except ConfigError:
        reject()
    choice = draw(st.sampled_from(["none", "readout-only", "one", "none", "all"]))
    frozen = {"none": (), "all": cfg.params,
              "readout-only": tuple(p for p in ("w_in", "w_rec", "b") if p in cfg.params),
              "one": (draw(st.sampled_from(cfg.params)),)}[choice]
    return cfg, frozen


def _weights(cfg, rng, B):
    """Per-core weights, with random biases (``init_weights`` starts them at 0)."""
    ws = []
    for b in range(B):
        w = init_weights(cfg, int(rng.integers(1 << 30)), gain_in=float(rng.uniform(0.5, 4)),
                         gain_rec=float(rng.uniform(0, 1.5)), gain_out=float(rng.uniform(0, 2)))
        for m in cfg.params:
            if m in ("b", "b_out"):
                w[m] = rng.normal(0, 0.3, w[m].shape)
        ws.append(w)
    return {m: np.stack([w[m] for w in ws]) for m in ws[0]}


def _inputs(rng, B, T, n_in, spikes):
    if spikes:
        return (rng.random((B, T, n_in)) < 0.4) * 1.0
    return rng.normal(0, 1.0, (B, T, n_in)) * (rng.random((B, T, n_in)) < 0.7)


def _drive(cores, rng, cfg, B, n_ops):
    """The same random host traffic on every core; readouts must agree at every op."""
    for _ in range(n_ops):
        kind = rng.integers(4)
        T = int(rng.integers(1, 3 * cfg.window_max + 3))
        x = _inputs(rng, B, T, cfg.n_in, rng.random() < 0.5)
        tg = rng.uniform(-1.5, 2.0, (B, T, cfg.n_out))
        ht = rng.random((B, T)) < 0.6
        if kind == 0:       # a whole sequence
            learn = bool(rng.random() < 0.8)
            with_tg = bool(rng.random() < 0.8)
            outs = [c.run_sequence(x, tg if with_tg else None, ht if with_tg else None, learn)
                    for c in cores]
        elif kind == 1:     # a sequence shared by the batch, targets everywhere
            outs = [c.run_sequence(x[0], tg[0], np.ones(T, bool)) for c in cores]
        else:               # step by step with random flags, some steps without a target
            outs = [[] for _ in cores]
            for t in range(T):
                flags = dict(sos=bool(rng.random() < 0.1), eos=bool(rng.random() < 0.15),
                             learn=bool(rng.random() < 0.85))
                with_tg = rng.random() < 0.7
                for c, o in zip(cores, outs):
                    o.append(c.step(x[:, t], tg[:, t] if with_tg else None,
                                    ht[:, t] if with_tg else None, **flags))
            outs = [np.stack(o, axis=1) for o in outs]
        for o in outs[1:]:
            np.testing.assert_array_equal(outs[0], o)
        if rng.random() < 0.2:      # the host's epoch end
            for c in cores:
                c.reset_to_mean()


def _assert_same_state(a, b):
    A, C = a.state.arrays(), b.state.arrays()
    assert list(A) == list(C)
    for name in A:
        np.testing.assert_array_equal(A[name], C[name], err_msg=name)
        assert A[name].dtype == C[name].dtype, name


@settings(max_examples=60, **SETTINGS)
@given(configs(), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_compiled_fixed_core_is_bit_exact(tmp_path_factory, cfg_frozen, B, seed):
    cfg, frozen = cfg_frozen
    rng = np.random.default_rng(seed)
    w = _weights(cfg, rng, B)
    spec = FixedCore(cfg, w, frozen=frozen)
    fast = CompiledFixedCore(cfg, w, frozen=frozen)
    _drive([spec, fast], rng, cfg, B, 4)
    _assert_same_state(spec, fast)

    # checkpoints: each loads the other's and both continue identically
    tmp = tmp_path_factory.mktemp("ckpt")
    spec.save(tmp / "spec.npz")
    fast.save(tmp / "fast.npz")
    fast2 = CompiledFixedCore.load(tmp / "spec.npz", frozen=frozen)
    spec2 = FixedCore.load(tmp / "fast.npz")
    spec2.frozen = frozen
    assert fast2.cfg == cfg and spec2.cfg == cfg
    _assert_same_state(spec2, fast2)
    _drive([spec, fast, spec2, fast2], rng, cfg, B, 2)
    _assert_same_state(spec, fast)
    _assert_same_state(spec, fast2)
    _assert_same_state(spec, spec2)


@settings(max_examples=15, **SETTINGS)
@given(configs(), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_compiled_twin_matches_float_twin(cfg_frozen, B, seed):
    cfg, frozen = cfg_frozen
    rng = np.random.default_rng(seed)
    w = _weights(cfg, rng, B)
    spec = FloatTwin(cfg, w, frozen=frozen)
    fast = CompiledTwin(cfg, w, frozen=frozen)
    for _ in range(4):
        T = int(rng.integers(1, 3 * cfg.window_max + 3))
        x = _inputs(rng, B, T, cfg.n_in, rng.random() < 0.5)
        tg = rng.uniform(-1.5, 2.0, (B, T, cfg.n_out))
        ht = rng.random((B, T)) < 0.6
        learn = bool(rng.random() < 0.8)
        np.testing.assert_allclose(spec.run_sequence(x, tg, ht, learn),
                                   fast.run_sequence(x, tg, ht, learn), rtol=1e-9, atol=1e-12)
        if rng.random() < 0.3:
            spec.reset_to_mean()
            fast.reset_to_mean()
        flags = dict(sos=bool(rng.random() < 0.3), eos=bool(rng.random() < 0.3))
        np.testing.assert_allclose(spec.step(x[:, 0], tg[:, 0], ht[:, 0], **flags),
                                   fast.step(x[:, 0], tg[:, 0], ht[:, 0], **flags),
                                   rtol=1e-9, atol=1e-12)
    assert spec.count == fast.count and spec.windows == fast.windows
    for name in ("u", "a", "s", "o", "buf_x", "buf_s", "buf_psi", "buf_delta"):
        np.testing.assert_allclose(getattr(spec, name), getattr(fast, name), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    for d in ("w", "wbar", "lam"):
        for m in cfg.params:
            np.testing.assert_allclose(getattr(spec, d)[m], getattr(fast, d)[m], rtol=1e-9,
                                       atol=1e-12, err_msg=f"{d}.{m}")


@pytest.mark.parametrize("options", [False, True], ids=["default-rule", "rule-options"])
def test_every_saturation_counter_is_exercised(options):
    """Narrow formats: every quantity saturates somewhere, and the counts agree; with the
    learning rule's options on (readout trace, softmax error, RMS step) also the trace, the
    spike mean and the second moment."""
    narrow = {q: {"width": 6, "frac": 3} for q in ("a", "u", "o", "delta", "obar", "sbar", "vbar",
                                                  "ubar", "abar", "ibar", "grad")}
    narrow.update(lam={"width": 8, "frac": 7}, wbar={"width": 8, "frac": 6},
                  w={"width": 8, "frac": 6}, sbar={"width": 8, "frac": 3},
                  vbar={"width": 6, "frac": 3}, ubar={"width": 7, "frac": 3},
                  ibar={"width": 6, "frac": 3})
    fptt = {"lr": 2.0 ** -2, "alpha": 0.5}
    if options:
        narrow.update(trace={"width": 5, "frac": 2}, mean={"width": 4, "frac": 3},
                      v={"width": 8, "frac": 12})
        fptt.update(readout="trace", error="softmax", hidden_step="rms", mean_shift=1,
                    rms_shift=2)
    neuron = {"beta_a": 1.8, "theta0": 3.5, "tau_adp": 5.0, "surrogate_height": 1.0,
              "surrogate_width": 4.0}
    cfg = CoreConfig(n_in=5, n_hidden=8, n_out=3, window=6, window_max=8, lanes=3,
                     acc_width=0).replace(formats=narrow, neuron=neuron, fptt=fptt)
    cfg = cfg.replace(acc_width=cfg.acc_bits_needed)
    rng = np.random.default_rng(7)
    w = {m: v * 3 for m, v in _weights(cfg, rng, 2).items()}
    spec, fast = FixedCore(cfg, w), CompiledFixedCore(cfg, w)
    for _ in range(3):
        x = rng.normal(0, 3, (2, 40, cfg.n_in))
        tg = rng.uniform(-10, 10, (2, 40, cfg.n_out))
        np.testing.assert_array_equal(spec.run_sequence(x, tg, np.ones((2, 40), bool)),
                                      fast.run_sequence(x, tg, np.ones((2, 40), bool)))
    _assert_same_state(spec, fast)
    sat = spec.state.sat.counts
    assert {q for q in sat if sat[q].sum() > 0} >= set(narrow) - {"a"} | {"threshold"}
    # every quantity the kernels count is written (the options' only with them on)
    assert set(sat) == set(kr.Q_NAMES) - (set() if options else {"trace", "mean", "v"})


SMALL = CoreConfig(n_in=4, n_hidden=9, n_out=3, window=5, window_max=8, lanes=2,
                   acc_width=0).replace(fptt={"lr": 2.0 ** -6})


def _seqs(rng, n, B=1, T=23, n_in=4, n_out=3):
    return [(_inputs(rng, B, T, n_in, True), rng.random((B, T, n_out)), rng.random((B, T)) < 0.5)
            for _ in range(n)]


def test_run_sequences_equals_one_call_per_sequence():
    rng = np.random.default_rng(0)
    w = init_weights(SMALL, 0, gain_in=3.0)
    seqs = _seqs(rng, 4)
    a, b = CompiledFixedCore(SMALL, w), CompiledFixedCore(SMALL, w)
    outs_a = [a.run_sequence(*s) for s in seqs]
    outs_b = b.run_sequences(*zip(*seqs))
    for oa, ob in zip(outs_a, outs_b):
        np.testing.assert_array_equal(oa, ob)
    _assert_same_state(a, b)
    ta, tb = CompiledTwin(SMALL, w), CompiledTwin(SMALL, w)
    for oa, ob in zip([ta.run_sequence(*s) for s in seqs], tb.run_sequences(*zip(*seqs))):
        np.testing.assert_array_equal(oa, ob)


def test_host_may_replace_state_arrays():
    rng = np.random.default_rng(3)
    w = init_weights(SMALL, 0, gain_in=3.0)
    spec, fast = FixedCore(SMALL, w), CompiledFixedCore(SMALL, w)
    seqs = _seqs(rng, 3)
    for core in (spec, fast):
        core.run_sequence(*seqs[0])
        core.state.w["w_out"] = np.full_like(core.state.w["w_out"], 5)
        core.state.u = core.state.u[:, ::-1]       # not contiguous any more
        for s in seqs[1:]:
            core.run_sequence(*s)
    _assert_same_state(spec, fast)


def test_predict_equals_spec_inference():
    rng = np.random.default_rng(1)
    cfg = SMALL.replace(rounding="nearest")
    core = CompiledFixedCore(cfg, init_weights(cfg, 2, gain_in=3.0))
    for s in _seqs(rng, 3):
        core.run_sequence(*s)
    xs = np.concatenate([_inputs(rng, 5, 30, cfg.n_in, True),
                         _inputs(rng, 5, 30, cfg.n_in, False)])
    w = {m: np.broadcast_to(v, (len(xs),) + v.shape) for m, v in core.weights().items()}
    np.testing.assert_array_equal(core.predict(xs), FixedCore(cfg, w).run_sequence(xs, learn=False))
    twin = CompiledTwin(cfg, init_weights(cfg, 2, gain_in=3.0))
    wt = {m: np.broadcast_to(v, (len(xs),) + v.shape) for m, v in twin.weights().items()}
    np.testing.assert_allclose(twin.predict(xs), FloatTwin(cfg, wt).run_sequence(xs, learn=False),
                               rtol=1e-12, atol=1e-12)


def test_make_core_engines_and_fallback_notice(monkeypatch, capsys):
    w = init_weights(SMALL, 0)
    assert isinstance(make_core("fixed", SMALL, w), CompiledFixedCore)
    assert isinstance(make_core("twin", SMALL, w), CompiledTwin)
    assert isinstance(make_core("fixed", SMALL, w, engine="spec"), FixedCore)
    assert isinstance(make_core("twin", SMALL, w, engine="spec", frozen=("w_in",)), FloatTwin)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(compiled, "HAVE_NUMBA", False)
    core = make_core("fixed", SMALL, w, batch=2, frozen=("w_rec",))
    assert isinstance(core, FixedCore) and core.batch == 2 and core.frozen == ("w_rec",)
    err = capsys.readouterr().err
    assert "numba" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="unknown engine"):
        make_core("fixed", SMALL, w, engine="gpu")
    with pytest.raises(ValueError, match="cannot freeze"):
        CompiledFixedCore(SMALL.replace(biases=False), w, frozen=("b",))


def _frames_to_schedule(frames, n_out):
    """Frames of the co-simulation benches as the compiled kernel's codes and flags."""
    X = np.array([[fr["x"] for fr in frames]], np.int64)
    TG = np.array([[fr["target"] or [0] * n_out for fr in frames]], np.int64)
    HT = np.array([[fr["has_target"] for fr in frames]], bool)
    flags = np.array([kr.F_SOS * fr["sos"] | kr.F_EOS * fr["eos"] | kr.F_LEARN * fr["learn"]
                      | kr.F_TGT * (fr["target"] is not None) for fr in frames], np.int64)
    return X, TG, HT, flags


@pytest.mark.parametrize("name", ["base", "p2-l4-stochastic", "p2-l32-rates", "up5k"])
def test_compiled_path_agrees_with_the_cosimulation_scoreboard(name):
    """The co-simulation sweep's stimulus (frames, start state) run by the scoreboard's golden
    model and by the compiled path: every state array equal (the RTL equals the first)."""
    from test_cosim import CONFIGS, SWEEP_PARAMS
    from fptt.golden.fixed_core import step
    from fptt.sim.stimulus import initial_state, training_frames
    from fptt.tasks.cue import make_cue_task
    cfg = CONFIGS[name]
    params = {"steps": 150, "inference_every": 3, "seed": 3}
    params.update(SWEEP_PARAMS.get(name, {}))
    task = make_cue_task(cfg, seed=params["seed"], **params.get("task_kw", {}))
    frames = training_frames(cfg, task, params["steps"], inference_every=params["inference_every"])
    spec = initial_state(cfg, seed=1, gain_in=4.0, gain_rec=1.0, gain_out=1.0)
    compiled = CompiledFixedCore.from_state(cfg, spec)
    outs = []
    for fr in frames:
        tgt = None if fr["target"] is None else np.array([fr["target"]], np.int64)
        outs.append(step(cfg, spec, np.array([fr["x"]], np.int64), tgt, fr["has_target"],
                         sos=fr["sos"], eos=fr["eos"], learn=fr["learn"]).copy())
    got = compiled.run_schedule(*_frames_to_schedule(frames, cfg.n_out))
    np.testing.assert_array_equal(np.stack(outs, axis=1), got)
    assert spec.windows[0] >= 4
    want, have = spec.arrays(), compiled.state.arrays()
    assert list(want) == list(have)
    for key in want:
        np.testing.assert_array_equal(want[key], have[key], err_msg=key)


def test_compiled_per_neuron_time_constants():
    """Per-neuron membrane time constants (``tau_mem_spread``) reach the compiled kernels: the
    compiled fixed-point core equals the specification bit for bit and the compiled twin the
    twin, and both differ from the same cores with one shared ``α``."""
    cfg = CoreConfig(n_in=3, n_hidden=6, n_out=2, window=4, window_max=5, acc_width=0)
    cfg = cfg.replace(neuron={"tau_mem": 2.0, "tau_mem_spread": 16.0})
    cfg = cfg.replace(acc_width=cfg.acc_bits_needed)
    shared = cfg.replace(neuron={"tau_mem_spread": 1.0})
    rng = np.random.default_rng(3)
    w = _weights(cfg, rng, 2)
    x = _inputs(rng, 2, 40, cfg.n_in, False)
    tg = rng.uniform(-1, 1, (2, 40, cfg.n_out))
    has = np.ones((2, 40), bool)
    out = {}
    for name, c in (("per-neuron", cfg), ("shared", shared)):
        spec, fast = FixedCore(c, w), CompiledFixedCore(c, w)
        out[name] = spec.run_sequence(x, tg, has)
        np.testing.assert_array_equal(out[name], fast.run_sequence(x, tg, has))
        _assert_same_state(spec, fast)
        t_spec, t_fast = FloatTwin(c, w), CompiledTwin(c, w)
        np.testing.assert_allclose(t_spec.run_sequence(x, tg, has),
                                   t_fast.run_sequence(x, tg, has), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(t_spec.w["w_rec"], t_fast.w["w_rec"], rtol=1e-9, atol=1e-12)
    assert not np.array_equal(out["per-neuron"], out["shared"])


def test_compiled_learning_rule_options():
    """The three learning-rule options on together (readout trace with its ``b_out``
    correction, softmax error, RMS-normalised hidden step), stochastic rounding, targets on
    most steps: the compiled core equals the specification bit for bit, the options' own
    state included (traces, spike means, the readout's gradient sums of a window left open,
    second moments), and a core adopting the spec's state continues identically."""
    cfg = CoreConfig(n_in=3, n_hidden=6, n_out=3, window=4, window_max=5, lanes=2,
                     rounding="stochastic", acc_width=0)
    cfg = cfg.replace(acc_width=cfg.acc_bits_needed,
                      fptt={"lr": 2.0 ** -5, "readout": "trace", "error": "softmax",
                            "hidden_step": "rms", "mean_shift": 4, "rms_shift": 3})
    rng = np.random.default_rng(11)
    B = 2
    w = _weights(cfg, rng, B)
    spec, fast = FixedCore(cfg, w), CompiledFixedCore(cfg, w)
    onehot = lambda *shape: np.eye(cfg.n_out)[rng.integers(cfg.n_out, size=shape)]  # noqa: E731
    for i in range(3):
        x = _inputs(rng, B, 19, cfg.n_in, i != 1)
        tg, ht = onehot(B, 19), rng.random((B, 19)) < 0.7
        np.testing.assert_array_equal(spec.run_sequence(x, tg, ht), fast.run_sequence(x, tg, ht))
    # a sequence left open after one window and two steps: the gradient sums are held
    x, tg = _inputs(rng, B, 6, cfg.n_in, True), onehot(B, 6)
    for t in range(6):
        np.testing.assert_array_equal(spec.step(x[:, t], tg[:, t], sos=t == 0),
                                      fast.step(x[:, t], tg[:, t], sos=t == 0))
    A, C = spec.state, fast.state
    assert int(A.count[0]) == 2
    for name in ("tr", "tr1", "mean"):
        np.testing.assert_array_equal(getattr(A, name), getattr(C, name), err_msg=name)
    assert list(A.gacc) == list(C.gacc) == ["w_out", "b_out"]
    assert list(A.v) == list(C.v) == ["w_in", "w_rec", "b"]
    for d in ("gacc", "v"):
        for m in getattr(A, d):
            np.testing.assert_array_equal(getattr(A, d)[m], getattr(C, d)[m], err_msg=f"{d}.{m}")
    assert np.any(A.tr != 0) and np.any(A.tr1 != 0) and np.any(A.mean != 0)
    assert np.any(A.gacc["w_out"] != 0) and np.any(A.gacc["b_out"] != 0)
    assert all(np.any(v != 0) for v in A.v.values())
    assert {"trace", "mean", "v"} <= set(A.sat.counts)
    _assert_same_state(spec, fast)

    # the spec's state adopted mid-window: both finish the sequence and run one more alike,
    # the host having replaced some of the options' arrays (not contiguous any more)
    fast2 = CompiledFixedCore.from_state(cfg, spec.state)
    for core in (spec, fast, fast2):
        core.state.mean = core.state.mean[:, ::-1]
        core.state.v["w_rec"] = np.asfortranarray(core.state.v["w_rec"])
        core.state.gacc["w_out"] = core.state.gacc["w_out"][:, :, ::-1].copy()[:, :, ::-1]
    x, tg = _inputs(rng, B, 9, cfg.n_in, False), onehot(B, 9)
    for t in range(9):
        outs = [c.step(x[:, t], tg[:, t], eos=t == 4, sos=t == 5) for c in (spec, fast, fast2)]
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_array_equal(outs[0], outs[2])
    _assert_same_state(spec, fast)
    _assert_same_state(spec, fast2)
