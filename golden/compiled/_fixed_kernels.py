"""numba kernels of the compiled fixed-point core (see :mod:`fptt.golden.compiled.fixed`).

Every kernel mirrors :mod:`fptt.golden.fixed_core` operation for operation in
int64: the same exact sums, one round-to-nearest (or stochastic) shift and one
saturation per assignment, the same saturation counts. The configuration
arrives as an int64 vector ``K`` (indices below, filled by
:func:`fptt.golden.compiled.fixed.pack_constants`), the per-parameter update
shifts as ``UP [5, NUP]`` and the saturation bounds as ``LO``/``HI [NQ]``.

The learning rule's options (:mod:`fptt.golden.fixed_rules`: ``K[K_TRACE]``,
``K[K_SOFTMAX]``, ``K[K_RMS]``) keep their state in ``tr [B, H]``, ``tr1 [B]``,
``mean [B, H]``, ``gw [B, O, H]``, ``gb [B, O, 1]`` (the readout trace and its exact
gradient sums) and ``V``, the second moments of ``(w_in, w_rec, b)``; an option left off
gets arrays the kernels never read. The tables of the softmax and of ``1/√v`` sit in
``K`` from ``K_EXP2`` and ``K_RSQRT``.

Each core of a batch runs the whole schedule on its own (the cores share the
step flags, nothing else), so a batch is a loop over cores around a loop over
steps, all inside one compiled call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..fixed_rules import EXP2_INDEX_BITS, EXP2_TABLE, LOG2E_FRAC, RSQRT_BITS, RSQRT_TABLE

# ---------------------------------------------------------------- step flags
F_SOS, F_EOS, F_LEARN, F_TGT = 1, 2, 4, 8

# ---------------------------------------------------------------- saturation quantities
# Names as the spec's SaturationCounter uses them.
Q_NAMES = ("a", "threshold", "u", "o", "delta", "obar", "sbar", "vbar", "ubar", "abar", "ibar",
           "grad", "w", "lam", "wbar", "trace", "mean", "v")
Q_A, Q_THR, Q_U, Q_O, Q_DELTA = 0, 1, 2, 3, 4
Q_OBAR, Q_SBAR, Q_VBAR, Q_UBAR, Q_ABAR, Q_IBAR = 5, 6, 7, 8, 9, 10
Q_GRAD, Q_W, Q_LAM, Q_WBAR = 11, 12, 13, 14
Q_TRACE, Q_MEAN, Q_V = 15, 16, 17
NQ = len(Q_NAMES)

# ---------------------------------------------------------------- constants vector K
K_NAMES = (
    "n_in", "n_hidden", "n_out", "window", "lanes", "stochastic", "adaptive", "biases",
    "rho", "omr", "kappa", "c", "beta", "theta", "sur_h", "sur_sh", "fx",
    "a_s1", "a_s2", "a_d", "t_s1", "t_s2", "t_d", "u_s1", "u_s2", "u_s3", "u_d",
    "o_s1", "o_s2", "o_d", "d_s1", "d_d", "ob_s1", "ob_s2", "ob_d",
    "sb_s1", "sb_s2", "sb_s3", "sb_d", "vb_s1", "vb_d", "ub_s1", "ub_s2", "ub_d",
    "ab_s1", "ab_s2", "ab_d", "ib_s1", "ib_d", "any_unfrozen",
    # the learning rule's options (fixed_rules); 0 where an option is off
    "trace", "softmax", "rms", "rms_any", "b_corr",
    "tr_s1", "tr_s2", "tr_d", "tr1_one", "tr1_d", "fm", "mean_r",
    "fo", "fd", "sm_s1", "sm_s2", "sm_d", "log2e", "fv", "rms_m",
)
(K_NIN, K_H, K_O, K_WINDOW, K_LANES, K_STOCH, K_ADAPTIVE, K_BIASES,
 K_RHO, K_OMR, K_KAPPA, K_C, K_BETA, K_THETA, K_SURH, K_SURSH, K_FX,
 K_A_S1, K_A_S2, K_A_D, K_T_S1, K_T_S2, K_T_D, K_U_S1, K_U_S2, K_U_S3, K_U_D,
 K_O_S1, K_O_S2, K_O_D, K_D_S1, K_D_D, K_OB_S1, K_OB_S2, K_OB_D,
 K_SB_S1, K_SB_S2, K_SB_S3, K_SB_D, K_VB_S1, K_VB_D, K_UB_S1, K_UB_S2, K_UB_D,
 K_AB_S1, K_AB_S2, K_AB_D, K_IB_S1, K_IB_D, K_ANY_UNFROZEN,
 K_TRACE, K_SOFTMAX, K_RMS, K_RMS_ANY, K_B_CORR,
 K_TR_S1, K_TR_S2, K_TR_D, K_TR1_ONE, K_TR1_D, K_FM, K_MEAN_R,
 K_FO, K_FD, K_SM_S1, K_SM_S2, K_SM_D, K_LOG2E, K_FV, K_RMS_M) = range(len(K_NAMES))
NK = len(K_NAMES)
K_EXP2 = NK                             # K[K_EXP2 + i]: fixed_rules.EXP2_TABLE[i]
K_RSQRT = K_EXP2 + len(EXP2_TABLE)      # K[K_RSQRT + i]: fixed_rules.RSQRT_TABLE[i]
K_ALPHA_J = K_RSQRT + len(RSQRT_TABLE)  # K[K_ALPHA_J + j]: the membrane decay α_j of neuron j

# ---------------------------------------------------------------- per-parameter row of UP
UP_NAMES = ("present", "frozen", "g_d", "g_lo", "g_hi",
            "w_sw", "w_sg", "w_sw2", "w_swb", "w_slam",
            "l_slam", "l_sw", "l_swb",
            "b_swb", "b_sw", "b_slam",
            "rms", "v_s1", "v_s2", "v_d")
(UP_PRESENT, UP_FROZEN, UP_GD, UP_GLO, UP_GHI,
 UP_W_SW, UP_W_SG, UP_W_SW2, UP_W_SWB, UP_W_SLAM,
 UP_L_SLAM, UP_L_SW, UP_L_SWB,
 UP_B_SWB, UP_B_SW, UP_B_SLAM,
 UP_RMS, UP_V_S1, UP_V_S2, UP_V_D) = range(len(UP_NAMES))
# Rounding of the three update writes (rows of RD, columns below): the result is
# ``((tot + off) << ls) >> rs`` with ``off = near`` (nearest) or
# ``((r >> r_rs) << r_ls) & r_mask`` (stochastic, ``r`` the 16-bit draw): the
# spec's round_shift for any d, without branches.
RD_NAMES = ("ls", "rs", "near", "r_rs", "r_ls", "r_mask")
RD_LS, RD_RS, RD_NEAR, RD_R_RS, RD_R_LS, RD_R_MASK = range(len(RD_NAMES))
NUP = len(UP_NAMES)

MASK32 = 0xFFFFFFFF


@njit
def _rn(q, d):
    """Round to nearest (half up) dropping ``d`` bits; ``d <= 0``: exact left shift."""
    if d <= 0:
        return q << (-d)
    return (q + (np.int64(1) << (d - 1))) >> d


@njit
def _mark(seen, nseen, b, q):
    if seen[b, q] < 0:
        seen[b, q] = nseen[b]
        nseen[b] += 1


@njit
def _xorshift(x):
    x = x ^ ((x << 13) & MASK32)
    x = x ^ (x >> 17)
    x = x ^ ((x << 5) & MASK32)
    return x


@njit
def _clamp(q, lo, hi):
    """``q`` saturated to ``[lo, hi]``."""
    return lo if q < lo else (hi if q > hi else q)


@njit
def _softmax_error(K, LO, HI, o, tg, has, delta, cnt, wr):
    """``δ = softmax(o) - y*`` of one core (:func:`fptt.golden.fixed_rules.softmax_error`)
    into ``delta`` (0 without ``has``); counts every output under ``delta``."""
    O = o.shape[0]
    fo = K[K_FO]
    log2e = K[K_LOG2E]
    mx = o[0]
    for k in range(1, O):
        if o[k] > mx:
            mx = o[k]
    mask = (np.int64(1) << fo) - 1
    total = np.int64(0)
    for k in range(O):
        nz = -_rn((o[k] - mx) * log2e, LOG2E_FRAC)          # >= 0, frac fo
        whole = nz >> fo
        if whole > 62:
            whole = np.int64(62)
        e = K[K_EXP2 + _rn(nz & mask, fo - EXP2_INDEX_BITS)] >> whole
        delta[k] = e        # scratch: the powers of two first
        total += e
    half = total >> 1       # total >= 2**15: the largest output has e >= 2**15
    fd = K[K_FD]
    s1, s2, d = K[K_SM_S1], K[K_SM_S2], K[K_SM_D]
    lo, hi = LO[Q_DELTA], HI[Q_DELTA]
    hit = 0
    for k in range(O):
        p = ((delta[k] << fd) + half) // total               # frac fd
        q = _rn((p << s1) - (tg[k] << s2), d)
        c = _clamp(q, lo, hi)
        hit += c != q
        delta[k] = c if has else 0
    cnt[Q_DELTA] += hit
    wr[Q_DELTA] += O


@njit
def _trace_step(K, LO, HI, s, mean, tr, tr1, b, cnt, wr):
    """``ĉ = κ ĉ + (s - m)``, ``ĥ = κ ĥ + 1`` of core ``b`` (in place on ``tr``, ``tr1[b]``;
    :func:`fptt.golden.fixed_rules.readout_trace`)."""
    H = s.shape[0]
    kappa, fm = K[K_KAPPA], K[K_FM]
    s1, s2, d = K[K_TR_S1], K[K_TR_S2], K[K_TR_D]
    lo, hi = LO[Q_TRACE], HI[Q_TRACE]
    hit = 0
    for j in range(H):
        q = _rn(((kappa * tr[j]) << s1) + (((s[j] << fm) - mean[j]) << s2), d)
        c = _clamp(q, lo, hi)
        hit += c != q
        tr[j] = c
    q = _rn(kappa * tr1[b] + K[K_TR1_ONE], K[K_TR1_D])
    c = _clamp(q, lo, hi)
    hit += c != q
    tr1[b] = c
    cnt[Q_TRACE] += hit
    wr[Q_TRACE] += H + 1


@njit
def _mean_step(K, LO, HI, s, mean, cnt, wr):
    """``m ← m + 2**-mean_shift (s - m)`` of one core (in place;
    :func:`fptt.golden.fixed_rules.update_mean`)."""
    H = s.shape[0]
    fm, r = K[K_FM], K[K_MEAN_R]
    lo, hi = LO[Q_MEAN], HI[Q_MEAN]
    hit = 0
    for j in range(H):
        q = _rn((mean[j] << r) + (s[j] << fm) - mean[j], r)
        c = _clamp(q, lo, hi)
        hit += c != q
        mean[j] = c
    cnt[Q_MEAN] += hit
    wr[Q_MEAN] += H


@njit
def _rms_normalise(K, g, v):
    """``g / √v`` by the table (:func:`fptt.golden.fixed_rules.rms_normalise`), before
    saturation; ``v = 0`` gives ``±2**62`` (0 for ``g = 0``)."""
    if v <= 0:
        if g > 0:
            return np.int64(1) << 62
        if g < 0:
            return -(np.int64(1) << 62)
        return np.int64(0)
    fv = K[K_FV]
    lead = np.int64(math.frexp(np.float64(v))[1] - 1)      # exact below 2**53
    q = lead - ((lead - fv) & 1)            # q - fv even: v = M·2**(q - fv), M in [1, 4)
    if q >= 4:
        idx = v >> (q - 4)
    else:
        idx = v << (4 - q)
    return _rn(g * K[K_RSQRT + idx - 16], RSQRT_BITS + ((q - fv) >> 1))


@njit(cache=True)
def _forward(K, LO, HI, WinT, WrecT, bias, Wout, bout, xr, u, a, s, o, s_prev, acc, psi,
             cnt, wr):
    """One forward step of one core (in place on ``u, a, s, o``); fills ``psi``.

    ``WinT [n_in, H]`` and ``WrecT [H, H]`` are the transposed weights; ``bias [H]``,
    ``bout [O]`` (zeros without biases). ``cnt``/``wr`` are this core's counters.
    """
    nin, H, O = K[K_NIN], K[K_H], K[K_O]
    for j in range(H):
        s_prev[j] = s[j]
        acc[j] = 0
    for i in range(nin):
        xi = xr[i]
        if xi != 0:
            for j in range(H):
                acc[j] += WinT[i, j] * xi
    fx = K[K_FX]
    for j in range(H):
        psi[j] = bias[j]        # the recurrent sum, at frac f_w
    for k in range(H):
        if s_prev[k] != 0:
            for j in range(H):
                psi[j] += WrecT[k, j]
    for j in range(H):
        acc[j] += psi[j] << fx
    adaptive = K[K_ADAPTIVE] != 0
    rho, omr, c, beta, theta = K[K_RHO], K[K_OMR], K[K_C], K[K_BETA], K[K_THETA]
    a_s1, a_s2, a_d = K[K_A_S1], K[K_A_S2], K[K_A_D]
    t_s1, t_s2, t_d = K[K_T_S1], K[K_T_S2], K[K_T_D]
    u_s1, u_s2, u_s3, u_d = K[K_U_S1], K[K_U_S2], K[K_U_S3], K[K_U_D]
    lo_a, hi_a, lo_u, hi_u = LO[Q_A], HI[Q_A], LO[Q_U], HI[Q_U]
    sh, sur_h = K[K_SURSH], K[K_SURH]
    hit_a = 0
    hit_t = 0
    hit_u = 0
    for j in range(H):
        sp = s_prev[j]
        if adaptive:
            q = _rn(((rho * a[j]) << a_s1) + ((omr * sp) << a_s2), a_d)
            if q < lo_a:
                q = lo_a
                hit_a += 1
            elif q > hi_a:
                q = hi_a
                hit_a += 1
            an = q
        else:
            an = np.int64(0)
        thr = _rn((theta << t_s1) + ((beta * an) << t_s2), t_d)
        if thr < lo_u:
            thr = lo_u
            hit_t += 1
        elif thr > hi_u:
            thr = hi_u
            hit_t += 1
        un = _rn(((K[K_ALPHA_J + j] * u[j]) << u_s1) + ((c * acc[j]) << u_s2)
                 + ((-thr * sp) << u_s3), u_d)
        if un < lo_u:
            un = lo_u
            hit_u += 1
        elif un > hi_u:
            un = hi_u
            hit_u += 1
        a[j] = an
        u[j] = un
        s[j] = 1 if un >= thr else 0
        dist = abs(un - thr)
        if sh >= 0:
            dist = dist >> sh
        else:
            dist = dist << (-sh)
        p = sur_h - dist
        psi[j] = p if p > 0 else 0
    cnt[Q_A] += hit_a
    wr[Q_A] += H
    cnt[Q_THR] += hit_t
    wr[Q_THR] += H
    cnt[Q_U] += hit_u
    wr[Q_U] += H
    kappa = K[K_KAPPA]
    o_s1, o_s2, o_d = K[K_O_S1], K[K_O_S2], K[K_O_D]
    lo_o, hi_o = LO[Q_O], HI[Q_O]
    hit_o = 0
    for k in range(O):
        tot = bout[k]
        for j in range(H):
            if s[j] != 0:
                tot += Wout[k, j]
        q = _rn(((kappa * o[k]) << o_s1) + (tot << o_s2), o_d)
        if q < lo_o:
            q = lo_o
            hit_o += 1
        elif q > hi_o:
            q = hi_o
            hit_o += 1
        o[k] = q
    cnt[Q_O] += hit_o
    wr[Q_O] += O


@njit(cache=True)
def _close_window(b, K, UP, RD, LO, HI, W, WB, LM, V, WinT, WrecT, n, buf_x, buf_s, buf_psi,
                  buf_delta, lfsr, mean, gw, gb, cnt, wr, seen, nseen, sc, wold):
    """Backward through core ``b``'s window of ``n`` steps, then the FPTT update (in place).

    With the readout trace (``K[K_TRACE]``) the readout's gradients are the sums ``gw``,
    ``gb`` formed in the forward pass (emptied here) and ``b_out`` is corrected by
    ``-ΔW_out·m`` after the update (``wold [O, H]``: scratch for ``W_out`` before it).
    """
    nin, H, O = K[K_NIN], K[K_H], K[K_O]
    adaptive = K[K_ADAPTIVE] != 0
    biases = K[K_BIASES] != 0
    trace = K[K_TRACE] != 0
    w_out = W[3]
    w_rec = W[1]
    obar_n, ibar_n, ubar_n, abar_n, obar, wto, wti, gB, gBo = sc
    gInT = np.zeros((nin, H), np.int64)
    gRecT = np.zeros((H, H), np.int64)
    gOutT = np.zeros((H, O), np.int64)
    for j in range(H):
        ibar_n[j] = 0
        ubar_n[j] = 0
        abar_n[j] = 0
        gB[j] = 0
    for k in range(O):
        obar_n[k] = 0
        gBo[k] = 0
    rho, omr, kappa, c, beta = K[K_RHO], K[K_OMR], K[K_KAPPA], K[K_C], K[K_BETA]
    for q in (Q_OBAR, Q_SBAR, Q_VBAR, Q_UBAR, Q_ABAR, Q_IBAR):
        _mark(seen, nseen, b, q)
    h_ob = 0
    h_sb = 0
    h_vb = 0
    h_ub = 0
    h_ab = 0
    h_ib = 0
    for t in range(n - 1, -1, -1):
        for k in range(O):
            q = _rn((buf_delta[b, t, k] << K[K_OB_S1]) + ((kappa * obar_n[k]) << K[K_OB_S2]),
                    K[K_OB_D])
            if q < LO[Q_OBAR]:
                q = LO[Q_OBAR]
                h_ob += 1
            elif q > HI[Q_OBAR]:
                q = HI[Q_OBAR]
                h_ob += 1
            obar[k] = q
        for j in range(H):
            wto[j] = 0
            wti[j] = 0
        for k in range(O):
            ok = obar[k]
            if ok != 0:
                for j in range(H):
                    wto[j] += w_out[b, k, j] * ok
        for k in range(H):
            ik = ibar_n[k]
            if ik != 0:
                for j in range(H):
                    wti[j] += w_rec[b, k, j] * ik
        for j in range(H):
            abn = abar_n[j] if adaptive else np.int64(0)
            sb = _rn((wto[j] << K[K_SB_S1]) + (wti[j] << K[K_SB_S2])
                     + ((omr * abn) << K[K_SB_S3]), K[K_SB_D])
            if sb < LO[Q_SBAR]:
                sb = LO[Q_SBAR]
                h_sb += 1
            elif sb > HI[Q_SBAR]:
                sb = HI[Q_SBAR]
                h_sb += 1
            vb = _rn((buf_psi[b, t, j] * sb) << K[K_VB_S1], K[K_VB_D])
            if vb < LO[Q_VBAR]:
                vb = LO[Q_VBAR]
                h_vb += 1
            elif vb > HI[Q_VBAR]:
                vb = HI[Q_VBAR]
                h_vb += 1
            ub = _rn((vb << K[K_UB_S1]) + ((K[K_ALPHA_J + j] * ubar_n[j]) << K[K_UB_S2]),
                     K[K_UB_D])
            if ub < LO[Q_UBAR]:
                ub = LO[Q_UBAR]
                h_ub += 1
            elif ub > HI[Q_UBAR]:
                ub = HI[Q_UBAR]
                h_ub += 1
            ab = _rn(((-beta * vb) << K[K_AB_S1]) + ((rho * abn) << K[K_AB_S2]), K[K_AB_D])
            if ab < LO[Q_ABAR]:
                ab = LO[Q_ABAR]
                h_ab += 1
            elif ab > HI[Q_ABAR]:
                ab = HI[Q_ABAR]
                h_ab += 1
            ib = _rn((c * ub) << K[K_IB_S1], K[K_IB_D])
            if ib < LO[Q_IBAR]:
                ib = LO[Q_IBAR]
                h_ib += 1
            elif ib > HI[Q_IBAR]:
                ib = HI[Q_IBAR]
                h_ib += 1
            ibar_n[j] = ib
            ubar_n[j] = ub
            abar_n[j] = ab
        # exact window sums, kept transposed [pre, post]
        for i in range(nin):
            xi = buf_x[b, t, i]
            if xi != 0:
                for j in range(H):
                    gInT[i, j] += ibar_n[j] * xi
        for k in range(H):
            if buf_s[b, t, k] != 0:
                for j in range(H):
                    gRecT[k, j] += ibar_n[j]
        for j in range(H):
            gB[j] += ibar_n[j]
        if not trace:       # the trace rule formed the readout's gradient step by step
            for j in range(H):
                if buf_s[b, t + 1, j] != 0:
                    for k in range(O):
                        gOutT[j, k] += obar[k]
        for k in range(O):
            gBo[k] += obar[k]
            obar_n[k] = obar[k]
    cnt[b, Q_OBAR] += h_ob
    wr[b, Q_OBAR] += n * O
    cnt[b, Q_SBAR] += h_sb
    wr[b, Q_SBAR] += n * H
    cnt[b, Q_VBAR] += h_vb
    wr[b, Q_VBAR] += n * H
    cnt[b, Q_UBAR] += h_ub
    wr[b, Q_UBAR] += n * H
    cnt[b, Q_ABAR] += h_ab
    wr[b, Q_ABAR] += n * H
    cnt[b, Q_IBAR] += h_ib
    wr[b, Q_IBAR] += n * H

    if trace:
        for k in range(O):
            for j in range(H):
                gOutT[j, k] = gw[b, k, j]
            if biases:
                gBo[k] = gb[b, k, 0]

    # ---------------------------------------------------------- the FPTT update
    _mark(seen, nseen, b, Q_GRAD)
    if K[K_RMS_ANY] != 0:
        _mark(seen, nseen, b, Q_V)
    if K[K_ANY_UNFROZEN] != 0:
        _mark(seen, nseen, b, Q_W)
        _mark(seen, nseen, b, Q_LAM)
        _mark(seen, nseen, b, Q_WBAR)
    b_corr = K[K_B_CORR] != 0
    if b_corr:
        for k in range(O):
            for j in range(H):
                wold[k, j] = w_out[b, k, j]
    lanes = K[K_LANES]
    lf = np.empty(lanes, np.int64)
    for p in range(lanes):
        lf[p] = np.int64(lfsr[b, p])
    G = (gInT, gRecT, gB.reshape((1, H)), gOutT, gBo.reshape((1, O)))
    WT = (WinT, WrecT, WrecT, WrecT, WrecT)
    for p in range(5):
        if (p == 2 or p == 4) and not biases:
            continue
        g_d = UP[p, UP_GD]
        if UP[p, UP_RMS] != 0 and UP[p, UP_FROZEN] == 0:    # hidden_step = "rms"
            _rms_grads(b, p, V[p], G[p], K, UP, LO, HI, cnt, wr)
            g_d = 0
        _update_param(b, p, W[p], WB[p], LM[p], G[p], g_d, WT[p], p < 2, K, UP, RD, LO, HI,
                      lf, cnt, wr)
    for p in range(lanes):
        lfsr[b, p] = np.uint64(lf[p])
    if b_corr:      # b_out ← b_out - ΔW_out·m (nearest)
        fm = K[K_FM]
        b_out = W[4]
        lo_w, hi_w = LO[Q_W], HI[Q_W]
        hit = 0
        for k in range(O):
            corr = np.int64(0)
            for j in range(H):
                corr += (w_out[b, k, j] - wold[k, j]) * mean[b, j]
            q = _rn((b_out[b, k, 0] << fm) - corr, fm)
            if q < lo_w:
                q = lo_w
                hit += 1
            elif q > hi_w:
                q = hi_w
                hit += 1
            b_out[b, k, 0] = q
        cnt[b, Q_W] += hit
        wr[b, Q_W] += O
    if trace:
        _clear_sums(b, gw, gb)


@njit
def _clear_sums(b, gw, gb):
    """Empty core ``b``'s readout-trace gradient sums (window closed or dropped)."""
    gw[b] = 0
    gb[b] = 0


