"""Every relative link in the repository's Markdown leads to a file inside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
ANCHORED = re.compile(r"\]\(([^)#\s]*)#([^)\s]+)\)")


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


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings (outside code blocks)."""
    found, fence = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            text = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower())
            found.add(text.replace(" ", "-"))
    return found


def test_every_anchor_names_a_heading_of_its_page() -> None:
    """A section moved between pages leaves no link pointing at where it was."""
    broken = []
    for name in markdown_files():
        page = PROJECT_ROOT / name
        for path, anchor in ANCHORED.findall(page.read_text()):
            if re.match(r"[a-z]+:", path):
                continue
            target = (page.parent / path).resolve() if path else page
            if target.suffix == ".md" and anchor not in heading_anchors(target):
                broken.append(f"{name}: {path}#{anchor}")
    assert broken == []


def test_the_readme_is_a_front_door_to_every_docs_page() -> None:
    """Under 1,500 words (what it is, the two commands, where to look next), and every page of
    docs/ reachable from it."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert len(readme.split()) < 1500
    linked = {target for target in LINK.findall(readme)}
    pages = {f"docs/{page.name}" for page in (PROJECT_ROOT / "docs").glob("*.md")}
    assert sorted(pages - linked) == []
