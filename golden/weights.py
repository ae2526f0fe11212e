"""Initial weights shared by every view, so that all of them start from the same network."""

from __future__ import annotations

import numpy as np

from ..config import CoreConfig
from .fixedpoint import to_codes

__all__ = ["init_weights"]


def init_weights(cfg: CoreConfig, seed: int = 0, gain_in: float = 1.0, gain_rec: float = 0.5,
                 gain_out: float = 1.0) -> dict[str, np.ndarray]:
    """Gaussian weights ``W ~ N(0, (gain/√fan_in)²)``, rounded onto the grid of ``formats.w``.

    Biases (``cfg.biases``) start at 0. Being representable, they are the same network in the float views and the
    fixed-point model.
    """
    rng = np.random.default_rng(seed)
    fmt = cfg.formats.w
    out = {}
    for (name, (post, pre)), gain in zip(cfg.matrix_shapes.items(), (gain_in, gain_rec, gain_out)):
        w = rng.normal(0.0, gain / np.sqrt(pre), size=(post, pre))
        out[name] = to_codes(w, fmt) * fmt.lsb
    np.fill_diagonal(out["w_rec"], 0.0)
    for name, shape in cfg.param_shapes.items():
        if name not in out:     # biases start at 0
            out[name] = np.zeros(shape)
    return out