@njit(cache=True)
def _rms_grads(b, p, Vp, gT, K, UP, LO, HI, cnt, wr):
    """The RMS-normalised gradient of parameter ``p`` of core ``b``, in place of its exact
    window sums ``gT [pre, post]``: rounded to ``grad_<p>`` and saturated, the second
    moment ``Vp`` updated (:func:`fptt.golden.fixed_rules.rms_moment`), the gradient divided
    by its square root and saturated again (``rms_normalise``). :func:`_update_param` then
    takes ``gT`` as it is (``g_d = 0``: nothing left to round or saturate)."""
    pres, posts = gT.shape[0], gT.shape[1]
    g_d, g_lo, g_hi = UP[p, UP_GD], UP[p, UP_GLO], UP[p, UP_GHI]
    v_s1, v_s2, v_d, rms_m = UP[p, UP_V_S1], UP[p, UP_V_S2], UP[p, UP_V_D], K[K_RMS_M]
    lo_v, hi_v = LO[Q_V], HI[Q_V]
    h_g = 0
    h_v = 0
    for pre in range(pres):
        for post in range(posts):
            g = _rn(gT[pre, post], g_d)
            c = _clamp(g, g_lo, g_hi)
            h_g += c != g
            g = c
            vn = _rn(((Vp[b, post, pre] * rms_m) << v_s1) + ((g * g) << v_s2), v_d)
            c = _clamp(vn, lo_v, hi_v)
            h_v += c != vn
            Vp[b, post, pre] = c
            g = _rms_normalise(K, g, c)
            c = _clamp(g, g_lo, g_hi)
            h_g += c != g
            gT[pre, post] = c
    n = posts * pres
    cnt[b, Q_GRAD] += h_g
    wr[b, Q_GRAD] += n      # the gradient's rounding; _update_param counts the division's
    cnt[b, Q_V] += h_v
    wr[b, Q_V] += n


