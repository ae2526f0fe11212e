"""Checkpoints of the golden model: every load is validated (issue 14, item 2), and
NaN or infinite host inputs are refused."""

import numpy as np
import pytest

from fptt.config import CoreConfig
from fptt.golden.compiled import CompiledFixedCore
from fptt.golden.fixed_core import CheckpointError, FixedCore, FixedState
from fptt.golden.weights import init_weights

CFG = CoreConfig(n_in=3, n_hidden=5, n_out=2, window=4, window_max=6, lanes=2)
LOADERS = [FixedCore.load, CompiledFixedCore.load]


def _core(cls=FixedCore, cfg=CFG, steps=9):
    core = cls(cfg, init_weights(cfg, 0), batch=2)
    rng = np.random.default_rng(1)
    for t in range(steps):
        core.step(rng.integers(0, 2, (2, cfg.n_in)), rng.random((2, cfg.n_out)), True,
                  sos=t == 0)
    return core


@pytest.fixture()
def saved(tmp_path):
    path = tmp_path / "c.npz"
    _core().save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return path, arrays


def _rewrite(path, arrays, **changes):
    out = dict(arrays)
    for k, v in changes.items():
        if v is None:
            out.pop(k)
        else:
            out[k] = v
    bad = path.with_name("bad.npz")
    np.savez(bad, **out)
    return bad


@pytest.mark.parametrize("load", LOADERS)
def test_unreadable_files_name_the_file(tmp_path, saved, load):
    path, _ = saved
    data = path.read_bytes()
    cases = {"trunc.npz": data[:len(data) // 2], "random.npz": np.random.default_rng(0).bytes(500),
             "empty.npz": b""}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=rf"checkpoint '.*{name}': not a"):
            load(tmp_path / name)
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match="plain.npy'.*not an .npz archive"):
        load(tmp_path / "plain.npy")
    with pytest.raises(CheckpointError, match="nope.npz' does not exist"):
        load(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="is a directory"):
        load(tmp_path)


BAD = {
    "missing key": (dict(u=None), "field 'u' is missing"),
    "missing weight": ({"lam.w_rec": None}, "field 'lam.w_rec' is missing"),
    "wrong shape": (dict(o=np.zeros((2, 3), np.int64)), "field 'o' has shape (2, 3), expected (2, 2)"),
    "float dtype": (dict(a=np.zeros((2, 5))), "field 'a' has dtype float64, expected integers"),
    "weight wraps": ({"w.w_in": np.full((2, 5, 3), 2 ** 62)}, "field 'w.w_in' holds 4611686018427387904, outside [-32768, 32767]"),
    "lambda format": ({"lam.b": np.full((2, 5, 1), -40000)}, "field 'lam.b' holds -40000"),
    "spike 5": (dict(s=np.full((2, 5), 5)), "field 's' holds 5, outside [0, 1]"),
    "buffered spike": (dict(buf_s=np.full((2, 7, 5), -1)), "field 'buf_s' holds -1"),
    "u format": (dict(u=np.full((2, 5), 1 << 20)), "field 'u' holds 1048576"),
    "lfsr zero": (dict(lfsr=np.zeros((2, 2), np.uint64)), "field 'lfsr' holds 0, outside [1, 4294967295]"),
    "lfsr wide": (dict(lfsr=np.full((2, 2), 2 ** 32, np.uint64)), "field 'lfsr' holds 4294967296"),
    "count": (dict(count=np.array([6, 6])), "field 'count' holds 6, outside [0, 5]"),
    "count split": (dict(count=np.array([1, 2])), "field 'count' differs between the cores"),
    "steps": (dict(steps=np.array([-1, 0])), "field 'steps' holds -1"),
    "sat": (dict(sat_u=np.array([5, 5])), "field 'sat_u' counts more saturations than writes"),
    "unknown": ({"w.w_x": np.zeros((2, 1, 1), np.int64)}, "field 'w.w_x' is not a state array"),
    "window": (dict(window=np.array([7, 7])), "field 'window' holds [7, 7]"),
    "window float": (dict(window=np.array([4.0, 4.0])), "field 'window' has dtype float64"),
    "config": (dict(config_toml=np.array("[core]\nwindow = true\n")), "field 'config_toml': window must be an integer"),
    "no config": (dict(config_toml=None), "field 'config_toml' is missing"),
}


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize("case", list(BAD))
def test_bad_fields_are_named(saved, load, case):
    path, arrays = saved
    if case == "sat":
        arrays = dict(arrays, writes_u=np.array([1, 1]))
    changes, message = BAD[case]
    bad = _rewrite(path, arrays, **changes)
    with pytest.raises(CheckpointError) as info:
        load(bad)
    assert f"checkpoint {str(bad)!r}: " in str(info.value)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_from_arrays_validates_with_a_config(saved):
    _, arrays = saved
    arrays = {k: v for k, v in arrays.items() if k not in ("config_toml", "window")}
    FixedState.from_arrays(arrays, CFG)
    with pytest.raises(CheckpointError, match="field 's' holds 2"):
        FixedState.from_arrays(dict(arrays, s=np.full((2, 5), 2)), CFG, "mine")
    with pytest.raises(CheckpointError, match="field 'lfsr' holds 0"):
        CompiledFixedCore.from_state(CFG, FixedState.from_arrays(
            dict(arrays, lfsr=np.zeros((2, 2), np.uint64))))


@pytest.mark.parametrize("cls", [FixedCore, CompiledFixedCore])
def test_window_is_part_of_the_checkpoint(tmp_path, cls):
    """The run-time window L (the RTL's WINDOW register) is saved and restored, and a
    saved, loaded and continued core stays bit-exact with one that never stopped."""
    cfg = CFG.replace(window=3)
    core = _core(cls, cfg)
    core.save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as data:
        assert data["window"].tolist() == [3, 3]
        arrays = {k: data[k] for k in data.files}
    for load in LOADERS:
        back = load(tmp_path / "c.npz")
        assert back.cfg.window == 3
    # a WINDOW written at run time (L = 5) travels with the state
    arrays["window"] = np.array([5, 5])
    np.savez(tmp_path / "w5.npz", **arrays)
    assert FixedCore.load(tmp_path / "w5.npz").cfg.window == 5
    # continue both: bit-exact
    back = type(core).load(tmp_path / "c.npz")
    rng = np.random.default_rng(5)
    xs, ts = rng.integers(0, 2, (7, 2, cfg.n_in)), rng.random((7, 2, cfg.n_out))
    for c in (core, back):
        for t in range(7):
            c.step(xs[t], ts[t], True, eos=t == 6)
    A, Bk = core.state.arrays(), back.state.arrays()
    assert A.keys() == Bk.keys()
    for k in A:
        np.testing.assert_array_equal(A[k], Bk[k], err_msg=k)


@pytest.mark.parametrize("cls", [FixedCore, CompiledFixedCore])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_inputs_are_refused(cls, bad):
    core = cls(CFG, init_weights(CFG, 0))
    x = np.zeros(CFG.n_in)
    x[1] = bad
    with pytest.raises(ValueError, match=r"input x holds (nan|inf|-inf)"):
        core.step(x)
    with pytest.raises(ValueError, match="input target holds"):
        core.step(np.zeros(CFG.n_in), np.array([0.0, bad]))
    with pytest.raises(ValueError, match="input x holds"):
        core.run_sequence(np.full((4, CFG.n_in), bad))
    assert core.state.steps.tolist() == [0]     # nothing ran
