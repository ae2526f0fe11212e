"""Cycles per window measured in simulation: the whole core learning the cue task.

:func:`measure` runs the Amaranth simulation of :class:`~fptt.rtl.core.FpttCore`
(host side: :class:`fptt.sim.testbench.CoreDriver`) on cue sequences, checks
every output frame and the final memories against the golden model, and
returns cycles per window with the cycles of each phase read from the core's
performance counters (``PERF_FWD``, ``PERF_BWD``, ``PERF_UPD``) beside the
weight-memory bound (:func:`fptt.rtl.controller.bound`).
``python -m fptt.sim.measure [--dense]`` prints the table of three
configurations for windows L = 1 and L = 8 (a few minutes).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..config import CoreConfig
from ..rtl.controller import bound
from ..rtl.host import REG_INDEX

__all__ = ["MEASURE_CONFIGS", "measure", "measure_table", "main"]


MEASURE_CONFIGS = {
    "small  8-8-2 P=1": dict(n_in=8, n_hidden=8, n_out=2, lanes=1),
    "default 20-32-2 P=1": dict(n_in=20, n_hidden=32, n_out=2, lanes=1),
    "default 20-32-2 P=4": dict(n_in=20, n_hidden=32, n_out=2, lanes=4),
}


def measure(cfg: CoreConfig, n_seq: int = 1, seed: int = 0, dense: bool = False) -> dict:
    """Simulate ``n_seq`` cue sequences of 32 steps (learning) and return cycles per window.

    ``dense``: replace the cue spikes by non-zero random input values on every
    channel and step (the worst case of the event-driven accumulation).
    """
    from ..golden.fixed_core import FixedState, init_state, step
    from ..golden.weights import init_weights
    from ..rtl.core import FpttCore
    from ..tasks.base import with_targets
    from ..tasks.cue import CueTask
    from .stimulus import sequence_frames
    from .testbench import CoreDriver, simulate

    task = CueTask(n_in=cfg.n_in, n_cues=3, cue_len=4, gap=2, delay=8, recall_len=8,
                   n_train=n_seq, n_test=1, seed=seed)
    frames = []
    for i in range(n_seq):
        seq = with_targets(task.train_set()[i], "final")
        frames += sequence_frames(cfg, seq)
    if dense:
        rng = np.random.default_rng(seed)
        f = cfg.formats.x
        for fr in frames:
            v = rng.integers(1, f.max + 1, cfg.n_in) * rng.choice([-1, 1], cfg.n_in) // 4
            fr["x"] = np.where(v == 0, 1, v)
    st = init_state(cfg, init_weights(cfg, seed=1, gain_in=4.0, gain_rec=1.0))
    dut = FpttCore(cfg, init=st)
    # golden reference of the same run: the measurement also checks bit-exactness
    gst, cache, gouts = FixedState.from_arrays(st.arrays()), {}, []
    for fr in frames:
        gouts.append(step(cfg, gst, np.asarray(fr["x"])[None], np.asarray(fr["target"])[None],
                          np.array([fr["has_target"]]), sos=fr["sos"], eos=fr["eos"],
                          learn=True, draws_cache=cache)[0].copy())
    drv = CoreDriver(dut)
    res = {}

    async def bench(ctx):
        c0 = ctx.get(dut.cycle_count)
        spikes, exact = 0, True
        for fr, want in zip(frames, gouts):
            out = await drv.step(ctx, fr["x"], fr["target"], fr["has_target"], fr["sos"],
                                 fr["eos"], True)
            spikes += out["spikes"]
            exact &= bool(np.array_equal(out["o"], want))
        res["exact"] = exact
        await drv.wait_idle(ctx)
        c1 = ctx.get(dut.cycle_count)
        for name in ("WINDOWS", "PERF_FWD", "PERF_BWD", "PERF_UPD"):
            res[name] = (await drv.read(ctx, REG_INDEX[name], signed=False))[0]
        res["cycles"] = c1 - c0
        res["spikes_per_step"] = spikes / len(frames)
        arrays = await drv.read_checkpoint(ctx)
        g = gst.arrays()
        for k, v in arrays.items():
            want = np.asarray(g.get(k, np.zeros(1, np.int64)))[0].astype(np.int64)
            res["exact"] &= bool(np.array_equal(want, v))

    simulate(dut, bench)
    nx = float(np.mean([np.count_nonzero(f["x"]) for f in frames]))
    w = res["WINDOWS"]
    return dict(steps=len(frames), windows=w, cycles_per_window=res["cycles"] / w,
                forward=res["PERF_FWD"] / w, backward=res["PERF_BWD"] / w,
                update=res["PERF_UPD"] / w,
                other=(res["cycles"] - res["PERF_FWD"] - res["PERF_BWD"] - res["PERF_UPD"]) / w,
                bound=bound(cfg, cfg.window), nnz_x_per_step=nx,
                spikes_per_step=res["spikes_per_step"], bit_exact=res["exact"])


def measure_table(windows=(1, 8), n_seq: int = 1, dense: bool = False) -> str:
    head = (f"{'configuration':<22} {'L':>2} {'cycles/window':>13} {'bound':>9} {'bound/meas':>10}"
            f" {'fwd':>8} {'bwd':>8} {'upd':>7} {'idle':>5} {'x nnz':>6} {'spk':>5} exact")
    lines = [head, "-" * len(head)]
    for name, kw in MEASURE_CONFIGS.items():
        for L in windows:
            cfg = CoreConfig(window=L, window_max=max(8, L), **kw)
            r = measure(cfg, n_seq, dense=dense)
            lines.append(f"{name:<22} {L:>2} {r['cycles_per_window']:>13.1f} {r['bound']:>9.1f} "
                         f"{r['bound'] / r['cycles_per_window']:>10.3f} {r['forward']:>8.1f} "
                         f"{r['backward']:>8.1f} {r['update']:>7.1f} {r['other']:>5.1f} "
                         f"{r['nnz_x_per_step']:>6.2f} {r['spikes_per_step']:>5.2f} "
                         f"{'yes' if r['bit_exact'] else 'NO'}")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fptt.sim.measure",
                                 description="simulate 3 configurations x L in {1, 8} and print "
                                             "cycles per window")
    ap.add_argument("--sequences", type=int, default=1, help="cue sequences per measurement")
    ap.add_argument("--dense", action="store_true",
                    help="every input non-zero (worst case for the event-driven accumulation)")
    args = ap.parse_args(argv)
    kind = "dense random inputs" if args.dense else "cue task spikes"
    print(f"{'':>22} {kind}, sequences of 32 steps, learning on every step")
    measure_table(n_seq=args.sequences, dense=args.dense)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
