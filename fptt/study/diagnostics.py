"""Does the network's state carry the answer, and can a gradient readout reach it?

Before blaming a learning rule, fit the best *linear readout* of an untrained (or
trained) network by least squares and look at how well conditioned that fit is.
The prediction rule of every task is the argmax (or mean) of the readout summed
over the decision steps, and the readout is linear in the leaky-integrated spikes::

    Σ_{t∈D} o_t = W_out · F + const,    F_j = Σ_{t∈D} Σ_k κ^k s_{j,t-k}

so a least-squares fit of the one-hot label (or the value) on ``[F, 1]`` gives
the accuracy a readout could reach on this state, and the eigenvalue spread of
the feature Gram matrix says how many SGD steps it would take to get there
(an SGD readout learns the direction of eigenvalue λ at rate ``η λ``: with a
condition number of 10^7 the class-bearing directions are out of reach).

Measured on S-MNIST (issue 16, ``notebooks/RESULTS.md``): the untrained 64-neuron
core holds 64-72 % in its state, but its features are nearly collinear (one input
channel, one shared set of time constants; condition number 10^7-10^8 even after
centring), and every gradient readout tried stays near chance.

A gradient reaches a hidden neuron only on the steps where the surrogate
``ψ(v) = h·max(0, 1 - |v|/w)`` of ``v = u - B`` is not zero, ``|v| < w``
(:func:`gradient_support`); a network whose membranes sit far above or below
threshold is trained on a few per cent of its steps whatever the rule.
"""

from __future__ import annotations

import numpy as np

from ..config import CoreConfig

__all__ = ["readout_features", "readout_ceiling", "gradient_support", "least_squares_readout",
           "online_readout"]


def readout_features(cfg: CoreConfig, weights: dict, xs: np.ndarray, decision: np.ndarray,
                     batch: int = 500) -> tuple[np.ndarray, float]:
    """``F [N, n_hidden]``: leaky-integrated spikes summed over the decision steps; and the mean rate.

    ``xs`` is ``[N, T, n_in]``; ``decision`` the ``[T]`` bool mask shared by the
    sequences. The network is the float one of every view
    (:class:`fptt.golden.reference.network.ALIFNetwork`, float32, forward only).
    """
    import torch

    from ..golden.reference.network import ALIFNetwork
    net = ALIFNetwork(cfg, weights, dtype=torch.float32)
    kappa = cfg.neuron.kappa
    decision = np.asarray(decision, bool)
    feats, rates = [], []
    with torch.no_grad():
        for i in range(0, len(xs), batch):
            _, _, spk = net(torch.as_tensor(np.asarray(xs[i:i + batch], np.float32)),
                            return_spikes=True)
            spk = spk.numpy().astype(np.float64)
            rates.append(spk.mean())
            filt = np.zeros(spk.shape[::2])
            total = np.zeros_like(filt)
            for t in range(spk.shape[1]):
                filt = kappa * filt + spk[:, t]
                if decision[t]:
                    total += filt
            feats.append(total)
    return np.concatenate(feats), float(np.mean(rates))


