"""The compiled fixed-point core: :class:`~fptt.golden.fixed_core.FixedCore` at compiled speed.

Bit for bit the specification of :mod:`fptt.golden.fixed_core` (every state
array, the saturation counters and the readouts), with the host interface of
:class:`~fptt.golden.fixed_core.FixedCore`. A whole sequence, or a whole list
of sequences, runs inside one compiled call (:func:`._fixed_kernels.run_fixed`);
the state lives in a :class:`~fptt.golden.fixed_core.FixedState` whose arrays
the kernels update in place, so ``core.state`` is always the spec's state and
checkpoints are interchangeable with :class:`FixedCore`'s. The learning rule's options
(``cfg.fptt.readout``, ``.error``, ``.hidden_step``: :mod:`fptt.golden.fixed_rules`) are
kernels' branches; their state (traces, spike means, the readout's gradient sums, second
moments) is the spec's too. Inference (:func:`infer_codes`) is the forward pass alone,
which the options leave unchanged.
"""

from __future__ import annotations

import numpy as np

from ...config import HIDDEN_PARAMS, PARAMS, CoreConfig
from ..fixed_core import (FixedState, check_frozen, check_inputs, checkpoint_arrays,
                          gradient_fracs, init_state, read_checkpoint, reset_to_mean,
                          validate_arrays)
from ..fixed_rules import EXP2_TABLE, RSQRT_TABLE, log2e_code
from ..fixedpoint import SaturationCounter, to_codes
from . import _fixed_kernels as kr

__all__ = ["CompiledFixedCore", "pack_constants", "infer_codes"]


def _requant_shifts(fracs, dest):
    """Left shifts of each term and the final right shift of ``_requant(terms, dest)``."""
    top = max(fracs)
    return [top - f for f in fracs] + [top - dest]


