"""The documentation's code runs as written: its Python blocks and doctests.

Each ``.. code-block:: python`` of ``docs/*.rst`` runs as a script in a fresh
interpreter (in a temporary folder: a block may write a file); the ``>>>``
examples of the pages run as doctests.
"""

import doctest
import re
from pathlib import Path

import pytest
from conftest import run_snippet, without_shutdown_race

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.rst"))


def _python_blocks(text):
    """The bodies of the ``code-block:: python`` directives, dedented."""
    blocks = []
    for match in re.finditer(
        r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text, re.M
    ):
        body = match.group(1)
        lines = [
            line[4:] if line.startswith("    ") else line for line in body.splitlines()
        ]
        blocks.append("\n".join(lines).strip() + "\n")
    return blocks


BLOCKS = [
    (page.name, index, block)
    for page in PAGES
    for index, block in enumerate(_python_blocks(page.read_text()))
]


def test_the_docs_have_python_blocks():
    assert len(BLOCKS) >= 5


# The shape of the record printed by the CI run that hit the race (shortened).
_RACE = """\
2026-12-01 15:40:02,117 - distributed.worker - ERROR - Failed to communicate \
with scheduler during heartbeat.
Traceback (most recent call last):
  File "distributed/core.py", line 1434, in connect
    raise CommClosedError(reason)
distributed.comm.core.CommClosedError: ConnectionPool closing.
"""
# The second kind, from a CI run of the README's Dask block (shortened).
_RACE_CLOSED = """\
2026-12-02 08:50:22,648 - distributed.worker - ERROR - Failed to communicate \
with scheduler during heartbeat.
Traceback (most recent call last):
  File "distributed/comm/tcp.py", line 226, in read
    frames_nosplit_nbytes_bin = await stream.read_bytes(fmt_size)
tornado.iostream.StreamClosedError: Stream is closed
distributed.comm.core.CommClosedError: in <TCP (closed) \
ConnectionPool.heartbeat_worker local=tcp://127.0.0.1:58952 \
remote=tcp://127.0.0.1:41283>: Stream is closed
"""
_OTHER = """\
2026-12-01 15:40:02,118 - distributed.worker - ERROR - Compute Failed
Traceback (most recent call last):
  File "sklearn_adamlr/_estimator.py", line 1, in fit
ValueError: Input X contains NaN.
"""


def test_only_the_shutdown_race_is_forgiven():
    # run_snippet ignores distributed's heartbeat race at shutdown, and
    # nothing else: a traceback before, after or instead of it still shows.
    assert "Traceback" not in without_shutdown_race(_RACE)
    assert "Traceback" not in without_shutdown_race(_RACE_CLOSED)
    assert "Traceback" not in without_shutdown_race(_RACE_CLOSED + _RACE)
    assert without_shutdown_race(_RACE_CLOSED + _OTHER).count("Traceback") == 1
    assert "Traceback" not in without_shutdown_race("0.98\n" + _RACE + _RACE)
    for stderr in (_OTHER, _RACE + _OTHER, _OTHER + _RACE, "Traceback (x)\n" + _RACE):
        assert without_shutdown_race(stderr).count("Traceback") == 1
    # the same heartbeat message ending in another error is not the race
    other_end = _RACE.replace("ConnectionPool closing.", "Timed out")
    assert "Traceback" in without_shutdown_race(other_end)
    other_pool = _RACE_CLOSED.replace("heartbeat_worker", "gather")
    assert "Traceback" in without_shutdown_race(other_pool)


@pytest.mark.parametrize("page, index, block", BLOCKS, ids=lambda v: str(v)[:20])
def test_docs_block_runs_as_written(tmp_path, page, index, block):
    run_snippet(tmp_path, f"{Path(page).stem}_{index}.py", block)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if ">>>" in p.read_text()], ids=lambda p: p.name
)
def test_docs_doctests(page):
    failed, attempted = doctest.testfile(
        str(page), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert attempted > 0 and failed == 0


def test_the_extras_that_bring_numba_say_so():
    # dask-ml requires numba: the dask extra switches the compiled kernels on
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = DOCS.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("dask-ml") for req in extras["dask"])
    install = (DOCS / "install.rst").read_text()
    (line,) = [x for x in install.splitlines() if 'install -e ".[dask]"' in x]
    assert "numba" in line
    readme = (DOCS.parent / "README.md").read_text()
    assert "dask-ml brings numba" in readme


def test_the_docs_extra_brings_what_the_pages_import():
    # the API page documents sklearn_adamlr.onnx (skl2onnx at import), the
    # gallery and the user guide use sklearn.callback (scikit-learn 1.9)
    tomllib = pytest.importorskip("tomllib")
    pyproject = DOCS.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert "sklearn_adamlr.onnx" in (DOCS / "api.rst").read_text()
    assert set(extras["onnx"]) <= set(extras["docs"])
    assert "scikit-learn>=1.9" in extras["docs"]
