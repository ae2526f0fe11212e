"""The float twin: the hardware algorithm of DESIGN section 4 in float64, unquantised.

Same network, window, schedule and backward recursion as
:mod:`fptt.golden.fixed_core`, with the exact constants ``α = exp(-1/τ_mem)``,
``ρ = exp(-1/τ_adp)``, ``κ = exp(-1/τ_out)`` and no rounding or saturation.
Comparing it with the fixed-point model isolates the cost of quantisation;
comparing it with the autograd reference (:mod:`fptt.golden.reference`) shows
that the window backward is the exact gradient of the window loss.

Forward::

    I_t = W_in x_t + W_rec s_{t-1} + b
    a_t = ρ a_{t-1} + (1-ρ) s_{t-1};   B_t = θ0 + β_a a_t
    u_t = α u_{t-1} + c I_t - B_t s_{t-1};   s_t = [u_t >= B_t]
    o_t = κ o_{t-1} + W_out s_t + b_out;   ψ_t = h·max(0, 1 - |u_t - B_t|/w)

Backward and FPTT step: see :mod:`fptt.golden.fixed_core`. The learning rule's options
(``fptt.readout = "trace"``, ``fptt.error = "softmax"``, ``fptt.hidden_step = "rms"``) as
:mod:`fptt.golden.fixed_rules` states them, exactly: ``e**`` for the softmax and ``1/√v``
(``v = 0``: ``±∞``, then the gradient format's clip) for the tables.
"""

from __future__ import annotations

import numpy as np

from ..config import BIASES, HIDDEN_PARAMS, CoreConfig
from .fixed_core import check_frozen
from .sequence import run_sequence

__all__ = ["FloatTwin"]


