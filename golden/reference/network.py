"""The ALIF recurrent network of DESIGN section 2 as a PyTorch module (float reference).

Per time step ``t`` (states from ``t-1``; ``s_0 = 0``), for a batch of sequences::

    I_t = W_in x_t + W_rec s_{t-1} + b
    a_t = ρ a_{t-1} + (1 - ρ) s_{t-1}                 adaptation
    B_t = θ0 + β_a a_t                                adaptive threshold
    u_t = α u_{t-1} + c I_t - sg(B_t s_{t-1})         soft reset, no gradient through it
    v_t = u_t - B_t
    s_t = [v_t >= 0]                                  backward: ψ(v_t) (surrogate)
    o_t = κ o_{t-1} + W_out s_t + b_out               leaky readout

``sg`` is stop-gradient (``detach``): the whole reset term is a constant for
autograd, as in the hardware's backward (DESIGN section 4). Gradients do flow
through the threshold ``B_t`` in ``v_t`` (so through the adaptation ``a``) and
through ``s_{t-1}`` into ``a_t``. LIF is ``β_a = 0``.

The biases ``b [n_hidden, 1]`` and ``b_out [n_out, 1]`` (``cfg.biases``) are
one-column parameters, the weights of an always-active presynaptic unit as in
the hardware; without ``cfg.biases`` the network has the three matrices only.

The constants are the unquantised floats of :class:`fptt.config.NeuronConfig`
(``α = exp(-1/τ_mem)``, per neuron ``α_j`` with ``tau_mem_spread > 1``,
``ρ = exp(-1/τ_adp)``, ``κ = exp(-1/τ_out)``, ``c``,
``β_a``, ``θ0``), so with the triangle surrogate this network is, step for
step, the float twin's (:class:`fptt.golden.twin.FloatTwin`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ...config import BIASES, MATRICES, PARAMS, CoreConfig
from .surrogate import SURROGATES, spike

__all__ = ["MATRICES", "PARAMS", "ALIFState", "ALIFNetwork"]


class ALIFState(NamedTuple):
    """Network state after a step: membrane ``u``, adaptation ``a``, spikes ``s``
    (all ``[B, n_hidden]``) and readout ``o`` (``[B, n_out]``)."""

    u: torch.Tensor
    a: torch.Tensor
    s: torch.Tensor
    o: torch.Tensor

    def detach(self) -> "ALIFState":
        """The same values, cut from the autograd graph (a part's constant initial state)."""
        return ALIFState(*(t.detach() for t in self))


class ALIFNetwork(nn.Module):
    """One recurrent layer of ALIF neurons with a leaky-integrator readout.

    Parameters
    ----------
    cfg : CoreConfig
        Sizes and neuron constants (``cfg.neuron.alpha``, ``rho``, ``kappa``, ``c``,
        ``beta_a``, ``theta0``, ``surrogate_height``, ``surrogate_width``).
    weights : dict of array_like, optional
        ``w_in [n_hidden, n_in]``, ``w_rec [n_hidden, n_hidden]``,
        ``w_out [n_out, n_hidden]`` and, with ``cfg.biases``, ``b [n_hidden, 1]``,
        ``b_out [n_out, 1]`` (vectors accepted; missing biases are 0), as
        :func:`fptt.golden.weights.init_weights` returns. Default: zeros.
    dtype : torch.dtype, default torch.float64
    surrogate : str
        Surrogate derivative of the spike (:data:`.surrogate.SURROGATES`).
        ``"triangle"`` is the hardware's; ``"mg-sfptt"`` / ``"mg-srnn"`` the
        multi-Gaussian of the released sFPTT / SRNN (ALIF) code.

    Attributes
    ----------
    params : tuple of str
        The learned parameters, ``cfg.params`` (update and checkpoint order).
    w_in, w_rec, w_out, b, b_out : torch.nn.Parameter
    alpha : float or torch.Tensor
        ``α``, or ``α_j`` ``[n_hidden]`` with ``neuron.tau_mem_spread > 1``.
    rho, kappa, c, beta_a, theta0 : float
    """

    def __init__(self, cfg: CoreConfig, weights: dict | None = None, *,
                 dtype: torch.dtype = torch.float64, surrogate: str = "triangle"):
        super().__init__()
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {', '.join(SURROGATES)}, not {surrogate!r}")
        self.cfg = cfg
        self.dtype = dtype
        self.surrogate = surrogate
        self.params = tuple(cfg.params)
        for name in self.params:
            setattr(self, name, nn.Parameter(torch.tensor(self._array(name, weights), dtype=dtype)))
        n = cfg.neuron
        # α per neuron ([n_hidden], broadcast over the last axis) with neuron.tau_mem_spread > 1
        self.alpha = (torch.tensor(cfg.alpha_neurons, dtype=dtype) if cfg.per_neuron_tau
                      else n.alpha)
        self.rho, self.kappa, self.c = n.rho, n.kappa, n.c
        self.beta_a, self.theta0 = float(n.beta_a), float(n.theta0)
        self.surrogate_height, self.surrogate_width = n.surrogate_height, n.surrogate_width

    def _array(self, name: str, weights: dict | None) -> np.ndarray:
        """``weights[name]`` as a float64 array of ``cfg.param_shapes[name]`` (zeros if absent:
        any parameter without ``weights``, a bias without its key)."""
        shape = self.cfg.param_shapes[name]
        if weights is None or (name in BIASES and name not in weights):
            return np.zeros(shape)
        arr = np.asarray(weights[name], dtype=np.float64)
        if name in BIASES and arr.shape == shape[:1]:
            arr = arr[:, None]
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, the configuration needs {shape}")
        return arr

    # ------------------------------------------------------------------ state
    def zero_state(self, batch: int = 1) -> ALIFState:
        """``u = a = s = 0``, ``o = 0`` for ``batch`` sequences (start of a sequence)."""
        cfg = self.cfg
        z = lambda n: torch.zeros(batch, n, dtype=self.dtype)  # noqa: E731
        return ALIFState(z(cfg.n_hidden), z(cfg.n_hidden), z(cfg.n_hidden), z(cfg.n_out))

    def load_weights(self, weights: dict) -> None:
        """Overwrite the parameters in place from arrays keyed by :attr:`params` (a missing
        bias becomes 0)."""
        with torch.no_grad():
            for name in self.params:
                getattr(self, name).copy_(torch.as_tensor(self._array(name, weights), dtype=self.dtype))

    def weights(self) -> dict[str, np.ndarray]:
        """The parameters as float64 NumPy copies keyed by :attr:`params`; biases as
        ``[post, 1]`` columns (as :meth:`fptt.golden.twin.FloatTwin.weights`)."""
        return {m: getattr(self, m).detach().to(torch.float64).numpy().copy() for m in self.params}

    # ------------------------------------------------------------------ dynamics
    def threshold(self, a: torch.Tensor) -> torch.Tensor:
        """The adaptive threshold ``B = θ0 + β_a·a`` of the adaptation ``a``."""
        return self.theta0 + self.beta_a * a

    def step(self, x_t: torch.Tensor, state: ALIFState) -> tuple[torch.Tensor, ALIFState]:
        """One time step (module docstring) for ``x_t [B, n_in]``.

        Returns
        -------
        o_t : torch.Tensor ``[B, n_out]``
        state : ALIFState
            ``(u_t, a_t, s_t, o_t)``.
        """
        u, a, s_prev, o = state
        current = x_t @ self.w_in.T + s_prev @ self.w_rec.T
        if self.cfg.biases:
            current = current + self.b[:, 0]
        a = self.rho * a + (1.0 - self.rho) * s_prev
        thr = self.threshold(a)
        u = self.alpha * u + self.c * current - (thr * s_prev).detach()
        s = spike(u - thr, self.surrogate, self.surrogate_height, self.surrogate_width)
        o = self.kappa * o + s @ self.w_out.T
        if self.cfg.biases:
            o = o + self.b_out[:, 0]
        return o, ALIFState(u, a, s, o)

    def forward(self, x: torch.Tensor, state: ALIFState | None = None,
                return_spikes: bool = False):
        """Run ``x [B, T, n_in]`` (or ``[T, n_in]``, a batch of one) from ``state``.

        Parameters
        ----------
        x : torch.Tensor or array_like
        state : ALIFState, optional
            Initial ``(u, a, s, o)``; default :meth:`zero_state`. It is used as
            given: pass ``state.detach()`` to make it a constant.
        return_spikes : bool
            Also return the spikes ``[B, T, n_hidden]``.

        Returns
        -------
        out : torch.Tensor ``[B, T, n_out]``
            Readouts ``o_t``.
        state : ALIFState
            The state after the last step.
        spikes : torch.Tensor ``[B, T, n_hidden]``, only with ``return_spikes``
        """
        x = torch.as_tensor(x, dtype=self.dtype)
        if x.ndim == 2:
            x = x[None]
        if state is None:
            state = self.zero_state(x.shape[0])
        outs, spikes = [], []
        for t in range(x.shape[1]):
            o, state = self.step(x[:, t], state)
            outs.append(o)
            spikes.append(state.s)
        out = torch.stack(outs, dim=1) if outs else x.new_zeros(x.shape[0], 0, self.cfg.n_out)
        if return_spikes:
            spk = torch.stack(spikes, dim=1) if spikes else x.new_zeros(x.shape[0], 0, self.cfg.n_hidden)
            return out, state, spk
        return out, state
