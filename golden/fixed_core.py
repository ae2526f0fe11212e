"""The fixed-point golden model: the bit-exact specification of the RTL.

DESIGN sections 2 and 4 in integer arithmetic, batched: every array has a
leading axis over ``batch`` independent cores that share one schedule (the
step flags) but not data, weights or random draws. ``batch = 1`` is the
single-core path; nothing else differs.

Notation: ``f_q`` is the fractional bits of format ``q`` (``cfg.formats.q.frac``),
``f_c`` of the constants. Each assignment below forms an exact integer at the
largest fractional precision of its terms, then rounds to nearest once and
saturates (:mod:`fptt.golden.fixedpoint`). Constants are the codes of
:attr:`fptt.config.CoreConfig.const_q`.

Forward, one step (states from t-1, ``s_0 = 0``)::

    acc   = W_in x_t + (W_rec s_{t-1} + b)·2**f_x             exact, frac f_w + f_x
    a_t   = ρ a_{t-1} + (1-ρ) s_{t-1}                          -> a
    B_t   = θ0 + β_a a_t                                       -> u
    u_t   = α u_{t-1} + c·acc - B_t s_{t-1}                    -> u
    s_t   = [u_t >= B_t]
    o_t   = κ o_{t-1} + W_out s_t + b_out                      -> o
    ψ_t   = max(0, H - (|u_t - B_t| >> k_ψ))                   -> psi (no multiplier)
    δ_t   = o_t - y*_t  on steps with a target, else 0         -> delta

Backward at a window's end, t from its last step to its first::

    ō_t = δ_t + κ ō_{t+1}                                      -> obar
    s̄_t = W_outᵀ ō_t + W_recᵀ ī_{t+1} + (1-ρ) ā_{t+1}          -> sbar
    v̄_t = ψ_t s̄_t                                              -> vbar
    ū_t = v̄_t + α ū_{t+1}                                      -> ubar
    ā_t = -β_a v̄_t + ρ ā_{t+1}                                 -> abar
    ī_t = c ū_t                                                -> ibar
    G_in = Σ_t ī_t x_tᵀ,  G_rec = Σ_t ī_t s_{t-1}ᵀ,  G_out = Σ_t ō_t s_tᵀ   exact sums -> grad_P
    G_b  = Σ_t ī_t,       G_b_out = Σ_t ō_t

The biases ``b`` and ``b_out`` (``cfg.biases``) are the weights of an
always-active presynaptic unit (``x = 1.0``, ``s = 1``): one-column matrices,
updated like every weight with their own ``W̄``, ``λ``, ``η`` and gradient format.

FPTT step of every parameter P (η_P = 2**-e_P, α = 2**-k; rounding by ``cfg.rounding``)::

    w'  = w - η(g + α(w - w̄) - λ)                             -> w
    λ'  = λ - α(w' - w̄)                                        -> lam
    w̄'  = ½(w̄ + w') - 2**(k-1) λ'                              -> wbar

The learning rule's options (``cfg.fptt.readout = "trace"``, ``.error = "softmax"``,
``.hidden_step = "rms"``; golden models only) change where the readout's gradient comes
from, the error ``δ`` and the hidden parameters' ``g``: :mod:`fptt.golden.fixed_rules`.

Schedule: ``sos`` resets u, a, s, o and discards a partial window; a step with
``learn`` is appended to the window buffer, a step without it discards the
partial window; the window closes (backward + update, after the step's output)
when it holds ``cfg.window`` steps or at a step with ``eos``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..config import BIASES, HIDDEN_PARAMS, MATRICES, PARAMS, CoreConfig
from .sequence import run_sequence
from .fixed_rules import readout_trace, rms_moment, rms_normalise, softmax_error, update_mean
from .fixedpoint import SaturationCounter, align, round_shift, saturate, to_codes
from .lfsr import UpdateDraws, lane_seeds

__all__ = [
    "MATRICES", "PARAMS", "FixedState", "FixedCore", "CheckpointError", "validate_arrays",
    "load_npz", "read_checkpoint", "check_inputs", "check_frozen", "init_state", "reset_to_mean", "step", "forward", "close_window",
    "accumulate", "membrane_alpha", "neuron_update", "surrogate", "readout", "output_error",
    "backward_readout",
    "backward_neuron", "gradient", "gradient_fracs", "fptt_update",
]


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored; the message names the file and the field."""


#: keys of a checkpoint file that are not state arrays: the configuration, the run-time
#: window ``L`` (the RTL's WINDOW register), and a training run's own records (``train.*``)
CHECKPOINT_EXTRA = ("config_toml", "window")


def _where(source) -> str:
    return f"checkpoint {str(source)!r}" if source is not None else "checkpoint"