def readout_ceiling(cfg: CoreConfig, weights: dict, task, n_fit: int | None = None,
                    n_test: int | None = None, ridge: float = 1e-6) -> dict:
    """Least-squares readout of ``weights`` on ``task``: its score and its conditioning.

    Fits on the first ``n_fit`` training sequences, scores on the first ``n_test``
    test sequences (default: all). ``ridge`` is relative to the largest eigenvalue.

    Returns
    -------
    dict
        ``accuracy`` (classification) or ``mse`` (regression) of the fitted readout
        on the test sequences; ``rate`` (mean spike rate), ``live`` (neurons whose
        feature varies), ``cond_gram`` (condition number of the Gram matrix of
        ``[F, 1]``, what plain SGD on the readout faces) and ``cond_cov`` (of the
        centred feature covariance).
    """
    train = list(task.train_set()[:n_fit] if n_fit else task.train_set())
    test = list(task.test_set()[:n_test] if n_test else task.test_set())
    decision = train[0].decision
    f_fit, rate = readout_features(cfg, weights, np.stack([s.x for s in train]), decision)
    f_test, _ = readout_features(cfg, weights, np.stack([s.x for s in test]), decision)
    live = f_fit.std(axis=0) > 1e-9
    a_fit = np.c_[f_fit[:, live], np.ones(len(f_fit))]
    a_test = np.c_[f_test[:, live], np.ones(len(f_test))]
    if task.kind == "classification":
        y = np.eye(task.n_out)[[int(s.label) for s in train]]
    else:
        y = np.array([float(s.label) for s in train])[:, None]
    gram = a_fit.T @ a_fit / len(a_fit)
    ev = np.linalg.eigvalsh(gram)
    w = np.linalg.solve(gram + ridge * ev[-1] * np.eye(len(gram)), a_fit.T @ y / len(a_fit))
    out = a_test @ w
    labels = np.array([s.label for s in test], dtype=float)
    result = {"rate": rate, "live": int(live.sum()),
              "cond_gram": float(ev[-1] / max(ev[0], ev[-1] * 1e-300))}
    if live.sum() > 1:
        evc = np.linalg.eigvalsh(np.atleast_2d(np.cov(f_fit[:, live].T)))
        result["cond_cov"] = float(evc[-1] / max(evc[0], evc[-1] * 1e-300))
    if task.kind == "classification":
        result["accuracy"] = float(np.mean(np.argmax(out, axis=1) == labels))
    else:
        result["mse"] = float(np.mean((out[:, 0] - labels) ** 2))
    return result


def gradient_support(cfg: CoreConfig, weights: dict, xs: np.ndarray, batch: int = 500) -> dict:
    """Where the hidden layer can get a gradient: the steps with ``|v| < w``.

    The triangle surrogate ``ψ(v) = h·max(0, 1 - |v|/w)`` (``w`` =
    ``cfg.neuron.surrogate_width``) is the only path from a loss to the hidden
    weights, in BPTT, FPTT and the core alike, so the fraction of (sequence, step,
    neuron) with ``|v_t| < w``, ``v_t = u_t - B_t``, bounds what any rule can
    learn in the hidden layer. ``xs [N, T, n_in]``; the network is the float one of
    every view (:class:`fptt.golden.reference.network.ALIFNetwork`, float32).

    Returns
    -------
    dict
        ``support`` (the fraction over all steps and neurons), ``per_neuron``
        (``[n_hidden]``, each neuron's fraction), ``v_percentiles`` (10th, 50th,
        90th percentile of ``v``), ``rate`` (mean spike rate) and ``silent``
        (neurons that never spike).
    """
    import torch

    from ..golden.reference.network import ALIFNetwork
    net = ALIFNetwork(cfg, weights, dtype=torch.float32)
    width = cfg.neuron.surrogate_width
    inside = np.zeros(cfg.n_hidden)
    spikes = np.zeros(cfg.n_hidden)
    hist_edges = np.linspace(-64.0, 64.0, 4097)   # v beyond ±64 lands in the end bins
    hist = np.zeros(len(hist_edges) - 1)
    steps = 0
    with torch.no_grad():
        for i in range(0, len(xs), batch):
            x = torch.as_tensor(np.asarray(xs[i:i + batch], np.float32))
            state = net.zero_state(x.shape[0])
            for t in range(x.shape[1]):
                _, state = net.step(x[:, t], state)
                v = (state.u - net.threshold(state.a)).numpy()
                inside += (np.abs(v) < width).sum(axis=0)
                spikes += state.s.numpy().sum(axis=0)
                hist += np.histogram(np.clip(v, -64.0, 64.0), hist_edges)[0]
                steps += x.shape[0]
    cdf = np.cumsum(hist) / hist.sum()
    centres = (hist_edges[:-1] + hist_edges[1:]) / 2
    return {"support": float(inside.sum() / (steps * cfg.n_hidden)),
            "per_neuron": inside / steps,
            "v_percentiles": [float(centres[np.searchsorted(cdf, q)]) for q in (0.1, 0.5, 0.9)],
            "rate": float(spikes.sum() / (steps * cfg.n_hidden)),
            "silent": int((spikes == 0).sum())}


