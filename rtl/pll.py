"""The board clock: a PLL from the oscillator to the core's clock (iCE40 and ECP5).

:func:`ice40_pll_params` and :func:`ecp5_pll_params` choose the dividers
for an exact output frequency, the way ``icepll`` (fpga-icestorm) and
``ecppll`` (prjtrellis) do; :func:`pll_instance` is the primitive
(``SB_PLL40_PAD`` fed from the clock pin, ``EHXPLLL``) with its lock output.
A board whose oscillator runs at the wanted frequency needs none.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Instance

__all__ = ["PllError", "Ice40Pll", "Ecp5Pll", "ice40_pll_params", "ecp5_pll_params",
           "pll_instance"]


class PllError(ValueError):
    """No PLL setting gives the frequency asked for."""


@dataclass(frozen=True)
class Ice40Pll:
    """SB_PLL40 in SIMPLE feedback: f_out = f_in * (divf + 1) / ((divr + 1) * 2**divq)."""

    f_in_mhz: float
    divr: int
    divf: int
    divq: int
    filter_range: int

    @property
    def f_out_mhz(self) -> float:
        return self.f_in_mhz * (self.divf + 1) / ((self.divr + 1) * 2 ** self.divq)


@dataclass(frozen=True)
class Ecp5Pll:
    """EHXPLLL with CLKOP fed back: f_out = f_in * clkfb_div / clki_div, VCO = f_out * clkop_div."""

    f_in_mhz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def f_out_mhz(self) -> float:
        return self.f_in_mhz * self.clkfb_div / self.clki_div

    @property
    def vco_mhz(self) -> float:
        return self.f_out_mhz * self.clkop_div


def _exact(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-9 * want


def ice40_pll_params(f_in_mhz: float, f_out_mhz: float) -> Ice40Pll:
    """The iCE40 PLL setting for exactly ``f_out_mhz`` (iCE40 sysCLOCK PLL guide limits:
    PFD 10-133 MHz, VCO 533-1066 MHz); the first found in ``icepll``'s order."""
    for divr in range(16):
        pfd = f_in_mhz / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                if _exact(vco / 2 ** divq, f_out_mhz):
                    fr = next(i for i, lim in enumerate((17, 26, 44, 66, 101), 1) if pfd < lim) \
                        if pfd < 101 else 6
                    return Ice40Pll(f_in_mhz, divr, divf, divq, fr)
    raise PllError(f"no iCE40 PLL setting makes exactly {f_out_mhz:g} MHz from {f_in_mhz:g} MHz")


def ecp5_pll_params(f_in_mhz: float, f_out_mhz: float) -> Ecp5Pll:
    """The ECP5 PLL setting for exactly ``f_out_mhz`` (PFD 3.125-400 MHz, VCO 400-800 MHz),
    the VCO nearest 600 MHz, as ``ecppll``."""
    best = None
    for clki in range(1, 129):
        pfd = f_in_mhz / clki
        if not 3.125 <= pfd <= 400:
            continue
        for fb in range(1, 81):
            if not _exact(pfd * fb, f_out_mhz):
                continue
            for op in range(1, 129):
                vco = f_out_mhz * op
                if 400 <= vco <= 800 and (best is None or abs(vco - 600) < abs(best.vco_mhz - 600)):
                    best = Ecp5Pll(f_in_mhz, clki, fb, op)
    if best is None:
        raise PllError(f"no ECP5 PLL setting makes exactly {f_out_mhz:g} MHz from "
                       f"{f_in_mhz:g} MHz")
    return best


def pll_instance(p, clk_in, clk_out, lock) -> Instance:
    """The PLL primitive for ``p``: ``clk_in`` (iCE40: the clock pin's port, the PLL's own
    pad; ECP5: the buffered clock) to ``clk_out``, ``lock`` high once locked."""
    if isinstance(p, Ice40Pll):
        return Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
            p_DIVR=p.divr, p_DIVF=p.divf, p_DIVQ=p.divq, p_FILTER_RANGE=p.filter_range,
            io_PACKAGEPIN=clk_in, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=clk_out, o_LOCK=lock)
    cphase = p.clkop_div // 2 - 1       # what ecppll writes (a 0-degree CLKOP)
    return Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=f"{p.f_in_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{p.f_out_mhz:g}",
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
        a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
        p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
        p_CLKI_DIV=p.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.clkop_div,
        p_CLKOP_CPHASE=cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
        p_CLKFB_DIV=p.clkfb_div,
        i_RST=0, i_STDBY=0, i_CLKI=clk_in, o_CLKOP=clk_out, i_CLKFB=clk_out,
        i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
        i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=lock)
