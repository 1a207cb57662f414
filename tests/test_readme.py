"""The README works as written: its Python blocks run, in order, and print what they say; its
test command is the one CI runs; every relative link in it and in docs/ points at a file that
exists (so they work from a checkout and from the sdist, which carries docs/)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), re.M | re.S)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(BLOCKS) >= 4
    monkeypatch.chdir(tmp_path)  # the tour saves a tree to device.db
    namespace: dict[str, object] = {"__name__": "__readme__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for number, block in enumerate(BLOCKS, 1):
            exec(compile(block, f"README.md block {number}", "exec"), namespace)  # noqa: S102
    printed = out.getvalue()
    # What the comments in the tour say is printed.
    for expected in ("<SyncML xmlns=\"SYNCML:SYNCML1.2\">", "['Alert'] True []", "truncated 6",
                     "eco", "425 acl", "<MgmtTree xmlns=\"syncml:dmddf1.2\">", "quiet",
                     "Get 200 ['2.4.1']", "Replace 200 []", "turbo",
                     '<enabled/><data id="Prompt" value="x"/>'):
        assert expected in printed, expected
    assert (tmp_path / "device.db").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"^    \$ (.*pytest.*)$", README.read_text(encoding="utf-8"), re.M)
    assert commands == ["pip install -e '.[test]' && python -m pytest -q"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "sed -n 's/^    \\$ \\(.*pytest.*\\)$/\\1/p' README.md" in ci


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name}: {target}"
