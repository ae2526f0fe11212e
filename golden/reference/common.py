"""Helpers shared by the BPTT and FPTT trainers: optimisers, clipping, batch shapes."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["OPTIMIZERS", "make_optimizer", "clip_gradients", "as_batch"]

#: Optimiser names: plain SGD (the hardware's), Adam, Adamax (the published runs).
OPTIMIZERS = ("sgd", "adam", "adamax")


def make_optimizer(name: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
    """``torch.optim`` optimiser ``name`` (``"sgd"``: no momentum unless given) with step ``lr``."""
    name = name.lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, **kwargs)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **kwargs)
    if name == "adamax":
        return torch.optim.Adamax(params, lr=lr, **kwargs)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")


def clip_gradients(params, clip: float | None) -> None:
    """``torch.nn.utils.clip_grad_norm_(params, clip)`` over all parameters together; no-op for
    ``None`` or ``clip <= 0``."""
    if clip is not None and clip > 0:
        torch.nn.utils.clip_grad_norm_(list(params), clip)


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
