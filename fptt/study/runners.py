"""Training runs behind the sweeps: several seeds of the golden cores as one batch, and the
PyTorch references one seed at a time.

:func:`train_golden` runs ``len(seeds)`` independent cores (fixed-point golden
model or float twin) as one batched core: core ``b`` starts from
``init_weights(cfg, seeds[b], ...)`` and sees the training set in the order
``default_rng(seeds[b]).permutation(n)`` each epoch, exactly as
:func:`fptt.train.train` with ``settings.seed = seeds[b]``; the batched golden
model is bit-exact with single runs, so each core *is* that run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import CoreConfig
from ..golden.compiled import make_core
from ..health import frozen_params, weight_change
from ..tasks.base import Sequence
from ..train import TrainSettings, evaluate, make_learner, place_targets
from .common import progress, quiet_numpy

__all__ = ["change_columns", "placed_train_set", "train_golden", "predict_golden", "score_golden",
           "train_reference", "stack_weights"]


def placed_train_set(task, cfg: CoreConfig, schedule: str) -> list[Sequence]:
    """The training sequences with their targets placed by ``schedule`` (:func:`place_targets`)."""
    n_classes = task.n_out if task.kind == "classification" else None
    return [place_targets(s, schedule, cfg.window, n_classes) for s in task.train_set()]


def stack_weights(cfg: CoreConfig, seeds, settings: TrainSettings) -> dict[str, np.ndarray]:
    """``init_weights`` of every seed stacked to ``[B, post, pre]``."""
    from ..golden.weights import init_weights
    ws = [init_weights(cfg, s, settings.gain_in, settings.gain_rec, settings.gain_out)
          for s in seeds]
    return {m: np.stack([w[m] for w in ws]) for m in ws[0]}


def _core_weights(core, model: str) -> dict[str, np.ndarray]:
    """Per-core weights ``[B, post, pre]``: integer codes (fixed) or floats (twin)."""
    if model == "fixed":
        return {m: v.copy() for m, v in core.state.w.items()}
    return {m: v.copy() for m, v in core.w.items()}


def change_columns(change: dict) -> dict:
    """A :func:`fptt.health.weight_change` as CSV columns ``dW_w_in``, ``dW_w_rec``, ``dW_w_out``."""
    return {f"dW_{m}": round(v, 6) for m, v in change.items()}


def core_float_weights(core) -> dict[str, np.ndarray]:
    """Float weights ``[B, post, pre]`` of every core of a batched golden core."""
    return {m: np.stack([core.weights(b)[m] for b in range(core.batch)]) for m in core.cfg.params}


def predict_golden(cfg: CoreConfig, model: str, weights: dict, xs: np.ndarray,
                   chunk: int = 1024, engine: str = "compiled") -> np.ndarray:
    """Readouts ``[B, N, T, n_out]`` of ``N`` sequences ``xs [N, T, n_in]`` on each of the ``B``
    cores whose weights are ``weights`` (learning off; the compiled cores run the sequences
    in parallel, the specification as one batch in chunks)."""
    B = next(iter(weights.values())).shape[0]
    N = xs.shape[0]
    out = np.empty((B, N, xs.shape[1], cfg.n_out))
    core = make_core(model, cfg, weights, engine=engine)
    if hasattr(core, "predict"):
        for b in range(B):
            out[b] = core.predict(xs, b)
        return out
    cls = type(core)
    per = max(1, chunk // B)
    for i in range(0, N, per):
        xc = xs[i:i + per]
        n = len(xc)
        w = {m: np.repeat(v, n, axis=0) for m, v in weights.items()}
        core = cls(cfg, w)
        with quiet_numpy():
            o = core.run_sequence(np.tile(xc, (B, 1, 1)), learn=False)
        out[:, i:i + n] = o.reshape(B, n, *o.shape[1:])
    return out


def score_golden(cfg, model, weights, task, test_seqs, xs=None, engine="compiled") -> list[dict]:
    """The task's score (``accuracy`` or ``mse``) of each core on ``test_seqs``."""
    if xs is None:
        xs = np.stack([s.x for s in test_seqs])
    out = predict_golden(cfg, model, weights, xs, engine=engine)
    scores = []
    for b in range(out.shape[0]):
        preds = [task.predict(out[b, i], s) for i, s in enumerate(test_seqs)]
        scores.append(task.score(preds, test_seqs))
    return scores


