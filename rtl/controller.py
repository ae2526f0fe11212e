"""Controller of the core: the phases of a time step and of a window's end, and their cycles.

The controller is the finite-state machine ``ctrl`` inside
:meth:`fptt.rtl.core.FpttCore.elaborate` (it drives the address counters of
the pipelines that share the memories, so it lives beside them); this module
holds its specification: the phase sequence, the schedule flags, and the
cycle model used by the generator report (:mod:`fptt.rtl.report`) and the
bench. The model is exact: ``tests/test_controller.py`` runs the core and
compares it with the core's counters ``CYCLES``, ``PERF_FWD``, ``PERF_BWD``,
``PERF_UPD`` cycle for cycle (:func:`window_cycles` on the activity of every
step; :func:`cycle_model` is it at uniform activity).

Schedule (golden :func:`fptt.golden.fixed_core.step`)
-----------------------------------------------------
A frame is accepted only in ``IDLE``. ``sos`` zeroes ``s`` and ``count`` at
once and masks the stored ``u``, ``a``, ``o`` to 0 for this step (no clearing
pass). The step's window position is ``t = count``. With ``learn`` the step
writes ``buf_x[t]``, ``buf_s[0]`` (at ``t = 0``), ``buf_psi[t]``,
``buf_delta[t]``, ``buf_s[t+1]``, and the window closes when ``t + 1 >= L``
(``L``: the run-time register ``WINDOW``, ``1 <= L <= window_max``) or at
``eos``; without ``learn`` ``count`` returns to 0 (the partial window is
discarded).

Phases (FSM states)
-------------------
========================  =====================================================  =====================
state                     work                                                   cycles
========================  =====================================================  =====================
``IDLE``                  serve the bus; accept a frame                          1
``START``                 write ``buf_x[t]`` one packed word per cycle (and      ``GX`` (learning),
                          ``buf_s[0]``); load scanner                            else 1
``ACC_X`` / ``ACC_S``     event-driven ``acc += W_in x`` / ``+= W_rec s_{t-1}``  ``nnz·G + 1`` each
``NEU`` + drain           neuron update, ψ → ``buf_psi[t]``                      ``G + L_neuron + 2``
``RO_ACC``                event-driven ``Σ_j W_out s_j``                         ``nnz(s_t)·G_o + 1``
``RO`` + drain            readout, δ → ``buf_delta[t]``                          ``G_o + L_readout + 2``
``EMIT``                  output frame, ``buf_s[t+1]``, counters; close?         1
``BW_T``, ``BW_T2``       read ``buf_s[t+1]``, ``buf_x[t+1]`` (GX words)         ``GX + 2``
``BW_OB`` + drain         ``ō_t``                                                ``G_o + L_bw_readout + 2``
``BW_J`` + drain          per neuron j: W_outᵀō, W_recᵀī' (parallel), gradient  ``max(n_h·C + L_bw_neuron
                          SRAM G_out, G_rec; backward neuron unit; in parallel    + 3, nnz(x_{t+1})·G + 2)``
                          the event-driven ``G_in += ī_{t+1} x_{t+1}ᵀ``           ``C = G_o`` at the last
                                                                                 step, else ``max(G, G_o)``
``BW_LAST``, ``BW_LAST2``  (after t = 0) read ``x_0``, ``s_-1`` for the update   ``GX + 2``
``UPD`` + drain           FPTT step of every synapse, ``k`` cycles per word:    ``k·Σ pre·ceil(post/P)
                          ``k = 2`` when w, W̄, λ are single-port SRAMs           − (k−1) + L_reg' + 2``
                          (``single_port_weights``: read, then write back in     (``L_reg'``: the
                          the cycle between two reads), ``k = 1`` with dual-     regulariser latency,
                          port block RAM; the window's first-step terms          rounded up to even
                          ``ī_0 x_0ᵀ`` (w_in) and ``ī_0 s_-1ᵀ`` (w_rec) are       when ``k = 2``)
                          added to the stored sums on the fly
========================  =====================================================  =====================

Biases (``cfg.biases``) are the weights of an always-active presynaptic unit
at index ``n_hidden``: the spike masks of ``ACC_S`` and ``RO_ACC`` carry one
more, always-set bit (its column is ``b`` / ``b_out``: one more event of ``G`` /
``G_o`` cycles), ``BW_J`` runs one more ``j`` for it (its gradient sums
``G_b += ī_{t+1}``, ``G_b_out += ō_t`` with ``s = 1``, and no backward neuron:
``s̄`` has no bias term), and ``UPD`` sweeps ``b`` after ``w_rec`` and ``b_out``
after ``w_out`` (``G_b`` gets ``ī_0`` there, like ``w_rec`` with ``s_-1 = 1``).
In the cycle formulas ``nnz(s)`` then counts the unit and ``n_h`` is ``n_h + 1``
in ``BW_J``.

The backward states ``BW_T`` … ``BW_J_DRAIN`` repeat for ``t`` = last … first
of the window. The gradient SRAM therefore receives ``G_out`` and ``G_rec``
terms while the weight columns stream for the ``Wᵀ`` products (same addresses,
same operands), and ``G_in`` terms in a second, concurrent sweep over another
memory; none of them costs a cycle of its own except the ``G_in`` sweep when
``nnz(x)·G > n_hidden·max(G, G_o)`` (dense inputs with ``n_in > n_hidden``).
"""

from __future__ import annotations

from ..config import CoreConfig
from .backward import BackwardNeuronUnit, BackwardReadoutUnit
from .memories import BRAM_WORD_BITS, groups, param_geometry
from .neuron import NeuronUnit
from .readout import ReadoutUnit
from .regulariser import RegulariserUnit

