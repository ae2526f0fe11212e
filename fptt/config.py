"""The core configuration: the single source of truth for sizes and number formats.

Every view of the design (float twin, fixed-point golden model, RTL generator,
testbenches, notebooks) reads one :class:`CoreConfig`. It loads from and saves to
TOML, takes dotted ``KEY=VALUE`` overrides, and refuses at construction any
configuration that cannot work, with a message naming the quantity and the bound.

Number formats
--------------
Every stored or computed quantity has a signed two's-complement format
:class:`Fmt` ``(width, frac)``: an integer ``q`` in ``[-2**(width-1), 2**(width-1))``
stands for the value ``q * 2**-frac``.

========  ============================================================
name      quantity
========  ============================================================
x         input value per channel and step (spikes are 1.0)
w         weights ``W_in``, ``W_rec``, ``W_out``
wbar      running mean ``W̄`` of every weight
lam       FPTT dual state ``λ`` of every weight
u         membrane potential (and the threshold ``B``)
a         adaptation state
o         readout (and the target ``y*``)
psi       surrogate derivative ``ψ``
delta     output error ``δ = o - y*``
obar      backward readout error ``ō``
sbar      backward spike error ``s̄``
vbar      backward ``v̄ = ψ ⊙ s̄``
ubar      backward membrane error ``ū``
abar      backward adaptation error ``ā``
ibar      backward input-current error ``ī``
grad_P    window gradient of parameter ``P`` (one format per parameter of
          :data:`PARAMS`: ``grad_w_in``, ``grad_w_rec``, ``grad_b``,
          ``grad_w_out``, ``grad_b_out``; ``grad`` sets all five)
const     neuron constants ``α, ρ, 1-ρ, κ, c, β_a`` (non-negative)
========  ============================================================

Biases are weights of an always-active presynaptic unit (``x = 1.0`` for the
hidden layer, ``s = 1`` for the readout): ``b`` and ``b_out`` are one-column
matrices stored in ``formats.w`` with their own ``W̄`` and ``λ``.

The synaptic accumulator is exact: its fractional bits are ``w.frac + x.frac``
(:attr:`CoreConfig.acc_fmt`) and its width ``acc_width`` is checked against the
worst case of ``n_in + n_hidden`` terms.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "up5k_config",
    "ConfigError",
    "Fmt",
    "NeuronConfig",
    "FpttConfig",
    "Formats",
    "CoreConfig",
    "ROUNDING_MODES",
    "INPUT_SCALES",
    "MAX_WIDTH",
    "MATRICES",
    "BIASES",
    "PARAMS",
    "HOST_SECTIONS",
    "read_toml",
    "LearningRates",
    "READOUT_RULES",
    "ERROR_RULES",
    "HIDDEN_STEPS",
    "HIDDEN_PARAMS",
]

#: Rounding rules for the FPTT weight update (see :mod:`fptt.golden.fixedpoint`).
ROUNDING_MODES = ("nearest", "stochastic")
#: ``c = 1 - α`` (the leaky integrator's own gain) or ``c = 1`` (folded into the weights).
INPUT_SCALES = ("one", "1-alpha")
#: The weight matrices.
MATRICES = ("w_in", "w_rec", "w_out")
#: The biases: weights of an always-active presynaptic unit (hidden layer, readout).
BIASES = ("b", "b_out")
#: The readout's gradient: ``"window"`` (DESIGN section 4: the window's own backward, the
#: state before the window a constant) or ``"trace"`` (carried across windows and centred:
#: :func:`fptt.golden.fixed_rules.readout_trace`).
READOUT_RULES = ("window", "trace")
#: The output error on a step with a target: ``"mse"`` ``δ = o - y*`` (the gradient of
#: ``½‖o - y*‖²``) or ``"softmax"`` ``δ = softmax(o) - y*`` (of cross-entropy).
ERROR_RULES = ("mse", "softmax")
#: The hidden parameters' (``w_in``, ``w_rec``, ``b``) step: ``"sgd"`` the window gradient,
#: or ``"rms"`` the gradient normalised per synapse by its running second moment.
HIDDEN_STEPS = ("sgd", "rms")
#: The hidden layer's parameters (those the RMS-normalised step applies to).
HIDDEN_PARAMS = ("w_in", "w_rec", "b")
#: Every learned parameter, in update (and checkpoint, and random draw) order: each
#: bias follows the matrix whose extra presynaptic column it is.
PARAMS = ("w_in", "w_rec", "b", "w_out", "b_out")
#: Sections of a configuration file that are not the core's: the host side of a run
#: (``[train]``, :meth:`fptt.train.TrainSettings.load`). :class:`CoreConfig` ignores them.
HOST_SECTIONS = ("train",)
#: Widest stored quantity; the golden model computes in 64-bit integers.
MAX_WIDTH = 32
#: Widest exact intermediate the int64 golden model may form.
MAX_INTERMEDIATE = 62
#: Largest fractional bits of ``formats.v`` (the second moment's update forms squares of
#: gradients at ``frac_v + rms_shift`` fractional bits, below 1).
V_MAX_FRAC = 48


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the quantity and the bound."""


def _is_int(value) -> bool:
    """An integer, not a bool (``true`` is not 1 here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    """A finite int or float, not a bool."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_real(key: str, value) -> None:
    if not _is_real(value):
        raise ConfigError(f"{key} must be a finite number, not {value!r}")


