"""Every file the library reads at run time ships with it, so that an installed copy works.

A regular (non-editable) install copies only the package's modules and the files named as
package data in ``pyproject.toml``; a file left out there, or read from outside the package,
exists in a checkout but not in an install. ``.ci/run`` installs the package that way in a
fresh virtual environment and runs an example with it.
"""

import tomllib
from pathlib import Path

import trial
from trial.config.load import SCHEMA_PATH

from ...conftest import ROOT

PACKAGE = Path(trial.__file__).parent


def test_every_data_file_of_the_package_is_named_as_package_data():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = settings["tool"]["setuptools"]["package-data"]["trial"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    data = {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    missing = sorted(str(p.relative_to(PACKAGE)) for p in data - shipped)
    assert not missing, f"files of the package that an install would leave out: {missing}"


def test_the_config_schema_is_read_from_inside_the_package():
    path = Path(str(SCHEMA_PATH))
    assert path.is_file()
    assert path.is_relative_to(PACKAGE), f"{path} lies outside the package {PACKAGE}"
