"""Can a batch-1 gradient readout learn S-MNIST from a frozen network? (issue 16)

    .venv/bin/python benchmarks/smnist_readout.py [--setup reservoir] [--set KEY=VALUE ...]
        [--n-train 2000] [--n-test 1000] [--decision 56] [--etas 14 16 18 20 22]
        [--bias-step 1.0] [--modes raw centred scaled] [--carry] [--passes 1] [--json OUT]

The readout-only control of the on-chip runs takes minutes per setting; this
script measures the same question in seconds. It runs the *untrained* network
of a set-up (:data:`fptt.study.smnist.SETUPS`, ``configs/smnist.toml`` plus
overrides) once, in float (:class:`fptt.golden.reference.network.ALIFNetwork`),
keeps its spikes, and then trains only the leaky readout on them, online, one
image at a time, with the core's window gradient::

    o_t = κ o_{t-1} + W (s_t − m) + c,        c = b − W m   (so o is the core's readout)
    δ_t = o_t − onehot(y) on the last ``decision`` steps, else 0
    ō_t = δ_t + κ ō_{t+1}   within the window (L = cfg.window steps)
    W  ← W − η (Σ_t ō_t (s_t − m)ᵀ) ⊙ g,      b ← b − η·bias_step·Σ_t ō_t

``raw``: m = 0, g = 1 (the core's readout: plain SGD, no FPTT regulariser);
``centred``: m = each neuron's mean spike rate (SGD in centred coordinates);
``scaled``: centred, and g_j = 1 / var_j of neuron j's filtered feature
(normalised to mean 1): a per-neuron step, the diagonal preconditioner the
core lacks. Prediction: argmax of the readout summed over the decision steps,
as :class:`fptt.tasks.mnist.MnistTask`. The least-squares readout of the same
state (:func:`fptt.study.diagnostics.readout_ceiling`) is the ceiling.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from numba import njit

MODES = ("raw", "centred", "scaled")


# not cached: a cache written when this file runs as a script cannot be loaded when the tests
# import it by path (numba then fails to import the module '<dynamic>')
@njit
def _train_readout(spikes, labels, order, m, g, eta, bias_step, kappa, window, decision, n_out,
                   carry):
    _, T, H = spikes.shape
    W = np.zeros((n_out, H))
    b = np.zeros(n_out)
    o = np.zeros(n_out)
    c = np.zeros(n_out)
    d = np.zeros((window, n_out))
    ob = np.zeros(n_out)
    e = np.zeros(H)     # Σ_k κ^k (s − m): what o carries of W from before the window
    e0 = np.zeros(H)
    for i in order:
        o[:] = 0.0
        e[:] = 0.0
        for t0 in range(0, T, window):
            e0[:] = e
            for k in range(n_out):
                c[k] = b[k]
                for j in range(H):
                    c[k] -= W[k, j] * m[j]
            steps = min(window, T - t0)
            targets = False
            for t in range(steps):
                for j in range(H):
                    e[j] = kappa * e[j] + spikes[i, t0 + t, j] - m[j]
                on = t0 + t >= T - decision
                targets = targets or on
                for k in range(n_out):
                    v = kappa * o[k] + c[k]
                    for j in range(H):
                        if spikes[i, t0 + t, j] != 0:
                            v += W[k, j]
                    o[k] = v
                    d[t, k] = v - (1.0 if labels[i] == k else 0.0) if on else 0.0
            if not targets:
                continue
            gW = np.zeros((n_out, H))
            gb = np.zeros(n_out)
            ob[:] = 0.0
            for t in range(steps - 1, -1, -1):
                for k in range(n_out):
                    ob[k] = d[t, k] + kappa * ob[k]
                    gb[k] += ob[k]
                    for j in range(H):
                        gW[k, j] += ob[k] * (spikes[i, t0 + t, j] - m[j])
            if carry:   # the window's loss through the output state carried into it
                for k in range(n_out):
                    for j in range(H):
                        gW[k, j] += kappa * ob[k] * e0[j]
                    gb[k] += kappa * ob[k] * (1 - kappa ** t0) / (1 - kappa)
            for k in range(n_out):
                b[k] -= eta * bias_step * gb[k]
                for j in range(H):
                    W[k, j] -= eta * gW[k, j] * g[j]
    return W, b


def network_spikes(cfg, weights, xs, batch: int = 500) -> np.ndarray:
    """Spikes ``[N, T, n_hidden]`` (uint8) of the untrained float network on ``xs [N, T, n_in]``."""
    import torch

    from fptt.golden.reference.network import ALIFNetwork
    net = ALIFNetwork(cfg, weights, dtype=torch.float32)
    out = []
    with torch.no_grad():
        for i in range(0, len(xs), batch):
            x = torch.as_tensor(np.asarray(xs[i:i + batch], np.float32))
            out.append(net(x, return_spikes=True)[2].numpy().astype(np.uint8))
    return np.concatenate(out)


def _filtered(spikes, m, kappa, decision):
    """Per-neuron filtered features ``Σ_k κ^k (s − m)`` at each decision step, ``[N, D, H]``."""
    o = np.zeros((spikes.shape[0], spikes.shape[2]))
    rows = []
    for t in range(spikes.shape[1]):
        o = kappa * o + (spikes[:, t] - m)
        if t >= spikes.shape[1] - decision:
            rows.append(o)
    return np.stack(rows, axis=1)


def readout_accuracy(spikes, labels, test_spikes, test_labels, mode: str, eta: float, *,
                     kappa: float, window: int, decision: int, bias_step: float = 1.0,
                     carry: bool = False, n_out: int = 10, passes: int = 1) -> float:
    """Test accuracy of the readout trained online on frozen ``spikes`` (module docstring):
    ``passes`` passes over them, the first in their order, each later one in a new random
    order (seed 0), the step unchanged."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    H = spikes.shape[2]
    m = spikes.mean(axis=(0, 1)).astype(np.float64) if mode != "raw" else np.zeros(H)
    g = np.ones(H)
    if mode == "scaled":
        var = _filtered(spikes, m, kappa, decision).var(axis=(0, 1))
        g = np.where(var > 1e-12, 1.0 / np.maximum(var, 1e-12), 0.0)
        # relative to the median neuron, within [1/16, 16]: a near-silent neuron's tiny
        # variance must not turn into a step that diverges
        g = np.clip(g / np.median(g[g > 0]), 1 / 16, 16) * (g > 0)
    labels = np.asarray(labels, np.int64)
    rng = np.random.default_rng(0)
    n = len(spikes)
    order = np.concatenate([np.arange(n)] + [rng.permutation(n) for _ in range(passes - 1)])
    W, b = _train_readout(spikes, labels, order, m, g, eta, bias_step, kappa, window, decision,
                          n_out, carry)
    T = spikes.shape[1]
    # o_t = Σ_k κ^k (W (s − m) + c) from o = 0; with c = b − W m the m terms cancel:
    # Σ_{t∈D} o_t = Σ_{t∈D} [filtered (s − m)] Wᵀ + b Σ_{t∈D} (1 − κ^{t+1}) / (1 − κ)
    steps = np.arange(T - decision, T)
    bias_gain = np.sum((1 - kappa ** (steps + 1)) / (1 - kappa))
    total = (_filtered(test_spikes, m, kappa, decision) @ W.T).sum(axis=1) + bias_gain * b
    return float(np.mean(total.argmax(axis=1) == np.asarray(test_labels)))


