"""The README's links resolve inside the repository, and nothing points outside it."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _relative_links(text: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", text)  # [text](target)
    targets += re.findall(r"`((?:docs|examples|benchmarks|tests|src)/[\w./-]+\.(?:md|py))`", text)
    return [t.split("#")[0] for t in targets
            if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_every_relative_link_in_the_docs_exists():
    missing = []
    for doc in DOCS:
        for target in _relative_links(doc.read_text()):
            if target and not (doc.parent / target).exists() and not (ROOT / target).exists():
                missing.append(f"{doc.name}: {target}")
    assert not missing, missing


def test_the_link_check_sees_links():
    links = _relative_links((ROOT / "README.md").read_text())
    assert "docs/design.md" in links and "docs/imperative-autograd.md" in links


def test_docs_do_not_point_outside_the_repository():
    for doc in DOCS:
        text = doc.read_text()
        assert "/work/" not in text and "shared/spec" not in text and "DESIGN.md" not in text, \
            doc.name
