"""Full backpropagation through time on the ALIF network (the accuracy yardstick).

For a batch of sequences, forward all ``T`` steps from the zero state (or a given
one), then the exact (surrogate) gradient of the whole-sequence loss by autograd::

    L(W) = reduce_b Σ_{t: has_target} ℓ_t(o_t, y*_t)
    W ← optimiser(W, ∇_W L)          (optionally after clipping ‖∇_W L‖ to ``clip``)

with ``ℓ_t`` the per-step MSE ``½‖o_t - y*_t‖²`` or the cross-entropy of
``softmax(o_t)`` (:mod:`.losses`); ``reduce_b`` is the batch mean (default) or sum.
With ``rate_reg = γ > 0`` the firing-rate penalty ``γ Σ_j (r̄_j - r*)²`` of the
batch's spikes is added (:func:`.losses.rate_penalty`).
On a single window this gradient is the hardware's window gradient (DESIGN
section 4), which ``tests/test_reference.py`` checks against
:meth:`fptt.golden.twin.FloatTwin.window_gradients`.
"""

from __future__ import annotations

import numpy as np
import torch

from ...config import CoreConfig
from .common import as_batch, clip_gradients, make_optimizer, resolve_lr
from .losses import check_rate_penalty, rate_penalty, sequence_loss
from .network import ALIFNetwork, ALIFState

__all__ = ["BPTTTrainer"]


class BPTTTrainer:
    """Train the ALIF network with BPTT, one optimiser step per batch of sequences.

    Parameters
    ----------
    cfg : CoreConfig
    weights : dict of array_like
        Initial ``w_in``, ``w_rec``, ``w_out`` (and ``b``, ``b_out``; missing biases are 0).
    optimizer : {"adam", "sgd", "adamax"}
    lr : float, dict or LearningRates, optional
        Default (:func:`.common.resolve_lr`): for ``"sgd"`` each parameter's
        ``cfg.fptt.lr``; for Adam / Adamax ``1e-3``. A dict / ``LearningRates``:
        one parameter group per parameter, each with its own step.
    clip : float, optional
        Clip the gradient norm (over all weights together) to this value.
    loss : {"mse", "ce"}
    dtype : torch.dtype, default float64
    surrogate : {"triangle", "mg"}
    batch_reduction : {"mean", "sum"}
    optimizer_kwargs : dict, optional
        Passed to the ``torch.optim`` constructor.
    rate_reg : float
        ``γ`` of the firing-rate penalty (default 0: none).
    target_rate : float
        ``r*``, spikes per step (default 0.05).

    Attributes
    ----------
    net : ALIFNetwork
    optimizer : torch.optim.Optimizer
    grad_norms : list of float
        The gradient norm before clipping of every :meth:`train_batch`, in order.
    """

    def __init__(self, cfg: CoreConfig, weights: dict, optimizer: str = "adam", lr=None,
                 clip: float | None = None, loss: str = "mse", *, dtype=torch.float64,
                 surrogate: str = "triangle", batch_reduction: str = "mean",
                 optimizer_kwargs: dict | None = None, rate_reg: float = 0.0,
                 target_rate: float = 0.05):
        if loss not in ("mse", "ce"):
            raise ValueError(f"BPTT loss must be 'mse' or 'ce', not {loss!r}")
        check_rate_penalty(rate_reg, target_rate)
        self.cfg, self.loss_kind, self.clip = cfg, loss, clip
        self.rate_reg, self.target_rate = float(rate_reg), float(target_rate)
        self.batch_reduction = batch_reduction
        self.net = ALIFNetwork(cfg, weights, dtype=dtype, surrogate=surrogate)
        self.lr = resolve_lr(cfg, optimizer, lr)
        self.optimizer = make_optimizer(optimizer, dict(self.net.named_parameters()), self.lr,
                                        **(optimizer_kwargs or {}))
        self.grad_norms: list[float] = []   # ‖∇‖₂ before clipping, one per train_batch

    def _batch(self, x, target, has_target):
        return as_batch(x, target, has_target, self.cfg.n_out, self.net.dtype)

    def loss(self, x, target, has_target=None, state: ALIFState | None = None) -> torch.Tensor:
        """The sequence loss (a graph), forward from ``state`` (default zero), with the
        firing-rate penalty when ``rate_reg > 0``."""
        x, tgt, has = self._batch(x, target, has_target)
        # the spikes are stacked only for the penalty
        out, _, *spikes = self.net(x, state, return_spikes=bool(self.rate_reg))
        loss = sequence_loss(self.loss_kind, out, tgt, has, self.batch_reduction)
        if spikes:
            loss = loss + rate_penalty(spikes[0], self.target_rate, self.rate_reg)
        return loss

    def gradients(self, x, target, has_target=None,
                  state: ALIFState | None = None) -> dict[str, np.ndarray]:
        """``∇_W L`` (no step, no clipping) as float64 NumPy arrays keyed by ``cfg.params``.

        ``state`` (default zero) is a constant initial state.
        """
        self.net.zero_grad(set_to_none=True)
        if state is not None:
            state = state.detach()
        self.loss(x, target, has_target, state).backward()
        grads = {}
        for m in self.net.params:
            g = getattr(self.net, m).grad
            grads[m] = (np.zeros(self.cfg.param_shapes[m]) if g is None
                        else g.detach().to(torch.float64).numpy().copy())
        self.net.zero_grad(set_to_none=True)
        return grads

    def train_batch(self, x, target, has_target=None) -> float:
        """One BPTT step on ``x [B, T, n_in]``, ``target [B, T, n_out]``, ``has_target [B, T]``;
        returns the loss before the step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x, target, has_target)
        loss.backward()
        self.grad_norms.append(clip_gradients(self.net.parameters(), self.clip))
        self.optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def forward(self, x, state: ALIFState | None = None) -> np.ndarray:
        """Readouts ``[B, T, n_out]`` (float64 NumPy) of ``x`` from ``state`` (default zero)."""
        x, _, _ = self._batch(x, None, None)
        out, _ = self.net(x, state)
        return out.to(torch.float64).numpy()

    def weights(self) -> dict[str, np.ndarray]:
        """Current parameters, float64 NumPy copies keyed by ``cfg.params`` (biases ``[post, 1]``)."""
        return self.net.weights()