def validate_arrays(cfg: CoreConfig, arrays: dict, source=None) -> int:
    """Check a checkpoint's state arrays against ``cfg``; returns the batch.

    Every key, shape and dtype (integers), every value inside its format (w, W̄, λ,
    u, a, o, the window buffers), spikes in ``{0, 1}``, ``0 <= count < window_max``
    (equal over the batch: one schedule), ``1 <= lfsr < 2**32``, non-negative step,
    window and saturation counts. Raises :class:`CheckpointError` naming ``source``
    and the field.
    """
    where = _where(source)
    f, H, O, I, Wm = cfg.formats, cfg.n_hidden, cfg.n_out, cfg.n_in, cfg.window_max

    def fail(field, what):
        raise CheckpointError(f"{where}: field {field!r} {what}")

    if "u" not in arrays:
        fail("u", "is missing")
    u = np.asarray(arrays["u"])
    if u.ndim != 2 or u.shape[0] < 1:
        fail("u", f"has shape {u.shape}, expected (batch, {H})")
    B = u.shape[0]
    spec = {}
    for kind in ("w", "wbar", "lam"):
        for m in cfg.params:
            spec[f"{kind}.{m}"] = ((B,) + cfg.param_shapes[m], getattr(f, kind))
    spec.update({
        "u": ((B, H), f.u), "a": ((B, H), f.a), "s": ((B, H), (0, 1)), "o": ((B, O), f.o),
        "count": ((B,), (0, Wm - 1)), "buf_x": ((B, Wm, I), f.x),
        "buf_s": ((B, Wm + 1, H), (0, 1)), "buf_psi": ((B, Wm, H), (0, f.psi.max)),
        "buf_delta": ((B, Wm, O), f.delta), "lfsr": ((B, cfg.lanes), (1, 2 ** 32 - 1)),
        "steps": ((B,), (0, None)), "windows": ((B,), (0, None)),
    })
    if cfg.fptt.readout == "trace":
        spec.update({"tr": ((B, H), f.trace), "tr1": ((B,), f.trace), "mean": ((B, H), f.mean),
                     "gacc.w_out": ((B, O, H), (-2 ** 62, None))})
        if cfg.biases:
            spec["gacc.b_out"] = ((B, O, 1), (-2 ** 62, None))
    if cfg.fptt.hidden_step == "rms":
        for m in HIDDEN_PARAMS:
            if m in cfg.params:
                spec[f"v.{m}"] = ((B,) + cfg.param_shapes[m], (0, f.v.max))
    sat = sorted(k for k in arrays if k.startswith(("sat_", "writes_")))
    for k in sat:
        spec[k] = ((B,), (0, None))
        other = ("writes_" + k[4:]) if k.startswith("sat_") else ("sat_" + k[7:])
        if other not in arrays:
            fail(k, f"has no {other!r} beside it")
    unknown = [k for k in arrays if k not in spec and k not in CHECKPOINT_EXTRA
               and not k.startswith("train.")]
    if unknown:
        fail(unknown[0], f"is not a state array of this configuration (params "
                         f"{', '.join(cfg.params)})")
    for key, (shape, bounds) in spec.items():
        if key not in arrays:
            fail(key, "is missing")
        a = np.asarray(arrays[key])
        if a.dtype.kind not in "iu":
            fail(key, f"has dtype {a.dtype}, expected integers")
        if a.shape != shape:
            fail(key, f"has shape {a.shape}, expected {shape}")
        if a.size == 0:
            continue
        lo, hi = (bounds.min, bounds.max) if hasattr(bounds, "min") else bounds
        amin, amax = int(a.min()), int(a.max())
        if amin < lo or (hi is not None and amax > hi):
            bad = amin if amin < lo else amax
            rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            fmt = f" (format {bounds})" if hasattr(bounds, "min") else ""
            fail(key, f"holds {bad}, outside {rng}{fmt}")
    for k in sat:
        if k.startswith("sat_") and np.any(np.asarray(arrays[k]) > np.asarray(arrays["writes_" + k[4:]])):
            fail(k, "counts more saturations than writes")
    count = np.asarray(arrays["count"])
    if np.any(count != count[0]):
        fail("count", f"differs between the cores of the batch ({count.tolist()}); they share "
                      f"one schedule")
    return B