def least_squares(spikes, labels, test_spikes, test_labels, kappa, decision,
                  n_out: int = 10) -> float:
    """Test accuracy of the least-squares readout of the summed decision-step features
    (:func:`fptt.study.diagnostics.readout_ceiling` on these spikes)."""
    zero = np.zeros(spikes.shape[2])
    f = np.c_[_filtered(spikes, zero, kappa, decision).sum(axis=1), np.ones(len(spikes))]
    ft = np.c_[_filtered(test_spikes, zero, kappa, decision).sum(axis=1), np.ones(len(test_spikes))]
    gram = f.T @ f / len(f)
    ridge = 1e-6 * np.linalg.eigvalsh(gram)[-1]
    w = np.linalg.solve(gram + ridge * np.eye(len(gram)), f.T @ np.eye(n_out)[labels] / len(f))
    return float(np.mean((ft @ w).argmax(axis=1) == np.asarray(test_labels)))


def main(argv=None) -> int:
    from fptt.study import smnist

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setup", choices=sorted(smnist.SETUPS), default="reservoir")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--decision", type=int, default=None,
                   help="decision steps at the end (default: the set-up's)")
    p.add_argument("--etas", type=int, nargs="+", default=[14, 16, 18, 20, 22],
                   help="readout steps 2^-E")
    p.add_argument("--bias-step", type=float, default=1.0, help="the bias's step relative to η")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--carry", action="store_true",
                   help="add the gradient through the readout state carried into the window")
    p.add_argument("--passes", type=int, default=1,
                   help="passes over the training images (later ones shuffled)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.passes < 1:
        p.error(f"--passes must be >= 1, not {args.passes}")

    import dataclasses
    setup = smnist.SETUPS[args.setup]
    if args.decision:
        setup = dataclasses.replace(setup, n_decision=args.decision)
    setup = dataclasses.replace(setup, overrides=setup.overrides + tuple(args.overrides))
    cfg = smnist.setup_config(setup)
    weights = smnist.setup_weights(cfg, setup, 0)
    task = smnist.make_mnist(setup, "smnist", args.n_train, args.n_test)
    t0 = time.time()
    train, test = list(task.train_set()), list(task.test_set())
    s_tr = network_spikes(cfg, weights, np.stack([s.x for s in train]))
    s_te = network_spikes(cfg, weights, np.stack([s.x for s in test]))
    y_tr, y_te = [s.label for s in train], [s.label for s in test]
    lsq = least_squares(s_tr, y_tr, s_te, y_te, cfg.neuron.kappa, setup.n_decision)
    print(f"set-up {args.setup} {args.overrides}: rate {s_tr.mean():.3f}, tau_out "
          f"{cfg.neuron.tau_out}, decision {setup.n_decision}, window {cfg.window}; "
          f"least-squares readout {100 * lsq:.1f} % ({time.time() - t0:.0f} s)", flush=True)
    rows = []
    for mode in args.modes:
        for e in args.etas:
            t1 = time.time()
            acc = readout_accuracy(s_tr, y_tr, s_te, y_te, mode, 2.0 ** -e,
                                   kappa=cfg.neuron.kappa, window=cfg.window,
                                   decision=setup.n_decision, bias_step=args.bias_step,
                                   carry=args.carry, passes=args.passes)
            rows.append(dict(mode=mode, eta_exp=-e, passes=args.passes, carry=args.carry,
                             accuracy=acc))
            print(f"  {mode:8s} eta 2^-{e:<3d} {100 * acc:5.1f} %  ({time.time() - t1:.0f} s)",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(dict(setup=args.setup, overrides=args.overrides,
                                             lsq=lsq, rows=rows), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
