"""The compiled float twin: :class:`~fptt.golden.twin.FloatTwin` at compiled speed.

Same attributes (``w``, ``wbar``, ``lam``, ``u``, ``a``, ``s``, ``o``, ``count``,
``buf_*``, ``windows``) and host interface; the arithmetic is
:mod:`._twin_kernels`, equal to the twin's up to the order of the terms of
matrix-vector sums (a few ulp).
"""

from __future__ import annotations

import numpy as np

from ...config import HIDDEN_PARAMS, PARAMS, CoreConfig
from ..fixed_core import check_frozen
from ..twin import FloatTwin
from . import _twin_kernels as kr
from .fixed import _fit, _flags, _seq_flags, concat_schedule

__all__ = ["CompiledTwin", "infer_twin"]


def _constants(cfg: CoreConfig, frozen=()):
    n = cfg.neuron
    # the named constants, then α_j of every neuron (kr.C_ALPHA_J)
    f = cfg.fptt
    C = np.array([n.rho, 1 - n.rho, n.kappa, n.c, n.beta_a, n.theta0,
                  n.surrogate_height, n.surrogate_width, f.alpha,
                  2.0 ** -f.mean_shift, 2.0 ** -f.rms_shift]
                 + list(cfg.alpha_neurons), np.float64)
    I = np.array([cfg.n_in, cfg.n_hidden, cfg.n_out, cfg.window, int(cfg.biases),  # noqa: E741
                  int(n.beta_a != 0), int(f.readout == "trace"), int(f.error == "softmax"),
                  int(f.hidden_step == "rms")], np.int64)
    # per parameter: η and the range of its gradient format (the twin clips there, as the
    # hardware saturates); rows in PARAMS order, absent biases padded
    fmt = {p: cfg.formats.grad(p) for p in PARAMS}
    LR = np.array([(getattr(cfg.fptt.lr, p), fmt[p].min * fmt[p].lsb, fmt[p].max * fmt[p].lsb)
                   for p in PARAMS], np.float64)
    FROZEN = np.array([p in frozen for p in PARAMS], np.bool_)
    return C, I, LR, FROZEN


def infer_twin(cfg: CoreConfig, weights: dict, xs) -> np.ndarray:
    """Readouts ``[N, T, n_out]`` of one float core over ``xs [N, T, n_in]``, learning off."""
    C, I, _, _ = _constants(cfg)
    H, O = cfg.n_hidden, cfg.n_out
    w = {m: np.ascontiguousarray(weights[m], dtype=np.float64) for m in cfg.params}
    bias = w["b"][:, 0].copy() if "b" in w else np.zeros(H)
    bout = w["b_out"][:, 0].copy() if "b_out" in w else np.zeros(O)
    X = np.ascontiguousarray(xs, dtype=np.float64)
    out = np.zeros((X.shape[0], X.shape[1], O))
    kr.infer_twin(C, I, w["w_in"], w["w_rec"], bias, w["w_out"], bout, X, out)
    return out


