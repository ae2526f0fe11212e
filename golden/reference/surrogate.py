"""Spike functions with surrogate gradients, as custom autograd Functions.

Forward, every kind: the Heaviside step of ``v = u - B``::

    s = [v >= 0]

(``>=`` as in the float twin and the fixed-point model; the published sFPTT
code uses ``v > 0``, which differs only on the measure-zero set ``v == 0``.)

Backward, ``ds/dv`` is replaced by a surrogate ``ψ(v)``:

``"triangle"`` (the hardware's, :class:`fptt.config.NeuronConfig`)::

    ψ(v) = h · max(0, 1 - |v| / w)          h = surrogate_height, w = surrogate_width

``"mg-*"``, the multi-Gaussian of Yin et al.'s released code (``ActFun_adp``)::

    ψ(v) = γ · [ (1 + k)·N(v; 0, σ) - k·N(v; σ, sσ) - k·N(v; -σ, sσ) ]

with ``N(v; μ, σ) = exp(-(v - μ)² / (2σ²)) / (√(2π) σ)``, in two named presets
(:data:`MG_PRESETS`) that differ only in the width ``σ`` ("lens"):

``"mg-sfptt"`` (alias ``"mg"``)
    sFPTT (Yin, Corradi & Bohté 2023, ``byin-cwi/sFPTT``, e.g.
    ``fptt/fptt_AddTask/snn_models_LIF4.py``): ``γ = 0.5``, ``σ = 0.3``,
    ``s = 6`` ("scale"), ``k = 0.15`` ("hight").
``"mg-srnn"``
    the earlier adaptive-SRNN (ALIF) code of Yin, Corradi & Bohté (2021):
    the same but ``σ = 0.5`` (the value this module used to call sFPTT's).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["SURROGATES", "TriangleSpike", "MultiGaussianSpike", "spike", "gaussian",
           "MGConstants", "MG_PRESETS", "MG_GAMMA", "MG_SIGMA", "MG_SCALE", "MG_HEIGHT"]


class MGConstants(NamedTuple):
    """Constants of the multi-Gaussian surrogate (released names in brackets)."""

    gamma: float    # overall scale (``gamma``)
    sigma: float    # width of the central Gaussian (``lens``)
    scale: float    # width factor of the two negative side lobes (``scale``)
    height: float   # weight of the side lobes (``hight``)
    source: str


#: Named multi-Gaussian presets: ``"mg-<name>"`` in :func:`spike`.
MG_PRESETS = {
    "sfptt": MGConstants(0.5, 0.3, 6.0, 0.15,
                         "sFPTT released models (byin-cwi/sFPTT): lens = 0.3"),
    "srnn": MGConstants(0.5, 0.5, 6.0, 0.15,
                        "adaptive SRNN / ALIF code of Yin, Corradi & Bohte 2021: lens = 0.5"),
}

#: Surrogate kinds accepted by :func:`spike` and the reference network
#: (``"mg"`` is ``"mg-sfptt"``).
SURROGATES = ("triangle", "mg-sfptt", "mg-srnn", "mg")

#: The sFPTT preset's constants (``gamma``, ``lens``, ``scale``, ``hight``).
MG_GAMMA, MG_SIGMA, MG_SCALE, MG_HEIGHT = MG_PRESETS["sfptt"][:4]


def gaussian(v: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    """Normal density ``N(v; μ, σ) = exp(-(v - μ)²/(2σ²)) / (√(2π) σ)``."""
    return torch.exp(-((v - mu) ** 2) / (2.0 * sigma ** 2)) / (math.sqrt(2.0 * math.pi) * sigma)


class TriangleSpike(torch.autograd.Function):
    """``s = [v >= 0]``; backward ``ψ(v) = h·max(0, 1 - |v|/w)``.

    ``apply(v, height, width)`` with ``height``, ``width`` Python floats.
    """

    @staticmethod
    def forward(ctx, v, height, width):
        ctx.save_for_backward(v)
        ctx.height, ctx.width = float(height), float(width)
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_s):
        (v,) = ctx.saved_tensors
        psi = ctx.height * torch.clamp(1.0 - torch.abs(v) / ctx.width, min=0.0)
        return grad_s * psi, None, None


class MultiGaussianSpike(torch.autograd.Function):
    """``s = [v >= 0]``; backward the multi-Gaussian surrogate (module docstring).

    ``apply(v, constants)`` with ``constants`` an :class:`MGConstants` (default sFPTT's).
    """

    @staticmethod
    def forward(ctx, v, constants=MG_PRESETS["sfptt"]):
        ctx.save_for_backward(v)
        ctx.constants = constants
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_s):
        (v,) = ctx.saved_tensors
        gamma, sig, scale, k = ctx.constants[:4]
        psi = (gaussian(v, 0.0, sig) * (1.0 + k)
               - gaussian(v, sig, scale * sig) * k
               - gaussian(v, -sig, scale * sig) * k)
        return grad_s * psi * gamma, None


def spike(v: torch.Tensor, kind: str = "triangle", height: float = 0.5,
          width: float = 0.5) -> torch.Tensor:
    """Spikes ``[v >= 0]`` with the surrogate gradient ``kind`` (:data:`SURROGATES`);
    ``height`` and ``width`` are the triangle's."""
    if kind == "triangle":
        return TriangleSpike.apply(v, height, width)
    if kind in SURROGATES and kind.startswith("mg"):
        return MultiGaussianSpike.apply(v, MG_PRESETS[kind[3:] or "sfptt"])
    raise ValueError(f"surrogate must be one of {', '.join(SURROGATES)}, not {kind!r}")
