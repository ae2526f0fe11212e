"""The core's step rule on exact gradients: ``ref-bptt`` / ``ref-fptt`` at batch ``B`` with the
hidden weights' RMS-normalised step and the readout's plain SGD (issue 16, session 14).

The on-chip rule (``configs/smnist-onchip.toml``) steps the hidden parameters ``W_in``,
``W_rec``, ``b`` by ``g / √v`` with a per-synapse second moment, and the readout ``W_out``,
``b_out`` by plain SGD; the references step every parameter with Adam. This script trains the
PyTorch reference of the ``onchip-rule`` set-up with the core's rule instead, on the batch
mean gradient ``g`` of ``B`` sequences, no momentum, no clipping::

    v ← g²  (first step),  v ← β v + (1 - β) g²  (then),   P ← P - η_P g / √v    (hidden)
    P ← P - η_P g                                                                   (readout)

with ``β = 0.999``, the hidden ``η`` given (``--hidden-lr``) and the readout's the core's
per-image step times ``B`` (``--readout-lr`` per image; the batch mean divides by ``B``). It
separates what the core lacks from what its rule is: with exact gradients at batch 16 this
rule learns the hidden layer (README, "S-MNIST in the on-chip regime", session 14).

    FPTT_DATA_DIR=... python benchmarks/smnist_core_step.py --batch 16 --hidden-lr 2.5e-3 \\
        --readout-lr 2.384185791015625e-07 --epochs 2 [--rule fptt] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import torch

HIDDEN = ("w_in", "w_rec", "b")


class CoreStep(torch.optim.Optimizer):
    """The core's step rule on ``named_params`` (name, tensor): RMS-normalised for
    :data:`HIDDEN` (step ``hidden_lr``), plain SGD for the readout (``readout_lr``)."""

    def __init__(self, named_params, hidden_lr: float, readout_lr: float, beta: float = 0.999):
        if not (hidden_lr > 0 and readout_lr > 0):
            raise ValueError(f"steps must be > 0, not {hidden_lr!r} and {readout_lr!r}")
        if not 0 < beta < 1:
            raise ValueError(f"beta must be in (0, 1), not {beta!r}")
        groups = [{"params": [p], "lr": hidden_lr if n in HIDDEN else readout_lr,
                   "rms": n in HIDDEN} for n, p in named_params]
        super().__init__(groups, {"beta": beta})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if not group["rms"]:
                    p.sub_(group["lr"] * g)
                    continue
                state = self.state[p]
                if "v" not in state:
                    state["v"] = g * g
                else:
                    state["v"].mul_(group["beta"]).addcmul_(g, g, value=1 - group["beta"])
                # a synapse whose gradient has always been 0 does not move
                p.sub_(group["lr"] * g / state["v"].sqrt().clamp_min(1e-30))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--hidden-lr", type=float, default=2.5e-3)
    p.add_argument("--readout-lr", type=float, default=2.0 ** -22,
                   help="the readout's step per image (the core's; times --batch on the mean)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rule", choices=("bptt", "fptt"), default="bptt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    if args.batch < 1:
        p.error(f"--batch must be >= 1, not {args.batch}")
    if not (args.hidden_lr > 0 and args.readout_lr > 0):
        p.error("--hidden-lr and --readout-lr must be > 0")

    import fptt.golden.reference as reference
    from fptt.study import smnist
    from fptt.study.common import set_threads
    set_threads(1)
    trainer = reference.BPTTTrainer if args.rule == "bptt" else reference.FPTTTrainer

    class WithCoreStep(trainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.optimizer = CoreStep(list(self.net.named_parameters()), args.hidden_lr,
                                      args.readout_lr * args.batch)

    setup = smnist.SETUPS["onchip-rule"]
    opts = dict(getattr(setup, args.rule), batch=args.batch, clip=None, loss="ce")
    setup = dataclasses.replace(setup, **{args.rule: opts})
    task = smnist.make_mnist(setup, "smnist", args.n_train, args.n_test)

    def save(rec):
        if args.json:
            with open(args.json, "w") as f:
                json.dump({**rec, "step_rule": "core", "hidden_lr": args.hidden_lr,
                           "readout_lr": args.readout_lr}, f)

    # reference_run takes its trainer from fptt.golden.reference when it runs
    setattr(reference, trainer.__name__, WithCoreStep)
    try:
        rec = smnist.reference_run(setup, task, args.epochs, seed=args.seed, rule=args.rule,
                                   log=lambda line: print(line, flush=True), after_pass=save)
    finally:
        setattr(reference, trainer.__name__, trainer)
    print(f"final {100 * rec['accuracy'][0]:.2f} %, weight change {rec['weight_change'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