def train_golden(cfg: CoreConfig, task, model: str, seeds, settings: TrainSettings = TrainSettings(),
                 train_seqs: list[Sequence] | None = None, test_seqs=None, eval_at=(),
                 desc: str = "", weights: dict | None = None) -> dict:
    """Train ``len(seeds)`` cores of ``model`` (``"fixed"`` or ``"twin"``) online as one batch.

    Parameters
    ----------
    train_seqs : list of Sequence, optional
        Training sequences with their targets already placed (default
        :func:`placed_train_set` with ``settings.schedule``). All must share one
        step schedule (length and target steps may differ per core only in value).
    test_seqs : sequence of Sequence, optional
        Default ``task.test_set()``.
    eval_at : iterable of int
        Also score the test set after this many training sequences (learning curve).
    weights : dict, optional
        Initial weights ``{param: [len(seeds), post, pre]}`` (default
        :func:`stack_weights` of the seeds and ``settings``' gains).

    Returns
    -------
    dict
        ``scores`` (one dict per seed, final), ``curve`` (list of
        ``(sequences_seen, [score per seed])``), ``seconds`` (training wall time),
        ``saturation`` (fixed only: one ``{quantity: (saturated, writes)}`` per seed),
        ``weights`` (final, per core), ``weight_change`` (one
        :func:`fptt.health.weight_change` per seed). ``settings.learn = "readout"``
        trains the readout-only control.
    """
    import time
    seeds = list(seeds)
    if train_seqs is None:
        train_seqs = placed_train_set(task, cfg, settings.schedule)
    if test_seqs is None:
        test_seqs = list(task.test_set())
    xs_test = np.stack([s.x for s in test_seqs])
    w0 = stack_weights(cfg, seeds, settings) if weights is None else weights
    core = make_core(model, cfg, w0, engine=settings.engine,
                     frozen=frozen_params(cfg, settings.learn))
    rngs = [np.random.default_rng(s) for s in seeds]
    n = len(train_seqs)
    eval_at = sorted(set(int(e) for e in eval_at if 0 < e <= n * settings.epochs))
    curve = []
    seen = 0
    t_train = 0.0
    bar = progress(total=n * settings.epochs, desc=desc or f"{model} x{len(seeds)}", unit="seq")
    for _ in range(settings.epochs):
        orders = [r.permutation(n) for r in rngs]
        for i in range(n):
            seqs = [train_seqs[o[i]] for o in orders]
            t0 = time.perf_counter()
            with quiet_numpy():
                core.run_sequence(np.stack([s.x for s in seqs]), np.stack([s.target for s in seqs]),
                                  np.stack([s.has_target for s in seqs]))
            t_train += time.perf_counter() - t0
            seen += 1
            if bar is not None:
                bar.update(1)
            if seen in eval_at:
                curve.append((seen, score_golden(cfg, model, _core_weights(core, model), task,
                                                 test_seqs, xs_test, settings.engine)))
    if bar is not None:
        bar.close()
    weights = _core_weights(core, model)
    scores = (curve[-1][1] if curve and curve[-1][0] == seen
              else score_golden(cfg, model, weights, task, test_seqs, xs_test, settings.engine))
    result = {"scores": scores, "curve": curve, "seconds": t_train, "weights": weights,
              "weight_change": [weight_change({m: v[b] for m, v in w0.items()},
                                              {m: v[b] for m, v in core_float_weights(core).items()})
                                for b in range(len(seeds))]}
    if model == "fixed":
        result["saturation"] = [core.state.sat.profile(b) for b in range(len(seeds))]
    return result


def train_reference(cfg: CoreConfig, task, model: str, seed: int,
                    settings: TrainSettings = TrainSettings(),
                    train_seqs: list[Sequence] | None = None, test_seqs=None,
                    desc: str = "") -> dict:
    """Train one seed of ``ref-fptt`` or ``ref-bptt`` (:func:`fptt.train.make_learner`) for
    ``settings.epochs`` epochs in the order of :func:`fptt.train.train`; returns
    ``{"score": dict, "seconds": float, "weight_change": dict}`` (the last a
    :func:`fptt.health.weight_change` from the initial weights)."""
    import time
    from ..golden.weights import init_weights
    settings = dataclasses.replace(settings, seed=seed)
    if train_seqs is None:
        train_seqs = placed_train_set(task, cfg, settings.schedule)
    if test_seqs is None:
        test_seqs = list(task.test_set())
    w = init_weights(cfg, seed, settings.gain_in, settings.gain_rec, settings.gain_out)
    learner = make_learner(model, cfg, [w], settings)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(settings.epochs):
        order = rng.permutation(len(train_seqs))
        learner.train_epoch([[train_seqs[i] for i in order]],
                            lambda it: progress(it, desc=desc or f"{model} seed {seed}"))
    seconds = time.perf_counter() - t0
    return {"score": evaluate(learner, task, test_seqs, settings.eval_batch, 0),
            "seconds": seconds, "weight_change": weight_change(w, learner.weights(0))}