def _is_power_of_two(value: float) -> bool:
    if not (_is_real(value) and value > 0):
        return False
    mantissa, _ = math.frexp(value)
    return mantissa == 0.5


def _log2_exact(value: float) -> int:
    return math.frexp(value)[1] - 1


@dataclass(frozen=True)
class Fmt:
    """Signed fixed-point format: ``width`` bits, of which ``frac`` are fractional.

    ``q`` represents ``q * 2**-frac`` with ``min <= q <= max``.
    """

    width: int
    frac: int

    @property
    def min(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    def quantize(self, value: float) -> int:
        """Nearest representable integer code of ``value``, saturated."""
        q = math.floor(value * (1 << self.frac) + 0.5) if self.frac >= 0 else round(value)
        return max(self.min, min(self.max, q))

    def to_float(self, q):
        return q * self.lsb

    def __str__(self) -> str:
        return f"Q{self.width - self.frac}.{self.frac}"


@dataclass(frozen=True)
class NeuronConfig:
    """ALIF neuron constants, shared by all neurons of the core but the membrane's time constant.

    ``α = exp(-1/tau_mem)``, ``ρ = exp(-1/tau_adp)``, ``κ = exp(-1/tau_out)``,
    threshold ``B = theta0 + beta_a·a``; ``beta_a = 0`` gives LIF.
    The surrogate is ``ψ(v) = surrogate_height · max(0, 1 - |v| / surrogate_width)``.
    ``tau_mem_spread = r >= 1`` spreads the membrane time constants over the neurons,
    log-spaced from ``tau_mem`` to ``r·tau_mem``: neuron ``j`` of ``n`` has
    ``τ_j = tau_mem · r^(j/(n-1))`` and ``α_j = exp(-1/τ_j)``
    (:attr:`CoreConfig.tau_mem_neurons`); ``r = 1`` (default) gives every neuron ``tau_mem``.
    """

    tau_mem: float = 20.0
    tau_mem_spread: float = 1.0
    tau_adp: float = 200.0
    tau_out: float = 5.0
    beta_a: float = 1.8
    theta0: float = 1.0
    input_scale: str = "one"
    surrogate_height: float = 0.5
    surrogate_width: float = 0.5

    @property
    def alpha(self) -> float:
        """``exp(-1/tau_mem)``: every neuron's ``α`` when ``tau_mem_spread = 1``, else neuron
        0's."""
        return math.exp(-1.0 / self.tau_mem)

    @property
    def rho(self) -> float:
        return math.exp(-1.0 / self.tau_adp)

    @property
    def kappa(self) -> float:
        return math.exp(-1.0 / self.tau_out)

    @property
    def c(self) -> float:
        return 1.0 if self.input_scale == "one" else 1.0 - self.alpha


@dataclass(frozen=True)
class LearningRates:
    """The SGD step ``η`` of each parameter of :data:`PARAMS` (powers of two: shifts).

    The hidden layer's gradients are about 1000× smaller than the readout's, so
    one ``η`` either starves the hidden layer or wrecks the readout.
    """

    w_in: float = 2.0 ** -10
    w_rec: float = 2.0 ** -10
    b: float = 2.0 ** -10
    w_out: float = 2.0 ** -16
    b_out: float = 2.0 ** -16

    @classmethod
    def uniform(cls, lr: float) -> "LearningRates":
        """The same ``η`` for every parameter (the shorthand ``fptt.lr = VALUE``)."""
        return cls(**{p: lr for p in PARAMS})

    def as_dict(self) -> dict[str, float]:
        return {p: getattr(self, p) for p in PARAMS}


@dataclass(frozen=True)
class FpttConfig:
    """FPTT constants: regulariser strength ``alpha`` and the SGD steps ``lr`` (powers of two).

    ``lr`` is a :class:`LearningRates` (one ``η`` per parameter); a number is
    accepted as shorthand for all of them, a dict for some of them.

    The learning rule's three options (the defaults are DESIGN section 4; the others are
    in the golden models only, the RTL refuses them):

    readout : {"window", "trace"}
        ``"trace"``: the readout's gradient carried across windows through a per-neuron
        trace of the spikes, centred by a running mean ``m`` (step ``2**-mean_shift``), with
        ``b_out`` corrected by ``-ΔW_out·m`` after each update
        (:func:`fptt.golden.fixed_rules.readout_trace`).
    error : {"mse", "softmax"}
        The output error on a step with a target (:data:`ERROR_RULES`).
    hidden_step : {"sgd", "rms"}
        ``"rms"``: the hidden parameters' gradient divided per synapse by the square root of
        its running second moment ``v`` (step ``2**-rms_shift``; RMSprop at batch 1)
        before the FPTT step (:func:`fptt.golden.fixed_rules.rms_normalise`).
    """

    alpha: float = 0.125
    lr: LearningRates = field(default_factory=LearningRates)
    readout: str = "window"
    mean_shift: int = 12
    error: str = "mse"
    hidden_step: str = "sgd"
    rms_shift: int = 10

    def __post_init__(self):
        lr = self.lr
        if isinstance(lr, dict):
            unknown = set(lr) - set(PARAMS)
            if unknown:
                raise ConfigError(f"unknown key(s) in fptt.lr: {', '.join(sorted(unknown))}; "
                                  f"known: {', '.join(PARAMS)}")
            lr = dataclasses.replace(LearningRates(), **lr)
        elif not isinstance(lr, LearningRates):
            lr = LearningRates.uniform(lr)
        object.__setattr__(self, "lr", lr)


@dataclass(frozen=True)
class Formats:
    """The format of every stored or computed quantity (see the module docstring)."""

    x: Fmt = Fmt(8, 6)
    w: Fmt = Fmt(16, 13)
    wbar: Fmt = Fmt(16, 13)
    lam: Fmt = Fmt(16, 14)
    u: Fmt = Fmt(16, 10)
    a: Fmt = Fmt(16, 12)
    o: Fmt = Fmt(16, 10)
    psi: Fmt = Fmt(8, 6)
    delta: Fmt = Fmt(16, 10)
    obar: Fmt = Fmt(16, 10)
    sbar: Fmt = Fmt(16, 10)
    vbar: Fmt = Fmt(16, 10)
    ubar: Fmt = Fmt(16, 10)
    abar: Fmt = Fmt(16, 10)
    ibar: Fmt = Fmt(16, 10)
    # The hidden gradients are ~1000x smaller than the readout's: more fractional bits.
    # Saturation is an elementwise gradient clip (the float twin clips at the same
    # range); measured on the memory cue task, clipping at 1 (Q1.15) trains best:
    # Q1.15 90.5 %, Q2.14 88.8 %, Q4.12 71-79 % (fixed point, 4 seeds).
    grad_w_in: Fmt = Fmt(16, 15)
    grad_w_rec: Fmt = Fmt(16, 15)
    grad_b: Fmt = Fmt(16, 15)
    grad_w_out: Fmt = Fmt(16, 10)
    grad_b_out: Fmt = Fmt(16, 15)
    const: Fmt = Fmt(16, 13)
    # fptt.readout = "trace" only: the readout's feature trace (|ĉ| <= 1/(1-κ)) and the
    # running spike mean m in [0, 1] (rounded to nearest, m stops moving within
    # 2**(mean_shift - 1) lsb of s: 23 bits keep that below 2**-11)
    trace: Fmt = Fmt(16, 7)
    mean: Fmt = Fmt(24, 23)
    # fptt.hidden_step = "rms" only: the second moment v of the hidden gradients. Its frac
    # may exceed width - 1 (v >= 0 holds squares of gradients far below 1): 40 puts the
    # value below which v's running mean stops moving (about 2**-31) near the square of
    # the gradient's lsb (2**-30).
    v: Fmt = Fmt(32, 40)

    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self))

    def grad(self, param: str) -> Fmt:
        """Format of the window gradient of ``param`` (one of :data:`PARAMS`)."""
        return getattr(self, f"grad_{param}")


