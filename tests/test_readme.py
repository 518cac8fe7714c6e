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


def test_two_commands_are_two_and_ci_runs_the_second():
    section = README.read_text().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)
    assert len(commands) == 2
    main_job, tests = commands
    assert main_job.endswith("-m sklearn_adamlr")
    # .ci/run installs the same extras (and docs) and runs the same pytest
    ci = (README.parent / ".ci" / "run").read_text()
    extras = re.search(r'-e "\.\[(.*?)\]"', tests).group(1).split(",")
    ci_extras = re.search(r'-e "\.\[(.*?)\]"', ci).group(1).split(",")
    assert set(ci_extras) == set(extras) | {"docs"}
    pytest_args = re.search(r"python -m pytest([^&]*)", tests).group(1).strip()
    assert f"-m pytest {pytest_args}" in ci
    # the quick command leaves the slow tests out; CI runs them as well
    assert pytest_args.endswith('-m "not slow"')
    assert pytest_args.replace('-m "not slow"', "-m slow") in ci


def test_the_use_snippet_says_the_scale_of_loss_curve():
    # loss_curve_ is the objective divided by C * sum(sample_weight)
    # (tests/test_solvers.py checks the numbers): 0.066 on the snippet's
    # data, where the objective itself is 37.76
    (line,) = [
        line for line in README.read_text().splitlines() if "loss_curve_[-1]" in line
    ]
    assert "/ (C * sum(sample_weight))" in line
