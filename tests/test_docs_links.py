"""Every relative link in the repository's Markdown leads to a file inside the repository."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def markdown_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


@pytest.mark.slow
def test_relative_links_stay_inside_the_repository() -> None:
    """A reader of a clone never meets a link to a file the clone does not have (../shared/...)."""
    broken = []
    for name in markdown_files():
        page = PROJECT_ROOT / name
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(PROJECT_ROOT) or not resolved.exists():
                broken.append(f"{name}: {target}")
    assert markdown_files(), "no Markdown found"
    assert broken == []
