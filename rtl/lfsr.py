"""Stochastic-rounding generator of one lane: xorshift32, three draws per cycle.

Implements :mod:`fptt.golden.lfsr` for lane ``lane``: the state starts (reset)
at ``lane_seeds(cfg.lfsr_seed, cfg.lanes)[lane]``; one xorshift32 step is::

    x ^= (x << 13) mod 2**32;  x ^= x >> 17;  x ^= (x << 5) mod 2**32

(three XOR layers, no multiplier) and one draw is the top 16 bits of the new
state. Each synapse takes three consecutive draws of its lane (for ``w``,
then ``λ``, then ``w̄``), so the unit computes three steps combinationally.

Interface (``LaneLFSR(cfg, lane)``)
-----------------------------------
=============  ======  ============  ===========================================
port           dir     shape         meaning
=============  ======  ============  ===========================================
``en``         In      1             consume the current synapse's draws: the
                                     state advances by 3 steps at the clock edge
``load``       In      1             write ``load_value`` into the state
                                     (checkpoint restore; has priority over ``en``;
                                     the host port refuses 0, a fixed point)
``load_value`` In      32            state to load
``r_w``        Out     16            draw for ``w'``  = ``xs(state) >> 16``
``r_lam``      Out     16            draw for ``λ'``  = ``xs²(state) >> 16``
``r_wbar``     Out     16            draw for ``w̄'`` = ``xs³(state) >> 16``
``state``      Out     32            the current 32-bit state (checkpoint read)
=============  ======  ============  ===========================================

Timing: ``r_w, r_lam, r_wbar`` are combinational functions of the current
``state``; they are the three draws golden ``UpdateDraws`` assigns to the
*next* synapse this lane updates. Present them to the
:class:`~fptt.rtl.regulariser.RegulariserUnit` together with that synapse (in
the same cycle as its ``valid``) and assert ``en`` in that same cycle; the
state then holds ``xs³(state)``, which is golden ``FixedState.lfsr[lane]``
after the synapse (latency 0 for the draws, 1 cycle for the state update).
After a whole window update (``3·per_lane`` draws) ``state`` equals the
golden ``st.lfsr[:, lane]``.

In ``rounding = "nearest"`` configurations the golden model never draws, so
``en`` is ignored there (the state stays at its seed unless loaded).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..golden.lfsr import lane_seeds

__all__ = ["LaneLFSR", "xorshift32_expr", "STATE_BITS", "DRAW_BITS"]

STATE_BITS = 32
DRAW_BITS = 16


def xorshift32_expr(m, x, name: str = "xs"):
    """One xorshift32 step of a 32-bit Amaranth value (golden ``xorshift32``).

    Each XOR layer drives a named 32-bit combinational signal of ``m`` (so the
    three chained steps stay three small XOR networks in the netlist).
    """
    t1 = Signal(STATE_BITS, name=f"{name}_a")
    t2 = Signal(STATE_BITS, name=f"{name}_b")
    t3 = Signal(STATE_BITS, name=f"{name}_c")
    m.d.comb += [
        t1.eq((x ^ x.shift_left(13))[:STATE_BITS]),
        t2.eq(t1 ^ t1.shift_right(17)),
        t3.eq((t2 ^ t2.shift_left(5))[:STATE_BITS]),
    ]
    return t3


class LaneLFSR(wiring.Component):
    """xorshift32 generator of lane ``lane``; see the module docstring for the ports.

    Parameters
    ----------
    cfg : CoreConfig
        Gives the seed (``cfg.lfsr_seed``), the number of lanes and the rounding mode.
    lane : int
        Lane index, ``0 <= lane < cfg.lanes``.
    """

    #: Cycles from ``en`` to the advanced ``state``.
    LATENCY = 1

    def __init__(self, cfg: CoreConfig, lane: int = 0):
        if not 0 <= lane < cfg.lanes:
            raise ValueError(f"lane must satisfy 0 <= lane < lanes = {cfg.lanes}, not {lane}")
        self.cfg = cfg
        self.lane = lane
        self.seed = int(lane_seeds(cfg.lfsr_seed, cfg.lanes)[lane])
        super().__init__({
            "en": In(1),
            "load": In(1),
            "load_value": In(STATE_BITS),
            "r_w": Out(DRAW_BITS),
            "r_lam": Out(DRAW_BITS),
            "r_wbar": Out(DRAW_BITS),
            "state": Out(STATE_BITS, init=self.seed),
        })

    def elaborate(self, platform):
        m = Module()
        s1 = xorshift32_expr(m, self.state, "xs1")
        s2 = xorshift32_expr(m, s1, "xs2")
        s3 = xorshift32_expr(m, s2, "xs3")
        m.d.comb += [
            self.r_w.eq(s1[STATE_BITS - DRAW_BITS:]),
            self.r_lam.eq(s2[STATE_BITS - DRAW_BITS:]),
            self.r_wbar.eq(s3[STATE_BITS - DRAW_BITS:]),
        ]
        with m.If(self.load):
            m.d.sync += self.state.eq(self.load_value)
        if self.cfg.rounding == "stochastic":
            with m.Elif(self.en):
                m.d.sync += self.state.eq(s3)
        return m
