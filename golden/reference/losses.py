"""Losses of the float reference: per-step MSE, per-step cross-entropy, FPTT's auxiliary loss.

All take readouts ``o [B, T, n_out]``, targets ``y* [B, T, n_out]`` and a mask
``has_target [B, T]``; steps without a target contribute nothing (targets there
may hold anything, NaN included). Over the batch the losses are averaged
(``batch_reduction="mean"``, as the published code) or summed (``"sum"``); with
one sequence both are the hardware's loss.

MSE (DESIGN section 4)::

    ℓ = Σ_{t: has_target} ½ Σ_k (o_k,t - y*_k,t)²

Cross-entropy on the readout taken as logits, summed over decision steps
(``y*`` one-hot or any class distribution)::

    ℓ = Σ_{t: has_target} -Σ_k y*_k,t log softmax(o_t)_k

Auxiliary loss for terminal prediction (Kag & Saligrama 2021, released code;
sFPTT the same), at part ``p = 1..P`` with the readout ``ŷ = softmax(o)`` at
the part's last step and label ``y``::

    ℓ_p = β_p CE(y, ŷ) + (1 - β_p) H(Q_p[y], ŷ),      β_p = p / P,
    H(Q, ŷ) = -Σ_k Q_k log ŷ_k

``Q_p[y]`` is a class distribution remembered per part and per true class
(:class:`ClassPrior`). After part ``p`` of a batch, for each class ``y`` the
first sequence of that class whose prediction at part ``p`` was wrong stores
its ``ŷ`` in the memory ``Q_p[y]`` (read before the update, as published; the
last part stores nothing).

The released form, the default here (Kag & Saligrama's ``train.py``):

* the memory starts at **zero** (``torch.zeros(n_classes, parts, n_classes)``)
  and is filled from the first epoch on, but the loss reads a **uniform**
  ``Q = 1/n_classes`` during epochs ``1 .. 19`` (``if epoch < 20``) and the
  memory only from epoch :data:`AUX_Q_SWITCH_EPOCH` = 20 on: a class never
  mispredicted at part ``p`` then has ``Q_p[y] = 0`` (no ``H`` term);
* the second term is ``torch.mean(-Q * log ŷ)``, a mean over batch *and
  classes*, i.e. ``H / n_classes`` (``aux_class_mean=True``).

``ClassPrior(init="uniform", switch_epoch=1)`` and ``aux_class_mean=False`` give
the form of the paper's equations (uniform memory read from the start, plain ``H``).

Firing-rate penalty (:func:`rate_penalty`, off unless a trainer's ``rate_reg > 0``),
on the spikes ``s [B, T, n_hidden]`` of the same forward pass, with each neuron's
rate ``r̄_j`` the mean of its spikes over the batch and the steps (for FPTT: of the part)::

    R = γ Σ_j (r̄_j - r*)²,      ∂R/∂s_b,t,j = 2γ (r̄_j - r*) / (B·T)

It pulls every neuron towards the rate ``r*``, away from firing on every step or
never, where the surrogate gives no gradient. Measured on S-MNIST (README, the
``decision-rate`` set-up): it does not reliably raise BPTT's accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "mse_loss", "ce_loss", "sequence_loss", "aux_beta", "aux_loss",
           "rate_penalty", "check_rate_penalty", "ClassPrior", "AUX_Q_SWITCH_EPOCH", "Q_INITS"]

#: Loss kinds of the trainers (``"aux"``: FPTT only).
LOSSES = ("mse", "ce", "aux")
#: First epoch whose auxiliary loss reads the class memory ``Q`` (released code:
#: ``if epoch < 20: uniform``; epochs count from 1).
AUX_Q_SWITCH_EPOCH = 20
#: Initial content of the class memory: released ``"zero"``, or ``"uniform"``.
Q_INITS = ("zero", "uniform")


def _reduce(per_seq: torch.Tensor, batch_reduction: str) -> torch.Tensor:
    if batch_reduction == "mean":
        return per_seq.mean()
    if batch_reduction == "sum":
        return per_seq.sum()
    raise ValueError(f"batch_reduction must be 'mean' or 'sum', not {batch_reduction!r}")


def mse_loss(out: torch.Tensor, target: torch.Tensor, has_target: torch.Tensor,
             batch_reduction: str = "mean") -> torch.Tensor:
    """``Σ_{t: has_target} ½ Σ_k (o_k,t - y*_k,t)²`` per sequence, reduced over the batch."""
    err = torch.where(has_target[..., None], out - target, torch.zeros_like(out))
    return _reduce(0.5 * (err ** 2).sum(dim=(1, 2)), batch_reduction)


def ce_loss(out: torch.Tensor, target: torch.Tensor, has_target: torch.Tensor,
            batch_reduction: str = "mean") -> torch.Tensor:
    """``Σ_{t: has_target} -Σ_k y*_k,t log softmax(o_t)_k`` per sequence, reduced over the batch."""
    logp = F.log_softmax(out, dim=-1)
    tgt = torch.where(has_target[..., None], target, torch.zeros_like(target))
    per_step = -(tgt * logp).sum(dim=-1)
    per_step = torch.where(has_target, per_step, torch.zeros_like(per_step))
    return _reduce(per_step.sum(dim=1), batch_reduction)


def sequence_loss(kind: str, out, target, has_target, batch_reduction: str = "mean"):
    """``mse_loss`` (``kind="mse"``) or ``ce_loss`` (``kind="ce"``)."""
    if kind == "mse":
        return mse_loss(out, target, has_target, batch_reduction)
    if kind == "ce":
        return ce_loss(out, target, has_target, batch_reduction)
    raise ValueError(f"per-step loss must be 'mse' or 'ce', not {kind!r}")


def check_rate_penalty(rate_reg: float, target_rate: float) -> None:
    """Refuse a strength ``γ < 0`` or a target rate ``r*`` outside ``[0, 1]`` (one line each)."""
    if not rate_reg >= 0:
        raise ValueError(f"rate_reg must be >= 0, not {rate_reg!r}")
    if not 0 <= target_rate <= 1:
        raise ValueError(f"target_rate must be in [0, 1] (spikes per step), not {target_rate!r}")


def rate_penalty(spikes: torch.Tensor, target_rate: float, rate_reg: float) -> torch.Tensor:
    """``γ Σ_j (r̄_j - r*)²`` with ``r̄_j`` the mean of ``spikes [B, T, n_hidden]`` over
    the batch and the steps (module docstring); ``γ = rate_reg``, ``r* = target_rate``."""
    rate = spikes.mean(dim=(0, 1))
    return rate_reg * ((rate - target_rate) ** 2).sum()


def aux_beta(p: int, n_parts: int) -> float:
    """``β_p = p / P`` for part ``p = 1..P``: from ``1/P`` up to ``1`` at the last part."""
    if not 1 <= p <= n_parts:
        raise ValueError(f"part p must satisfy 1 <= p <= P = {n_parts}, not {p}")
    return p / n_parts


def aux_loss(logits: torch.Tensor, labels: torch.Tensor, q: torch.Tensor, beta: float,
             batch_reduction: str = "mean", aux_class_mean: bool = True) -> torch.Tensor:
    """``β CE(y, ŷ) + (1 - β) H(Q, ŷ)`` with ``ŷ = softmax(logits)``.

    Parameters
    ----------
    logits : ``[B, n_classes]``, the readout at the part's last step.
    labels : ``[B]`` integer classes.
    q : ``[B, n_classes]``, the remembered distribution ``Q_p[y]`` of each sequence.
    beta : ``β_p``.
    aux_class_mean : divide ``H`` by ``n_classes`` as the released code's ``torch.mean`` does
        (default; ``False``: the paper's plain ``H``).
    """
    logp = F.log_softmax(logits, dim=-1)
    ce = -logp.gather(1, labels[:, None]).squeeze(1)
    h = -(q * logp).sum(dim=-1)
    if aux_class_mean:
        h = h / logits.shape[-1]
    return _reduce(beta * ce + (1.0 - beta) * h, batch_reduction)


class ClassPrior:
    """The remembered class distributions ``Q[y, p]`` of the auxiliary loss.

    Parameters
    ----------
    n_classes : int
    n_parts : int
        ``P``, the parts per sequence.
    dtype : torch.dtype
    init : {"zero", "uniform"}
        Initial memory (released: ``"zero"``).
    switch_epoch : int
        :meth:`lookup` returns the uniform ``1/n_classes`` while
        :attr:`epoch` ``< switch_epoch`` and the memory from then on (released:
        :data:`AUX_Q_SWITCH_EPOCH`; ``1``: the memory from the start).

    Attributes
    ----------
    table : torch.Tensor ``[n_classes, n_parts, n_classes]``
        The memory: ``table[y, p-1]`` is ``Q_p[y]``. It is updated in every
        epoch, also while :meth:`lookup` still returns the uniform ``Q``.
    epoch : int
        The current epoch (from 1); the trainer sets it.
    """

    def __init__(self, n_classes: int, n_parts: int, dtype: torch.dtype = torch.float64,
                 init: str = "zero", switch_epoch: int = AUX_Q_SWITCH_EPOCH):
        if init not in Q_INITS:
            raise ValueError(f"init must be one of {', '.join(Q_INITS)}, not {init!r}")
        self.n_classes, self.n_parts = n_classes, n_parts
        self.init, self.switch_epoch, self.epoch = init, int(switch_epoch), 1
        fill = 0.0 if init == "zero" else 1.0 / n_classes
        self.table = torch.full((n_classes, n_parts, n_classes), fill, dtype=dtype)

    @property
    def uniform_now(self) -> bool:
        """Whether :meth:`lookup` returns the uniform ``Q`` in the current epoch."""
        return self.epoch < self.switch_epoch

    def lookup(self, labels: torch.Tensor, p: int) -> torch.Tensor:
        """``Q_p[y_b]`` for every sequence ``b`` (a copy), ``[B, n_classes]``: the uniform
        ``1/n_classes`` before :attr:`switch_epoch`, the memory from then on."""
        if self.uniform_now:
            return torch.full((labels.shape[0], self.n_classes), 1.0 / self.n_classes,
                              dtype=self.table.dtype)
        return self.table[labels, p - 1].clone()

    @torch.no_grad()
    def update(self, labels: torch.Tensor, probs: torch.Tensor, p: int) -> None:
        """For each class, the first sequence of that class predicted wrongly at part ``p``
        stores its ``ŷ`` (``probs [B, n_classes]``) as ``Q_p[y]``. The last part is not stored."""
        if p >= self.n_parts:
            return
        wrong = probs.argmax(dim=-1) != labels
        filled = set()
        for b in range(labels.shape[0]):
            y = int(labels[b])
            if y not in filled and bool(wrong[b]):
                filled.add(y)
                self.table[y, p - 1] = probs[b].detach().to(self.table.dtype)
                if len(filled) == self.n_classes:
                    break
