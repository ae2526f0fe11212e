"""Host access of the core: the bus's reads and writes of memories, register arrays, registers.

The :class:`~fptt.rtl.host.HostPort` decodes an address into a target (a
memory, a register array or region 0's registers, :func:`~fptt.rtl.host.host_targets`);
:func:`host_access` connects the decoded access to the core: memory reads and
writes (one write-data path per physical memory, one parallel read
multiplexer), the spike vector, the LFSR states, the saturation counters, and
the registers of region 0, decoded from :func:`~fptt.rtl.host.register_specs`
(constant values, the registers the core keeps, write ranges).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Signal, Value, signed

from .fixed import CombPart
from .host import DATA_WIDTH, PROFILE_REGISTERS, REG, SAT_NAMES, register_specs

__all__ = ["host_access"]


def host_access(dp) -> None:
    """Host access: the bus's reads and writes of every memory, register array and register.

    Memory targets share one write-data path per physical memory and one
    parallel read multiplexer; the registers of region 0 are decoded from
    :func:`fptt.rtl.host.register_specs` (values, write strobes and range checks).
    """
    m, cfg, P, rd, wr, core, host = dp.m, dp.cfg, dp.P, dp.rd, dp.wr, dp.core, dp.host
    tnames = [t.name for t in core.targets]
    regs_i, s_i, lfsr_i = tnames.index("regs"), tnames.index("s"), tnames.index("lfsr")
    sat_i = tnames.index("sat") if cfg.profile_counters else None
    wrc_i = tnames.index("writes") if cfg.profile_counters else None
    specs = register_specs(cfg)
    regspecs = {r.index: r for r in specs}
    # the registers the core keeps, by name; the others are constants (RegSpec.value)
    live = {"WINDOW": dp.window_L, "COUNT": dp.count, "STEPS": dp.steps, "WINDOWS": dp.windows,
            "CYCLES": dp.cycles, "PERF_FWD": dp.perf_fwd, "PERF_BWD": dp.perf_bwd,
            "PERF_UPD": dp.perf_upd}
    reg_values = {r.index: live[r.name] if r.value is None else Const(r.value, 32) for r in specs}
    # host writes (the profile counters only where the core has them)
    reg_writes = {r.index: live[r.name] for r in specs if r.writable
                  and (cfg.profile_counters or r.name not in PROFILE_REGISTERS)}
    sel1 = Signal.like(host.sel)
    elem1 = Signal.like(host.elem)
    addr1 = Signal.like(host.addr)
    m.d.sync += [sel1.eq(host.sel), elem1.eq(host.elem), addr1.eq(host.addr)]
    rdata = Signal(DATA_WIDTH)
    hm = m.submodules.host_rd = CombPart()
    by_phys = {}    # targets in one physical memory share its data: one case, one write
    for i, t in enumerate(core.targets):
        if t.layout != REG:
            by_phys.setdefault(core.specs_by_name[t.name].physical, []).append(i)
    for idxs in by_phys.values():
        t0 = core.targets[idxs[0]]
        w0 = wr[t0.name]
        with m.If(host.we & Cat(*[host.sel == i for i in idxs]).any()):
            m.d.comb += [w0.data[e].eq(host.wdata[:t0.width]) for e in range(len(w0.en))]
        for i in idxs:
            t = core.targets[i]
            with m.If(host.sel == i):
                with m.If(host.re):
                    m.d.comb += dp.rdp(rd[t.name], host.addr)
                with m.If(host.we):
                    w = wr[t.name]
                    m.d.comb += [w.addr.eq(host.addr),
                                 w.en.eq(Const(1, len(w.en)) << host.elem)]
    # one parallel multiplexer (Switch, not an If chain: a chain of 30 priority levels
    # costs ~1.5k LUT4)
    with hm.m.Switch(sel1):
        for idxs in by_phys.values():
            t = core.targets[idxs[0]]
            i = idxs[0]
            with hm.m.Case(*idxs):
                word = rd[t.name].data
                n_el = len(wr[t.name].en)
                ev = Signal(signed(t.width) if t.signed else t.width, name=f"host_rd_{i}")
                if n_el == 1:
                    hm.m.d.comb += ev.eq(word[0])
                else:
                    hm.m.d.comb += ev.eq(Array([Value.cast(word[e])
                                                for e in range(n_el)])[elem1])
                hm.m.d.comb += rdata.eq(ev)
        with hm.m.Case(regs_i):
            with hm.m.Switch(addr1):
                for idx, val in reg_values.items():
                    with hm.m.Case(idx):
                        hm.m.d.comb += rdata.eq(val)
        with hm.m.Case(s_i):
            hm.m.d.comb += rdata.eq(dp.s_vec.bit_select(addr1, 1))
        with hm.m.Case(lfsr_i):
            hm.m.d.comb += rdata.eq(Array([lf.state for lf in dp.lfsr])[addr1])
        if cfg.profile_counters:
            with hm.m.Case(sat_i):
                hm.m.d.comb += rdata.eq(Array([dp.sat_cnt[n] for n in SAT_NAMES])[addr1])
            with hm.m.Case(wrc_i):
                hm.m.d.comb += rdata.eq(Array([dp.wr_cnt[n] for n in SAT_NAMES])[addr1])
    m.d.comb += host.rdata.eq(rdata)
    # register writes and their range check
    wd = host.wdata
    with m.If(host.sel == regs_i):
        with m.Switch(host.addr):
            for idx, r in regspecs.items():
                with m.Case(idx):
                    if r.writable:
                        ok = Const(1, 1)
                        # compare only the bits the bound has (the rest must be 0):
                        # no 32-bit comparators
                        nb = max(1, r.hi.bit_length())
                        low = wd[:nb]
                        if r.hi < (1 << DATA_WIDTH) - 1:
                            ok = ok & (wd[nb:] == 0)
                            if r.hi < (1 << nb) - 1:     # else the compare is constant
                                ok = ok & (low <= r.hi)
                        if r.lo > 0:
                            ok = ok & (low >= r.lo)
                        m.d.comb += host.reg_ok.eq(ok)
    with m.Elif(host.sel == lfsr_i):
        # xorshift32 maps 0 to 0: a zero state would stop stochastic rounding for good,
        # so the write is refused (err) like an out-of-range WINDOW
        m.d.comb += host.reg_ok.eq(wd != 0)
    with m.Elif(Cat(*[host.sel == i for i in (s_i, sat_i, wrc_i)
                      if i is not None]).any()):
        m.d.comb += host.reg_ok.eq(1)
    for i, n in enumerate(SAT_NAMES if cfg.profile_counters else ()):
        with m.If(host.we & (host.sel == sat_i) & (host.addr == i)):
            m.d.sync += dp.sat_cnt[n].eq(wd)
        with m.If(host.we & (host.sel == wrc_i) & (host.addr == i)):
            m.d.sync += dp.wr_cnt[n].eq(wd)
    with m.If(host.we & (host.sel == regs_i)):
        with m.Switch(host.addr):
            for idx, reg_ in reg_writes.items():
                with m.Case(idx):
                    m.d.sync += reg_.eq(wd)
    with m.If(host.we & (host.sel == s_i)):
        m.d.sync += dp.s_vec.bit_select(host.addr, 1).eq(wd[0])
    for p in range(P):
        m.d.comb += dp.lfsr[p].load_value.eq(wd)
        with m.If(host.we & (host.sel == lfsr_i) & (host.addr == p)):
            m.d.comb += dp.lfsr[p].load.eq(1)
    with m.If(host.busy):
        m.d.comb += core.busy.eq(1)