@njit(cache=True)
def _update_param(b, p, Wp, WBp, LMp, gT, g_d, WT, has_t, K, UP, RD, LO, HI, lf, cnt, wr):
    """Gradient rounding (``g_d`` bits, then saturation) and FPTT step of parameter ``p``
    of core ``b``.

    Pre by pre; within a presynaptic index each lane takes its posts in order
    (``post = lane, lane + lanes, ...``): every lane's draws come in the spec's order.
    """
    posts, pres = Wp.shape[1], Wp.shape[2]
    stoch = K[K_STOCH] != 0
    lanes = K[K_LANES]
    frozen = UP[p, UP_FROZEN] != 0
    g_lo, g_hi = UP[p, UP_GLO], UP[p, UP_GHI]
    w_sw, w_sg, w_sw2 = UP[p, UP_W_SW], UP[p, UP_W_SG], UP[p, UP_W_SW2]
    w_swb, w_slam = UP[p, UP_W_SWB], UP[p, UP_W_SLAM]
    l_slam, l_sw, l_swb = UP[p, UP_L_SLAM], UP[p, UP_L_SW], UP[p, UP_L_SWB]
    b_swb, b_sw, b_slam = UP[p, UP_B_SWB], UP[p, UP_B_SW], UP[p, UP_B_SLAM]
    ls0, rs0, n0, rr0, rl0, rm0 = RD[0, 0], RD[0, 1], RD[0, 2], RD[0, 3], RD[0, 4], RD[0, 5]
    ls1, rs1, n1, rr1, rl1, rm1 = RD[1, 0], RD[1, 1], RD[1, 2], RD[1, 3], RD[1, 4], RD[1, 5]
    ls2, rs2, n2, rr2, rl2, rm2 = RD[2, 0], RD[2, 1], RD[2, 2], RD[2, 3], RD[2, 4], RD[2, 5]
    lo_w, hi_w = LO[Q_W], HI[Q_W]
    lo_l, hi_l = LO[Q_LAM], HI[Q_LAM]
    lo_b, hi_b = LO[Q_WBAR], HI[Q_WBAR]
    h_g = 0
    h_w = 0
    h_l = 0
    h_b = 0
    o0 = n0
    o1 = n1
    o2 = n2
    for pre in range(pres):
        for ln in range(lanes):
            x = lf[ln]
            for post in range(ln, posts, lanes):
                if stoch:
                    x = _xorshift(x)
                    o0 = (((x >> 16) >> rr0) << rl0) & rm0
                    x = _xorshift(x)
                    o1 = (((x >> 16) >> rr1) << rl1) & rm1
                    x = _xorshift(x)
                    o2 = (((x >> 16) >> rr2) << rl2) & rm2
                g = _rn(gT[pre, post], g_d)
                if g < g_lo:
                    g = g_lo
                    h_g += 1
                elif g > g_hi:
                    g = g_hi
                    h_g += 1
                if frozen:
                    continue
                w = Wp[b, post, pre]
                wb = WBp[b, post, pre]
                lm = LMp[b, post, pre]
                tot = (w << w_sw) - (g << w_sg) - (w << w_sw2) + (wb << w_swb) + (lm << w_slam)
                wn = ((tot + o0) << ls0) >> rs0
                if wn < lo_w:
                    wn = lo_w
                    h_w += 1
                elif wn > hi_w:
                    wn = hi_w
                    h_w += 1
                tot = (lm << l_slam) - (wn << l_sw) + (wb << l_swb)
                lnew = ((tot + o1) << ls1) >> rs1
                if lnew < lo_l:
                    lnew = lo_l
                    h_l += 1
                elif lnew > hi_l:
                    lnew = hi_l
                    h_l += 1
                tot = (wb << b_swb) + (wn << b_sw) - (lnew << b_slam)
                bn = ((tot + o2) << ls2) >> rs2
                if bn < lo_b:
                    bn = lo_b
                    h_b += 1
                elif bn > hi_b:
                    bn = hi_b
                    h_b += 1
                Wp[b, post, pre] = wn
                LMp[b, post, pre] = lnew
                WBp[b, post, pre] = bn
                if has_t:
                    WT[pre, post] = wn
            lf[ln] = x
    n = posts * pres
    cnt[b, Q_GRAD] += h_g
    wr[b, Q_GRAD] += n
    if not frozen:
        cnt[b, Q_W] += h_w
        wr[b, Q_W] += n
        cnt[b, Q_LAM] += h_l
        wr[b, Q_LAM] += n
        cnt[b, Q_WBAR] += h_b
        wr[b, Q_WBAR] += n