def pack_constants(cfg: CoreConfig, frozen=()):
    """``(K, UP, RD, LO, HI)``: the configuration as the kernels read it.

    See :mod:`._fixed_kernels` for the layout; ``frozen`` marks parameters the
    update leaves alone.
    """
    f, k, rule = cfg.formats, cfg.const_q, cfg.fptt
    fc = f.const.frac
    facc = cfg.acc_fmt.frac
    # the named constants, the tables of fixed_rules, then every α_j
    K = np.zeros(kr.K_ALPHA_J + cfg.n_hidden, np.int64)
    v = dict(
        n_in=cfg.n_in, n_hidden=cfg.n_hidden, n_out=cfg.n_out, window=cfg.window, lanes=cfg.lanes,
        stochastic=int(cfg.rounding == "stochastic"), adaptive=int(cfg.adaptive),
        biases=int(cfg.biases), rho=k["rho"], omr=k["one_minus_rho"],
        kappa=k["kappa"], c=k["c"], beta=k["beta_a"], theta=cfg.theta_q,
        sur_h=cfg.surrogate_height_q, sur_sh=cfg.surrogate_shift, fx=f.x.frac,
        any_unfrozen=int(any(p not in frozen for p in cfg.params)),
    )
    # the learning rule's options (fptt.golden.fixed_rules)
    trace, rms = rule.readout == "trace", rule.hidden_step == "rms"
    ft, fm, fo, fd = f.trace.frac, f.mean.frac, f.o.frac, f.delta.frac
    top_tr, top_d = max(fc + ft, fm), max(fd, fo)
    v.update(
        trace=int(trace), softmax=int(rule.error == "softmax"), rms=int(rms),
        rms_any=int(rms and any(p in cfg.params and p not in frozen for p in HIDDEN_PARAMS)),
        b_corr=int(trace and "b_out" in cfg.params and "b_out" not in frozen),
        tr_s1=top_tr - fc - ft, tr_s2=top_tr - fm, tr_d=top_tr - ft,
        tr1_one=1 << (fc + ft), tr1_d=fc, fm=fm, mean_r=rule.mean_shift,
        fo=fo, fd=fd, sm_s1=top_d - fd, sm_s2=top_d - fo, sm_d=top_d - fd, log2e=log2e_code(),
        fv=f.v.frac, rms_m=(1 << rule.rms_shift) - 1,
    )
    sites = {
        "a": ([fc + f.a.frac, fc], f.a.frac),
        "t": ([f.u.frac, fc + f.a.frac], f.u.frac),
        "u": ([fc + f.u.frac, fc + facc, f.u.frac], f.u.frac),
        "o": ([fc + f.o.frac, f.w.frac], f.o.frac),
        "d": ([f.o.frac], f.delta.frac),
        "ob": ([f.delta.frac, fc + f.obar.frac], f.obar.frac),
        "sb": ([f.w.frac + f.obar.frac, f.w.frac + f.ibar.frac, fc + f.abar.frac], f.sbar.frac),
        "vb": ([f.psi.frac + f.sbar.frac], f.vbar.frac),
        "ub": ([f.vbar.frac, fc + f.ubar.frac], f.ubar.frac),
        "ab": ([fc + f.vbar.frac, fc + f.abar.frac], f.abar.frac),
        "ib": ([fc + f.ubar.frac], f.ibar.frac),
    }
    for site, (fracs, dest) in sites.items():
        sh = _requant_shifts(fracs, dest)
        for i, s in enumerate(sh[:-1]):
            v[f"{site}_s{i + 1}"] = s
        v[f"{site}_d"] = sh[-1]
    for i, name in enumerate(kr.K_NAMES):
        K[i] = v[name]
    K[kr.K_EXP2:kr.K_RSQRT] = EXP2_TABLE
    K[kr.K_RSQRT:kr.K_ALPHA_J] = RSQRT_TABLE
    K[kr.K_ALPHA_J:] = cfg.alpha_q

    LO = np.zeros(kr.NQ, np.int64)
    HI = np.zeros(kr.NQ, np.int64)
    fmt_of = {"a": f.a, "threshold": f.u, "u": f.u, "o": f.o, "delta": f.delta, "obar": f.obar,
              "sbar": f.sbar, "vbar": f.vbar, "ubar": f.ubar, "abar": f.abar, "ibar": f.ibar,
              "grad": f.grad_w_in, "w": f.w, "lam": f.lam, "wbar": f.wbar,
              "trace": f.trace, "mean": f.mean, "v": f.v}
    for i, name in enumerate(kr.Q_NAMES):
        LO[i], HI[i] = fmt_of[name].min, fmt_of[name].max

    UP = np.zeros((len(PARAMS), kr.NUP), np.int64)
    gfr = gradient_fracs(cfg)
    fr, kk = cfg.update_fracs, cfg.alpha_shift
    for i, p in enumerate(PARAMS):
        if p not in cfg.params:
            continue
        e, fg = cfg.lr_shifts[p], f.grad(p)
        F = fr["w"]
        Fl = fr["lam"]
        Fb = fr["wbar"]
        row = dict(
            present=1, frozen=int(p in frozen), g_d=gfr[p] - fg.frac, g_lo=fg.min, g_hi=fg.max,
            w_sw=F - f.w.frac, w_sg=F - fg.frac - e, w_sw2=F - f.w.frac - e - kk,
            w_swb=F - f.wbar.frac - e - kk, w_slam=F - f.lam.frac - e,
            l_slam=Fl - f.lam.frac, l_sw=Fl - f.w.frac - kk, l_swb=Fl - f.wbar.frac - kk,
            b_swb=Fb - f.wbar.frac - 1, b_sw=Fb - f.w.frac - 1, b_slam=Fb - f.lam.frac + kk - 1,
            rms=0, v_s1=0, v_s2=0, v_d=0,
        )
        if rms and p in HIDDEN_PARAMS:     # fixed_rules.rms_moment's exact sum and rounding
            r, fv = rule.rms_shift, f.v.frac
            top = max(fv, 2 * fg.frac) + r
            row.update(rms=1, v_s1=top - fv - r, v_s2=top - 2 * fg.frac - r, v_d=top - fv)
        for j, name in enumerate(kr.UP_NAMES):
            UP[i, j] = row[name]
        for name in ("w_sw", "w_sg", "w_sw2", "w_swb", "w_slam", "l_slam", "l_sw", "l_swb",
                     "b_swb", "b_sw", "b_slam"):
            if row[name] < 0:   # the spec's align() refuses this; CoreConfig never allows it
                raise ValueError(f"update shift {name} of {p} is negative")
    # the three writes drop the same bits for every parameter (one set of update_fracs)
    RD = np.zeros((3, len(kr.RD_NAMES)), np.int64)
    for i, (F, dest) in enumerate(((fr["w"], f.w.frac), (fr["lam"], f.lam.frac),
                                   (fr["wbar"], f.wbar.frac))):
        d = F - dest
        if d <= 0:
            RD[i] = (-d, 0, 0, 0, 0, 0)
        elif d <= 16:
            RD[i] = (0, d, 1 << (d - 1), 16 - d, 0, -1)
        else:
            RD[i] = (0, d, 1 << (d - 1), 0, d - 16, -1)
    return K, UP, RD, LO, HI