def load_npz(path, where: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, read in full; any failure to read it is a
    :class:`CheckpointError` starting with ``where`` (e.g. ``"checkpoint 'c.npz'"``)."""
    import zipfile
    try:
        data = np.load(path, allow_pickle=False)
        if not hasattr(data, "files"):     # a plain .npy: one array
            raise CheckpointError(f"{where}: not an .npz archive (a single {type(data).__name__})")
        with data:
            return {k: np.array(data[k]) for k in data.files}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"{where} is a directory") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointError(f"{where}: not a readable .npz archive "
                              f"({type(exc).__name__}: {reason})") from None
    except Exception as exc:    # zlib.error and friends of a damaged member
        raise CheckpointError(f"{where}: not a readable .npz archive "
                              f"({type(exc).__name__}: {exc})") from None


def read_checkpoint(path) -> tuple[CoreConfig, dict]:
    """``(cfg, arrays)`` of a checkpoint file, validated (:func:`validate_arrays`).

    The run-time window ``L`` is the file's ``window`` array (one per core, all equal)
    when present, else the configuration's. Any problem is a :class:`CheckpointError`
    naming the file (and the field).
    """
    where = _where(path)
    arrays = load_npz(path, where)
    if "config_toml" not in arrays:
        raise CheckpointError(f"{where}: field 'config_toml' is missing")
    toml = arrays.pop("config_toml")
    if toml.dtype.kind != "U" or toml.ndim != 0:
        raise CheckpointError(f"{where}: field 'config_toml' is not a text (dtype {toml.dtype})")
    from ..config import ConfigError
    try:
        cfg = CoreConfig.from_toml(str(toml))
    except ConfigError as exc:
        raise CheckpointError(f"{where}: field 'config_toml': {exc}") from None
    B = validate_arrays(cfg, arrays, path)
    if "window" in arrays:
        win = arrays.pop("window")
        if win.dtype.kind not in "iu" or win.shape != (B,):
            raise CheckpointError(f"{where}: field 'window' has dtype {win.dtype} and shape "
                                  f"{win.shape}, expected integers of shape ({B},)")
        L = int(win[0])
        if np.any(win != L) or not 1 <= L <= cfg.window_max:
            raise CheckpointError(f"{where}: field 'window' holds {win.tolist()}: needs one "
                                  f"value with 1 <= window <= window_max = {cfg.window_max}")
        if L != cfg.window:
            cfg = cfg.replace(window=L)
    return cfg, {k: v for k, v in arrays.items() if not k.startswith("train.")}


def checkpoint_arrays(cfg: CoreConfig, state: "FixedState") -> dict[str, np.ndarray]:
    """What :meth:`FixedCore.save` writes: the configuration, the window ``L`` of every
    core (the RTL's WINDOW register) and every state array."""
    return dict(config_toml=np.array(cfg.to_toml()),
                window=np.full(state.batch, cfg.window, np.int64), **state.arrays())


def check_inputs(name: str, values) -> None:
    """Refuse NaN or infinite host inputs (they have no fixed-point code)."""
    v = np.asarray(values)
    if v.dtype.kind in "fc" and not np.all(np.isfinite(v)):
        bad = v[~np.isfinite(v)].flat[0]
        raise ValueError(f"input {name} holds {bad} (NaN or infinite inputs have no "
                         f"fixed-point code)")


@dataclass
class FixedState:
    """Every bit of on-chip state of ``batch`` cores (integer codes)."""

    w: dict            # param -> [B, post, pre]   weights and biases (pre = 1)
    wbar: dict         # param -> [B, post, pre]   running means W̄
    lam: dict          # param -> [B, post, pre]   dual states λ
    u: np.ndarray      # [B, n_hidden]
    a: np.ndarray      # [B, n_hidden]
    s: np.ndarray      # [B, n_hidden]  0/1
    o: np.ndarray      # [B, n_out]
    count: np.ndarray  # [B] steps held in the window buffer
    buf_x: np.ndarray      # [B, window_max, n_in]
    buf_s: np.ndarray      # [B, window_max + 1, n_hidden]  index 0: s before the window
    buf_psi: np.ndarray    # [B, window_max, n_hidden]
    buf_delta: np.ndarray  # [B, window_max, n_out]
    lfsr: np.ndarray       # [B, lanes] uint64 (32-bit states)
    steps: np.ndarray      # [B] steps run
    windows: np.ndarray    # [B] windows closed (updates applied)
    sat: SaturationCounter = field(default=None)
    # fptt.readout = "trace" (fixed_rules.readout_trace): the traces ĉ [B, H] and ĥ [B],
    # the running spike mean m [B, H] and the window's exact readout gradients (frac
    # f_delta + f_trace) gacc = {"w_out": [B, O, H], "b_out": [B, O, 1]}
    tr: np.ndarray = None
    tr1: np.ndarray = None
    mean: np.ndarray = None
    gacc: dict = None
    # fptt.hidden_step = "rms": the second moments, param -> [B, post, pre] (hidden params)
    v: dict = None

    @property
    def batch(self) -> int:
        return self.u.shape[0]

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat ``name -> array`` view: the checkpoint format."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, dict):
                out.update({f"{f.name}.{k}": v.copy() for k, v in value.items()})
            elif isinstance(value, np.ndarray):
                out[f.name] = value.copy()
        out.update(self.sat.state())
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], cfg: CoreConfig | None = None,
                    source=None) -> "FixedState":
        """The state of a flat ``name -> array`` dict (:meth:`arrays`); with ``cfg``, validated
        first (:func:`validate_arrays`, errors naming ``source`` and the field)."""
        if cfg is not None:
            validate_arrays(cfg, arrays, source)
        kw = {}
        for f in fields(cls):
            if f.name in ("w", "wbar", "lam", "gacc", "v"):
                d = {m: np.array(arrays[f"{f.name}.{m}"]) for m in PARAMS
                     if f"{f.name}.{m}" in arrays}
                if d or f.name in ("w", "wbar", "lam"):
                    kw[f.name] = d
            elif f.name in ("tr", "tr1", "mean"):
                if f.name in arrays:
                    kw[f.name] = np.array(arrays[f.name])
            elif f.name == "lfsr":
                kw[f.name] = np.array(arrays[f.name], dtype=np.uint64)
            elif f.name != "sat":
                kw[f.name] = np.array(arrays[f.name])
        state = cls(**kw)
        state.sat = SaturationCounter(state.batch)
        state.sat.load({k: v for k, v in arrays.items()
                        if k.startswith(("sat_", "writes_"))})
        return state

    def core(self, b: int) -> "FixedState":
        """Core ``b`` alone, as a batch of one."""
        return FixedState.from_arrays({k: v[b:b + 1] for k, v in self.arrays().items()})