__all__ = ["FORWARD_STATES", "BACKWARD_STATES", "UPDATE_STATES", "cycle_model", "step_cycles",
           "backward_cycles", "update_cycles", "window_cycles", "bound"]

FORWARD_STATES = ("START", "ACC_X", "ACC_S", "NEU", "NEU_DRAIN", "RO_ACC", "RO", "RO_DRAIN",
                  "EMIT")
BACKWARD_STATES = ("BW_T", "BW_T2", "BW_OB", "BW_OB_DRAIN", "BW_J", "BW_J_DRAIN", "BW_LAST",
                   "BW_LAST2")
UPDATE_STATES = ("UPD", "UPD_DRAIN")


def step_cycles(cfg: CoreConfig, nx: float, ns_prev: float, ns: float, learn: bool = True) -> float:
    """Cycles of one time step, ``IDLE`` included (one cycle: the frame is waiting).

    ``nx``: non-zero inputs of the step; ``ns_prev``: spikes of ``s_{t-1}`` (0 at
    ``sos``); ``ns``: spikes of ``s_t``. With biases the always-active unit adds
    one event to ``ACC_S`` and ``RO_ACC`` (counted here, not in the arguments).
    ``PERF_FWD`` counts these cycles but the ``IDLE`` one.
    """
    P, n_h = cfg.lanes, cfg.n_hidden
    G, Go = groups(n_h, P), groups(cfg.n_out, P)
    NL, RL = NeuronUnit.latency(cfg), ReadoutUnit.LATENCY
    GX = groups(cfg.n_in, max(1, BRAM_WORD_BITS // cfg.formats.x.width))
    B = int(cfg.biases)     # the always-active unit: one more event per sweep, one more j
    return ((nx + ns_prev + B) * G + (ns + B) * Go + G + Go + NL + RL + 10
            + (GX - 1 if learn else 0))


def backward_cycles(cfg: CoreConfig, nx_next) -> float:
    """Cycles of the backward pass of a window (``BW_T`` .. ``BW_LAST2``, ``PERF_BWD``).

    ``nx_next``: for ``t`` = first .. last but one step of the window, the
    non-zero inputs of step ``t + 1`` (the ``G_in`` sweep of ``BW_J``); the
    window has ``len(nx_next) + 1`` steps.
    """
    P, n_h = cfg.lanes, cfg.n_hidden
    G, Go = groups(n_h, P), groups(cfg.n_out, P)
    GX = groups(cfg.n_in, max(1, BRAM_WORD_BITS // cfg.formats.x.width))
    B = int(cfg.biases)
    LB, LN = BackwardReadoutUnit.LATENCY, BackwardNeuronUnit.LATENCY
    L = len(nx_next) + 1
    bw = L * (GX + 2 + Go + LB + 2) + ((n_h + B) * Go + LN + 3) + GX + 2
    return bw + sum(max((n_h + B) * max(G, Go) + LN + 3, nx * G + 2) for nx in nx_next)


def update_cycles(cfg: CoreConfig) -> int:
    """Cycles of the update sweep (``UPD``, ``UPD_DRAIN``, ``PERF_UPD``): ``k`` cycles per word,
    ``k = 2`` with single-port weight SRAMs (``single_port_weights``), else 1."""
    k = 2 if cfg.single_port_weights else 1     # cycles per word of the sweep
    rgw = RegulariserUnit.LATENCY + (RegulariserUnit.LATENCY % 2 if k == 2 else 0)
    return k * sum(pre * g for _, pre, g in param_geometry(cfg).values()) - (k - 1) + rgw + 2


def window_cycles(cfg: CoreConfig, nx, ns_prev, ns) -> dict:
    """Cycles of one learning window from the activity of each of its steps.

    ``nx``, ``ns_prev``, ``ns``: per step of the window, as :func:`step_cycles`
    takes them. Returns ``forward`` (``IDLE`` included), ``backward``,
    ``update`` and ``total``.
    """
    out = {"forward": sum(step_cycles(cfg, a, b, c) for a, b, c in zip(nx, ns_prev, ns)),
           "backward": backward_cycles(cfg, list(nx[1:])), "update": update_cycles(cfg)}
    out["total"] = out["forward"] + out["backward"] + out["update"]
    return out


def cycle_model(cfg: CoreConfig, L: int, nx: float | None = None, ns: float | None = None,
                learn: bool = True) -> dict:
    """Cycles of the controller for one window of ``L`` steps (the table above).

    ``nx`` non-zero inputs and ``ns`` spikes per step (default: all, the dense
    worst case). Returns the cycles of the forward steps (``IDLE`` included),
    the backward pass, the update sweep and their total (``learn = False``:
    forward only). :func:`window_cycles` with the same activity on every step.
    """
    nx = cfg.n_in if nx is None else nx
    ns = cfg.n_hidden if ns is None else ns
    if learn:
        return window_cycles(cfg, [nx] * L, [ns] * L, [ns] * L)
    out = {"forward": L * step_cycles(cfg, nx, ns, ns, learn=False), "backward": 0, "update": 0}
    out["total"] = out["forward"]
    return out


def bound(cfg: CoreConfig, L: int) -> float:
    """Weight-memory bound of DESIGN section 6: cycles per window of ``L`` steps.

    Every weight read once per forward step, ``W_rec`` once more per backward
    step but the last, ``W_out`` once per backward step, every weight once in
    the update, over ``lanes`` lanes::

        bound = (L·S + (L-1)·n_hidden² + L·n_out·n_hidden + S) / lanes,
        S = (n_in + n_hidden + n_out)·n_hidden
    """
    S = (cfg.n_in + cfg.n_hidden + cfg.n_out) * cfg.n_hidden
    return (L * S + (L - 1) * cfg.n_hidden ** 2 + L * cfg.n_out * cfg.n_hidden + S) / cfg.lanes
