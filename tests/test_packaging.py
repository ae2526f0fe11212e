"""The installed `fptt` package maps every source folder (golden/, rtl/, sim/, fptt/)."""

import importlib
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setuptools_config():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def test_every_source_package_is_listed():
    """A folder with an __init__.py under a mapped root must be in `packages`,
    or a non-editable install silently drops it."""
    cfg = _setuptools_config()
    listed = set(cfg["packages"])
    found = set()
    for name, folder in cfg["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([name, *rel.parts]))
    # Nested mapped roots (fptt.golden inside fptt) are found from both sides.
    missing = sorted(found - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_packages_import():
    for name in _setuptools_config()["packages"]:
        module = importlib.import_module(name)
        assert module.__file__ is not None