def check_frozen(cfg: CoreConfig, frozen) -> tuple:
    """``frozen`` as a tuple of parameter names of ``cfg``; unknown names are refused."""
    frozen = tuple(frozen)
    unknown = [p for p in frozen if p not in cfg.params]
    if unknown:
        raise ValueError(f"cannot freeze {', '.join(unknown)}: the core's parameters are "
                         f"{', '.join(cfg.params)}")
    return frozen


def init_state(cfg: CoreConfig, weights: dict, batch: int | None = None) -> FixedState:
    """Fresh cores from float or integer-coded weights: ``W̄ = W``, ``λ = 0``, neurons at rest.

    ``weights[name]`` is ``[post, pre]`` (shared by the batch) or ``[B, post, pre]``;
    float arrays are quantised to ``formats.w`` by nearest rounding. Biases missing
    from ``weights`` start at 0.
    """
    w = {}
    shapes = cfg.param_shapes
    if batch is None and np.ndim(weights["w_in"]) == 3:
        batch = np.shape(weights["w_in"])[0]
    for m in cfg.params:
        if m in BIASES and m not in weights:
            arr = np.zeros(shapes[m], dtype=np.int64)
        else:
            arr = np.asarray(weights[m])
        if m in BIASES and arr.ndim >= 1 and arr.shape[-1] != 1:
            arr = arr[..., None]    # a bias vector [.., post] as its column [.., post, 1]
        if arr.dtype.kind == "f":
            arr = to_codes(arr, cfg.formats.w)
        if arr.ndim == 2:
            arr = np.broadcast_to(arr, ((batch or 1),) + arr.shape)
        if arr.shape[1:] != shapes[m]:
            raise ValueError(f"{m} has shape {arr.shape[1:]}, the configuration needs "
                             f"{shapes[m]}")
        w[m] = np.array(arr, dtype=np.int64)
    B = next(iter(w.values())).shape[0]
    if batch is not None and B != batch:
        raise ValueError(f"weights hold {B} cores, batch = {batch}")
    # W̄ starts equal to W, in its own format.
    wbar = {m: saturate(align(w[m], cfg.formats.w.frac, cfg.formats.wbar.frac)
                        if cfg.formats.wbar.frac >= cfg.formats.w.frac
                        else round_shift(w[m], cfg.formats.w.frac - cfg.formats.wbar.frac),
                        cfg.formats.wbar) for m in cfg.params}
    lam = {m: np.zeros_like(w[m]) for m in cfg.params}
    seeds = lane_seeds(cfg.lfsr_seed, cfg.lanes)
    if np.any(seeds == 0) or np.any(seeds >= 2 ** 32):
        raise ValueError(f"lfsr_seed = {cfg.lfsr_seed} gives a lane state outside "
                         f"[1, 2**32): {seeds.tolist()}")
    z = lambda *shape: np.zeros((B,) + shape, dtype=np.int64)  # noqa: E731
    extra = {}
    if cfg.fptt.readout == "trace":
        extra.update(tr=z(cfg.n_hidden), tr1=z(), mean=z(cfg.n_hidden),
                     gacc={m: np.zeros_like(w[m]) for m in ("w_out", "b_out") if m in w})
    if cfg.fptt.hidden_step == "rms":
        extra["v"] = {m: np.zeros_like(w[m]) for m in HIDDEN_PARAMS if m in w}
    return FixedState(
        w=w, wbar=wbar, lam=lam,
        u=z(cfg.n_hidden), a=z(cfg.n_hidden), s=z(cfg.n_hidden), o=z(cfg.n_out),
        count=z(), buf_x=z(cfg.window_max, cfg.n_in), buf_s=z(cfg.window_max + 1, cfg.n_hidden),
        buf_psi=z(cfg.window_max, cfg.n_hidden), buf_delta=z(cfg.window_max, cfg.n_out),
        lfsr=np.broadcast_to(seeds, (B, cfg.lanes)).copy(),
        steps=z(), windows=z(), sat=SaturationCounter(B), **extra,
    )


def _requant(terms, dest_frac: int):
    """Sum ``(code, frac)`` terms exactly at their largest frac, round to ``dest_frac``."""
    top = max(frac for _, frac in terms)
    total = sum(align(np.asarray(q, dtype=np.int64), frac, top) for q, frac in terms)
    return round_shift(total, top - dest_frac)


def _matvec(mat, vec):
    """Batched ``mat @ vec`` for ``[B, m, n] · [B, n]`` in exact integers."""
    return np.einsum("bmn,bn->bm", mat, vec)


# ---------------------------------------------------------------------------- blocks
# One golden function per RTL block: elementwise over any leading shape, integer
# codes in and out. ``sat`` (optional) counts saturations per quantity.

def accumulate(cfg: CoreConfig, w_in, w_rec, x, s_prev, b=None):
    """Synaptic accumulation ``acc = W_in x + (W_rec s_{t-1} + b)·2**f_x`` (exact, ``cfg.acc_fmt``).

    ``b [B, n_hidden, 1]`` (optional): the bias, the weight of an input fixed at 1.0.
    """
    rec = _matvec(w_rec, s_prev)
    if b is not None:
        rec = rec + b[..., 0]
    return _matvec(w_in, x) + align(rec, 0, cfg.formats.x.frac)