class FloatTwin:
    """``batch`` float64 cores sharing one schedule; host interface as :class:`FixedCore`.

    ``frozen`` names parameters the update leaves as they are.
    """

    def __init__(self, cfg: CoreConfig, weights: dict, batch: int | None = None,
                 frozen: tuple = ()):
        self.cfg = cfg
        self.frozen = check_frozen(cfg, frozen)
        #: the range of each gradient's format: the hardware saturates there (a clip)
        self.grad_range = {p: (cfg.formats.grad(p).min * cfg.formats.grad(p).lsb,
                               cfg.formats.grad(p).max * cfg.formats.grad(p).lsb)
                           for p in cfg.params}
        w = {}
        shapes = cfg.param_shapes
        if batch is None and np.ndim(weights["w_in"]) == 3:
            batch = np.shape(weights["w_in"])[0]
        for m in cfg.params:
            if m in BIASES and m not in weights:
                arr = np.zeros(shapes[m])
            else:
                arr = np.asarray(weights[m], dtype=np.float64)
            if m in BIASES and arr.shape[-1] != 1:
                arr = arr[..., None]
            if arr.ndim == 2:
                arr = np.broadcast_to(arr, ((batch or 1),) + arr.shape)
            w[m] = arr.copy()
        self.w = w
        self.wbar = {m: v.copy() for m, v in w.items()}
        self.lam = {m: np.zeros_like(v) for m, v in w.items()}
        B = w["w_in"].shape[0]
        self.batch = B
        n = cfg.neuron
        # α per neuron ([n_hidden], broadcast over the last axis) with neuron.tau_mem_spread > 1
        self.alpha = np.asarray(cfg.alpha_neurons) if cfg.per_neuron_tau else n.alpha
        self.rho, self.kappa, self.c = n.rho, n.kappa, n.c
        self.beta, self.theta = n.beta_a, n.theta0
        z = lambda *shape: np.zeros((B,) + shape)  # noqa: E731
        self.u, self.a, self.s, self.o = z(cfg.n_hidden), z(cfg.n_hidden), z(cfg.n_hidden), z(cfg.n_out)
        self.count = 0
        self.buf_x = z(cfg.window_max, cfg.n_in)
        self.buf_s = z(cfg.window_max + 1, cfg.n_hidden)
        self.buf_psi = z(cfg.window_max, cfg.n_hidden)
        self.buf_delta = z(cfg.window_max, cfg.n_out)
        self.windows = 0
        f = cfg.fptt
        self.trace = f.readout == "trace"
        if self.trace:      # ĉ, ĥ, the running mean m, the window's Σ δ ĉ, Σ δ ĥ
            self.tr, self.tr1, self.mean = z(cfg.n_hidden), np.zeros(B), z(cfg.n_hidden)
            self.gacc = {m: np.zeros_like(w[m]) for m in ("w_out", "b_out") if m in w}
        self.v = ({m: np.zeros_like(w[m]) for m in HIDDEN_PARAMS if m in w}
                  if f.hidden_step == "rms" else None)

    def _forward(self, x):
        n = self.cfg.neuron
        s_prev = self.s
        current = np.einsum("bji,bi->bj", self.w["w_in"], x) \
            + np.einsum("bjk,bk->bj", self.w["w_rec"], s_prev)
        if self.cfg.biases:
            current = current + self.w["b"][..., 0]
        if self.beta != 0:      # LIF keeps a = 0, as the fixed-point core does
            self.a = self.rho * self.a + (1 - self.rho) * s_prev
        thr = self.theta + self.beta * self.a
        self.u = self.alpha * self.u + self.c * current - thr * s_prev
        self.s = (self.u >= thr).astype(np.float64)
        self.o = self.kappa * self.o + np.einsum("bkj,bj->bk", self.w["w_out"], self.s)
        if self.cfg.biases:
            self.o = self.o + self.w["b_out"][..., 0]
        psi = n.surrogate_height * np.maximum(0.0, 1 - np.abs(self.u - thr) / n.surrogate_width)
        return psi

    def step(self, x, target=None, has_target=None, *, sos=False, eos=False, learn=True):
        """One step of every core; returns the readout ``[B, n_out]``."""
        cfg = self.cfg
        if sos:
            for name in ("u", "a", "s", "o") + (("tr", "tr1") if self.trace else ()):
                getattr(self, name)[...] = 0
            self.count = 0
            self._clear_window()
        x = np.asarray(x, dtype=np.float64).reshape(self.batch, cfg.n_in)
        s_prev = self.s
        psi = self._forward(x)
        o = self.o.copy()
        if target is None:
            delta = np.zeros_like(o)
        else:
            has = np.ones(self.batch, bool) if has_target is None else np.asarray(has_target, bool)
            target = np.asarray(target, dtype=np.float64).reshape(self.batch, cfg.n_out)
            delta = np.where(has.reshape(-1, 1), self._error(o, target), 0.0)
        if self.trace:
            self.tr = self.kappa * self.tr + (self.s - self.mean)
            self.tr1 = self.kappa * self.tr1 + 1.0
        if not learn:
            self.count = 0
            self._clear_window()
            return o
        if self.trace:
            self.mean = self.mean + 2.0 ** -cfg.fptt.mean_shift * (self.s - self.mean)
            self.gacc["w_out"] += delta[:, :, None] * self.tr[:, None, :]
            if "b_out" in self.gacc:
                self.gacc["b_out"] += delta[:, :, None] * self.tr1[:, None, None]
        t = self.count
        if t == 0:
            self.buf_s[:, 0] = s_prev
        self.buf_x[:, t], self.buf_s[:, t + 1] = x, self.s
        self.buf_psi[:, t], self.buf_delta[:, t] = psi, delta
        self.count += 1
        if self.count >= cfg.window or eos:
            self.close_window()
        return o

    def _error(self, o, target):
        """``δ = o - y*``, or ``softmax(o) - y*`` with ``fptt.error = "softmax"``."""
        if self.cfg.fptt.error == "softmax":
            e = np.exp(o - o.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True) - target
        return o - target

    def _clear_window(self):
        if self.trace:
            for m in self.gacc:
                self.gacc[m][...] = 0.0

    def window_gradients(self) -> dict[str, np.ndarray]:
        """Exact gradient of the buffered window's loss ``Σ_t ½‖o_t - y*_t‖²`` (with
        ``fptt.error = "softmax"`` of its cross-entropy); with ``fptt.readout = "trace"``
        the readout's is the window's ``Σ δ_t ĉ_tᵀ``, ``Σ δ_t ĥ_t`` instead."""
        n, B, cfg = self.count, self.batch, self.cfg
        obar_n = np.zeros((B, cfg.n_out))
        ibar_n, ubar_n, abar_n = (np.zeros((B, cfg.n_hidden)) for _ in range(3))
        g = {m: np.zeros_like(self.w[m]) for m in cfg.params}
        for t in range(n - 1, -1, -1):
            obar = self.buf_delta[:, t] + self.kappa * obar_n
            sbar = (np.einsum("bkj,bk->bj", self.w["w_out"], obar)
                    + np.einsum("bkj,bk->bj", self.w["w_rec"], ibar_n)
                    + (1 - self.rho) * abar_n)
            vbar = self.buf_psi[:, t] * sbar
            ubar = vbar + self.alpha * ubar_n
            abar = -self.beta * vbar + self.rho * abar_n
            ibar = self.c * ubar
            g["w_in"] += ibar[:, :, None] * self.buf_x[:, t, None, :]
            g["w_rec"] += ibar[:, :, None] * self.buf_s[:, t, None, :]
            if cfg.biases:      # the always-active presynaptic unit
                g["b"] += ibar[:, :, None]
            if not self.trace:  # else formed in the forward pass
                g["w_out"] += obar[:, :, None] * self.buf_s[:, t + 1, None, :]
                if cfg.biases:
                    g["b_out"] += obar[:, :, None]
            obar_n, ibar_n, ubar_n, abar_n = obar, ibar, ubar, abar
        if self.trace:
            for m in self.gacc:
                g[m] = self.gacc[m].copy()
        return g

    def close_window(self):
        """Backward through the window, then the FPTT step of DESIGN section 4 (plain SGD)."""
        if self.count == 0:
            return
        alpha = self.cfg.fptt.alpha
        grads = self.window_gradients()
        w_out = self.w["w_out"].copy()
        for m in self.cfg.params:
            if m in self.frozen:
                continue
            eta = getattr(self.cfg.fptt.lr, m)
            g = np.clip(grads[m], *self.grad_range[m])
            if self.v is not None and m in self.v:      # RMS-normalised hidden step
                self.v[m] = self.v[m] + 2.0 ** -self.cfg.fptt.rms_shift * (g * g - self.v[m])
                with np.errstate(divide="ignore", invalid="ignore"):
                    g = np.where(self.v[m] > 0, g / np.sqrt(self.v[m]),
                                 np.where(g == 0, 0.0, np.sign(g) * np.inf))
                g = np.clip(g, *self.grad_range[m])
            w, wbar, lam = self.w[m], self.wbar[m], self.lam[m]
            w_new = w - eta * (g + alpha * (w - wbar) - lam)
            lam_new = lam - alpha * (w_new - wbar)
            self.wbar[m] = 0.5 * (wbar + w_new) - lam_new / (2 * alpha)
            self.w[m], self.lam[m] = w_new, lam_new
        if self.trace:
            if "b_out" in self.w and "b_out" not in self.frozen:   # keep the uncentred output
                self.w["b_out"] = self.w["b_out"] - np.einsum(
                    "bkj,bj->bk", self.w["w_out"] - w_out, self.mean)[..., None]
            self._clear_window()
        self.count = 0
        self.windows += 1

    def reset_to_mean(self):
        """``W ← W̄`` of every core (``λ`` kept), as the released FPTT scripts at an epoch's end."""
        for m in self.cfg.params:
            self.w[m] = self.wbar[m].copy()

    def run_sequence(self, x, target=None, has_target=None, learn=True):
        """Whole sequence with sos/eos set: see :func:`fptt.golden.sequence.run_sequence`."""
        return run_sequence(self, x, target, has_target, learn)

    def weights(self, core: int = 0) -> dict[str, np.ndarray]:
        return {m: self.w[m][core].copy() for m in self.cfg.params}
