"""The controller's cycle model is what the hardware does (``rtl/controller.py``).

The README's and the bench's cycle tables come from
:func:`fptt.rtl.controller.cycle_model`; here the core runs in the Amaranth
simulator, its frames offered back to back (the input frame waiting, the
output frame taken at once, as the model assumes), and its own counters
``CYCLES``, ``PERF_FWD``, ``PERF_BWD`` and ``PERF_UPD`` must equal the model
evaluated on the same activity, cycle for cycle: dense inputs and sparse cue
spikes, single- and dual-port weight memories, windows of one and of several
steps, one and two lanes. The activity (non-zero inputs, spikes of every step)
comes from the golden model, which the core equals bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from fptt.config import CoreConfig
from fptt.golden.fixed_core import FixedState, init_state, step
from fptt.golden.weights import init_weights
from fptt.rtl.controller import (backward_cycles, cycle_model, step_cycles, update_cycles,
                                 window_cycles)
from fptt.sim.stimulus import sequence_frames
from fptt.sim.testbench import run_stream
from fptt.tasks.base import with_targets
from fptt.tasks.cue import make_cue_task


def small_cfg(**kw) -> CoreConfig:
    base = dict(n_in=8, n_hidden=8, n_out=2, window_max=8, lanes=1)
    base.update(kw)
    return CoreConfig().replace(**base)


def run_frames(cfg, n_steps: int, dense: bool, seed: int = 0):
    """Frames of short cue sequences (``dense``: every input non-zero instead)."""
    task = make_cue_task(cfg, seed=seed, n_train=8, n_test=1)
    frames, i = [], 0
    while len(frames) < n_steps:
        frames += sequence_frames(cfg, with_targets(task.train_set()[i], "final"))
        i += 1
    if dense:
        rng = np.random.default_rng(seed)
        for fr in frames:
            v = rng.integers(1, cfg.formats.x.max + 1, cfg.n_in) * rng.choice([-1, 1], cfg.n_in)
            fr["x"] = [int(a) for a in v]
    return frames


def modelled(cfg, frames, start):
    """The cycle model summed over the run: per step its activity from the golden model."""
    st, cache = FixedState.from_arrays(start.arrays()), {}
    fwd = bwd = upd = 0
    window = []                     # (nx, ns_prev, ns) of the open window's steps
    s_prev = int(np.count_nonzero(st.s[0]))
    for fr in frames:
        t = 0 if fr["sos"] else int(st.count[0])
        ns_prev = 0 if fr["sos"] else s_prev
        step(cfg, st, np.asarray(fr["x"])[None], np.asarray(fr["target"])[None],
             np.array([fr["has_target"]]), sos=fr["sos"], eos=fr["eos"], learn=True,
             draws_cache=cache)
        s_prev = int(np.count_nonzero(st.s[0]))
        window.append((int(np.count_nonzero(fr["x"])), ns_prev, s_prev))
        if t + 1 >= cfg.window or fr["eos"]:
            w = window_cycles(cfg, *zip(*window))
            fwd, bwd, upd = fwd + w["forward"], bwd + w["backward"], upd + w["update"]
            window = []
    assert not window, "the run ends with a closed window"
    return dict(forward=fwd, backward=bwd, update=upd, total=fwd + bwd + upd, steps=len(frames))


CASES = {
    # name: (configuration overrides, window L, dense inputs)
    "sparse-spram-L1": (dict(), 1, False),
    "dense-spram-L1": (dict(), 1, True),
    "sparse-spram-L4": (dict(), 4, False),
    "dense-spram-L4": (dict(), 4, True),
    "sparse-bram-L1": (dict(single_port_weights=False), 1, False),
    "dense-bram-L4": (dict(single_port_weights=False), 4, True),
    "sparse-bram-L4-P2": (dict(single_port_weights=False, lanes=2), 4, False),
    "dense-spram-L3-P2-nobias": (dict(lanes=2, biases=False), 3, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cycle_model_equals_the_core_counters(case):
    over, L, dense = CASES[case]
    cfg = small_cfg(window=L, **over)
    frames = run_frames(cfg, 26, dense)                       # one cue sequence (26 steps)
    start = init_state(cfg, init_weights(cfg, seed=1, gain_in=4.0, gain_rec=1.0))
    want = modelled(cfg, frames, start)
    got = run_stream(cfg, start, frames, ("CYCLES", "PERF_FWD", "PERF_BWD", "PERF_UPD",
                                          "STEPS"))
    assert got["STEPS"] == want["steps"]
    assert got["PERF_FWD"] == want["forward"] - want["steps"]     # IDLE: one cycle a step
    assert got["PERF_BWD"] == want["backward"]
    assert got["PERF_UPD"] == want["update"]
    # CYCLES (c0, c1 from sim.testbench.run_stream) from the first frame's acceptance (counter 0: the run starts at reset) to the
    # cycle in which the testbench sees the core idle again (+1: that IDLE cycle is the
    # next step's), and as the register read over the bus (+3: the read's own cycles)
    assert got["c0"] == 0
    assert got["c1"] == want["total"] + 1
    assert got["CYCLES"] == got["c1"] + 3


def test_cycle_model_is_window_cycles_at_uniform_activity():
    cfg = small_cfg(window=4, lanes=2)
    for L, nx, ns in ((1, None, None), (4, 3, 2), (4, 0.5, 1.5)):
        m = cycle_model(cfg, L, nx, ns)
        nx_, ns_ = (cfg.n_in if nx is None else nx), (cfg.n_hidden if ns is None else ns)
        assert m["forward"] == L * step_cycles(cfg, nx_, ns_, ns_)
        assert m["backward"] == backward_cycles(cfg, [nx_] * (L - 1))
        assert m["update"] == update_cycles(cfg)
        assert m["total"] == m["forward"] + m["backward"] + m["update"]
    inf = cycle_model(cfg, 3, learn=False)
    assert inf["backward"] == inf["update"] == 0
    assert inf["total"] == 3 * step_cycles(cfg, cfg.n_in, cfg.n_hidden, cfg.n_hidden, False)