def membrane_alpha(cfg: CoreConfig):
    """The membrane decay ``α`` in ``formats.const``: one code for every neuron, or with
    per-neuron time constants (``cfg.per_neuron_tau``) the codes ``α_j`` ``[n_hidden]``,
    which broadcast over the neuron axis (the last) of the states."""
    if cfg.per_neuron_tau:
        return np.asarray(cfg.alpha_q, dtype=np.int64)
    return cfg.const_q["alpha"]


def neuron_update(cfg: CoreConfig, u, a, s_prev, acc, sat=None):
    """ALIF step of the neurons (the last axis): returns ``(u_t, a_t, s_t, B_t)``.

    ``a_t = ρ a + (1-ρ) s_{t-1}``, ``B_t = θ0 + β_a a_t``,
    ``u_t = α u + c·acc - B_t s_{t-1}``, ``s_t = [u_t >= B_t]``; LIF
    (not ``cfg.adaptive``, ``β_a = 0``): ``a_t = 0``, ``B_t = θ0``. ``α`` is
    :func:`membrane_alpha` (per neuron with ``neuron.tau_mem_spread > 1``).
    """
    f, k = cfg.formats, cfg.const_q
    fc = f.const.frac
    if cfg.adaptive:
        a = saturate(_requant([(k["rho"] * a, fc + f.a.frac),
                               (k["one_minus_rho"] * s_prev, fc)], f.a.frac), f.a, sat, "a")
    else:   # LIF (not cfg.adaptive): a = 0 reaches no output; counted as the RTL does
        a = saturate(np.zeros(np.broadcast(np.asarray(a), np.asarray(s_prev)).shape,
                              dtype=np.int64), f.a, sat, "a")
    thr = saturate(_requant([(cfg.theta_q, f.u.frac), (k["beta_a"] * a, fc + f.a.frac)], f.u.frac),
                   f.u, sat, "threshold")
    u = saturate(_requant([(membrane_alpha(cfg) * u, fc + f.u.frac),
                           (k["c"] * acc, fc + cfg.acc_fmt.frac),
                           (-thr * s_prev, f.u.frac)], f.u.frac), f.u, sat, "u")
    return u, a, (u >= thr).astype(np.int64), thr


def surrogate(cfg: CoreConfig, u, thr):
    """``ψ = max(0, H - (|u - B| >> k_ψ))``: the triangle surrogate by one shift, no multiplier."""
    dist = np.abs(np.asarray(u) - thr)
    sh = cfg.surrogate_shift
    dist = dist >> sh if sh >= 0 else dist << (-sh)
    return np.maximum(cfg.surrogate_height_q - dist, 0)


def readout(cfg: CoreConfig, o, w_out_s, sat=None):
    """Leaky readout ``o_t = κ o_{t-1} + W_out s_t`` from the exact sum ``w_out_s`` (frac f_w)."""
    f, fc = cfg.formats, cfg.formats.const.frac
    return saturate(_requant([(cfg.const_q["kappa"] * o, fc + f.o.frac), (w_out_s, f.w.frac)],
                             f.o.frac), f.o, sat, "o")


def output_error(cfg: CoreConfig, o, target, has_target, sat=None):
    """``δ = o - y*`` where ``has_target`` (else 0), in ``formats.delta``; with
    ``fptt.error = "softmax"`` ``δ = softmax(o) - y*`` (:func:`fixed_rules.softmax_error`)."""
    f = cfg.formats
    if cfg.fptt.error == "softmax":
        err = softmax_error(cfg, o, target, sat)
    else:
        err = saturate(_requant([(o - np.asarray(target, dtype=np.int64), f.o.frac)],
                                f.delta.frac), f.delta, sat, "delta")
    return np.where(np.asarray(has_target, dtype=bool)[..., None], err, 0)


def backward_readout(cfg: CoreConfig, delta, obar_next, sat=None):
    """``ō_t = δ_t + κ ō_{t+1}``."""
    f, fc = cfg.formats, cfg.formats.const.frac
    return saturate(_requant([(delta, f.delta.frac),
                              (cfg.const_q["kappa"] * obar_next, fc + f.obar.frac)], f.obar.frac),
                    f.obar, sat, "obar")


