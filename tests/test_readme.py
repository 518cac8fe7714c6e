"""README.md's Python blocks run as written, each in a fresh interpreter."""

import re
from pathlib import Path

import pytest
from conftest import run_snippet

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_its_python_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_as_written(tmp_path, index):
    run_snippet(tmp_path, f"readme_block_{index}.py", BLOCKS[index])
