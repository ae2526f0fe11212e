"""numba kernels of the compiled float twin (see :mod:`fptt.golden.compiled.twin`).

float64, the same expressions in the same evaluation order as
:mod:`fptt.golden.twin`; only the matrix-vector sums may add in another order
(a difference of a few ulp, none when the weights sit on a dyadic grid).
Constants arrive as ``C`` (float64, indices below; the membrane decays ``α_j`` of the
``n_hidden`` neurons follow the named ones, from ``C_ALPHA_J``) and ``I`` (int64).
The learning rule's options (:mod:`fptt.golden.fixed_rules`) keep their state in ``R``:
``(tr [B, H], tr1 [B], mean [B, H], gacc_out [B, O, H], gacc_bout [B, O, 1])`` and
``V``: the second moments of ``(w_in, w_rec, b)``; arrays that an option left off hold
zeros the kernels do not read.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._fixed_kernels import F_EOS, F_LEARN, F_SOS, F_TGT, start_sequence, store_step

C_NAMES = ("rho", "omr", "kappa", "c", "beta", "theta", "sur_h", "sur_w", "fptt_alpha",
           "mean_step", "rms_step")
(C_RHO, C_OMR, C_KAPPA, C_C, C_BETA, C_THETA, C_SURH, C_SURW, C_FALPHA,
 C_MEAN_STEP, C_RMS_STEP) = range(len(C_NAMES))
C_ALPHA_J = len(C_NAMES)     # C[C_ALPHA_J + j]: the membrane decay α_j of neuron j
I_NAMES = ("n_in", "n_hidden", "n_out", "window", "biases", "adaptive", "trace", "softmax",
           "rms")
(I_NIN, I_H, I_O, I_WINDOW, I_BIASES, I_ADAPTIVE, I_TRACE, I_SOFTMAX,
 I_RMS) = range(len(I_NAMES))


@njit(cache=True)
def _forward(C, I, WinT, WrecT, bias, Wout, bout, xr, u, a, s, o, s_prev, cur, psi):
    nin, H, O = I[I_NIN], I[I_H], I[I_O]
    biases = I[I_BIASES] != 0
    for j in range(H):
        s_prev[j] = s[j]
        cur[j] = 0.0
        psi[j] = 0.0
    for i in range(nin):
        xi = xr[i]
        if xi != 0.0:
            for j in range(H):
                cur[j] += WinT[i, j] * xi
    for k in range(H):
        if s_prev[k] != 0.0:
            sk = s_prev[k]
            for j in range(H):
                psi[j] += WrecT[k, j] * sk
    for j in range(H):
        cur[j] = cur[j] + psi[j]
        if biases:
            cur[j] = cur[j] + bias[j]
    rho, omr, c = C[C_RHO], C[C_OMR], C[C_C]
    beta, theta, sh, sw = C[C_BETA], C[C_THETA], C[C_SURH], C[C_SURW]
    adaptive = I[I_ADAPTIVE] != 0
    for j in range(H):
        if adaptive:
            a[j] = rho * a[j] + omr * s_prev[j]
        thr = theta + beta * a[j]
        u[j] = C[C_ALPHA_J + j] * u[j] + c * cur[j] - thr * s_prev[j]
        s[j] = 1.0 if u[j] >= thr else 0.0
        psi[j] = sh * max(0.0, 1 - abs(u[j] - thr) / sw)
    kappa = C[C_KAPPA]
    for k in range(O):
        tot = 0.0
        for j in range(H):
            if s[j] != 0.0:
                tot += Wout[k, j] * s[j]
        v = kappa * o[k] + tot
        if biases:
            v = v + bout[k]
        o[k] = v


@njit(cache=True)
def _close_window(b, C, I, LR, FROZEN, W, WB, LM, R, V, WinT, WrecT, n, buf_x, buf_s, buf_psi,
                  buf_delta):
    nin, H, O = I[I_NIN], I[I_H], I[I_O]
    biases = I[I_BIASES] != 0
    trace = I[I_TRACE] != 0
    rho, omr, kappa, c, beta = C[C_RHO], C[C_OMR], C[C_KAPPA], C[C_C], C[C_BETA]
    w_out, w_rec = W[3], W[1]
    obar_n = np.zeros(O)
    obar = np.zeros(O)
    ibar_n = np.zeros(H)
    ubar_n = np.zeros(H)
    abar_n = np.zeros(H)
    wto = np.zeros(H)
    wti = np.zeros(H)
    gIn = np.zeros((H, nin))
    gRec = np.zeros((H, H))
    gB = np.zeros(H)
    gOut = np.zeros((O, H))
    gBo = np.zeros(O)
    for t in range(n - 1, -1, -1):
        for k in range(O):
            obar[k] = buf_delta[b, t, k] + kappa * obar_n[k]
        for j in range(H):
            wto[j] = 0.0
            wti[j] = 0.0
        for k in range(O):
            for j in range(H):
                wto[j] += w_out[b, k, j] * obar[k]
        for k in range(H):
            for j in range(H):
                wti[j] += w_rec[b, k, j] * ibar_n[k]
        for j in range(H):
            sbar = wto[j] + wti[j] + omr * abar_n[j]
            vbar = buf_psi[b, t, j] * sbar
            ubar = vbar + C[C_ALPHA_J + j] * ubar_n[j]
            abar = -beta * vbar + rho * abar_n[j]
            ibar_n[j] = c * ubar
            ubar_n[j] = ubar
            abar_n[j] = abar
        for j in range(H):
            ib = ibar_n[j]
            for i in range(nin):
                gIn[j, i] += ib * buf_x[b, t, i]
            for k in range(H):
                gRec[j, k] += ib * buf_s[b, t, k]
            if biases:
                gB[j] += ib
        for k in range(O):
            ok = obar[k]
            if not trace:
                for j in range(H):
                    gOut[k, j] += ok * buf_s[b, t + 1, j]
                if biases:
                    gBo[k] += ok
            obar_n[k] = ok
    if trace:       # the readout's gradient was formed in the forward pass
        for k in range(O):
            for j in range(H):
                gOut[k, j] = R[3][b, k, j]
            gBo[k] = R[4][b, k, 0]
    w_out_old = w_out[b].copy()
    fa = C[C_FALPHA]
    rs = C[C_RMS_STEP] if I[I_RMS] != 0 else -1.0      # < 0: plain SGD
    _update(b, LR[0, 0], LR[0, 1], LR[0, 2], FROZEN[0], fa, W[0], WB[0], LM[0], gIn, rs, V[0])
    _update(b, LR[1, 0], LR[1, 1], LR[1, 2], FROZEN[1], fa, W[1], WB[1], LM[1], gRec, rs, V[1])
    if biases:
        _update(b, LR[2, 0], LR[2, 1], LR[2, 2], FROZEN[2], fa, W[2], WB[2], LM[2],
                gB.reshape((H, 1)), rs, V[2])
    _update(b, LR[3, 0], LR[3, 1], LR[3, 2], FROZEN[3], fa, W[3], WB[3], LM[3], gOut, -1.0,
            V[0])
    if biases:
        _update(b, LR[4, 0], LR[4, 1], LR[4, 2], FROZEN[4], fa, W[4], WB[4], LM[4],
                gBo.reshape((O, 1)), -1.0, V[0])
    if trace:
        if biases and not FROZEN[4]:    # b_out ← b_out - ΔW_out·m: the uncentred output kept
            for k in range(O):
                corr = 0.0
                for j in range(H):
                    corr += (w_out[b, k, j] - w_out_old[k, j]) * R[2][b, j]
                W[4][b, k, 0] = W[4][b, k, 0] - corr
        _clear_window(b, R)
    if not FROZEN[0]:
        for i in range(nin):
            for j in range(H):
                WinT[i, j] = W[0][b, j, i]
    if not FROZEN[1]:
        for k in range(H):
            for j in range(H):
                WrecT[k, j] = W[1][b, j, k]


@njit(cache=True)
def _clear_window(b, R):
    R[3][b] = 0.0
    R[4][b] = 0.0


@njit(cache=True)
def _update(b, eta, g_lo, g_hi, frozen, alpha, Wp, WBp, LMp, g, rms_step, Vp):
    """The FPTT step; with ``rms_step >= 0`` the gradient is first divided by the square
    root of its running second moment ``Vp`` (updated here)."""
    if frozen:
        return
    for post in range(Wp.shape[1]):
        for pre in range(Wp.shape[2]):
            w = Wp[b, post, pre]
            wbar = WBp[b, post, pre]
            lam = LMp[b, post, pre]
            gc = min(max(g[post, pre], g_lo), g_hi)     # the gradient format's range
            if rms_step >= 0:
                v = Vp[b, post, pre] + rms_step * (gc * gc - Vp[b, post, pre])
                Vp[b, post, pre] = v
                if v > 0:
                    gc = gc / np.sqrt(v)
                elif gc > 0:
                    gc = np.inf
                elif gc < 0:
                    gc = -np.inf
                gc = min(max(gc, g_lo), g_hi)
            w_new = w - eta * (gc + alpha * (w - wbar) - lam)
            lam_new = lam - alpha * (w_new - wbar)
            WBp[b, post, pre] = 0.5 * (wbar + w_new) - lam_new / (2 * alpha)
            Wp[b, post, pre] = w_new
            LMp[b, post, pre] = lam_new


@njit(cache=True)
def _run_core(b, C, I, LR, FROZEN, W, WB, LM, R, V, u, a, s, o, count, windows, buf_x, buf_s,
              buf_psi, buf_delta, X, TG, HT, flags, out):
    H, O = I[I_H], I[I_O]
    window = I[I_WINDOW]
    WinT = W[0][b].T.copy()
    WrecT = W[1][b].T.copy()
    s_prev = np.zeros(H)
    cur = np.zeros(H)
    psi = np.zeros(H)
    delta = np.zeros(O)
    ub, ab, sb, ob = u[b], a[b], s[b], o[b]
    trace, softmax = I[I_TRACE] != 0, I[I_SOFTMAX] != 0
    tr, mean, gacc_out, gacc_bout = R[0][b], R[2][b], R[3][b], R[4][b]
    kappa = C[C_KAPPA]
    for t in range(flags.shape[0]):
        fl = flags[t]
        if fl & F_SOS:
            start_sequence(ub, ab, sb, ob)
            count[b] = 0
            if trace:
                tr[:] = 0.0
                R[1][b] = 0.0
                _clear_window(b, R)
        xr = X[b, t]
        _forward(C, I, WinT, WrecT, W[2][b, :, 0], W[3][b], W[4][b, :, 0], xr, ub, ab, sb, ob,
                 s_prev, cur, psi)
        has = (fl & F_TGT) != 0 and HT[b, t]
        if has and softmax:     # δ = softmax(o) - y*
            top = ob[0]
            for k in range(1, O):
                top = max(top, ob[k])
            tot = 0.0
            for k in range(O):
                delta[k] = np.exp(ob[k] - top)
                tot += delta[k]
            for k in range(O):
                delta[k] = delta[k] / tot - TG[b, t, k]
        for k in range(O):
            out[b, t, k] = ob[k]
            if not has:
                delta[k] = 0.0
            elif not softmax:
                delta[k] = ob[k] - TG[b, t, k]
        if trace:       # ĉ = κ ĉ + (s - m), ĥ = κ ĥ + 1
            for j in range(H):
                tr[j] = kappa * tr[j] + (sb[j] - mean[j])
            R[1][b] = kappa * R[1][b] + 1.0
        if not (fl & F_LEARN):
            count[b] = 0
            if trace:
                _clear_window(b, R)
            continue
        if trace:
            ms = C[C_MEAN_STEP]
            for j in range(H):
                mean[j] = mean[j] + ms * (sb[j] - mean[j])
            for k in range(O):
                for j in range(H):
                    gacc_out[k, j] += delta[k] * tr[j]
                gacc_bout[k, 0] += delta[k] * R[1][b]
        store_step(b, count[b], xr, s_prev, sb, psi, delta, buf_x, buf_s, buf_psi, buf_delta)
        count[b] += 1
        if count[b] >= window or (fl & F_EOS):
            _close_window(b, C, I, LR, FROZEN, W, WB, LM, R, V, WinT, WrecT, count[b], buf_x,
                          buf_s, buf_psi, buf_delta)
            count[b] = 0
            windows[b] += 1


@njit(cache=True)
def run_twin(C, I, LR, FROZEN, W, WB, LM, R, V, u, a, s, o, count, windows, buf_x, buf_s,
             buf_psi, buf_delta, X, TG, HT, flags, out):
    """Every core of the batch through the schedule ``flags [T]`` (in place)."""
    for b in range(u.shape[0]):
        _run_core(b, C, I, LR, FROZEN, W, WB, LM, R, V, u, a, s, o, count, windows, buf_x,
                  buf_s, buf_psi, buf_delta, X, TG, HT, flags, out)


@njit(cache=True, parallel=True)
def run_twin_parallel(C, I, LR, FROZEN, W, WB, LM, R, V, u, a, s, o, count, windows, buf_x,
                      buf_s, buf_psi, buf_delta, X, TG, HT, flags, out):
    """:func:`run_twin` with the cores of the batch on parallel threads (each writes only
    its own ``b``)."""
    for b in prange(u.shape[0]):
        _run_core(b, C, I, LR, FROZEN, W, WB, LM, R, V, u, a, s, o, count, windows, buf_x,
                  buf_s, buf_psi, buf_delta, X, TG, HT, flags, out)


@njit(cache=True, parallel=True)
def infer_twin(C, I, w_in, w_rec, bias, w_out, bout, X, out):
    """Readouts of one core's weights over ``N`` sequences ``X [N, T, n_in]``, learning off."""
    N, T = X.shape[0], X.shape[1]
    H, O = I[I_H], I[I_O]
    WinT = w_in.T.copy()
    WrecT = w_rec.T.copy()
    for n in prange(N):
        u = np.zeros(H)
        a = np.zeros(H)
        s = np.zeros(H)
        o = np.zeros(O)
        s_prev = np.zeros(H)
        cur = np.zeros(H)
        psi = np.zeros(H)
        for t in range(T):
            _forward(C, I, WinT, WrecT, bias, w_out, bout, X[n, t], u, a, s, o, s_prev, cur, psi)
            for k in range(O):
                out[n, t, k] = o[k]
