"""Performance figures of the core: cycles against the weight-memory bound, speed, memory.

``fptt bench`` (:func:`run_bench`) tabulates, for each configuration of
:data:`BENCH_CONFIGS` (the UP5K core of ``configs/up5k.toml``, the default
core, a small core, a ReckOn-sized core of 256 inputs, 256 recurrent neurons
and 16 outputs) and windows ``L = 1`` and ``L = 8``:

- **cycles per window** of learning against the weight-memory bound of
  DESIGN section 6 (:func:`fptt.rtl.controller.bound`)::

      bound = (L·S + (L−1)·n_hidden² + L·n_out·n_hidden + S) / lanes,
      S = (n_in + n_hidden + n_out)·n_hidden

  and the ratio bound/cycles. *Measured* cycles come from the Amaranth
  simulation of the whole core learning the cue task
  (:func:`fptt.sim.measure.measure`: every phase included, from the core's
  cycle and phase counters); where a configuration is too large to simulate
  in reasonable time, or does not suit the cue task, the cycles are
  *computed* from the controller's cycle model
  (:func:`fptt.rtl.controller.cycle_model`) for dense activity (every input
  non-zero, every neuron spiking: the worst case of the event-driven design)
  and the table says so;
- **cycles per inference step** (learning off) against ``S / lanes``;
- **time steps per second** (inference, learning) at a clock: the fmax
  achieved by nextpnr when a synthesis report is given (``--synth-json``),
  else the ``--fmax`` given, else the 24 MHz target, labelled *assumed*;
- **memory bits**: what the algorithm strictly needs
  (:func:`fptt.memory.memory_bits`: weights, W̄, λ, neuron state,
  window buffer) against what the generated core holds
  (:func:`fptt.rtl.report.build_report`: plus gradient SRAM and scratch), the
  iCE40 SB_RAM40_4K blocks these memories take (estimated per memory), and
  whether they fit the UP5K's RAM (30 × 4 kbit block RAM + 4 × 256 kbit SPRAM);
- **simulation speeds**: golden-model learning steps per second (batch 1),
  Amaranth-simulator cycles per second (from the measurement runs), and
  Verilator cycles per second of the co-simulated core learning the demo task
  (:func:`fptt.sim.verilator_speed`, cocotb drivers included) for the
  simulated configurations; ``n/a`` where Verilator is missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["BENCH_CONFIGS", "WINDOWS", "bench_config", "inference_bound",
           "golden_steps_per_second", "measure_cycles", "bench_row", "run_bench",
           "format_bench", "UP5K_RAM_BITS"]

#: name -> CoreConfig overrides (on top of the defaults) and whether to simulate it.
BENCH_CONFIGS = {
    # configs/up5k.toml, the core that fits an iCE40 UP5K (measured with its profiling
    # counters built in: they read the cycles and do not change them)
    "up5k": dict(overrides="up5k", simulate=True),
    "default": dict(overrides={}, simulate=True),
    # the two block-RAM cores (weights in dual-port RAM: one synapse per cycle in the
    # update), as on an FPGA without SPRAM; a ReckOn-sized core needs a larger FPGA anyway
    "small": dict(overrides=dict(n_in=8, n_hidden=8, n_out=2, single_port_weights=False),
                  simulate=True),
    "reckon": dict(overrides=dict(n_in=256, n_hidden=256, n_out=16, single_port_weights=False),
                   simulate=False),
}
WINDOWS = (1, 8)
#: iCE40 UP5K on-chip RAM: 30 SB_RAM40_4K + 4 SB_SPRAM256KA.
UP5K_RAM_BITS = 30 * 4096 + 4 * 256 * 1024
DEFAULT_FMAX_MHZ = 24.0


def bench_config(name: str, L: int = 8, **extra):
    """The :class:`~fptt.config.CoreConfig` of a bench configuration with window ``L``."""
    from .config import CoreConfig, up5k_config
    if BENCH_CONFIGS[name]["overrides"] == "up5k":
        return up5k_config().replace(window=L, profile_counters=True, **extra)
    base = CoreConfig()
    kw = dict(BENCH_CONFIGS[name]["overrides"], **extra)
    kw.setdefault("window_max", max(base.window_max, L))
    # the default accumulator width, widened where a larger core needs it
    need = base.replace(window=L, acc_width=0, **kw).acc_width
    return base.replace(window=L, acc_width=max(base.acc_width, need), **kw)


def inference_bound(cfg) -> float:
    """Cycles per inference step: every weight read once, ``S / lanes``."""
    return (cfg.n_in + cfg.n_hidden + cfg.n_out) * cfg.n_hidden / cfg.lanes


def golden_steps_per_second(cfg, steps: int = 64, seed: int = 0, p_in: float = 0.1,
                            learn: bool = True) -> float:
    """Golden-model time steps per second (batch 1, learning on) on random sparse inputs."""
    from .golden.fixed_core import FixedCore
    from .golden.weights import init_weights
    rng = np.random.default_rng(seed)
    core = FixedCore(cfg, {m: w[None] for m, w in init_weights(cfg, seed=seed).items()}, batch=1)
    x = (rng.random((steps, cfg.n_in)) < p_in).astype(np.float64)
    y = rng.random((steps, cfg.n_out))
    core.step(x[0], y[0], True, sos=True, learn=learn)   # warm up (draw tables, caches)
    t0 = time.perf_counter()
    for t in range(1, steps):
        core.step(x[t], y[t], True, eos=t == steps - 1, learn=learn)
    return (steps - 1) / (time.perf_counter() - t0)


def measure_cycles(cfg, n_seq: int = 1) -> dict:
    """Simulated cycles per window on the cue task (:func:`fptt.sim.measure.measure`) + sim speed."""
    from .sim.measure import measure
    t0 = time.perf_counter()
    r = measure(cfg, n_seq)
    wall = time.perf_counter() - t0
    r["wall_s"] = wall
    r["sim_cycles_per_s"] = r["cycles_per_window"] * r["windows"] / wall
    return r


def _verilator_speed(cfg):
    try:
        from . import sim
    except ImportError:
        return None
    fn = getattr(sim, "verilator_speed", None)
    if fn is None:
        return None
    v = fn(cfg)
    return None if v is None else float(v)


def _memory(cfg) -> dict:
    from .rtl.report import build_report
    from .memory import memory_bits
    from .synth import bram_estimate
    rep = build_report(cfg)
    bits = memory_bits(cfg)
    need = bits["total"]
    bram = sum(bram_estimate(max(m["depth"], 2), m["word_elems"] * m["elem_width"])
               for m in rep["memories"])
    # parameters = weights and biases (cfg.n_syn), each with its W̄ and λ; the window
    # buffer is the term that grows with window_max
    return dict(required_bits=need, parameters=cfg.n_syn, window_max=cfg.window_max,
                window_buffer_bits=bits["window_buffer"], generated_bits=rep["total_memory_bits"],
                checkpoint_bits=rep["checkpoint_memory_bits"],
                overhead=rep["total_memory_bits"] / need, bram_blocks_estimate=bram,
                within_up5k_ram_capacity=rep["total_memory_bits"] <= UP5K_RAM_BITS)


def bench_row(name: str, cfg, L: int, fmax_mhz: float, simulate: bool, n_seq: int = 1) -> dict:
    """One row of the table: configuration ``cfg`` (window ``L``)."""
    from .rtl.controller import bound, cycle_model
    dense = cycle_model(cfg, L)
    inf_dense = cycle_model(cfg, 1, learn=False)["total"]
    row = dict(config=name, n_in=cfg.n_in, n_hidden=cfg.n_hidden, n_out=cfg.n_out,
               lanes=cfg.lanes, L=L, bound_per_window=bound(cfg, L),
               inference_bound_per_step=inference_bound(cfg),
               computed_dense=dict(per_window=dense["total"], forward=dense["forward"],
                                   backward=dense["backward"], update=dense["update"],
                                   inference_per_step=inf_dense))
    if simulate:
        m = measure_cycles(cfg, n_seq)
        nx, ns = m["nnz_x_per_step"], m["spikes_per_step"]
        inf = cycle_model(cfg, 1, nx, ns, learn=False)["total"]
        row["model_at_activity"] = cycle_model(cfg, L, nx, ns)["total"]
        row.update(source="measured", cycles_per_window=m["cycles_per_window"],
                   phases=dict(forward=m["forward"], backward=m["backward"], update=m["update"],
                               other=m["other"]),
                   inference_per_step=inf, inference_source="computed at measured activity",
                   activity=dict(nnz_x_per_step=nx, spikes_per_step=ns),
                   amaranth_sim_cycles_per_s=m["sim_cycles_per_s"], sim_wall_s=m["wall_s"])
    else:
        row["model_at_activity"] = None
        row.update(source="computed (dense)", cycles_per_window=dense["total"],
                   phases=dict(forward=dense["forward"], backward=dense["backward"],
                               update=dense["update"], other=0.0),
                   inference_per_step=inf_dense, inference_source="computed (dense)",
                   activity=None, amaranth_sim_cycles_per_s=None, sim_wall_s=None)
    row["ratio"] = row["bound_per_window"] / row["cycles_per_window"]
    row["ratio_dense"] = row["bound_per_window"] / dense["total"]
    row["learning_per_step"] = row["cycles_per_window"] / L
    hz = fmax_mhz * 1e6
    row["fmax_mhz"] = fmax_mhz
    row["learning_steps_per_s"] = hz / row["learning_per_step"]
    row["inference_steps_per_s"] = hz / row["inference_per_step"]
    return row


def _fmax_from_synth(path) -> float | None:
    data = json.loads(Path(path).read_text())
    return data.get("fmax_mhz")


def run_bench(names=None, windows=WINDOWS, *, fmax_mhz: float | None = None, synth_json=None,
              simulate: bool = True, n_seq: int = 1, golden_steps: int = 256,
              lanes: int | None = None,
              log=print) -> dict:
    """All rows and per-configuration figures (JSON-serialisable)."""
    names = list(names or BENCH_CONFIGS)
    fmax_src = "assumed (24 MHz target clock; no placed design)"
    fmax = DEFAULT_FMAX_MHZ
    if synth_json is not None:
        got = _fmax_from_synth(synth_json)
        if got:
            fmax, fmax_src = got, f"achieved (nextpnr, {synth_json})"
    if fmax_mhz is not None:
        fmax, fmax_src = fmax_mhz, "given (--fmax)"
    out = dict(fmax_mhz=fmax, fmax_source=fmax_src, windows=list(windows), configs={}, rows=[],
               notes=[])
    verilator_missing = False
    for name in names:
        extra = {} if lanes is None else dict(lanes=lanes)
        cfg0 = bench_config(name, max(windows), **extra)
        sim_this = simulate and BENCH_CONFIGS[name]["simulate"]
        t0 = time.perf_counter()
        gsps = golden_steps_per_second(cfg0, golden_steps)
        vsps = _verilator_speed(cfg0) if sim_this else None
        verilator_missing |= sim_this and vsps is None
        out["configs"][name] = dict(config=cfg0.to_dict()["core"], memory=_memory(cfg0),
                                    golden_steps_per_s=gsps, verilator_cycles_per_s=vsps)
        log(f"[bench] {name}: golden model {gsps:,.0f} learning steps/s "
            f"({time.perf_counter() - t0:.1f} s)")
        for L in windows:
            cfg = bench_config(name, L, **extra)
            t0 = time.perf_counter()
            row = bench_row(name, cfg, L, fmax, sim_this, n_seq)
            out["rows"].append(row)
            log(f"[bench] {name} L={L}: {row['cycles_per_window']:.0f} cycles/window "
                f"({row['source']}), bound {row['bound_per_window']:.0f}, ratio "
                f"{row['ratio']:.3f} ({time.perf_counter() - t0:.1f} s)")
    if verilator_missing:
        out["notes"].append("Verilator cycles/s: n/a where Verilator or cocotb is missing "
                            "(fptt.sim.verilator_speed)")
    if any(r["source"] != "measured" for r in out["rows"]):
        out["notes"].append("computed rows: the controller's cycle model at dense activity (every "
                            "input non-zero, every neuron spiking), not simulated")
    if any(r["source"] == "measured" for r in out["rows"]):
        out["notes"].append("measured rows: Amaranth simulation of the core learning cue-task "
                            f"sequences of 32 steps ({n_seq} per row), all phases included; the "
                            "event-driven accumulation skips zero inputs and silent neurons, so "
                            "the ratio bound/measured can exceed 1 on sparse activity; "
                            "inference cycles are the cycle model at the measured activity")
    return out


def format_bench(res: dict) -> str:
    """Readable tables of :func:`run_bench`'s result."""
    lines = [f"clock: {res['fmax_mhz']:g} MHz, {res['fmax_source']}", ""]
    head = (f"{'config':<8} {'n_in-n_h-n_out':>14} {'P':>2} {'L':>2} {'cycles/window':>13} "
            f"{'source':<16} {'model':>9} {'bound':>9} {'bound/cyc':>9} {'dense':>6} {'fwd':>8} {'bwd':>8} "
            f"{'upd':>7} {'infer/step':>10} {'inf bound':>9} {'learn st/s':>10} "
            f"{'infer st/s':>10}")
    lines += [head, "-" * len(head)]
    for r in res["rows"]:
        ph = r["phases"]
        size = f"{r['n_in']}-{r['n_hidden']}-{r['n_out']}"
        lines.append(
            f"{r['config']:<8} {size:>14} {r['lanes']:>2} {r['L']:>2} "
            f"{r['cycles_per_window']:>13,.0f} {r['source']:<16} "
            f"{'-' if r['model_at_activity'] is None else format(r['model_at_activity'], ',.0f'):>9} "
            f"{r['bound_per_window']:>9,.0f} "
            f"{r['ratio']:>9.3f} {r['ratio_dense']:>6.3f} {ph['forward']:>8,.0f} "
            f"{ph['backward']:>8,.0f} {ph['update']:>7,.0f} {r['inference_per_step']:>10,.0f} "
            f"{r['inference_bound_per_step']:>9,.0f} {r['learning_steps_per_s']:>10,.0f} "
            f"{r['inference_steps_per_s']:>10,.0f}")
    lines += ["", f"{'config':<8} {'params':>7} {'needed bits':>12} {'Lmax':>4} "
                  f"{'window buf':>10} {'core bits':>10} {'core/need':>9} "
                  f"{'~BRAM':>6} {'<= UP5K RAM':>11} {'golden st/s':>11} {'Amaranth cyc/s':>14} "
                  f"{'Verilator cyc/s':>15}"]
    for name, c in res["configs"].items():
        m = c["memory"]
        sims = [r["amaranth_sim_cycles_per_s"] for r in res["rows"]
                if r["config"] == name and r["amaranth_sim_cycles_per_s"]]
        amar = f"{np.mean(sims):,.0f}" if sims else "-"
        ver = "n/a" if c["verilator_cycles_per_s"] is None else f"{c['verilator_cycles_per_s']:,.0f}"
        lines.append(f"{name:<8} {m['parameters']:>7,} {m['required_bits']:>12,} "
                     f"{m['window_max']:>4} {m['window_buffer_bits']:>10,} "
                     f"{m['generated_bits']:>10,} "
                     f"{m['overhead']:>9.2f} {m['bram_blocks_estimate']:>6} "
                     f"{'yes' if m['within_up5k_ram_capacity'] else 'no':>11} "
                     f"{c['golden_steps_per_s']:>11,.0f} {amar:>14} {ver:>15}")
    lines += ["", "columns: cycles/window = learning, every phase; model = the cycle model at the "
                  "measured activity (a check of the model used for computed rows); "
                  "bound = DESIGN section 6 "
                  "weight-memory bound; bound/cyc = ratio (target >= 0.9); dense = the ratio "
                  "for the cycle model at dense activity; fwd/bwd/upd = cycles per window in "
                  "forward steps, backward pass, update sweep; infer/step = cycles per step "
                  "without learning; inf bound = S/lanes; st/s = time steps per second at the "
                  "clock; params = weights and biases (n_syn), each with its W̄ and λ; "
                  "needed bits = weights, W̄, λ, neuron state, window buffer; Lmax = window_max; "
                  "window buf = window buffer bits (grows with window_max); core bits "
                  "= all memories of the generated core (adds gradient SRAM, scratch); ~BRAM = "
                  "SB_RAM40_4K blocks (estimate, 30 on a UP5K); <= UP5K RAM = core bits within "
                  "the UP5K's RAM capacity (30 x 4 kbit BRAM + 4 x 256 kbit SPRAM; capacity "
                  "only: whether the memories map onto it is what `fptt synth` reports); "
                  "Amaranth cyc/s includes elaboration and the Python testbench"]
    if res["notes"]:
        lines += [""] + [f"note: {n}" for n in res["notes"]]
    return "\n".join(lines) + "\n"
