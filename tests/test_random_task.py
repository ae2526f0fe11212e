"""The random stimulus task and the co-simulation frames built from it.

:class:`fptt.tasks.random_task.RandomTask` and
:func:`fptt.sim.stimulus.random_frames` must give the core what the cue task
never does: any ``n_in``/``n_out``, signed multi-bit inputs over the whole
input format, single-step sequences (``sos`` and ``eos`` together), targets
with learning off, missing ``sos``/``eos``, and WINDOW changes; and the golden
model must follow a WINDOW change the way the RTL does.
"""

from __future__ import annotations

import numpy as np
import pytest

from fptt.config import CoreConfig
from fptt.golden.fixedpoint import to_codes
from fptt.sim.stimulus import random_frames
from fptt.tasks import RandomTask, make_random_task, make_task


def _cfg(**kw) -> CoreConfig:
    return CoreConfig().replace(**{**dict(n_in=13, n_hidden=29, n_out=3, lanes=2), **kw})


def test_random_task_sizes_and_grid():
    cfg = _cfg()
    task = make_random_task(cfg, seed=4)
    assert (task.n_in, task.n_out, task.kind) == (13, 3, "regression")
    seqs = [task.make("train", i) for i in range(200)]
    lengths = [s.steps for s in seqs]
    assert min(lengths) == 1 and max(lengths) <= 32 and sum(n == 1 for n in lengths) > 30
    x = np.concatenate([s.x for s in seqs])
    codes = to_codes(x, cfg.formats.x)
    # exactly on the grid of formats.x: quantisation changes nothing
    assert np.array_equal(codes * cfg.formats.x.lsb, x)
    assert codes.min() == cfg.formats.x.min and codes.max() == cfg.formats.x.max
    assert 0.3 < np.mean(codes == 0) < 0.5 and np.mean(codes == 64) > 0.15
    assert np.mean(codes < 0) > 0.15
    assert len(np.unique(codes)) > 200       # multi-bit, not spikes
    t = np.concatenate([s.target for s in seqs])
    has = np.concatenate([s.has_target for s in seqs])
    assert 0.4 < has.mean() < 0.6 and not t[~has].any() and (t[has] < 0).any()
    # a pure function of (seed, split, index)
    again = task.make("train", 7)
    assert np.array_equal(again.x, seqs[7].x)
    assert not np.array_equal(task.make("test", 7).x, seqs[7].x) or seqs[7].steps == 1


def test_random_task_registered_and_checks_options():
    task = make_task("random", n_in=5, n_out=1, n_train=3)
    assert isinstance(task, RandomTask) and len(task.train_set()) == 3
    with pytest.raises(ValueError, match="n_in must be an integer >= 1"):
        RandomTask(n_in=0)
    with pytest.raises(ValueError, match="p_zero"):
        RandomTask(p_zero=1.5)
    with pytest.raises(ValueError, match="p_zero \\+ p_spike"):
        RandomTask(p_zero=0.7, p_spike=0.5)


def test_random_frames_cover_the_host_cases():
    cfg = _cfg()
    frames = random_frames(cfg, 300, seed=0)
    assert len(frames) >= 300
    assert all(len(f["x"]) == 13 and (f["target"] is None or len(f["target"]) == 3)
               for f in frames)
    both = [f for f in frames if f["sos"] and f["eos"]]
    assert len(both) >= 5
    assert sum(f["has_target"] and not f["learn"] for f in frames) >= 10
    assert sum(not f["learn"] for f in frames) > 30 and sum(f["learn"] for f in frames) > 150
    windows = [f["window"] for f in frames if "window" in f]
    assert len(windows) >= 5 and all(1 <= w <= cfg.window_max for w in windows)
    assert min(windows) <= 4
    # eos left out: the next sequence starts without the window being closed
    assert any(not a["eos"] and b["sos"] for a, b in zip(frames, frames[1:]))
    x = np.array([f["x"] for f in frames])
    assert (x < 0).any() and (x > 1 << cfg.formats.x.frac).any()
    assert random_frames(cfg, 300, seed=0) == frames
    assert random_frames(cfg, 300, seed=1) != frames


def test_scoreboard_follows_window_changes():
    """The golden model closes a window at the WINDOW the frame set, as the RTL does."""
    pytest.importorskip("cocotb")
    from fptt.sim.scoreboard import Scoreboard
    from fptt.sim.stimulus import initial_state
    cfg = _cfg(n_in=4, n_hidden=6, n_out=2, window=8, window_max=8, lanes=1)
    sb = Scoreboard(cfg, initial_state(cfg))
    x = [64, 0, -5, 0]
    closed = []
    for t in range(6):
        fr = dict(x=x, target=[0, 0], has_target=False, sos=t == 0, eos=False, learn=True)
        if t == 0:
            fr["window"] = 2
        if t == 4:
            fr["window"] = 1
        exp = sb.golden_step(fr)
        closed.append(exp["status"] & 1)
    assert closed == [0, 1, 0, 1, 1, 1]
    assert sb.cfg.window == 1 and int(sb.state.windows[0]) == 4
    sb.check_state({"window": np.array(1)})
    from fptt.sim.scoreboard import Mismatch
    with pytest.raises(Mismatch, match="WINDOW register"):
        sb.check_state({"window": np.array(8)})