def _flags(T, sos, eos, learn, tgt):
    """Step flags of a schedule: bools or ``[T]`` arrays."""
    fl = np.zeros(T, np.int64)
    for bit, val in ((kr.F_SOS, sos), (kr.F_EOS, eos), (kr.F_LEARN, learn), (kr.F_TGT, tgt)):
        if np.ndim(val) == 0:
            if val:
                fl |= bit
        else:
            fl[np.asarray(val, bool)] |= bit
    return fl


def _seq_flags(T, learn, tgt):
    """Flags of one whole sequence: ``sos`` at its first step, ``eos`` at its last."""
    fl = np.full(T, (kr.F_LEARN if learn else 0) | (kr.F_TGT if tgt else 0), np.int64)
    fl[0] |= kr.F_SOS
    fl[-1] |= kr.F_EOS
    return fl


def concat_schedule(encode, xs, targets, has_targets, learn):
    """A list of whole sequences as one schedule: ``(X, TG, HT, flags, lengths)``.

    ``encode(x, target, has_target, T)`` gives one sequence's kernel inputs
    ``(X, TG, HT)`` (``TG``, ``HT`` ``None`` without targets); they are joined along
    time, each sequence with its own ``sos``/``eos``.
    """
    given = targets is not None
    parts, flags, lens = [], [], []
    for i, x in enumerate(xs):
        x = np.asarray(x, dtype=np.float64)
        T = x.shape[-2]
        parts.append(encode(x, targets[i] if given else None,
                            has_targets[i] if given else None, T))
        flags.append(_seq_flags(T, learn, given))
        lens.append(T)
    X, TG, HT = np.concatenate([p[0] for p in parts], axis=1), None, None
    if given:
        TG = np.concatenate([p[1] for p in parts], axis=1)
        HT = np.concatenate([p[2] for p in parts], axis=1)
    return X, TG, HT, np.concatenate(flags), lens


def _fit(a, shape, dtype):
    """``a`` as a C-contiguous ``dtype`` array of ``shape`` (broadcast only when needed)."""
    a = np.asarray(a, dtype=dtype)
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return np.ascontiguousarray(a)


def infer_codes(cfg: CoreConfig, weights: dict, x_codes) -> np.ndarray:
    """Readout codes ``[N, T, n_out]`` of one core (integer ``weights`` ``[post, pre]``)
    over ``N`` sequences of input codes ``x_codes [N, T, n_in]``, each from rest,
    learning off. Equal to :class:`FixedCore` ``run_sequence(..., learn=False)``."""
    K, _, _, LO, HI = pack_constants(cfg)
    H, O = cfg.n_hidden, cfg.n_out
    w = {m: np.ascontiguousarray(weights[m], dtype=np.int64) for m in cfg.params}
    bias = w["b"][:, 0].copy() if "b" in w else np.zeros(H, np.int64)
    bout = w["b_out"][:, 0].copy() if "b_out" in w else np.zeros(O, np.int64)
    X = np.ascontiguousarray(x_codes, dtype=np.int64)
    out = np.zeros((X.shape[0], X.shape[1], O), np.int64)
    kr.infer_fixed(K, LO, HI, w["w_in"], w["w_rec"], bias, w["w_out"], bout, X, out)
    return out


