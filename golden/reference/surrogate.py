"""Spike functions with surrogate gradients, as custom autograd Functions.

Forward, both kinds: the Heaviside step of ``v = u - B``::

    s = [v >= 0]

(``>=`` as in the float twin and the fixed-point model; the published sFPTT
code uses ``v > 0``, which differs only on the measure-zero set ``v == 0``.)

Backward, ``ds/dv`` is replaced by a surrogate ``ψ(v)``:

``"triangle"`` (the hardware's, :class:`fptt.config.NeuronConfig`)::

    ψ(v) = h · max(0, 1 - |v| / w)          h = surrogate_height, w = surrogate_width

``"mg"``, the multi-Gaussian of Yin, Corradi & Bohté (sFPTT code)::

    ψ(v) = γ · [ (1 + k)·N(v; 0, σ) - k·N(v; σ, sσ) - k·N(v; -σ, sσ) ]

with ``N(v; μ, σ) = exp(-(v - μ)² / (2σ²)) / (√(2π) σ)`` and the published
constants ``γ = 0.5``, ``σ = 0.5`` ("lens"), ``s = 6`` ("scale"), ``k = 0.15``
("hight").
"""

from __future__ import annotations

import math

import torch

__all__ = ["SURROGATES", "TriangleSpike", "MultiGaussianSpike", "spike", "gaussian",
           "MG_GAMMA", "MG_SIGMA", "MG_SCALE", "MG_HEIGHT"]

#: Surrogate kinds accepted by :func:`spike` and the reference network.
SURROGATES = ("triangle", "mg")

#: Published multi-Gaussian constants (sFPTT ``gamma``, ``lens``, ``scale``, ``hight``).
MG_GAMMA = 0.5
MG_SIGMA = 0.5
MG_SCALE = 6.0
MG_HEIGHT = 0.15


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
    """``s = [v >= 0]``; backward the published multi-Gaussian surrogate (module docstring)."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_s):
        (v,) = ctx.saved_tensors
        sig, k = MG_SIGMA, MG_HEIGHT
        psi = (gaussian(v, 0.0, sig) * (1.0 + k)
               - gaussian(v, sig, MG_SCALE * sig) * k
               - gaussian(v, -sig, MG_SCALE * sig) * k)
        return grad_s * psi * MG_GAMMA


def spike(v: torch.Tensor, kind: str = "triangle", height: float = 0.5,
          width: float = 0.5) -> torch.Tensor:
    """Spikes ``[v >= 0]`` with the surrogate gradient ``kind`` (``"triangle"`` or ``"mg"``)."""
    if kind == "triangle":
        return TriangleSpike.apply(v, height, width)
    if kind == "mg":
        return MultiGaussianSpike.apply(v)
    raise ValueError(f"surrogate must be one of {', '.join(SURROGATES)}, not {kind!r}")
