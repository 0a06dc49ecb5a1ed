"""README's quick start is what CI runs: two commands, the second is the test command."""
import re

from conftest import REPO


def _quick_start():
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_quick_start_has_two_commands():
    demo, tests = _quick_start()
    assert "configs/demo.yaml" in demo and "--eval" in demo
    assert (REPO / "configs" / "demo.yaml").is_file()
    assert "pytest" in tests and '".[test]"' in tests


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "grep -m1 -A1 '^# 2)' README.md" in ci
    text = (REPO / "README.md").read_text()
    after = text.split("\n# 2)", 1)[1].splitlines()[1]
    assert after == _quick_start()[1]