def backward_neuron(cfg: CoreConfig, wt_obar, wt_ibar, psi, ubar_next, abar_next, sat=None):
    """Backward step of one neuron from the exact sums ``W_outᵀ ō_t`` and ``W_recᵀ ī_{t+1}``.

    ``s̄ = W_outᵀō + W_recᵀī' + (1-ρ) ā'``, ``v̄ = ψ s̄``, ``ū = v̄ + α ū'``,
    ``ā = -β_a v̄ + ρ ā'``, ``ī = c ū`` (``α`` per neuron: :func:`membrane_alpha`). Returns
    ``(ibar, ubar, abar)``. LIF (not
    ``cfg.adaptive``): ``ā' = ā = 0`` (``ā'`` is not read).
    """
    f, k, fc = cfg.formats, cfg.const_q, cfg.formats.const.frac
    if not cfg.adaptive:
        abar_next = np.zeros_like(np.asarray(abar_next))
    sbar = saturate(_requant([(wt_obar, f.w.frac + f.obar.frac), (wt_ibar, f.w.frac + f.ibar.frac),
                              (k["one_minus_rho"] * abar_next, fc + f.abar.frac)], f.sbar.frac),
                    f.sbar, sat, "sbar")
    vbar = saturate(_requant([(psi * sbar, f.psi.frac + f.sbar.frac)], f.vbar.frac),
                    f.vbar, sat, "vbar")
    ubar = saturate(_requant([(vbar, f.vbar.frac),
                              (membrane_alpha(cfg) * ubar_next, fc + f.ubar.frac)],
                             f.ubar.frac), f.ubar, sat, "ubar")
    abar = saturate(_requant([(-k["beta_a"] * vbar, fc + f.vbar.frac),
                              (k["rho"] * abar_next, fc + f.abar.frac)], f.abar.frac),
                    f.abar, sat, "abar")
    ibar = saturate(_requant([(k["c"] * ubar, fc + f.ubar.frac)], f.ibar.frac), f.ibar, sat, "ibar")
    return ibar, ubar, abar


def gradient(cfg: CoreConfig, param: str, total, sat=None):
    """Round the exact window sum ``Σ_t post_t·pre_t`` of ``param`` to ``formats.grad_<param>``.

    ``total`` has :func:`gradient_fracs` ``[param]`` fractional bits; saturations
    of every parameter count under ``"grad"``.
    """
    fmt = cfg.formats.grad(param)
    return saturate(round_shift(total, gradient_fracs(cfg)[param] - fmt.frac), fmt, sat, "grad")


def gradient_fracs(cfg: CoreConfig) -> dict[str, int]:
    """Fractional bits of the exact window sums of each parameter."""
    f = cfg.formats
    fracs = {"w_in": f.ibar.frac + f.x.frac, "w_rec": f.ibar.frac, "b": f.ibar.frac,
             "w_out": f.obar.frac, "b_out": f.obar.frac}
    if cfg.fptt.readout == "trace":     # Σ δ_t ĉ_t, Σ δ_t ĥ_t (fixed_rules.readout_trace)
        fracs["w_out"] = fracs["b_out"] = f.delta.frac + f.trace.frac
    return {p: fracs[p] for p in cfg.params}


def fptt_update(cfg: CoreConfig, param: str, w, wbar, lam, g, r=(None, None, None), sat=None):
    """The FPTT step of synapses of ``param`` (elementwise); returns ``(w', λ', w̄')``.

    ``w' = w - η(g + α(w - w̄) - λ)``, ``λ' = λ - α(w' - w̄)``,
    ``w̄' = ½(w̄ + w') - 2**(k-1)·λ'`` with ``η = 2**-e_P`` (``cfg.lr_shifts[param]``),
    ``α = 2**-k``, each rounded by ``cfg.rounding`` (``r``: the three 16-bit draws
    when stochastic). ``g`` is in ``formats.grad_<param>``.
    """
    f, kk, fr, mode = cfg.formats, cfg.alpha_shift, cfg.update_fracs, cfg.rounding
    e, fg = cfg.lr_shifts[param], f.grad(param)
    F = fr["w"]
    tot = (align(w, f.w.frac, F) - align(g, fg.frac + e, F)
           - align(w, f.w.frac + e + kk, F) + align(wbar, f.wbar.frac + e + kk, F)
           + align(lam, f.lam.frac + e, F))
    w_new = saturate(round_shift(tot, F - f.w.frac, mode, r[0]), f.w, sat, "w")
    F = fr["lam"]
    tot = (align(lam, f.lam.frac, F) - align(w_new, f.w.frac + kk, F)
           + align(wbar, f.wbar.frac + kk, F))
    lam_new = saturate(round_shift(tot, F - f.lam.frac, mode, r[1]), f.lam, sat, "lam")
    F = fr["wbar"]
    tot = (align(wbar, f.wbar.frac + 1, F) + align(w_new, f.w.frac + 1, F)
           - align(lam_new, f.lam.frac - kk + 1, F))
    wbar_new = saturate(round_shift(tot, F - f.wbar.frac, mode, r[2]), f.wbar, sat, "wbar")
    return w_new, lam_new, wbar_new


# ---------------------------------------------------------------------------- the core

def forward(cfg: CoreConfig, st: FixedState, x, target=None, has_target=None):
    """One forward step (DESIGN section 2) of every core; updates ``st`` in place.

    Returns ``(o_t, s_t, psi_t, delta_t)`` as integer codes.
    """
    x = np.asarray(x, dtype=np.int64)
    acc = accumulate(cfg, st.w["w_in"], st.w["w_rec"], x, st.s, st.w.get("b"))
    u, a, s, thr = neuron_update(cfg, st.u, st.a, st.s, acc, st.sat)
    w_out_s = _matvec(st.w["w_out"], s)
    if "b_out" in st.w:
        w_out_s = w_out_s + st.w["b_out"][..., 0]
    o = readout(cfg, st.o, w_out_s, st.sat)
    psi = surrogate(cfg, u, thr)
    if target is None or has_target is None:
        delta = np.zeros_like(o)
    else:
        delta = output_error(cfg, o, target, has_target, st.sat)
    st.u, st.a, st.s, st.o = u, a, s, o
    return o, s, psi, delta


