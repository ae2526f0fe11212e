"""The synthesis report as text (:func:`format_synth_report`)."""

from __future__ import annotations

from .resources import CELL_NAMES

__all__ = ["format_synth_report", "usage_line", "critical_path_line"]


def usage_line(name: str, used: int, cap: int | None, width: int) -> str:
    """One utilisation row: ``name  used  cap  use%``, flagged ``OVER`` past ``cap``."""
    pct = f"{100 * used / cap:5.0f}%" if cap else ""
    flag = "  OVER" if cap is not None and used > cap else ""
    return f"  {name:<{width}} {used:>8} {'' if cap is None else cap:>8} {pct:>6}{flag}"


def critical_path_line(cp: dict | None, n_sources: int) -> str | None:
    """nextpnr's critical path (delay, cells, the first ``n_sources`` cells), or None."""
    if not (cp and cp.get("delay_ns")):
        return None
    return (f"  critical path {cp['delay_ns']:.1f} ns over {cp['cells']} cells: "
            + ", ".join(cp["sources"][:n_sources]))


def format_synth_report(r: dict) -> str:
    """Readable table of a :func:`run_synth` result."""
    c = r["config"]["core"]
    what = f"unit {r['unit']} (top {r['top']})" if r.get("unit") else "core"
    lines = [f"fptt synth --target {r['target']}: {what}   n_in={c['n_in']} "
             f"n_hidden={c['n_hidden']} n_out={c['n_out']} lanes={c['lanes']} "
             f"window_max={c['window_max']}",
             f"status: {r.get('status', '?')}", ""]
    util = r.get("utilisation", {})
    dev = r.get("device")
    if util:
        lines.append(f"  {'resource':<14} {'used':>8} {'device':>8} {'use':>6}")
        fam = r.get("family") or (dev or {}).get("family", "ice40")
        names = CELL_NAMES.get(fam, CELL_NAMES["ice40"])
        for k, v in util.items():
            cap = None
            if dev is not None:
                cap = {"luts": dev["luts"], "logic": dev["luts"], "ffs": dev["ffs"],
                       "bram": dev["bram"], "spram": dev["spram"] or None,
                       "dsp": dev["dsp"]}.get(k)
                if fam == "ecp5" and k == "luts":
                    cap = None      # LUT4 alone: the LUT positions (logic) must fit
            lines.append(usage_line(names.get(k, k), v, cap, 14))
    if r.get("fmax_mhz") is not None:
        p = r["pnr"]
        lines.append(f"  fmax (nextpnr) {r['fmax_mhz']:.2f} MHz "
                     f"({'met' if p['timing_met'] else 'FAILED'} at {p['target_mhz']:g} MHz)")
        cp = critical_path_line(p.get("critical_path"), 8)
        if cp:
            lines.append(cp)
        lc = p["utilisation"].get("ICESTORM_LC") or p["utilisation"].get("TRELLIS_COMB")
        if lc:
            lines.append(f"  placed logic cells (core + pin wrapper) {lc['used']}/{lc['available']}")
    else:
        lines.append("  fmax: not placed")
        p = r.get("pnr") or {}
        lc = p.get("utilisation", {}).get("ICESTORM_LC")
        if lc:
            # a LUT4 and a flip-flop share one logic cell only when the LUT drives just
            # that flip-flop: the packed count, not the LUT count, must fit the device
            pk = p.get("packing", {})
            lines.append(f"  logic cells after packing (core + pin wrapper): {lc['used']}/"
                         f"{lc['available']}{'  OVER' if lc['used'] > lc['available'] else ''}"
                         + (" (" + ", ".join(f"{v} {k}" for k, v in pk.items()) + ")"
                            if pk else ""))
    mb = r.get("memory_bits", {}) if not r.get("unit") else {}
    if mb:
        lines += ["", "Memory bits"]
        req = mb.get("required")
        lines.append(f"  state the algorithm must keep (golden FixedState)  {req:>9}")
        lines.append(f"  checkpointed memories of the core                  {mb.get('checkpoint', 0):>9}")
        lines.append(f"  all generated memories (incl. gradient, scratch)   {mb.get('generated', 0):>9}")
        if "bram_blocks" in mb:
            fam = r.get("family", "ice40")
            bram = CELL_NAMES.get(fam, CELL_NAMES["ice40"]).get("bram", "block RAM")
            spram = (f", {mb['in_spram']} bits in {mb['spram_blocks']} SB_SPRAM256KA"
                     if fam == "ice40" else f", {mb.get('in_lutram', 0)} bits in LUT RAM")
            lines.append(f"  inferred: {mb['in_bram']} bits in {mb['bram_blocks']} {bram} "
                         f"({mb['bram_capacity']} bits capacity){spram}, "
                         f"{mb['in_ff']} bits in flip-flops")
    mems = r.get("memories")
    if mems:
        lines += ["", f"  {'memory':<12} {'depth':>6} {'width':>6} {'bits':>8} {'~BRAM':>6}  mapped to"]
        for m in mems:
            lines.append(f"  {m['name']:<12} {m['depth']:>6} {m['width']:>6} {m['bits']:>8} "
                         f"{m['bram_estimate']:>6}  {m['mapped_to'] or 'RAM macro'}")
        if r.get("roms_in_logic"):
            lines.append(f"  + {len(r['roms_in_logic'])} constant tables (ROMs from case "
                         f"statements) in logic")
    tools = r.get("tools")
    if tools:
        lines += ["", "Tools"] + [f"  {k:<8} {d['path']}  {d.get('version') or ''}  ({d['source']})"
                                  for k, d in tools.items()]
    ay = r.get("amaranth_yosys")
    if ay:
        lines.append(f"  Verilog by Amaranth's Yosys: {ay['kind']} {ay.get('version')} "
                     f"({ay.get('what', '')}; AMARANTH_USE_YOSYS={ay.get('use')}, {ay['source']})")
    if r.get("notes"):
        lines += ["", "Notes"] + [f"  - {n}" for n in r["notes"]]
    t = r.get("times", {})
    lines += ["", "Wall time (s): " + ", ".join(f"{k} {v}" for k, v in t.items())]
    return "\n".join(lines) + "\n"
