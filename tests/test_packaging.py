"""The wheel builds, installs into a fresh virtual environment and imports."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_imports_in_a_fresh_venv(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("sklearn_adamlr-*.whl")
    # an SPDX expression (the TOML-table form is deprecated by setuptools)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith("/METADATA")]
        assert "License-Expression: BSD-3-Clause" in archive.read(metadata).decode()
        # the license's text ships with it; the tests' set-up does not
        (license,) = [n for n in names if n.endswith("licenses/LICENSE")]
        assert b"BSD 3-Clause License" in archive.read(license)
        assert [n for n in names if n.endswith("conftest.py")] == []
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    # The dependencies come from this environment through a .pth line, so the
    # test needs no download; the package itself comes only from the wheel (a
    # directory added by a .pth line is not scanned for .pth files, so this
    # environment's editable install does not leak in).
    site = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = Path(numpy.__file__).resolve().parents[1]
    (Path(site) / "_test_deps.pth").write_text(f"{deps}\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import importlib.metadata as m, pathlib, sklearn_adamlr as s;"
        "from sklearn_adamlr import _cli;"
        "print(s.__version__, m.version('sklearn-adamlr'),"
        " (pathlib.Path(s.__file__).parent / 'py.typed').exists(),"
        " pathlib.Path(s.__file__).resolve().parent.parent,"
        " _cli._from_checkout())"
    )
    out = subprocess.run(
        [str(python), "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    ).stdout.split()
    assert out[0] == out[1] != "0+unknown"
    assert out[2] == "True"
    assert Path(out[3]) == Path(site).resolve()
    # installed from a wheel: the main job's hints name the package, not -e
    assert out[4] == "False"