def close_window(cfg: CoreConfig, st: FixedState, draws_cache: dict | None = None,
                 frozen: tuple = ()):
    """Backward through the buffered window and one FPTT step of every weight (in place).

    All cores of the batch hold the same number of steps (they share the schedule).
    Parameters named in ``frozen`` keep w, W̄ and λ (their gradient is still formed
    and counted, their update is not); the random draws advance as if they were
    updated, so a frozen run rounds the other parameters with the same draws.
    """
    n = int(st.count[0])
    if n == 0:
        return
    B, sat = st.batch, st.sat
    obar_n = np.zeros((B, cfg.n_out), np.int64)
    ibar_n, ubar_n, abar_n = (np.zeros((B, cfg.n_hidden), np.int64) for _ in range(3))
    sums = {m: np.zeros_like(st.w[m]) for m in cfg.params}
    w_out_t = np.swapaxes(st.w["w_out"], 1, 2)
    w_rec_t = np.swapaxes(st.w["w_rec"], 1, 2)
    trace = cfg.fptt.readout == "trace"     # the readout's gradient formed in the forward pass
    for t in range(n - 1, -1, -1):
        obar = backward_readout(cfg, st.buf_delta[:, t], obar_n, sat)
        ibar, ubar, abar = backward_neuron(cfg, _matvec(w_out_t, obar), _matvec(w_rec_t, ibar_n),
                                           st.buf_psi[:, t], ubar_n, abar_n, sat)
        sums["w_in"] += ibar[:, :, None] * st.buf_x[:, t, None, :]
        sums["w_rec"] += ibar[:, :, None] * st.buf_s[:, t, None, :]
        if cfg.biases:      # the always-active unit: pre = 1
            sums["b"] += ibar[:, :, None]
        if not trace:
            sums["w_out"] += obar[:, :, None] * st.buf_s[:, t + 1, None, :]
            if cfg.biases:
                sums["b_out"] += obar[:, :, None]
        obar_n, ibar_n, ubar_n, abar_n = obar, ibar, ubar, abar
    if trace:
        sums.update(st.gacc)
    grads = {m: gradient(cfg, m, sums[m], sat) for m in cfg.params}
    w_out = st.w["w_out"]
    _fptt_update(cfg, st, grads, draws_cache, frozen)
    if trace:
        _correct_bias(cfg, st, st.w["w_out"] - w_out, frozen)
        _clear_window(st)
    st.count[:] = 0
    st.windows += 1


def _clear_window(st: FixedState):
    """Empty the trace rule's gradient sums (the window they belong to closed or was dropped)."""
    if st.gacc is not None:
        for m in st.gacc:
            st.gacc[m][...] = 0


def _correct_bias(cfg: CoreConfig, st: FixedState, dw_out, frozen: tuple = ()):
    """``b_out ← b_out - ΔW_out·m`` (nearest, ``formats.w``): the readout keeps the output
    of the uncentred one (:mod:`fptt.golden.fixed_rules`)."""
    if "b_out" not in st.w or "b_out" in frozen:
        return
    f = cfg.formats
    corr = _matvec(dw_out, st.mean)[..., None]          # frac f_w + f_mean
    st.w["b_out"] = saturate(_requant([(st.w["b_out"], f.w.frac), (-corr, f.w.frac + f.mean.frac)],
                                      f.w.frac), f.w, st.sat, "w")


def _fptt_update(cfg: CoreConfig, st: FixedState, grads: dict, draws_cache: dict | None,
                 frozen: tuple = ()):
    draws = None
    if cfg.rounding == "stochastic":
        key = (tuple(cfg.param_shapes.items()), cfg.lanes)
        if draws_cache is None:
            draws_cache = {}
        if key not in draws_cache:
            draws_cache[key] = UpdateDraws(cfg.param_shapes, cfg.lanes)
        draws, st.lfsr = draws_cache[key].draw(st.lfsr)
    for m in cfg.params:
        if m in frozen:
            continue
        r = (None, None, None) if draws is None else tuple(draws[m][:, j] for j in range(3))
        g = grads[m]
        if st.v is not None and m in st.v:      # fptt.hidden_step = "rms"
            st.v[m] = rms_moment(cfg, m, st.v[m], g, st.sat)
            g = rms_normalise(cfg, m, g, st.v[m], st.sat)
        st.w[m], st.lam[m], st.wbar[m] = fptt_update(cfg, m, st.w[m], st.wbar[m], st.lam[m],
                                                     g, r, st.sat)


def reset_to_mean(cfg: CoreConfig, st: FixedState):
    """``W ← W̄`` for every parameter (in place), as the released FPTT scripts do at each
    epoch's end; ``λ`` is kept. ``W̄`` is rounded to nearest into ``formats.w`` and
    saturated (a host write of the checkpoint's ``W̄`` into ``W``)."""
    f = cfg.formats
    for m in cfg.params:
        st.w[m] = saturate(_requant([(st.wbar[m], f.wbar.frac)], f.w.frac), f.w)


