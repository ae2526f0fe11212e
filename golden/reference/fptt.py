"""FPTT as published (Kag & Saligrama, ICML 2021; released code, also sFPTT), on the ALIF network.

Per parameter ``W`` (the three matrices and, with ``cfg.biases``, the biases
``b``, ``b_out``) keep a running mean ``W̄`` (initialised to ``W``) and a
dual state ``λ`` (initialised to 0). A sequence of length ``T`` is cut into
``P = ⌈T / L⌉`` parts of ``L`` steps (the last one shorter if ``L ∤ T``). For
each part ``p = 1..P``:

1. forward its steps from the *detached* state at the end of part ``p - 1``
   (zero for ``p = 1``);
2. ``loss = ℓ_p + R(W)`` with the dynamic regulariser (released code, ``ρ = 0``)::

       R(W) = Σ_W (α/2)‖W - W̄‖² - ⟨W, λ⟩,        ∇R = α(W - W̄) - λ

3. backward; optionally clip the gradient norm (all weights together, published
   ``clip = 1``); one optimiser step (SGD, Adam or Adamax);
4. with ``W`` after the step::

       λ ← λ - α(W - W̄)
       W̄ ← (1 - β) W̄ + β W - (β/α) λ          (new λ; published β = ½)

   i.e. ``W̄ ← ½(W̄ + W) - λ/(2α)``.

The part loss ``ℓ_p`` is ``"mse"`` or ``"ce"`` summed over the part's target
steps (:mod:`.losses`), or ``"aux"``, the auxiliary loss for terminal
prediction on the readout at the part's last step,
``ℓ_p = β_p CE(y) + (1 - β_p) H(Q_p[y], ŷ)`` with ``β_p = p/P``
(:func:`.losses.aux_loss`, :class:`.losses.ClassPrior`). With ``rate_reg > 0``,
``ℓ_p`` also holds the firing-rate penalty of the part's spikes
(:func:`.losses.rate_penalty`; the hardware has no such term).

With plain SGD (step ``η_W`` per parameter, ``cfg.fptt.lr`` by default), no
clipping, the triangle surrogate, the detached reset and the MSE loss on one
sequence at a time, step 3 is ``W ← W - η_W(g + α(W - W̄) - λ)`` with ``g``
the part's window gradient: the hardware algorithm of DESIGN section 4. ``tests/test_reference.py`` shows the
weights, ``W̄`` and ``λ`` then equal :class:`fptt.golden.twin.FloatTwin`'s
with ``cfg.window = L`` to float64 precision.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...config import CoreConfig
from .common import as_batch, clip_gradients, make_optimizer, resolve_lr
from .losses import (AUX_Q_SWITCH_EPOCH, LOSSES, ClassPrior, aux_beta, aux_loss,
                     check_rate_penalty, rate_penalty, sequence_loss)
from .network import ALIFNetwork, ALIFState

__all__ = ["FPTTTrainer", "part_bounds"]


def part_bounds(T: int, part_len: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of the ``⌈T/L⌉`` parts; the last one holds the remainder."""
    if part_len < 1:
        raise ValueError(f"part_len must be >= 1, not {part_len}")
    return [(s, min(s + part_len, T)) for s in range(0, T, part_len)]