def least_squares_readout(cfg: CoreConfig, weights: dict, seqs, n_out: int,
                          ridge: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """``W_out [n_out, n_hidden]``, ``b_out [n_out, 1]``: the least-squares readout of
    ``weights``' hidden layer on the classification sequences ``seqs``, as the core's readout.

    The core's readout is ``o_t = κ o_{t-1} + W_out s_t + b_out``, so its sum over the
    decision steps ``D`` is ``Σ_{t∈D} o_t = W_out F + b_out C`` with ``F`` the features of
    :func:`readout_features` and ``C = Σ_{t∈D} (1 − κ^{t+1}) / (1 − κ)``. The fit solves
    ``[F, C] [W_out, b_out]ᵀ ≈ |D| · onehot(y)`` (ridge relative to the largest eigenvalue
    of the Gram matrix): on average the one-hot target on every decision step, which is the
    core's MSE target there, and its argmax is the task's decision. Float values, not on
    any grid.
    """
    seqs = list(seqs)
    decision = np.asarray(seqs[0].decision, bool)
    f, _ = readout_features(cfg, weights, np.stack([s.x for s in seqs]), decision)
    kappa = cfg.neuron.kappa
    c = float(sum((1 - kappa ** (t + 1)) / (1 - kappa) for t in np.flatnonzero(decision)))
    a = np.c_[f, np.full(len(f), c)]
    y = np.eye(n_out)[[int(s.label) for s in seqs]] * decision.sum()
    gram = a.T @ a
    sol = np.linalg.solve(gram + ridge * np.linalg.eigvalsh(gram)[-1] * np.eye(len(gram)),
                          a.T @ y)
    return sol[:-1].T, sol[-1][:, None]


def online_readout(f_fit: np.ndarray, labels: np.ndarray, f_test: np.ndarray,
                   labels_test: np.ndarray, lr: float, *, centre: bool = False,
                   scale: bool = False, passes: int = 1) -> float:
    """Test accuracy of a readout trained by plain SGD at batch 1 on fixed features.

    ``passes`` passes over ``f_fit [N, n]`` (in order) of the MSE step on one-hot
    targets ``y``::

        e = W f + b - y,    W -= η e fᵀ,    b -= η e

    the update the core's readout makes once the hidden layer is frozen. With
    ``centre`` the features are ``f - mean(f_fit)``; with ``scale`` also divided by
    their standard deviation: the normalisation a gradient readout lacks on chip.
    The gap between this score and :func:`readout_ceiling` is what conditioning
    costs; the gap between raw and centred features, what the shared mean costs.
    """
    f_fit, f_test = np.asarray(f_fit, float), np.asarray(f_test, float)
    mu = f_fit.mean(axis=0) if centre else 0.0
    sd = f_fit.std(axis=0) if scale else 1.0
    sd = np.where(np.asarray(sd) > 0, sd, 1.0)
    a, at = (f_fit - mu) / sd, (f_test - mu) / sd
    n_cls = int(max(labels.max(), labels_test.max())) + 1
    y = np.eye(n_cls)[np.asarray(labels, int)]
    w, b = np.zeros((a.shape[1], n_cls)), np.zeros(n_cls)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(passes):
            for fi, yi in zip(a, y):
                e = fi @ w + b - yi
                w -= lr * np.outer(fi, e)
                b -= lr * e
        pred = np.argmax(np.nan_to_num(at @ w + b, nan=-np.inf), axis=1)
    return float(np.mean(pred == labels_test))