def step(cfg: CoreConfig, st: FixedState, x, target=None, has_target=None, *,
         sos: bool = False, eos: bool = False, learn: bool = True,
         draws_cache: dict | None = None, frozen: tuple = ()):
    """One time step of every core (integer codes in and out); updates ``st`` in place.

    Parameters
    ----------
    x : int array [B, n_in]
        Input codes in ``formats.x``.
    target : int array [B, n_out], optional
        Target codes in ``formats.o``.
    has_target : bool array [B] or bool, optional
        Which cores have a target at this step.
    sos, eos, learn : bool
        Start of sequence, end of sequence, learning on (shared by the batch).
    frozen : tuple of str
        Parameters the update leaves as they are (see :func:`close_window`).

    Returns
    -------
    o : int array [B, n_out]
        The readout of this step (before any update this step triggers).
    """
    trace = cfg.fptt.readout == "trace"
    if sos:
        for name in ("u", "a", "s", "o", "count") + (("tr", "tr1") if trace else ()):
            getattr(st, name)[...] = 0
        _clear_window(st)
    if has_target is not None and np.ndim(has_target) == 0:
        has_target = np.full(st.batch, bool(has_target))
    s_prev = st.s
    o, s, psi, delta = forward(cfg, st, x, target, has_target)
    o = o.copy()    # st.o is reset in place at the next sos; the caller keeps this step's
    st.steps += 1
    if trace:
        st.tr, st.tr1 = readout_trace(cfg, st.tr, st.tr1, s, st.mean, st.sat)
    if not learn:
        st.count[:] = 0
        _clear_window(st)
        return o
    if trace:
        st.mean = update_mean(cfg, st.mean, s, st.sat)
        st.gacc["w_out"] += delta[:, :, None] * st.tr[:, None, :]
        if "b_out" in st.gacc:
            st.gacc["b_out"] += delta[:, :, None] * st.tr1[:, None, None]
    t = int(st.count[0])
    if t == 0:
        st.buf_s[:, 0] = s_prev
    st.buf_x[:, t] = x
    st.buf_s[:, t + 1] = s
    st.buf_psi[:, t] = psi
    st.buf_delta[:, t] = delta
    st.count += 1
    if t + 1 >= cfg.window or eos:
        close_window(cfg, st, draws_cache, frozen)
    return o


class FixedCore:
    """``batch`` fixed-point cores with float inputs and outputs (the host's view).

    Floats are quantised on the way in (``x`` to ``formats.x``, targets to
    ``formats.o``) and readouts converted on the way out; the arithmetic is
    :func:`step`. ``save``/``load`` write the checkpoint: every state array and
    the configuration, in one ``.npz``. ``frozen`` names parameters that never
    learn (the readout-only control freezes ``w_in``, ``w_rec`` and ``b``).
    """

    def __init__(self, cfg: CoreConfig, weights: dict, batch: int | None = None,
                 frozen: tuple = ()):
        self.cfg = cfg
        self.frozen = check_frozen(cfg, frozen)
        self.state = init_state(cfg, weights, batch)
        self._draws: dict = {}

    @property
    def batch(self) -> int:
        return self.state.batch

    def step(self, x, target=None, has_target=None, *, sos=False, eos=False, learn=True):
        """One step; ``x`` is ``[B, n_in]`` or ``[n_in]`` floats. Returns the readout as floats."""
        f = self.cfg.formats
        x = np.asarray(x, dtype=np.float64).reshape(self.batch, self.cfg.n_in)
        check_inputs("x", x)
        tq = None
        if target is not None:
            check_inputs("target", target)
            tq = to_codes(np.asarray(target, dtype=np.float64).reshape(self.batch, self.cfg.n_out), f.o)
            if has_target is None:
                has_target = True
        o = step(self.cfg, self.state, to_codes(x, f.x), tq, has_target,
                 sos=sos, eos=eos, learn=learn, draws_cache=self._draws, frozen=self.frozen)
        return o * f.o.lsb

    def run_sequence(self, x, target=None, has_target=None, learn=True):
        """Whole sequence with sos/eos set: see :func:`fptt.golden.sequence.run_sequence`."""
        return run_sequence(self, x, target, has_target, learn)

    def reset_to_mean(self):
        """``W ← W̄`` of every core (:func:`reset_to_mean`)."""
        reset_to_mean(self.cfg, self.state)

    def weights(self, core: int = 0) -> dict[str, np.ndarray]:
        """Float weights (and biases, as ``[post, 1]`` columns) of one core."""
        return {m: self.state.w[m][core] * self.cfg.formats.w.lsb for m in self.cfg.params}

    def save(self, path) -> None:
        """The checkpoint: configuration, window ``L`` and every state array, in one ``.npz``."""
        np.savez(path, **checkpoint_arrays(self.cfg, self.state))

    @classmethod
    def load(cls, path, frozen: tuple = ()) -> "FixedCore":
        """A core from a checkpoint, validated (:func:`read_checkpoint`: a
        :class:`CheckpointError` naming the file and the field)."""
        cfg, arrays = read_checkpoint(path)
        core = cls.__new__(cls)
        core.cfg = cfg
        core.frozen = check_frozen(cfg, frozen)
        core.state = FixedState.from_arrays(arrays)
        core._draws = {}
        return core
