"""The saturation profile of the core: per quantity, saturated writes and all writes.

The golden model counts, per quantity (:data:`fptt.rtl.host.SAT_NAMES`), the
writes that saturated and all writes (:class:`fptt.golden.fixedpoint.SaturationCounter`);
:func:`saturation_counters` keeps the same two 32-bit counters in hardware, fed
by the write strobes, lane masks and saturation flags of the stages
(``profile_counters``; the host reads them in regions 0x30 and 0x31).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal

from .accumulator import popcount
from .fixed import CombPart
from .host import SAT_NAMES

__all__ = ["saturation_counters"]


def saturation_counters(dp) -> None:
    """The saturation profile (golden :class:`SaturationCounter`): saturated and total writes.

    Per quantity of :data:`fptt.rtl.host.SAT_NAMES`, two 32-bit counters fed by
    the write strobes and saturation flags of the stages (with
    ``profile_counters``). Exports ``sat_cnt``, ``wr_cnt`` (host readable).
    """
    m, cfg, P, n_out = dp.m, dp.cfg, dp.P, dp.n_out
    # saturation profile (golden SaturationCounter): per quantity, saturated and total writes
    sat_cnt, wr_cnt = {}, {}
    if cfg.profile_counters:
        sat_cnt = {n: Signal(32, name=f"sat_{n}", init=dp.ini.get(f"sat_{n}", 0))
                   for n in SAT_NAMES}
        wr_cnt = {n: Signal(32, name=f"writes_{n}", init=dp.ini.get(f"writes_{n}", 0))
                  for n in SAT_NAMES}
        ob_lanes = dp.lane_mask(n_out - dp.ob_out_g * P)
        uo_l = Signal(P)
        m.d.comb += uo_l.eq(dp.uo_lanes)
        sources = {}   # name -> (valid, flags, lane mask)
        for n in ("a", "threshold", "u"):
            sources[n] = (dp.n_out_valid,
                          Cat(*[getattr(dp.neu[p].out, f"sat_{n}") for p in range(P)]),
                          dp.n_lanes_valid)
        for n in ("o", "delta"):
            sources[n] = (dp.r_out_valid,
                          Cat(*[getattr(dp.rou[p].out, f"sat_{n}") for p in range(P)]),
                          dp.r_lanes_valid)
        sources["obar"] = (dp.bro[0].out.valid, Cat(*[dp.bro[p].out.sat_obar for p in range(P)]),
                           ob_lanes)
        for n in ("sbar", "vbar", "ubar", "abar", "ibar"):
            sources[n] = (dp.bne.out.valid, getattr(dp.bne.out, f"sat_{n}"), Const(1, 1))
        for n in ("grad", "w", "lam", "wbar"):
            sources[n] = (dp.uo_valid, Cat(*[dp.reg_out[p][f"sat_{n}"] for p in range(P)]),
                          uo_l)
        sm = m.submodules.sat_count = CombPart()
        for n in SAT_NAMES:
            valid, flags, mask = sources[n]
            inc_s, inc_w = Signal(range(P + 2), name=f"inc_sat_{n}"), \
                Signal(range(P + 2), name=f"inc_wr_{n}")
            sm.m.d.comb += [inc_s.eq(Mux(valid, popcount(flags & mask), 0)),
                            inc_w.eq(Mux(valid, popcount(mask), 0))]
            m.d.sync += [sat_cnt[n].eq(sat_cnt[n] + inc_s), wr_cnt[n].eq(wr_cnt[n] + inc_w)]
    dp.sat_cnt = sat_cnt
    dp.wr_cnt = wr_cnt