class CompiledTwin:
    """``batch`` float64 cores, compiled; attributes and host interface of :class:`FloatTwin`."""

    engine = "compiled"

    def __init__(self, cfg: CoreConfig, weights: dict, batch: int | None = None,
                 frozen: tuple = ()):
        spec = FloatTwin(cfg, weights, batch)        # the spec's weight handling
        self.cfg = cfg
        self.frozen = check_frozen(cfg, frozen)
        self.batch = spec.batch
        for name in ("alpha", "rho", "kappa", "c", "beta", "theta"):
            setattr(self, name, getattr(spec, name))
        self.w, self.wbar, self.lam = spec.w, spec.wbar, spec.lam
        for name in ("u", "a", "s", "o", "buf_x", "buf_s", "buf_psi", "buf_delta", "trace"):
            setattr(self, name, getattr(spec, name))
        B, H, O = self.batch, cfg.n_hidden, cfg.n_out
        # the learning rule's state (FloatTwin's attributes when its option is on)
        if self.trace:
            self.tr, self.tr1, self.mean, self.gacc = spec.tr, spec.tr1, spec.mean, spec.gacc
        self.v = spec.v
        self._rule_zeros = dict(tr=np.zeros((B, H)), tr1=np.zeros(B), mean=np.zeros((B, H)),
                                gacc_out=np.zeros((B, O, H)), gacc_bout=np.zeros((B, O, 1)))
        self._count = np.zeros(self.batch, np.int64)
        self._windows = np.zeros(self.batch, np.int64)
        self._C, self._I, self._LR, self._FROZEN = _constants(cfg, self.frozen)
        self._sync()

    def _sync(self):
        """Contiguous float64 arrays, and the weight tuples the kernels take."""
        B = self.batch
        for d in (self.w, self.wbar, self.lam):
            for m in list(d):
                d[m] = np.ascontiguousarray(d[m], dtype=np.float64)
        for name in ("u", "a", "s", "o", "buf_x", "buf_s", "buf_psi", "buf_delta"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float64))
        dummy = {"b": (self.cfg.n_hidden, 1), "b_out": (self.cfg.n_out, 1)}
        pick = lambda d, m: d[m] if m in d else np.zeros((B,) + dummy[m])  # noqa: E731
        self._W = tuple(pick(self.w, m) for m in PARAMS)
        self._WB = tuple(pick(self.wbar, m) for m in PARAMS)
        self._LM = tuple(pick(self.lam, m) for m in PARAMS)
        z = self._rule_zeros
        if self.trace:
            for name in ("tr", "tr1", "mean"):
                setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float64))
            for m in list(self.gacc):
                self.gacc[m] = np.ascontiguousarray(self.gacc[m], dtype=np.float64)
            self._R = (self.tr, self.tr1, self.mean, self.gacc["w_out"],
                       self.gacc.get("b_out", z["gacc_bout"]))
        else:
            self._R = (z["tr"], z["tr1"], z["mean"], z["gacc_out"], z["gacc_bout"])
        if self.v is not None:
            for m in list(self.v):
                self.v[m] = np.ascontiguousarray(self.v[m], dtype=np.float64)
        self._V = tuple(self.v[m] if self.v is not None and m in self.v else pick(self.w, m) * 0
                        for m in HIDDEN_PARAMS)

    @property
    def count(self) -> int:
        return int(self._count[0])

    @count.setter
    def count(self, value):
        self._count[:] = value

    @property
    def windows(self) -> int:
        return int(self._windows[0])

    @windows.setter
    def windows(self, value):
        self._windows[:] = value

    def run_schedule(self, X, target, has_target, flags):
        """The kernel call: ``X [B, T, n_in]`` floats, ``flags [T]`` (``F_*`` bits)."""
        cfg, B = self.cfg, self.batch
        X = np.ascontiguousarray(X, dtype=np.float64)
        T = X.shape[1]
        if target is None:
            TG = np.zeros((B, T, cfg.n_out))
            HT = np.zeros((B, T), np.bool_)
        else:
            TG = _fit(target, (B, T, cfg.n_out), np.float64)
            HT = _fit(has_target, (B, T), np.bool_)
        out = np.zeros((B, T, cfg.n_out))
        run = kr.run_twin if B == 1 else kr.run_twin_parallel    # one thread per core
        run(self._C, self._I, self._LR, self._FROZEN, self._W, self._WB, self._LM, self._R,
            self._V, self.u, self.a, self.s, self.o, self._count, self._windows, self.buf_x,
            self.buf_s, self.buf_psi, self.buf_delta, X, TG, HT,
            np.ascontiguousarray(flags, np.int64), out)
        return out

    def _inputs(self, x, target, has_target, T):
        cfg, B = self.cfg, self.batch
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            x = x[None]
        X = _fit(x, (B, T, cfg.n_in), np.float64)
        if target is not None:
            target = _fit(target, (B, T, cfg.n_out), np.float64)
            has_target = _fit(has_target, (B, T), np.bool_)
        return X, target, has_target

    def step(self, x, target=None, has_target=None, *, sos=False, eos=False, learn=True):
        """One step of every core; returns the readout ``[B, n_out]``."""
        cfg, B = self.cfg, self.batch
        x = np.asarray(x, dtype=np.float64).reshape(B, 1, cfg.n_in)
        if target is not None:
            target = np.asarray(target, dtype=np.float64).reshape(B, 1, cfg.n_out)
            has = np.ones(B, bool) if has_target is None else np.asarray(has_target, bool)
            has_target = np.broadcast_to(has.reshape(-1, 1), (B, 1))
        out = self.run_schedule(x, target, has_target,
                                _flags(1, sos, eos, learn, target is not None))
        return out[:, 0]

    def run_sequence(self, x, target=None, has_target=None, learn=True):
        """Whole sequence with sos/eos set, in one compiled call."""
        x = np.asarray(x, dtype=np.float64)
        T = x.shape[-2]
        X, TG, HT = self._inputs(x, target, has_target, T)
        return self.run_schedule(X, TG, HT, _seq_flags(T, learn, target is not None))

    def run_sequences(self, xs, targets=None, has_targets=None, learn=True):
        """A list of sequences one after the other, in one compiled call."""
        xs = list(xs)
        if not xs:
            return []
        X, TG, HT, flags, lens = concat_schedule(self._inputs, xs, targets, has_targets, learn)
        out = self.run_schedule(X, TG, HT, flags)
        return np.split(out, np.cumsum(lens)[:-1], axis=1)

    def predict(self, xs, core: int = 0) -> np.ndarray:
        """Readouts ``[N, T, n_out]`` of core ``core`` over ``xs``, learning off; state kept."""
        return infer_twin(self.cfg, {m: self.w[m][core] for m in self.cfg.params}, xs)

    def window_gradients(self) -> dict[str, np.ndarray]:
        """Exact gradient of the buffered window's loss (the spec's code)."""
        return FloatTwin.window_gradients(self)

    _error = FloatTwin._error
    _clear_window = FloatTwin._clear_window

    def close_window(self):
        """Backward and FPTT step now (the spec's code; rarely called from the host)."""
        FloatTwin.close_window(self)
        self._sync()

    def reset_to_mean(self):
        """``W ← W̄`` of every core (``λ`` kept), as :meth:`FloatTwin.reset_to_mean`."""
        FloatTwin.reset_to_mean(self)
        self._sync()

    def weights(self, core: int = 0) -> dict[str, np.ndarray]:
        return {m: self.w[m][core].copy() for m in self.cfg.params}