@njit(cache=True)
def start_sequence(u, a, s, o):
    """A sequence's start (``sos``): ``u``, ``a``, ``s`` and ``o`` of one core to 0
    (codes or floats: the fixed-point core and the twin share it)."""
    u[:] = 0
    a[:] = 0
    s[:] = 0
    o[:] = 0


@njit(cache=True)
def store_step(b, tt, xr, s_prev, s, psi, delta, buf_x, buf_s, buf_psi, buf_delta):
    """Window buffer of core ``b`` at window step ``tt``: ``x_t``, ``s_t`` (after
    ``s_{t-1}`` at the window's first step), ``ψ_t``, ``δ_t``; codes or floats alike
    (the fixed-point core and the twin share it)."""
    if tt == 0:
        for j in range(s.shape[0]):
            buf_s[b, 0, j] = s_prev[j]
    for i in range(xr.shape[0]):
        buf_x[b, tt, i] = xr[i]
    for j in range(s.shape[0]):
        buf_s[b, tt + 1, j] = s[j]
        buf_psi[b, tt, j] = psi[j]
    for k in range(delta.shape[0]):
        buf_delta[b, tt, k] = delta[k]


@njit(cache=True)
def _run_core(b, K, UP, RD, LO, HI, W, WB, LM, V, u, a, s, o, count, buf_x, buf_s, buf_psi,
              buf_delta, lfsr, steps, windows, tr, tr1, mean, gw, gb, cnt, wr, seen, nseen, X, TG,
              HT, flags, out):
    H, O = K[K_H], K[K_O]
    window = K[K_WINDOW]
    trace = K[K_TRACE] != 0
    softmax = K[K_SOFTMAX] != 0
    wold = np.zeros((O if K[K_B_CORR] != 0 else 0, H), np.int64)
    WinT = W[0][b].T.copy()
    WrecT = W[1][b].T.copy()
    bias = np.zeros(H, np.int64)
    bout = np.zeros(O, np.int64)
    biases = K[K_BIASES] != 0
    s_prev = np.zeros(H, np.int64)
    acc = np.zeros(H, np.int64)
    psi = np.zeros(H, np.int64)
    delta = np.zeros(O, np.int64)
    sc = (np.zeros(O, np.int64), np.zeros(H, np.int64), np.zeros(H, np.int64),
          np.zeros(H, np.int64), np.zeros(O, np.int64), np.zeros(H, np.int64),
          np.zeros(H, np.int64), np.zeros(H, np.int64), np.zeros(O, np.int64))
    ub, ab, sb, ob = u[b], a[b], s[b], o[b]
    cb, wb = cnt[b], wr[b]
    d_s1, d_d = K[K_D_S1], K[K_D_D]
    lo_d, hi_d = LO[Q_DELTA], HI[Q_DELTA]
    T = flags.shape[0]
    for t in range(T):
        fl = flags[t]
        if fl & F_SOS:
            start_sequence(ub, ab, sb, ob)
            count[b] = 0
            if trace:
                tr[b] = 0
                tr1[b] = 0
                _clear_sums(b, gw, gb)
        if biases:      # biases change only at window ends; re-read every step (cheap)
            for j in range(H):
                bias[j] = W[2][b, j, 0]
            for k in range(O):
                bout[k] = W[4][b, k, 0]
        _mark(seen, nseen, b, Q_A)
        _mark(seen, nseen, b, Q_THR)
        _mark(seen, nseen, b, Q_U)
        _mark(seen, nseen, b, Q_O)
        xr = X[b, t]
        _forward(K, LO, HI, WinT, WrecT, bias, W[3][b], bout, xr, ub, ab, sb, ob, s_prev, acc,
                 psi, cb, wb)
        for k in range(O):
            out[b, t, k] = ob[k]
        if fl & F_TGT:
            _mark(seen, nseen, b, Q_DELTA)
            if softmax:
                _softmax_error(K, LO, HI, ob, TG[b, t], HT[b, t], delta, cb, wb)
            else:
                hit = 0
                for k in range(O):
                    q = _rn((ob[k] - TG[b, t, k]) << d_s1, d_d)
                    if q < lo_d:
                        q = lo_d
                        hit += 1
                    elif q > hi_d:
                        q = hi_d
                        hit += 1
                    delta[k] = q if HT[b, t] else 0
                cb[Q_DELTA] += hit
                wb[Q_DELTA] += O
        else:
            for k in range(O):
                delta[k] = 0
        steps[b] += 1
        if trace:       # every step, after the readout, with m before this step's update
            _mark(seen, nseen, b, Q_TRACE)
            _trace_step(K, LO, HI, sb, mean[b], tr[b], tr1, b, cb, wb)
        if not (fl & F_LEARN):
            count[b] = 0
            if trace:
                _clear_sums(b, gw, gb)
            continue
        if trace:       # learning steps: m, then the readout's exact gradient sums
            _mark(seen, nseen, b, Q_MEAN)
            _mean_step(K, LO, HI, sb, mean[b], cb, wb)
            trb, h1 = tr[b], tr1[b]
            for k in range(O):
                dk = delta[k]
                if dk != 0:
                    for j in range(H):
                        gw[b, k, j] += dk * trb[j]
                    if biases:
                        gb[b, k, 0] += dk * h1
        store_step(b, count[b], xr, s_prev, sb, psi, delta, buf_x, buf_s, buf_psi, buf_delta)
        count[b] += 1
        if count[b] >= window or (fl & F_EOS):
            _close_window(b, K, UP, RD, LO, HI, W, WB, LM, V, WinT, WrecT, count[b], buf_x,
                          buf_s, buf_psi, buf_delta, lfsr, mean, gw, gb, cnt, wr, seen, nseen,
                          sc, wold)
            count[b] = 0
            windows[b] += 1