class FPTTTrainer:
    """Train the ALIF network with FPTT, one optimiser step per part of ``part_len`` steps.

    Parameters
    ----------
    cfg : CoreConfig
    weights : dict of array_like
        Initial ``w_in``, ``w_rec``, ``w_out`` (and ``b``, ``b_out``; missing biases
        are 0), also the initial ``W̄``.
    part_len : int, optional
        ``L``, steps per part (default ``cfg.window``).
    optimizer : {"sgd", "adam", "adamax"}
    lr : float, dict or LearningRates, optional
        Default (:func:`.common.resolve_lr`): for ``"sgd"`` the step of each
        parameter, ``cfg.fptt.lr``, as the hardware; for Adam / Adamax ``1e-3``
        (the released scripts). A dict / ``LearningRates`` gives every parameter
        its own step (one parameter group each) for any optimiser.
    alpha : float, optional
        Regulariser strength ``α``; default ``cfg.fptt.alpha`` (published: 0.1).
    beta : float
        Mean update weight ``β`` (published 0.5, as the hardware).
    clip : float, optional
        Gradient-norm clipping (published 1.0); ``None``: none.
    clip_value : {None, "format"}
        ``"format"``: clip the loss gradient of each parameter elementwise to the
        range of its gradient format ``cfg.formats.grad(P)`` before the regulariser's
        gradient is added, as the hardware saturates it and the float twin clips it
        (the regulariser's own gradient is not clipped). ``None``: no such clip.
    loss : {"mse", "ce", "aux"}
    dtype : torch.dtype, default float64
    surrogate : {"triangle", "mg"}
    batch_reduction : {"mean", "sum"}
        Over the sequences of a batch (one sequence: the same).
    aux_class_mean : bool
        ``"aux"`` only: divide the ``H(Q, ŷ)`` term by ``n_classes`` as the
        released code does (default, :mod:`.losses`).
    aux_q_switch_epoch : int
        ``"aux"`` only: ``Q`` is uniform in epochs ``1 .. aux_q_switch_epoch - 1``
        and the remembered memory (zero-initialised, filled from the first
        epoch) from then on, as released (Kag & Saligrama: 20). ``1``: the
        memory from the start. Epochs are counted by :meth:`end_epoch`.
    aux_q_init : {"zero", "uniform"}
        ``"aux"`` only: initial content of the memory (released: zero).
    optimizer_kwargs : dict, optional
    rate_reg : float
        ``γ`` of the firing-rate penalty added to every part's loss, with the part's
        spikes (:func:`.losses.rate_penalty`; default 0: none).
    target_rate : float
        ``r*``, spikes per step (default 0.05).

    Attributes
    ----------
    net : ALIFNetwork
    optimizer : torch.optim.Optimizer
    updates : int
        Optimiser steps taken (parts processed).
    grad_norms : list of float
        The gradient norm before clipping of every update, in order.
    prior : ClassPrior or None
        ``Q`` of the auxiliary loss (created for the number of parts of the first sequence).
    """

    def __init__(self, cfg: CoreConfig, weights: dict, part_len: int | None = None,
                 optimizer: str = "sgd", lr: float | None = None, alpha: float | None = None,
                 beta: float = 0.5, clip: float | None = None, loss: str = "mse", *,
                 clip_value: str | None = None,
                 dtype=torch.float64, surrogate: str = "triangle", batch_reduction: str = "mean",
                 aux_class_mean: bool = True, aux_q_switch_epoch: int = AUX_Q_SWITCH_EPOCH,
                 aux_q_init: str = "zero", optimizer_kwargs: dict | None = None,
                 rate_reg: float = 0.0, target_rate: float = 0.05):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {loss!r}")
        check_rate_penalty(rate_reg, target_rate)
        self.rate_reg, self.target_rate = float(rate_reg), float(target_rate)
        self.cfg = cfg
        self.part_len = cfg.window if part_len is None else int(part_len)
        if self.part_len < 1:
            raise ValueError(f"part_len must be >= 1, not {self.part_len}")
        self.lr = resolve_lr(cfg, optimizer, lr)
        self.alpha = cfg.fptt.alpha if alpha is None else float(alpha)
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, not {self.alpha}")
        self.beta, self.clip, self.loss_kind = float(beta), clip, loss
        if clip_value not in (None, "format"):
            raise ValueError(f"clip_value must be None or 'format', not {clip_value!r}")
        self.clip_value = clip_value
        self.batch_reduction, self.aux_class_mean = batch_reduction, aux_class_mean
        self.aux_q_switch_epoch, self.aux_q_init = int(aux_q_switch_epoch), aux_q_init
        self.net = ALIFNetwork(cfg, weights, dtype=dtype, surrogate=surrogate)
        self.params = self.net.params
        self.optimizer = make_optimizer(optimizer, dict(self.net.named_parameters()), self.lr,
                                        **(optimizer_kwargs or {}))
        self._wbar = {m: getattr(self.net, m).detach().clone() for m in self.params}
        self._lam = {m: torch.zeros_like(self._wbar[m]) for m in self.params}
        self.prior: ClassPrior | None = None
        self.updates = 0
        self.grad_norms: list[float] = []   # ‖∇‖₂ before clipping, one per update
        self.epoch = 1
        self.state: ALIFState | None = None

    # ------------------------------------------------------------------ FPTT pieces
    def regulariser(self) -> torch.Tensor:
        """``R(W) = Σ_W (α/2)‖W - W̄‖² - ⟨W, λ⟩`` (a graph in ``W``)."""
        reg = 0.0
        for m in self.params:
            w = getattr(self.net, m)
            reg = reg + 0.5 * self.alpha * torch.sum((w - self._wbar[m]) ** 2) \
                - torch.sum(w * self._lam[m])
        return reg

    @torch.no_grad()
    def _clip_to_formats(self):
        """Each parameter's gradient clipped elementwise to its gradient format's range."""
        for m in self.params:
            g, fmt = getattr(self.net, m).grad, self.cfg.formats.grad(m)
            if g is not None:
                g.clamp_(fmt.min * fmt.lsb, fmt.max * fmt.lsb)

    @torch.no_grad()
    def _post_step(self) -> None:
        """``λ ← λ - α(W - W̄)``, then ``W̄ ← (1-β)W̄ + βW - (β/α)λ``."""
        a, b = self.alpha, self.beta
        for m in self.params:
            w = getattr(self.net, m).detach()
            self._lam[m] = self._lam[m] - a * (w - self._wbar[m])
            self._wbar[m] = (1.0 - b) * self._wbar[m] + b * w - (b / a) * self._lam[m]

    def _labels(self, target, has_target, B: int, T: int) -> torch.Tensor:
        """Class labels ``[B]`` for ``"aux"``.

        ``target``: integer labels (scalar or ``[B]``); a class distribution
        ``[n_out]`` or ``[B, n_out]`` (its argmax); or per-step targets
        ``[T, n_out]`` / ``[B, T, n_out]`` (argmax at the last step with a target,
        the last step if none). A 2-D ``target`` with ``B`` rows is ``[B, n_out]``.
        """
        t = np.asarray(target)
        if t.ndim <= 1 and np.issubdtype(t.dtype, np.integer):
            return torch.as_tensor(np.broadcast_to(t.astype(np.int64), (B,)).copy())
        if t.ndim == 1:
            t = t[None]
        if t.ndim == 2 and t.shape[0] == B:
            return torch.as_tensor(t.argmax(-1).astype(np.int64))
        if t.ndim == 2:
            t = t[None]
        t = np.broadcast_to(t, (B, T, self.cfg.n_out))
        has = np.ones((B, T), bool) if has_target is None else \
            np.broadcast_to(np.asarray(has_target, bool), (B, T))
        last = np.array([np.nonzero(h)[0][-1] if h.any() else T - 1 for h in has])
        return torch.as_tensor(t[np.arange(B), last].argmax(-1).astype(np.int64))

    # ------------------------------------------------------------------ training
    def train_sequence(self, x, target=None, has_target=None,
                       state: ALIFState | None = None) -> float:
        """FPTT over one batch of sequences ``x [B, T, n_in]`` (or ``[T, n_in]``).

        Parameters
        ----------
        x : array_like
        target : array_like, optional
            ``"mse"``/``"ce"``: ``[B, T, n_out]`` or ``[T, n_out]``; ``"aux"``: labels
            ``[B]``, ``[B, n_out]`` or per-step targets (class at the last target step).
        has_target : array_like, optional
            ``[B, T]`` or ``[T]``; default: every step (when ``target`` is given).
        state : ALIFState, optional
            Initial state (default zero, a new sequence).

        Returns
        -------
        float
            ``Σ_p ℓ_p``, the parts' data losses (without the regulariser).
        """
        x_t, tgt, has = as_batch(x, None if self.loss_kind == "aux" else target,
                                 has_target, self.cfg.n_out, self.net.dtype)
        B, T = x_t.shape[0], x_t.shape[1]
        bounds = part_bounds(T, self.part_len)
        P = len(bounds)
        labels = None
        if self.loss_kind == "aux":
            if target is None:
                raise ValueError("loss 'aux' needs a target (class labels)")
            labels = self._labels(target, has_target, B, T)
            if self.prior is None or self.prior.n_parts != P:
                self.prior = ClassPrior(self.cfg.n_out, P, self.net.dtype, init=self.aux_q_init,
                                        switch_epoch=self.aux_q_switch_epoch)
            self.prior.epoch = self.epoch
        state = self.net.zero_state(B) if state is None else state
        total = 0.0
        for p, (start, end) in enumerate(bounds, start=1):
            self.optimizer.zero_grad(set_to_none=True)
            # the spikes are stacked only for the penalty
            out, new_state, *spikes = self.net(x_t[:, start:end], state.detach(),
                                               return_spikes=bool(self.rate_reg))
            if labels is not None:
                logits = out[:, -1]
                q = self.prior.lookup(labels, p)
                self.prior.update(labels, F.softmax(logits.detach(), dim=-1), p)
                part_loss = aux_loss(logits, labels, q, aux_beta(p, P), self.batch_reduction,
                                     self.aux_class_mean)
            else:
                part_loss = sequence_loss(self.loss_kind, out, tgt[:, start:end],
                                          has[:, start:end], self.batch_reduction)
            if spikes:
                part_loss = part_loss + rate_penalty(spikes[0], self.target_rate, self.rate_reg)
            if self.clip_value == "format":     # clip the loss gradient alone, as the twin
                part_loss.backward()
                self._clip_to_formats()
                self.regulariser().backward()
            else:
                (part_loss + self.regulariser()).backward()
            self.grad_norms.append(clip_gradients(self.net.parameters(), self.clip))
            self.optimizer.step()
            self._post_step()
            self.updates += 1
            total += float(part_loss.detach())
            state = new_state
        self.state = state.detach()
        return total

    @torch.no_grad()
    def forward(self, x, state: ALIFState | None = None) -> np.ndarray:
        """Readouts ``[B, T, n_out]`` (float64 NumPy) of ``x`` from ``state`` (default zero)."""
        x_t, _, _ = as_batch(x, None, None, self.cfg.n_out, self.net.dtype)
        out, _ = self.net(x_t, state)
        return out.to(torch.float64).numpy()

    def end_epoch(self, reset_to_mean: bool = False, zero_lambda: bool = False) -> None:
        """Close an epoch: optionally :meth:`reset_to_mean` (the released scripts do, after
        every epoch), then count it (:attr:`epoch`, which switches the aux loss's ``Q``)."""
        if reset_to_mean:
            self.reset_to_mean(zero_lambda)
        self.epoch += 1

    @torch.no_grad()
    def reset_to_mean(self, zero_lambda: bool = False) -> None:
        """``W ← W̄`` (the released code does this after every epoch; sFPTT keeps ``λ``;
        Kag & Saligrama also zero ``λ`` for the image tasks: ``zero_lambda=True``)."""
        for m in self.params:
            getattr(self.net, m).copy_(self._wbar[m])
            if zero_lambda:
                self._lam[m].zero_()

    # ------------------------------------------------------------------ read-back
    def weights(self) -> dict[str, np.ndarray]:
        """Current parameters, float64 NumPy copies keyed by ``cfg.params`` (biases ``[post, 1]``)."""
        return self.net.weights()

    @property
    def wbar(self) -> dict[str, np.ndarray]:
        """Running means ``W̄`` (float64 NumPy copies)."""
        return {m: v.to(torch.float64).numpy().copy() for m, v in self._wbar.items()}

    @property
    def lam(self) -> dict[str, np.ndarray]:
        """Dual states ``λ`` (float64 NumPy copies)."""
        return {m: v.to(torch.float64).numpy().copy() for m, v in self._lam.items()}
