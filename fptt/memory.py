"""On-chip memory of a core, in bits, from its configuration alone (one source of truth).

Every number below is a product of sizes and format widths of
:class:`fptt.config.CoreConfig`; nothing is measured, nothing else is read.
The memories are those of DESIGN section 6, logical bits (no lane padding):

===============  ===================================================================
weights          ``n_syn · w.width``, ``n_syn = (n_in + n_hidden + b)·n_hidden + (n_hidden + b)·n_out``
                 (``b = 1`` with biases, ``cfg.biases``: one per hidden and readout unit;
                 :attr:`CoreConfig.n_syn` over ``cfg.param_shapes``)
wbar             ``n_syn · wbar.width``                      running mean W̄
lam              ``n_syn · lam.width``                       dual state λ
neuron_state     ``n_hidden·(u.width + a.width + 1) + n_out·o.width``   u, a, s, o
                 (no ``a.width`` for a LIF core: ``cfg.adaptive`` false)
window_buffer    ``window_max·(n_in·x.width + n_hidden·(1 + psi.width) + n_out·delta.width)
                 + n_hidden``: per buffered step the inputs x_t, spikes s_t, surrogates ψ_t
                 and errors δ_t, plus the spikes s before the window
===============  ===================================================================

``total`` is their sum. The RTL adds datapath scratch and a gradient SRAM of
exact window sums (see :mod:`fptt.rtl.report`); those are not counted here.
The window buffer is the only term that depends on the window: it grows with
``window_max`` (the deepest window ``L`` the core supports), never with the
sequence length. Default core (20-64-2, ``window_max = 64``): ``64·(20·8 +
64·(1 + 8) + 2·16) + 64 = 49 216`` bits (:func:`window_buffer_bits`; the
formats are read from the configuration).
"""

from __future__ import annotations

from .config import CoreConfig

__all__ = ["MEMORIES", "RTL_LIMIT_BITS", "check_rtl_size", "memory_bits", "window_buffer_bits"]

#: On-chip memory above which generating the RTL is refused (2^29 bits = 512 Mibit: more
#: block RAM than any FPGA holds, and an elaboration that runs for hours).
RTL_LIMIT_BITS = 2 ** 29

#: The memories counted by :func:`memory_bits`, in table order.
MEMORIES = ("weights", "wbar", "lam", "neuron_state", "window_buffer")


def window_buffer_bits(cfg: CoreConfig) -> int:
    """Bits of the window buffer of ``cfg`` (``cfg.window_max`` steps deep)."""
    f = cfg.formats
    per_step = (cfg.n_in * f.x.width + cfg.n_hidden * (1 + f.psi.width)
                + cfg.n_out * f.delta.width)
    return cfg.window_max * per_step + cfg.n_hidden


def memory_bits(cfg: CoreConfig) -> dict[str, int]:
    """``{memory: bits}`` for :data:`MEMORIES` and their ``total`` (module docstring)."""
    f = cfg.formats
    out = {
        "weights": cfg.n_syn * f.w.width,
        "wbar": cfg.n_syn * f.wbar.width,
        "lam": cfg.n_syn * f.lam.width,
        "neuron_state": cfg.n_hidden * (f.u.width + (f.a.width if cfg.adaptive else 0) + 1)
        + cfg.n_out * f.o.width,
        "window_buffer": window_buffer_bits(cfg),
    }
    out["total"] = sum(out[m] for m in MEMORIES)
    return out


def check_rtl_size(cfg: CoreConfig, limit_bits: int = RTL_LIMIT_BITS, flag: str = "--force") -> None:
    """Refuse (:class:`fptt.config.ConfigError`, with the figure and ``flag``) a configuration
    whose core needs more than ``limit_bits`` of on-chip memory, before anything is elaborated."""
    from .config import ConfigError
    bits = memory_bits(cfg)["total"]
    if bits > limit_bits:
        raise ConfigError(
            f"this configuration (n_in={cfg.n_in}, n_hidden={cfg.n_hidden}, n_out={cfg.n_out}, "
            f"window_max={cfg.window_max}) needs {bits / 2 ** 20:,.0f} Mibit of on-chip memory, "
            f"more than any FPGA holds (limit {limit_bits / 2 ** 20:,.0f} Mibit); pass {flag} "
            f"to generate it anyway")
