"""Helpers shared by the BPTT and FPTT trainers: optimisers, clipping, batch shapes."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["OPTIMIZERS", "DEFAULT_ADAPTIVE_LR", "make_optimizer", "resolve_lr",
           "clip_gradients", "as_batch"]

#: Optimiser names: plain SGD (the hardware's), Adam, Adamax (the published runs).
OPTIMIZERS = ("sgd", "adam", "adamax")
#: Step of Adam / Adamax when none is given (the released FPTT and sFPTT scripts' ``1e-3``).
DEFAULT_ADAPTIVE_LR = 1e-3


def resolve_lr(cfg, optimizer: str, lr) -> float | dict[str, float]:
    """The step(s) of a trainer's optimiser.

    ``lr=None``: plain SGD takes the configuration's step of each parameter,
    ``cfg.fptt.lr`` (a :class:`fptt.config.LearningRates`), as the hardware and
    the float twin do; Adam and Adamax take one step, :data:`DEFAULT_ADAPTIVE_LR`.
    A number is one step for every parameter; a ``LearningRates`` or a dict
    keyed by parameter gives each its own (any optimiser; parameter groups).
    """
    if lr is None:
        lr = cfg.fptt.lr if optimizer.lower() == "sgd" else DEFAULT_ADAPTIVE_LR
    if hasattr(lr, "as_dict"):
        lr = lr.as_dict()
    if isinstance(lr, dict):
        missing = set(cfg.params) - set(lr)
        if missing:
            raise ValueError(f"lr has no step for {', '.join(sorted(missing))}")
        return {p: float(lr[p]) for p in cfg.params}
    return float(lr)


def make_optimizer(name: str, params, lr, **kwargs) -> torch.optim.Optimizer:
    """``torch.optim`` optimiser ``name`` (``"sgd"``: no momentum unless given) with step ``lr``.

    ``params`` is an iterable of tensors, or a dict ``{name: tensor}`` when ``lr``
    is a dict ``{name: step}``: then one parameter group per parameter, each with
    its own step (for Adam the step scales the normalised update per group).
    """
    if isinstance(lr, dict):
        if not isinstance(params, dict):
            raise ValueError("per-parameter steps need the parameters as a dict {name: tensor}")
        params = [{"params": [t], "lr": lr[n]} for n, t in params.items()]
        lr = next(iter(lr.values()))
    elif isinstance(params, dict):
        params = list(params.values())
    name = name.lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, **kwargs)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **kwargs)
    if name == "adamax":
        return torch.optim.Adamax(params, lr=lr, **kwargs)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")


def clip_gradients(params, clip: float | None) -> float:
    """``torch.nn.utils.clip_grad_norm_(params, clip)`` over all parameters together (no
    clipping for ``None`` or ``clip <= 0``); returns the norm ``‖∇‖₂`` before clipping.

    The norm is what shows an exploding gradient through time: with the readout's
    gradient at a few thousand, a hidden-layer gradient of 10⁶ and more means the
    backward recurrence has left its stable region (README, S-MNIST).
    """
    params = [p for p in params if p.grad is not None]
    if not params:
        return 0.0
    norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    if clip is not None and clip > 0:
        torch.nn.utils.clip_grads_with_norm_(params, clip, norm)
    return float(norm)


def as_batch(x, target, has_target, n_out: int, dtype: torch.dtype):
    """Normalise ``x [T, n_in]|[B, T, n_in]``, ``target [T, n_out]|[B, T, n_out]`` and
    ``has_target [T]|[B, T]`` (default: every step when a target is given, none without)
    to tensors ``[B, T, ·]``; targets and masks broadcast over the batch of ``x``."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype)
    if x.ndim == 2:
        x = x[None]
    B, T = x.shape[0], x.shape[1]
    if target is None:
        tgt = torch.zeros(B, T, n_out, dtype=dtype)
        has = torch.zeros(B, T, dtype=torch.bool)
        return x, tgt, has
    tgt = torch.as_tensor(np.asarray(target, dtype=np.float64), dtype=dtype)
    if tgt.ndim == 2:
        tgt = tgt[None]
    tgt = tgt.expand(B, T, n_out)
    if has_target is None:
        has = torch.ones(B, T, dtype=torch.bool)
    else:
        has = torch.as_tensor(np.asarray(has_target, dtype=bool))
        if has.ndim == 1:
            has = has[None]
        has = has.expand(B, T)
    return x, tgt, has