class CompiledFixedCore:
    """``batch`` fixed-point cores, compiled; host interface of :class:`FixedCore`.

    Parameters
    ----------
    cfg : CoreConfig
    weights : dict
        As :func:`~fptt.golden.fixed_core.init_state` takes them.
    batch : int, optional
    frozen : tuple of str
        Parameters the update never writes (the draws still advance).
    """

    engine = "compiled"

    def __init__(self, cfg: CoreConfig, weights: dict, batch: int | None = None,
                 frozen: tuple = ()):
        self.cfg = cfg
        self.frozen = check_frozen(cfg, frozen)
        self._adopt(init_state(cfg, weights, batch))

    # ------------------------------------------------------------------ state
    def _adopt(self, st: FixedState):
        cfg = self.cfg
        self._K, self._UP, self._RD, self._LO, self._HI = pack_constants(cfg, self.frozen)
        c64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
        for d in (st.w, st.wbar, st.lam):
            for m in list(d):
                d[m] = c64(d[m])
        for name in ("u", "a", "s", "o", "count", "buf_x", "buf_s", "buf_psi", "buf_delta",
                     "steps", "windows"):
            setattr(st, name, c64(getattr(st, name)))
        st.lfsr = np.ascontiguousarray(st.lfsr, dtype=np.uint64)
        B = st.batch
        # what the kernels get for the state of a learning-rule option that is off
        self._none = (np.zeros((B, 0), np.int64), np.zeros(B, np.int64),
                      np.zeros((B, 0, 0), np.int64), np.zeros((B, 0, 1), np.int64))
        self._cnt = np.zeros((B, kr.NQ), np.int64)
        self._wr = np.zeros((B, kr.NQ), np.int64)
        self._seen = np.full((B, kr.NQ), -1, np.int64)
        self._nseen = np.zeros(B, np.int64)
        for rank, name in enumerate(st.sat.counts):
            q = kr.Q_NAMES.index(name)
            self._cnt[:, q] = st.sat.counts[name]
            self._wr[:, q] = st.sat.writes[name]
            self._seen[:, q] = rank
        self._nseen[:] = len(st.sat.counts)
        self._st = st
        self._tuples()

    def _tuples(self):
        st, B = self._st, self._st.batch
        dummy = {"b": (self.cfg.n_hidden, 1), "b_out": (self.cfg.n_out, 1)}
        pick = lambda d, m: d[m] if m in d else np.zeros((B,) + dummy[m], np.int64)  # noqa: E731
        self._W = tuple(pick(st.w, m) for m in PARAMS)
        self._WB = tuple(pick(st.wbar, m) for m in PARAMS)
        self._LM = tuple(pick(st.lam, m) for m in PARAMS)

    def _refresh(self):
        """Pick up state arrays the host replaced (``core.state.w["w_out"] = ...``)."""
        st = self._st
        for d, tup in ((st.w, self._W), (st.wbar, self._WB), (st.lam, self._LM)):
            for i, m in enumerate(PARAMS):
                if m in d and (d[m] is not tup[i] or d[m].dtype != np.int64
                               or not d[m].flags.c_contiguous):
                    for dd in (st.w, st.wbar, st.lam):
                        for mm in list(dd):
                            dd[mm] = np.ascontiguousarray(dd[mm], dtype=np.int64)
                    self._tuples()
                    return

    def _options(self):
        """``(V, tr, tr1, mean, gw, gb)``: the learning-rule options' state arrays as the
        kernels take them (made int64 and contiguous in the state where the host replaced
        them), placeholders for options that are off."""
        st = self._st
        d2, d1, d3, d3b = self._none
        c64 = lambda a: a if a.dtype == np.int64 and a.flags.c_contiguous else (  # noqa: E731
            np.ascontiguousarray(a, dtype=np.int64))
        tr, tr1, mean, gw, gb = d2, d1, d2, d3, d3b
        if self.cfg.fptt.readout == "trace":
            st.tr, st.tr1, st.mean = c64(st.tr), c64(st.tr1), c64(st.mean)
            for m in st.gacc:
                st.gacc[m] = c64(st.gacc[m])
            tr, tr1, mean, gw = st.tr, st.tr1, st.mean, st.gacc["w_out"]
            gb = st.gacc.get("b_out", d3b)
        V = (d3, d3, d3)
        if self.cfg.fptt.hidden_step == "rms":
            for m in st.v:
                st.v[m] = c64(st.v[m])
            V = tuple(st.v.get(m, d3) for m in HIDDEN_PARAMS)
        return V, tr, tr1, mean, gw, gb

    @property
    def state(self) -> FixedState:
        """The spec's state (the kernels' arrays; the saturation counters synced on access)."""
        sat = SaturationCounter(self._st.batch)
        for q in np.argsort(self._seen[0], kind="stable"):
            if self._seen[0, q] >= 0:
                name = kr.Q_NAMES[q]
                sat.counts[name] = self._cnt[:, q].copy()
                sat.writes[name] = self._wr[:, q].copy()
        self._st.sat = sat
        return self._st

    @state.setter
    def state(self, st: FixedState):
        self._adopt(st)

    @property
    def batch(self) -> int:
        return self._st.batch

    # ------------------------------------------------------------------ running
    def run_codes(self, x, target=None, has_target=None, sos=False, eos=False, learn=True):
        """Run integer codes through the schedule in one compiled call (in place).

        ``x [B, T, n_in]`` input codes, ``target [B, T, n_out]`` target codes or
        ``None``, ``has_target [B, T]``; ``sos``/``eos``/``learn`` are bools or
        ``[T]`` arrays (one flag per step, shared by the batch). Returns readout
        codes ``[B, T, n_out]``; :meth:`run_schedule` takes the raw step flags.
        """
        X = np.ascontiguousarray(x, dtype=np.int64)
        T = X.shape[1]
        return self.run_schedule(X, target, has_target,
                                 _flags(T, sos, eos, learn, target is not None))

    def run_schedule(self, X, target, has_target, flags):
        """The kernel call: codes ``X [B, T, n_in]``, ``flags [T]`` (``_fixed_kernels.F_*``)."""
        cfg, st, B = self.cfg, self._st, self.batch
        self._refresh()
        T = X.shape[1]
        if target is None:
            TG = np.zeros((B, T, cfg.n_out), np.int64)
            HT = np.zeros((B, T), np.bool_)
        else:
            TG = _fit(target, (B, T, cfg.n_out), np.int64)
            HT = _fit(has_target, (B, T), np.bool_)
        out = np.zeros((B, T, cfg.n_out), np.int64)
        for name in ("u", "a", "s", "o", "count", "buf_x", "buf_s", "buf_psi", "buf_delta",
                     "steps", "windows"):
            v = getattr(st, name)
            if v.dtype != np.int64 or not v.flags.c_contiguous:
                setattr(st, name, np.ascontiguousarray(v, dtype=np.int64))
        if st.lfsr.dtype != np.uint64 or not st.lfsr.flags.c_contiguous:
            st.lfsr = np.ascontiguousarray(st.lfsr, dtype=np.uint64)
        V, tr, tr1, mean, gw, gb = self._options()
        # one core: the serial kernel (no thread start-up per call); several: one thread each
        run = kr.run_fixed if B == 1 else kr.run_fixed_parallel
        run(self._K, self._UP, self._RD, self._LO, self._HI, self._W, self._WB, self._LM, V,
            st.u, st.a, st.s, st.o, st.count, st.buf_x, st.buf_s, st.buf_psi,
            st.buf_delta, st.lfsr, st.steps, st.windows, tr, tr1, mean, gw, gb, self._cnt,
            self._wr, self._seen, self._nseen, X, TG, HT, np.ascontiguousarray(flags, np.int64),
            out)
        return out

    def _quantise(self, x, target, has_target, T):
        cfg, B, f = self.cfg, self.batch, self.cfg.formats
        x = np.asarray(x, dtype=np.float64)
        check_inputs("x", x)
        if target is not None:
            check_inputs("target", target)
        if x.ndim == 2:
            x = x[None]
        X = to_codes(_fit(x, (B, T, cfg.n_in), np.float64), f.x)
        TG = HT = None
        if target is not None:
            TG = to_codes(_fit(target, (B, T, cfg.n_out), np.float64), f.o)
            HT = _fit(has_target, (B, T), np.bool_)
        return X, TG, HT

    def step(self, x, target=None, has_target=None, *, sos=False, eos=False, learn=True):
        """One step; ``x`` is ``[B, n_in]`` or ``[n_in]`` floats. Returns the readout as floats."""
        cfg, B = self.cfg, self.batch
        x = np.asarray(x, dtype=np.float64).reshape(B, 1, cfg.n_in)
        if target is not None:
            target = np.asarray(target, dtype=np.float64).reshape(B, 1, cfg.n_out)
            if has_target is None:
                has_target = True
            has_target = np.broadcast_to(np.asarray(has_target, bool).reshape(-1, 1), (B, 1))
        X, TG, HT = self._quantise(x, target, has_target, 1)
        out = self.run_schedule(X, TG, HT, _flags(1, sos, eos, learn, target is not None))
        return out[:, 0] * cfg.formats.o.lsb

    def run_sequence(self, x, target=None, has_target=None, learn=True):
        """Whole sequence with sos/eos set, in one compiled call (as
        :func:`fptt.golden.sequence.run_sequence`). Returns readouts ``[B, T, n_out]``."""
        x = np.asarray(x, dtype=np.float64)
        T = x.shape[-2]
        X, TG, HT = self._quantise(x, target, has_target, T)
        out = self.run_schedule(X, TG, HT, _seq_flags(T, learn, target is not None))
        return out * self.cfg.formats.o.lsb

    def run_sequences(self, xs, targets=None, has_targets=None, learn=True):
        """A list of sequences one after the other, in one compiled call.

        Same result as ``[core.run_sequence(x, t, h, learn) for ...]``; ``xs`` a list of
        ``[B, T_i, n_in]`` (or ``[T_i, n_in]``), ``targets``/``has_targets`` lists or
        ``None``. Returns the list of readouts.
        """
        xs = list(xs)
        if not xs:
            return []
        X, TG, HT, flags, lens = concat_schedule(self._quantise, xs, targets, has_targets, learn)
        out = self.run_schedule(X, TG, HT, flags)
        out = out * self.cfg.formats.o.lsb
        return np.split(out, np.cumsum(lens)[:-1], axis=1)

    def predict(self, xs, core: int = 0) -> np.ndarray:
        """Readouts ``[N, T, n_out]`` of core ``core``'s weights over ``xs [N, T, n_in]``
        (floats), learning off, each sequence from rest; the state is untouched.

        Equal to a fresh core with these weights running ``run_sequence(xs, learn=False)``;
        the sequences run in parallel.
        """
        f = self.cfg.formats
        xs = np.asarray(xs, np.float64)
        check_inputs("x", xs)
        X = to_codes(xs, f.x)
        w = {m: self._st.w[m][core] for m in self.cfg.params}
        return infer_codes(self.cfg, w, X) * f.o.lsb

    def reset_to_mean(self):
        """``W ← W̄`` of every core (the spec's :func:`~fptt.golden.fixed_core.reset_to_mean`)."""
        reset_to_mean(self.cfg, self.state)
        self._refresh()

    def weights(self, core: int = 0) -> dict[str, np.ndarray]:
        """Float weights (and biases, as ``[post, 1]`` columns) of one core."""
        return {m: self._st.w[m][core] * self.cfg.formats.w.lsb for m in self.cfg.params}

    # ------------------------------------------------------------------ checkpoints
    def save(self, path) -> None:
        """The checkpoint of :meth:`FixedCore.save` (interchangeable)."""
        np.savez(path, **checkpoint_arrays(self.cfg, self.state))

    @classmethod
    def load(cls, path, frozen: tuple = ()) -> "CompiledFixedCore":
        """A core from a checkpoint of :meth:`save` or :meth:`FixedCore.save`, validated
        (a :class:`~fptt.golden.fixed_core.CheckpointError` naming the file and the field)."""
        cfg, arrays = read_checkpoint(path)
        return cls.from_state(cfg, FixedState.from_arrays(arrays), frozen)

    @classmethod
    def from_state(cls, cfg: CoreConfig, state: FixedState, frozen: tuple = ()):
        """A core running on (a copy of) ``state``, e.g. a :class:`FixedCore`'s (validated
        against ``cfg``)."""
        core = cls.__new__(cls)
        core.cfg = cfg
        core.frozen = check_frozen(cfg, frozen)
        arrays = state.arrays()
        validate_arrays(cfg, arrays, "from_state")
        core._adopt(FixedState.from_arrays(arrays))
        return core