@dataclass(frozen=True)
class CoreConfig:
    """One FPTT learning core: sizes, window, neuron and FPTT constants, number formats.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        Input channels, recurrent ALIF neurons, leaky readout units.
    window : int
        Run-time window ``L`` (steps per FPTT update), ``1 <= L <= window_max``.
    window_max : int
        Depth of the window buffer (a generator parameter).
    lanes : int
        Synapses processed per cycle by the RTL; also fixes which LFSR lane
        rounds which synapse (see :mod:`fptt.golden.lfsr`).
    rounding : {"nearest", "stochastic"}
        Rounding rule of the FPTT update writes (w, λ, W̄). Forward and backward
        signals always round to nearest.
    lfsr_seed : int
        Seed of the stochastic-rounding generators, ``1 <= seed < 2**32``.
    acc_width : int
        Width of the exact synaptic accumulator; ``0`` picks the narrowest that
        cannot overflow (:attr:`acc_bits_needed`).
    single_port_weights : bool
        Keep w, W̄ and λ in single-port SRAMs (one address for reads and writes:
        the iCE40 UP5K's SPRAM); the update sweep then takes two cycles per
        synapse. ``false``: simple dual-port block RAM, one synapse per cycle
        (FPGAs whose block RAM holds the weights).
    biases : bool
        A learnable bias per hidden neuron (``b``) and per readout unit
        (``b_out``), each the weight of an always-active presynaptic unit.
    profile_counters : bool
        Build the profiling counters into the RTL: the saturation profile
        (``sat_*``, ``writes_*``: two 32-bit counters per quantity) and the
        cycle and phase counters (registers ``CYCLES``, ``PERF_*``). Together
        they are about a quarter of the logic of a small core; an FPGA build may
        leave them out (the golden model always counts; the host regions
        0x30/0x31 then answer ``err`` and the registers read 0).
    """

    n_in: int = 20
    n_hidden: int = 64
    n_out: int = 2
    window: int = 35
    window_max: int = 64
    lanes: int = 1
    rounding: str = "stochastic"
    lfsr_seed: int = 0x1234_5678
    acc_width: int = 32
    single_port_weights: bool = True
    biases: bool = True
    profile_counters: bool = True
    neuron: NeuronConfig = field(default_factory=NeuronConfig)
    fptt: FpttConfig = field(default_factory=FpttConfig)
    formats: Formats = field(default_factory=Formats)

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        if _is_int(self.acc_width) and self.acc_width == 0 and isinstance(self.formats, Formats):
            try:
                object.__setattr__(self, "acc_width", self.acc_bits_needed)
            except (AttributeError, TypeError):
                pass  # malformed formats: _validate names them
        self._validate()

    def _validate(self):
        for name in ("n_in", "n_hidden", "n_out", "window_max", "lanes"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, not {value!r}")
        if not _is_int(self.window):
            raise ConfigError(f"window must be an integer, not {self.window!r}")
        if not 1 <= self.window <= self.window_max:
            raise ConfigError(
                f"window must satisfy 1 <= window <= window_max = {self.window_max}, "
                f"not {self.window!r}")
        if not isinstance(self.rounding, str) or self.rounding not in ROUNDING_MODES:
            raise ConfigError(
                f"rounding must be one of {', '.join(ROUNDING_MODES)}, not {self.rounding!r}")
        if not _is_int(self.acc_width) or self.acc_width < 0:
            raise ConfigError(f"acc_width must be an integer (0: the narrowest that cannot "
                              f"overflow), not {self.acc_width!r}")
        if not _is_int(self.lfsr_seed) or not 1 <= self.lfsr_seed < 2 ** 32:
            raise ConfigError(f"lfsr_seed must satisfy 1 <= lfsr_seed < 2**32, not {self.lfsr_seed!r}")
        if not isinstance(self.single_port_weights, bool):
            raise ConfigError(
                f"single_port_weights must be true or false, not {self.single_port_weights!r}")
        for name in ("profile_counters", "biases"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, not {getattr(self, name)!r}")

        for name in self.formats.names():
            fmt = getattr(self.formats, name)
            if not isinstance(fmt, Fmt):
                raise ConfigError(f"formats.{name} must be a format (width, frac), not {fmt!r}")
            for part in ("width", "frac"):
                if not _is_int(getattr(fmt, part)):
                    raise ConfigError(f"formats.{name}.{part} must be an integer, "
                                      f"not {getattr(fmt, part)!r}")
            if not 2 <= fmt.width <= MAX_WIDTH:
                raise ConfigError(
                    f"formats.{name}.width must satisfy 2 <= width <= {MAX_WIDTH}, not {fmt.width}")
            top = fmt.width - 1 if name != "v" else V_MAX_FRAC
            if not 0 <= fmt.frac <= top:
                bound = f"width - 1 = {top}" if name != "v" else f"{top}"
                raise ConfigError(
                    f"formats.{name}.frac = {fmt.frac} must satisfy 0 <= frac <= {bound}")

        n = self.neuron
        for name in ("tau_mem", "tau_mem_spread", "tau_adp", "tau_out", "beta_a", "theta0",
                     "surrogate_height", "surrogate_width"):
            _check_real(f"neuron.{name}", getattr(n, name))
        if not n.tau_mem_spread >= 1:
            raise ConfigError(f"neuron.tau_mem_spread must be >= 1 (the ratio of the longest "
                              f"membrane time constant to tau_mem), not {n.tau_mem_spread!r}")
        if self.per_neuron_tau and n.input_scale != "one":
            raise ConfigError(f"neuron.tau_mem_spread = {n.tau_mem_spread!r} needs "
                              f"neuron.input_scale = \"one\": the input scale 1 - alpha would "
                              f"differ per neuron too")
        for name in ("tau_mem", "tau_adp", "tau_out"):
            value = getattr(n, name)
            if not value > 0:
                raise ConfigError(f"neuron.{name} must be > 0, not {value!r}")
        if not n.beta_a >= 0:
            raise ConfigError(f"neuron.beta_a must be >= 0, not {n.beta_a!r}")
        if not n.theta0 > 0:
            raise ConfigError(f"neuron.theta0 must be > 0, not {n.theta0!r}")
        if not isinstance(n.input_scale, str) or n.input_scale not in INPUT_SCALES:
            raise ConfigError(
                f"neuron.input_scale must be one of {', '.join(INPUT_SCALES)}, "
                f"not {n.input_scale!r}")
        for name in ("surrogate_height", "surrogate_width"):
            value = getattr(n, name)
            if not _is_power_of_two(value):
                raise ConfigError(
                    f"neuron.{name} = {value!r} must be a power of two (the surrogate is "
                    f"computed without a multiplier)")
        for name, value in [("alpha", self.fptt.alpha)] + [
                (f"lr.{p}", v) for p, v in self.fptt.lr.as_dict().items()]:
            _check_real(f"fptt.{name}", value)
            if not _is_power_of_two(value) or value > 1:
                raise ConfigError(
                    f"fptt.{name} = {value!r} must be a power of two 2**-k with k >= 0 "
                    f"(applied as a shift)")

        for name, allowed in (("readout", READOUT_RULES), ("error", ERROR_RULES),
                              ("hidden_step", HIDDEN_STEPS)):
            value = getattr(self.fptt, name)
            if not isinstance(value, str) or value not in allowed:
                raise ConfigError(f"fptt.{name} must be one of {', '.join(allowed)}, "
                                  f"not {value!r}")
        for name in ("mean_shift", "rms_shift"):
            value = getattr(self.fptt, name)
            if not _is_int(value) or not 1 <= value <= 24:
                raise ConfigError(f"fptt.{name} must be an integer 1 <= {name} <= 24 (a step "
                                  f"2**-{name}), not {value!r}")

        f = self.formats
        if f.x.max < (1 << f.x.frac):
            raise ConfigError(
                f"formats.x = {f.x} cannot hold a spike (1.0): needs width >= frac + 2")
        const_max = max(self.const_q.values())
        if const_max > f.const.max:
            raise ConfigError(
                f"formats.const = {f.const} cannot hold the neuron constant "
                f"{max(self.const_q, key=self.const_q.get)} = {const_max * f.const.lsb:g}: "
                f"needs max >= {const_max} codes")
        for name in ("alpha", "rho", "kappa", "c"):   # alpha: the smallest α_j, neuron 0's
            if self.const_q[name] <= 0:
                raise ConfigError(
                    f"neuron constant {name} rounds to 0 in formats.const = {f.const}: "
                    f"needs more fractional bits")
        if self.theta_q > f.u.max:
            raise ConfigError(
                f"neuron.theta0 = {n.theta0} does not fit formats.u = {f.u} "
                f"(max {f.u.max * f.u.lsb:g})")
        if self.surrogate_height_q > f.psi.max:
            raise ConfigError(
                f"neuron.surrogate_height = {n.surrogate_height} does not fit formats.psi = "
                f"{f.psi} (max {f.psi.max * f.psi.lsb:g})")
        need = self.acc_bits_needed
        if not isinstance(self.acc_width, int) or self.acc_width < need:
            raise ConfigError(
                f"acc_width = {self.acc_width} is too narrow for n_in + n_hidden = "
                f"{self.n_in + self.n_hidden} worst-case terms: needs at least {need} bits "
                f"(acc_width = 0 picks the narrowest that cannot overflow)")
        if self.acc_width > MAX_INTERMEDIATE - self.formats.const.width:
            raise ConfigError(
                f"acc_width = {self.acc_width} is too wide: acc * const must fit "
                f"{MAX_INTERMEDIATE} bits, so acc_width <= "
                f"{MAX_INTERMEDIATE - self.formats.const.width}")
        for name, bits in self.update_intermediate_bits.items():
            if bits > MAX_INTERMEDIATE:
                raise ConfigError(
                    f"the FPTT update of {name} needs a {bits}-bit intermediate, above the "
                    f"{MAX_INTERMEDIATE}-bit bound: reduce the fractional bits of w, wbar, lam "
                    f"or grad, or raise fptt.lr / fptt.alpha")
        for name, bits in self.rule_intermediate_bits.items():
            if bits > MAX_INTERMEDIATE:
                raise ConfigError(
                    f"{name} needs a {bits}-bit intermediate, above the {MAX_INTERMEDIATE}-bit "
                    f"bound: narrow or reduce the fractional bits of its formats, or lower "
                    f"its fptt shift")

    @property
    def rule_intermediate_bits(self) -> dict[str, int]:
        """Widths of the exact intermediates of the learning rule's options that are on
        (:mod:`fptt.golden.fixed_rules`): sign, integer and fractional bits of each sum."""
        f, out = self.formats, {}
        if self.fptt.readout == "trace":
            fc, ft, fm = f.const.frac, f.trace.frac, f.mean.frac
            top = max(fc + ft, fm)
            out["the readout trace (fptt.readout)"] = top + max(
                f.const.width - fc + f.trace.width - ft, 2) + 1
            out["the readout's gradient sum (fptt.readout)"] = (
                f.delta.width + f.trace.width + self.window_max.bit_length())
            out["the running mean (fptt.readout)"] = f.mean.width + self.fptt.mean_shift + 1
        if self.fptt.hidden_step == "rms":
            fv = f.v.frac
            for p in HIDDEN_PARAMS:
                if p not in self.params:
                    continue
                g = f.grad(p)
                top = max(fv, 2 * g.frac) + self.fptt.rms_shift
                out[f"the second moment of {p} (fptt.hidden_step)"] = top + max(
                    f.v.width - 1 - fv, 2 * (g.width - 1 - g.frac)) + 2
        return out

    # ------------------------------------------------------------------ sizes
    def state_bytes(self, batch: int = 1) -> int:
        """Bytes of the golden model's state of ``batch`` cores (int64 arrays):
        w, W̄, λ of every parameter, neurons, and the window buffers."""
        per_core = (3 * self.n_syn + 3 * self.n_hidden + self.n_out
                    + self.window_max * (self.n_in + 2 * self.n_hidden + self.n_out)
                    + self.n_hidden + self.lanes + 8)
        return 8 * batch * per_core

    def train_bytes(self, batch: int = 1) -> int:
        """Rough peak bytes of a training run of ``batch`` cores side by side: the state,
        the initial float weights kept for the weight change, the weights' copies of
        scoring and of the window's gradient sums (about 7 words per parameter and core)."""
        return self.state_bytes(batch) + 8 * 4 * batch * self.n_syn

    def step_seconds(self, batch: int = 1) -> float:
        """Rough seconds of one learning step of ``batch`` cores (compiled golden model:
        forward, backward and update, about 3 ns per synapse)."""
        return 3e-9 * 3 * self.n_syn * batch

    def check_size(self, batch: int = 1, limit: int | None = None, what: str = "training",
                   flag: str = "--force") -> None:
        """Refuse (:class:`ConfigError`, with the figure) a configuration whose golden model
        would need more than ``limit`` bytes (default :func:`memory_limit`) before anything
        is allocated; ``flag`` is named in the message as the override."""
        need = self.train_bytes(batch)
        limit = memory_limit() if limit is None else limit
        if need > limit:
            raise ConfigError(
                f"{what} this configuration (n_in={self.n_in}, n_hidden={self.n_hidden}, "
                f"n_out={self.n_out}, window_max={self.window_max}, {batch} core(s)) needs about "
                f"{_human_bytes(need)} of memory (limit {_human_bytes(limit)}) and about "
                f"{self.step_seconds(batch):.2g} s per step; pass {flag} to run it anyway")

    # ------------------------------------------------------------------ derived constants
    @property
    def n_syn(self) -> int:
        """Number of learned parameters (weights and biases), each with its own W̄ and λ.

        ``(n_in + n_hidden + 1)·n_hidden + (n_hidden + 1)·n_out`` with biases.
        """
        return sum(post * pre for post, pre in self.param_shapes.values())

    @property
    def matrix_shapes(self) -> dict[str, tuple[int, int]]:
        """Shapes ``(post, pre)`` of the weight matrices (no biases)."""
        shapes = ((self.n_hidden, self.n_in), (self.n_hidden, self.n_hidden),
                  (self.n_out, self.n_hidden))
        return dict(zip(MATRICES, shapes))

    @property
    def params(self) -> tuple[str, ...]:
        """The learned parameters of this core, in update order (:data:`PARAMS`, or
        :data:`MATRICES` without biases)."""
        return PARAMS if self.biases else tuple(p for p in PARAMS if p in MATRICES)

    @property
    def param_shapes(self) -> dict[str, tuple[int, int]]:
        """Shapes ``(post, pre)`` of every parameter in update order; a bias is ``(post, 1)``."""
        shapes = dict(self.matrix_shapes, b=(self.n_hidden, 1), b_out=(self.n_out, 1))
        return {p: shapes[p] for p in self.params}

    @property
    def acc_fmt(self) -> Fmt:
        """Format of the exact synaptic accumulator: frac = ``w.frac + x.frac``."""
        return Fmt(self.acc_width, self.formats.w.frac + self.formats.x.frac)

    @property
    def acc_bits_needed(self) -> int:
        """Bits for ``Σ_i w·x + Σ_k w·s`` at frac ``w.frac + x.frac`` in the worst case."""
        f = self.formats
        worst = (self.n_in * (-f.w.min) * (-f.x.min)
                 + (self.n_hidden + int(self.biases)) * (-f.w.min) * (1 << f.x.frac))
        return worst.bit_length() + 1

    @property
    def const_q(self) -> dict[str, int]:
        """Neuron constants as integer codes of ``formats.const``.

        ``one_minus_rho`` is ``2**frac - rho`` so that ``ρ + (1-ρ) = 1`` exactly.
        """
        n, fc = self.neuron, self.formats.const
        one = 1 << fc.frac
        rho = round(n.rho * one)
        alpha = round(n.alpha * one)
        c = one if n.input_scale == "one" else one - alpha
        return dict(alpha=alpha, rho=rho, one_minus_rho=one - rho,
                    kappa=round(n.kappa * one), c=c, beta_a=round(n.beta_a * one))

    @property
    def per_neuron_tau(self) -> bool:
        """Whether the neurons' membrane time constants differ (``neuron.tau_mem_spread > 1``)."""
        return self.neuron.tau_mem_spread != 1

    @property
    def tau_mem_neurons(self) -> tuple[float, ...]:
        """``τ_j = tau_mem · r^(j/(n_hidden-1))`` of every hidden neuron ``j`` (``r`` =
        ``neuron.tau_mem_spread``; all ``tau_mem`` when ``r = 1``)."""
        n, h = self.neuron, self.n_hidden
        if not self.per_neuron_tau or h == 1:
            return (float(n.tau_mem),) * h
        return tuple(n.tau_mem * n.tau_mem_spread ** (j / (h - 1)) for j in range(h))

    @property
    def alpha_neurons(self) -> tuple[float, ...]:
        """``α_j = exp(-1/τ_j)`` of every hidden neuron (:attr:`tau_mem_neurons`), the floats
        the float views use."""
        return tuple(math.exp(-1.0 / t) for t in self.tau_mem_neurons)

    @property
    def alpha_q(self) -> tuple[int, ...]:
        """``α_j`` of every hidden neuron as a code of ``formats.const`` (``const_q["alpha"]``
        for all when :attr:`per_neuron_tau` is false)."""
        one = 1 << self.formats.const.frac
        return tuple(round(a * one) for a in self.alpha_neurons)

    @property
    def adaptive(self) -> bool:
        """ALIF (``True``) or LIF: whether ``β_a``'s code in ``formats.const`` is non-zero.

        With ``β_a = 0`` the adaptation ``a`` (and its backward error ``ā``) reach no
        output, so a LIF core does not keep them: the golden model holds ``a = 0``
        and the RTL has no adaptation datapath and no ``a``/``bw_a`` memories.
        """
        return self.const_q["beta_a"] != 0

    @property
    def theta_q(self) -> int:
        return round(self.neuron.theta0 * (1 << self.formats.u.frac))

    @property
    def surrogate_height_q(self) -> int:
        return round(self.neuron.surrogate_height * (1 << self.formats.psi.frac))

    @property
    def surrogate_shift(self) -> int:
        """Right shift taking ``|u - B|`` (u format) to ``|v|·height/width`` (psi format)."""
        k = _log2_exact(self.neuron.surrogate_height) - _log2_exact(self.neuron.surrogate_width)
        return self.formats.u.frac - self.formats.psi.frac - k

    @property
    def lr_shifts(self) -> dict[str, int]:
        """``η_P = 2**-lr_shifts[P]`` for every parameter ``P`` of :attr:`params`."""
        return {p: -_log2_exact(getattr(self.fptt.lr, p)) for p in self.params}

    @property
    def alpha_shift(self) -> int:
        """FPTT ``α = 2**-alpha_shift``."""
        return -_log2_exact(self.fptt.alpha)

    @property
    def update_fracs(self) -> dict[str, int]:
        """Fractional bits of the exact intermediates of the three update writes.

        ``w' = w - η(g + α(w - w̄) - λ)``, ``λ' = λ - α(w' - w̄)``,
        ``w̄' = ½(w̄ + w') - 2**(k-1)·λ'`` with ``α = 2**-k``. One set for every
        parameter (the widest any of them needs), so that stochastic rounding drops
        the same number of bits whatever ``η_P`` and ``grad_P`` are, and the RTL has
        one datapath whose shifts a multiplexer picks per parameter.
        """
        f, k = self.formats, self.alpha_shift
        w = max(max(f.w.frac, f.grad(p).frac + e, f.w.frac + e + k, f.wbar.frac + e + k,
                    f.lam.frac + e) for p, e in self.lr_shifts.items())
        return dict(
            w=w,
            lam=max(f.lam.frac, f.w.frac + k, f.wbar.frac + k),
            wbar=max(f.wbar.frac + 1, f.w.frac + 1, f.lam.frac - k + 1, 0),
        )

    @property
    def update_intermediate_bits(self) -> dict[str, int]:
        f = self.formats
        fr = self.update_fracs
        # integer bits: the largest operand magnitude (as a value) times a small factor.
        int_bits = {
            "w": max(fm.width - fm.frac for fm in
                     (f.w, f.wbar, f.lam) + tuple(f.grad(p) for p in self.params)) + 3,
            "lam": max(f.lam.width - f.lam.frac, f.w.width - f.w.frac, f.wbar.width - f.wbar.frac) + 2,
            "wbar": max(f.wbar.width - f.wbar.frac, f.w.width - f.w.frac,
                        f.lam.width - f.lam.frac + self.alpha_shift) + 2,
        }
        return {q: fr[q] + int_bits[q] for q in fr}

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        core = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("neuron", "fptt", "formats")}
        return {
            "core": core,
            "neuron": dataclasses.asdict(self.neuron),
            "fptt": dataclasses.asdict(self.fptt),
            "formats": {name: {"width": getattr(self.formats, name).width,
                               "frac": getattr(self.formats, name).frac}
                        for name in self.formats.names()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CoreConfig":
        data = dict(data)
        known = {"core", "neuron", "fptt", "formats"}
        # host-side sections of a configuration file (the [train] table of fptt train,
        # :meth:`fptt.train.TrainSettings.load`): not part of the core, ignored here
        unknown = set(data) - known - set(HOST_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown configuration section(s): {', '.join(sorted(unknown))}")
        core = dict(data.get("core", {}))
        _check_keys("core", core, {f.name for f in fields(cls)} - {"neuron", "fptt", "formats"})
        neuron = dict(data.get("neuron", {}))
        _check_keys("neuron", neuron, {f.name for f in fields(NeuronConfig)})
        fptt = dict(data.get("fptt", {}))
        _check_keys("fptt", fptt, {f.name for f in fields(FpttConfig)})
        fmts = dict(data.get("formats", {}))
        if "grad" in fmts:      # shorthand: one format for every parameter's gradient
            shared = fmts.pop("grad")
            for p in PARAMS:
                fmts.setdefault(f"grad_{p}", shared)
        _check_keys("formats", fmts, set(Formats().names()) | {"grad"})
        defaults = Formats()
        fmt_objs = {}
        for name, spec in fmts.items():
            base = getattr(defaults, name)
            if isinstance(spec, Fmt):
                fmt_objs[name] = spec
                continue
            if not isinstance(spec, dict):
                raise ConfigError(f"formats.{name} must be a table {{width, frac}}, not {spec!r}")
            _check_keys(f"formats.{name}", spec, {"width", "frac"})
            parts = {}
            for part in ("width", "frac"):
                value = spec.get(part, getattr(base, part))
                if not _is_int(value):
                    raise ConfigError(f"formats.{name}.{part} must be an integer, not {value!r}")
                parts[part] = value
            fmt_objs[name] = Fmt(**parts)
        return cls(**core, neuron=NeuronConfig(**neuron), fptt=FpttConfig(**fptt),
                   formats=Formats(**fmt_objs))

    def to_toml(self) -> str:
        lines = []
        d = self.to_dict()
        for section in ("core", "neuron", "fptt"):
            lines.append(f"[{section}]")
            for key, value in d[section].items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        lines.append("[formats]  # signed two's complement: width bits, frac of them fractional")
        for name, spec in d["formats"].items():
            lines.append(f"{name} = {{ width = {spec['width']}, frac = {spec['frac']} }}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> "CoreConfig":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path, overrides=()) -> "CoreConfig":
        """Read a TOML file (``None``: the defaults) and apply ``KEY=VALUE`` overrides."""
        if path is None:
            data = cls().to_dict()
        else:
            raw = read_toml(path)
            try:
                data = cls.from_dict(raw).to_dict()
            except ConfigError as exc:
                raise ConfigError(f"configuration file {str(path)!r}: {exc}") from None
        for item in overrides:
            _apply_override(data, item)
        return cls.from_dict(data)

    def save(self, path) -> None:
        Path(path).write_text(self.to_toml())

    def replace(self, **changes) -> "CoreConfig":
        """A copy with top-level fields changed; ``neuron``/``fptt``/``formats`` take dicts too."""
        if isinstance(changes.get("formats"), dict):
            fm = dict(changes["formats"])
            if "grad" in fm:    # shorthand: every parameter's gradient format
                shared = fm.pop("grad")
                fm.update({f"grad_{p}": shared for p in PARAMS if f"grad_{p}" not in fm})
            changes["formats"] = {k: Fmt(**v) if isinstance(v, dict) else v
                                  for k, v in fm.items()}
        for name in ("neuron", "fptt", "formats"):
            if isinstance(changes.get(name), dict):
                changes[name] = dataclasses.replace(getattr(self, name), **changes[name])
        return dataclasses.replace(self, **changes)

    def with_overrides(self, overrides) -> "CoreConfig":
        data = self.to_dict()
        for item in overrides:
            _apply_override(data, item)
        return CoreConfig.from_dict(data)


def read_toml(path) -> dict[str, Any]:
    """The tables of the TOML file ``path``; a one-line :class:`ConfigError` naming the file
    when it is missing, a directory, unreadable or not TOML."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"configuration file {str(path)!r} does not exist")
    if path.is_dir():
        raise ConfigError(f"configuration file {str(path)!r} is a directory")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"configuration file {str(path)!r} cannot be read: "
                          f"{reason}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {str(path)!r}: invalid TOML: {exc}") from None


def memory_limit() -> int:
    """Bytes a run may take without ``--force``: ``$FPTT_MEMORY_LIMIT_GB`` if set, else
    half the physical memory (4 GiB when it cannot be read)."""
    import os
    env = os.environ.get("FPTT_MEMORY_LIMIT_GB")
    if env:
        try:
            return int(float(env) * 2 ** 30)
        except ValueError:
            raise ConfigError(f"FPTT_MEMORY_LIMIT_GB must be a number of GiB, "
                              f"not {env!r}") from None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):     # pragma: no cover
        return 4 * 2 ** 30


def _human_bytes(n: int) -> str:
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2 ** 10:.1f} KiB"


def _check_keys(section, table, allowed):
    unknown = set(table) - set(allowed)
    if unknown:
        raise ConfigError(
            f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(allowed))}")


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_override(data: dict, item: str) -> None:
    """Apply ``KEY=VALUE``; KEY is ``section.key``, ``formats.q.width`` or a bare core key."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must have the form KEY=VALUE")
    key, text = item.split("=", 1)
    key = key.strip()
    value = _parse_value(text.strip())
    parts = key.split(".")
    if len(parts) == 1:
        sections = [s for s in ("core", "neuron", "fptt") if parts[0] in data[s]]
        if not sections:
            raise ConfigError(f"unknown configuration key {key!r}")
        parts = [sections[0], parts[0]]
    if parts[0] == "formats":
        names = [f"grad_{p}" for p in PARAMS] if parts[1:2] == ["grad"] else parts[1:2]
        if len(parts) != 3 or any(n not in data["formats"] for n in names) \
                or parts[2] not in ("width", "frac"):
            raise ConfigError(f"unknown configuration key {key!r}: use formats.NAME.width or "
                              f"formats.NAME.frac")
        for name in names:
            data["formats"][name][parts[2]] = value
        return
    if parts[:2] == ["fptt", "lr"] and len(parts) == 3:
        if parts[2] not in PARAMS:
            raise ConfigError(f"unknown configuration key {key!r}: use fptt.lr (every parameter) "
                              f"or fptt.lr.P with P one of {', '.join(PARAMS)}")
        lr = data["fptt"]["lr"]
        lr = dict(lr) if isinstance(lr, dict) else {p: lr for p in PARAMS}
        lr[parts[2]] = value
        data["fptt"]["lr"] = lr
        return
    if len(parts) != 2 or parts[0] not in data or parts[1] not in data[parts[0]]:
        raise ConfigError(f"unknown configuration key {key!r}")
    data[parts[0]][parts[1]] = value


def up5k_config() -> CoreConfig:
    """The core that fits an iCE40 UP5K beside its serial bridge (``configs/up5k.toml`` is
    this, written out).

    20 inputs in 2 bits (Q2.0: the spikes 0 and 1 of the cue task exactly), 16
    LIF neurons (``β_a = 0``: no adaptation datapath), 2 outputs, window 8
    (``window_max`` 8), one lane; membrane and readout in 12 bits, every
    backward signal and the gradient in Q3.8 (12 bits); weights, W̄ and λ keep
    their 16 bits (they sit in the 16-bit-wide SPRAMs); the synaptic sum in the
    22 bits it needs; no profiling counters. Learns the cue demo task.

    The 2-bit inputs and the 16 neurons (32 before, with 8-bit inputs) make
    room for the bridge (``docs/bridge.md``, issue 13): the 2-bit inputs cost
    nothing on the cue task (its inputs are 0/1: the same learning, bit for
    bit), the 16 neurons 2.5 points of test accuracy.
    """
    import dataclasses
    f = Formats()
    narrow = {q: Fmt(12, 8) for q in ("delta", "obar", "sbar", "vbar", "ubar", "abar", "ibar")
              + tuple(f"grad_{p}" for p in PARAMS)}
    f = dataclasses.replace(f, x=Fmt(2, 0), u=Fmt(12, 7), o=Fmt(12, 7), a=Fmt(12, 9), **narrow)
    cfg = CoreConfig(n_hidden=16, window=8, window_max=8, biases=False, profile_counters=False,
                     formats=f, neuron=NeuronConfig(tau_out=100.0),
                     fptt=FpttConfig(lr=2.0 ** -19))
    return cfg.replace(neuron=dict(beta_a=0.0), acc_width=cfg.acc_bits_needed)
