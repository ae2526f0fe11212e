"""Generator report: ports, memory map, bits per memory, cycles per step.

:func:`build_report` computes, from a :class:`~fptt.config.CoreConfig` alone,
the report written beside the Verilog by ``fptt verilog`` (JSON and a readable
table, :func:`format_report`):

- **ports** of the top level with their widths, and the bit fields of the
  frame payloads (Verilog ports ``i_frame__payload`` / ``o_frame__payload``);
- the **memory map** of the host port (regions, logical shapes, addresses) and
  the registers of region 0;
- **bits per memory** (physical, padding lanes included) and their total;
- **cycles** per time step (inference) and per window (learning) from the
  controller's cycle model (:func:`cycle_model`), dense worst case (every
  input non-zero, every neuron spiking) and for a given activity, beside the
  weight-memory bound of DESIGN section 6::

      bound = (L·S + (L-1)·n_hidden² + L·n_out·n_hidden + S) / lanes,
      S = (n_in + n_hidden + n_out)·n_hidden

The cycles measured in simulation are host-side work, in
:mod:`fptt.sim.measure` (``python -m fptt.sim.measure``).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..config import CoreConfig
from .controller import bound, cycle_model
from .host import SAT_NAMES, frame_layout, host_targets, out_layout, register_specs
from .memories import REGION_SHIFT
from .neuron import NeuronUnit
from .readout import ReadoutUnit

__all__ = ["build_report", "format_report", "main"]


def _ports(cfg: CoreConfig):
    ports = [("clk", "in", 1), ("rst", "in", 1)]
    fl, ol = frame_layout(cfg), out_layout(cfg)
    ports += [("i_frame__payload", "in", fl.size), ("i_frame__valid", "in", 1),
              ("i_frame__ready", "out", 1), ("o_frame__payload", "out", ol.size),
              ("o_frame__valid", "out", 1), ("o_frame__ready", "in", 1),
              ("bus__addr", "in", 32), ("bus__w_data", "in", 32), ("bus__we", "in", 1),
              ("bus__stb", "in", 1), ("bus__ack", "out", 1), ("bus__r_data", "out", 32),
              ("bus__err", "out", 1), ("busy", "out", 1)]

    def width(shape):
        from amaranth.hdl import Shape
        from amaranth.lib import data as _d
        if isinstance(shape, _d.Layout):
            return shape.size
        return Shape.cast(shape).width

    def fields(layout):
        from amaranth.lib import data as _d
        rows = []
        for name, fld in layout:
            shape = fld.shape
            if isinstance(shape, _d.ArrayLayout):
                w = width(shape.elem_shape)
                for i in range(shape.length):
                    rows.append((f"{name}[{i}]", fld.offset + i * w, w))
            else:
                rows.append((name, fld.offset, width(shape)))
        return rows

    return ports, fields(fl), fields(ol)


def build_report(cfg: CoreConfig) -> dict:
    """The generator report of ``cfg`` (JSON-serialisable)."""
    specs, _ = host_targets(cfg)
    ports, in_fields, out_fields = _ports(cfg)
    mems = []
    for s in specs:
        mems.append(dict(name=s.name, phys=s.physical, phys_base=s.base,
                         single_port=s.single_port, region=s.region, base=None if s.region is None else
                         s.region << REGION_SHIFT, rows=s.rows, cols=s.cols,
                         depth=s.depth, word_elems=s.elems, elem_width=s.elem.width,
                         signed=s.elem.signed, bits=s.bits, checkpoint=s.checkpoint,
                         address=None if s.region is None else
                         f"0x{s.region:02X}<<24 | row<<{s.col_bits} | col"))
    regarrays = [dict(name="s", region=0x12, base=0x12 << REGION_SHIFT, rows=cfg.n_hidden, bits=cfg.n_hidden,
                      note="spike vector (register)"),
                 dict(name="lfsr", region=0x20, base=0x20 << REGION_SHIFT, rows=cfg.lanes,
                      bits=32 * cfg.lanes, note="xorshift32 state per lane")]
    if cfg.profile_counters:
        regarrays += [dict(name="sat", region=0x30, base=0x30 << REGION_SHIFT,
                           rows=len(SAT_NAMES),
                           bits=32 * len(SAT_NAMES), note="saturated writes per quantity"),
                      dict(name="writes", region=0x31, base=0x31 << REGION_SHIFT,
                           rows=len(SAT_NAMES), bits=32 * len(SAT_NAMES),
                           note="writes per quantity")]
    regs = [dict(index=r.index, name=r.name, access="rw" if r.writable else "ro", doc=r.doc)
            for r in register_specs(cfg)]
    cycles = {}
    for L in sorted({1, cfg.window, cfg.window_max}):
        dense = cycle_model(cfg, L)
        cycles[f"L={L}"] = dict(
            inference_per_step_dense=cycle_model(cfg, 1, learn=False)["total"],
            learning_per_window_dense=dense["total"],
            learning_per_step_dense=dense["total"] / L,
            phases_dense=dense,
            bound_per_window=bound(cfg, L),
            ratio_dense=bound(cfg, L) / dense["total"],
            learning_per_window_10pct=cycle_model(cfg, L, 0.1 * cfg.n_in, 0.1 * cfg.n_hidden)["total"],
        )
    return dict(
        config=cfg.to_dict(),
        top="fptt_core",
        ports=[dict(name=n, dir=d, width=w) for n, d, w in ports],
        i_frame_fields=[dict(field=n, lsb=o, width=w) for n, o, w in in_fields],
        o_frame_fields=[dict(field=n, lsb=o, width=w) for n, o, w in out_fields],
        memories=mems,
        register_arrays=regarrays,
        registers=regs,
        total_memory_bits=sum(s.bits for s in specs),
        checkpoint_memory_bits=sum(s.bits for s in specs if s.checkpoint),
        cycles=cycles,
        cycle_model=("per step: (nnz_x + nnz_s_prev)·G + nnz_s·G_out + G + G_out + "
                     f"{NeuronUnit.latency(cfg) + ReadoutUnit.LATENCY + 10}; per window backward: "
                     "L·(G_out + const) + n_hidden·G_out + (L-1)·max(n_hidden·max(G, G_out) + "
                     "const, nnz_x·G + 2); update: Σ_p pre_p·ceil(post_p/P) + const "
                     + ("(with biases nnz_s, nnz_s_prev and n_hidden count the always-active "
                        "unit, and the update covers b, b_out) " if cfg.biases else "")
                     + "(fptt.rtl.controller.cycle_model)"),
    )


def format_report(rep: dict) -> str:
    """Readable table of a report."""
    c = rep["config"]["core"]
    lines = [f"FPTT core  n_in={c['n_in']} n_hidden={c['n_hidden']} n_out={c['n_out']} "
             f"lanes={c['lanes']} window={c['window']} window_max={c['window_max']} "
             f"rounding={c['rounding']}", "", "Ports"]
    for p in rep["ports"]:
        lines.append(f"  {p['name']:<20} {p['dir']:<4} {p['width']:>6}")
    for key, title in (("i_frame_fields", "i_frame payload"), ("o_frame_fields", "o_frame payload")):
        lines.append(f"  {title}: " + ", ".join(f"{f['field']}@{f['lsb']}:{f['width']}"
                                                 for f in rep[key]))
    lines += ["", "Memories (host address = region<<24 | row<<col_bits | col)",
              f"  {'name':<12} {'region':>6} {'rows x cols':>12} {'depth':>6} {'word':>9} "
              f"{'bits':>8}  checkpoint"]
    for mm in rep["memories"]:
        reg = "-" if mm["region"] is None else f"0x{mm['region']:02X}"
        word = f"{mm['word_elems']}x{mm['elem_width']}"
        lines.append(f"  {mm['name']:<12} {reg:>6} {mm['rows']:>5} x {mm['cols']:<5} "
                     f"{mm['depth']:>6} {word:>9} {mm['bits']:>8}  "
                     f"{'yes' if mm['checkpoint'] else 'scratch'}")
    for ra in rep["register_arrays"]:
        lines.append(f"  {ra['name']:<12} {'0x%02X' % ra['region']:>6} {ra['rows']:>5} x 1     "
                     f"{'reg':>6} {'':>9} {ra['bits']:>8}  yes ({ra['note']})")
    lines.append(f"  total {rep['total_memory_bits']} bits "
                 f"({rep['checkpoint_memory_bits']} in checkpointed memories)")
    lines += ["", "Registers (region 0x00)"]
    for r in rep["registers"]:
        lines.append(f"  0x{r['index']:02X} {r['name']:<11} {r['access']}  {r['doc']}")
    lines += ["", "Cycles (cycle model; dense = every input non-zero, every neuron spiking)",
              f"  {'L':>3} {'infer/step':>11} {'learn/window':>13} {'bound/window':>13} "
              f"{'bound/model':>12} {'@10% activity':>14}"]
    for k, v in rep["cycles"].items():
        lines.append(f"  {k[2:]:>3} {v['inference_per_step_dense']:>11} "
                     f"{v['learning_per_window_dense']:>13} {v['bound_per_window']:>13.1f} "
                     f"{v['ratio_dense']:>12.3f} {v['learning_per_window_10pct']:>14.0f}")
    lines.append(f"  model: {rep['cycle_model']}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fptt.rtl.report", description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="TOML configuration (default: built-in defaults)")
    ap.add_argument("--set", action="append", default=[], metavar="K=V")
    ap.add_argument("--json", action="store_true", help="print the JSON report")
    args = ap.parse_args(argv)
    cfg = CoreConfig.load(args.config, args.set)
    rep = build_report(cfg)
    sys.stdout.write(json.dumps(rep, indent=2) + "\n" if args.json else format_report(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
