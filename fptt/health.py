"""Health metrics of a training run: how far each parameter moved, and what the hidden layer adds.

An accuracy alone does not say that FPTT trained the recurrent layer: a readout
trained on a random network can reach it too. Every run therefore reports the
relative L1 change of each weight matrix from its initial value, and can be
repeated as the **readout-only control** (:data:`LEARN_MODES` ``"readout"``:
the hidden layer's ``W_in``, ``W_rec`` and ``b`` frozen). ``"hidden"`` is the other
half: the readout ``W_out``, ``b_out`` frozen, so that a run started from a sound
readout shows what the hidden layer's own updates do to the accuracy.
"""

from __future__ import annotations

import numpy as np

from .config import MATRICES, CoreConfig

__all__ = ["LEARN_MODES", "HIDDEN_PARAMS", "READOUT_PARAMS", "frozen_params", "weight_change",
           "bias_size", "percent"]

#: ``all``: every parameter learns; ``readout``: only ``W_out`` and ``b_out`` (the control);
#: ``hidden``: only ``W_in``, ``W_rec`` and ``b`` (the readout frozen).
LEARN_MODES = ("all", "readout", "hidden")
#: The hidden layer's parameters, frozen by the readout-only control.
HIDDEN_PARAMS = ("w_in", "w_rec", "b")
#: The readout's parameters, frozen by ``learn = "hidden"``.
READOUT_PARAMS = ("w_out", "b_out")


def frozen_params(cfg: CoreConfig, learn: str) -> tuple[str, ...]:
    """The parameters of ``cfg`` that ``learn`` mode freezes."""
    if learn not in LEARN_MODES:
        raise ValueError(f"learn must be one of {', '.join(LEARN_MODES)}, not {learn!r}")
    if learn == "all":
        return ()
    names = HIDDEN_PARAMS if learn == "readout" else READOUT_PARAMS
    return tuple(p for p in cfg.params if p in names)


def weight_change(initial: dict, final: dict) -> dict[str, float]:
    """Relative L1 change of every weight matrix: ``Σ|W - W₀| / Σ|W₀|``.

    ``initial`` and ``final`` map names to arrays of one core. Biases start at 0,
    where a relative change means nothing: see :func:`bias_size`.
    """
    out = {}
    for m in MATRICES:
        w0, w1 = np.asarray(initial[m], np.float64), np.asarray(final[m], np.float64)
        ref = np.abs(w0).sum()
        out[m] = float(np.abs(w1 - w0).sum() / ref) if ref > 0 else float("nan")
    return out


def bias_size(final: dict) -> dict[str, float]:
    """Mean ``|b|`` of each bias present in ``final`` (they start at 0)."""
    return {p: float(np.abs(np.asarray(final[p])).mean()) for p in ("b", "b_out") if p in final}


def percent(fraction: float) -> str:
    """``fraction`` as a percentage with three significant digits, never in exponent form."""
    v = 100 * fraction
    if v != v:
        return "n/a"
    return f"{v:.0f}%" if abs(v) >= 100 else f"{v:.3g}%"