@njit(cache=True)
def run_fixed(K, UP, RD, LO, HI, W, WB, LM, V, u, a, s, o, count, buf_x, buf_s, buf_psi,
              buf_delta, lfsr, steps, windows, tr, tr1, mean, gw, gb, cnt, wr, seen, nseen, X,
              TG, HT, flags, out):
    """Run every core of the batch through the schedule ``flags [T]`` (in place).

    ``X [B, T, n_in]`` input codes, ``TG [B, T, n_out]`` target codes, ``HT [B, T]``
    has-target (bool), ``out [B, T, n_out]`` receives the readout codes.
    """
    for b in range(u.shape[0]):
        _run_core(b, K, UP, RD, LO, HI, W, WB, LM, V, u, a, s, o, count, buf_x, buf_s, buf_psi,
                  buf_delta, lfsr, steps, windows, tr, tr1, mean, gw, gb, cnt, wr, seen, nseen,
                  X, TG, HT, flags, out)


@njit(cache=True, parallel=True)
def run_fixed_parallel(K, UP, RD, LO, HI, W, WB, LM, V, u, a, s, o, count, buf_x, buf_s,
                       buf_psi, buf_delta, lfsr, steps, windows, tr, tr1, mean, gw, gb, cnt, wr,
                       seen, nseen, X, TG, HT, flags, out):
    """:func:`run_fixed` with the cores of the batch on parallel threads (every array a core
    writes is indexed by its own ``b``, so the result is the same bit for bit)."""
    for b in prange(u.shape[0]):
        _run_core(b, K, UP, RD, LO, HI, W, WB, LM, V, u, a, s, o, count, buf_x, buf_s, buf_psi,
                  buf_delta, lfsr, steps, windows, tr, tr1, mean, gw, gb, cnt, wr, seen, nseen,
                  X, TG, HT, flags, out)


@njit(cache=True, parallel=True)
def infer_fixed(K, LO, HI, w_in, w_rec, bias, w_out, bout, X, out):
    """Readouts of one core's weights over ``N`` sequences ``X [N, T, n_in]``, learning off.

    Each sequence starts at rest (``sos``); nothing is counted or kept. The sequences
    run in parallel.
    """
    N, T = X.shape[0], X.shape[1]
    H, O = K[K_H], K[K_O]
    WinT = w_in.T.copy()
    WrecT = w_rec.T.copy()
    for n in prange(N):
        u = np.zeros(H, np.int64)
        a = np.zeros(H, np.int64)
        s = np.zeros(H, np.int64)
        o = np.zeros(O, np.int64)
        s_prev = np.zeros(H, np.int64)
        acc = np.zeros(H, np.int64)
        psi = np.zeros(H, np.int64)
        cb = np.zeros(NQ, np.int64)
        wb = np.zeros(NQ, np.int64)
        for t in range(T):
            _forward(K, LO, HI, WinT, WrecT, bias, w_out, bout, X[n, t], u, a, s, o, s_prev,
                     acc, psi, cb, wb)
            for k in range(O):
                out[n, t, k] = o[k]
