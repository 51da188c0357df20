"""The repository cites only what it contains: no outside spec file, no tracker issue numbers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tracked_text() -> dict[str, str]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    out = {}
    for name in names:
        path = ROOT / name
        if path.is_file() and path.suffix not in (".pdf", ".png", ".csv"):
            out[name] = path.read_text(errors="replace")
    return out


def test_nothing_cites_a_spec_file_the_repository_does_not_have():
    outside = "METHOD" + ".md"  # spelled apart so this file does not match itself
    hits = [name for name, text in _tracked_text().items() if outside in text]
    assert not hits, f"{outside} is cited by {hits}; cite docs/method.md instead"
    assert (ROOT / "docs" / "method.md").is_file()


def test_nothing_cites_tracker_issue_numbers():
    pattern = re.compile(r"\bissues? #?\d+", re.IGNORECASE)
    hits = [f"{name}: {m.group(0)}" for name, text in _tracked_text().items() for m in pattern.finditer(text)]
    assert not hits, hits


def test_method_document_sections_cited_exist():
    sections = set(re.findall(r"^#+ §([\d.]+)", (ROOT / "docs" / "method.md").read_text(), re.MULTILINE))
    cited = {(name, s.rstrip(".")) for name, text in _tracked_text().items()
             for s in re.findall(r"docs/method\.md §([\d.]+)", text)}
    missing = sorted(c for c in cited if c[1] not in sections)
    assert not missing, f"citations of sections docs/method.md does not have: {missing}"
