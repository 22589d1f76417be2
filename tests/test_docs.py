"""The docs stay true: every output they show comes from running the command, and the reference comes from the code.

- every ``text`` block in the docs is an included example (``docs/examples/*.txt``, written by
  ``scripts/docs_examples.py``), and every example is shown somewhere;
- the README's output blocks equal an example;
- the generated reference blocks (options, gates, scorers) are up to date;
- every page is in the site's navigation, and the README stays a short landing page whose links lead somewhere;
- (slow) running every example again gives what the docs show, timings aside.

``.ci/run`` builds the site with ``mkdocs build --strict`` (a broken link or reference fails CI).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.scripts import script

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
TEXT_BLOCK = re.compile(r"^```text\n(.*?)^```", re.DOTALL | re.MULTILINE)
INCLUDE = re.compile(r'^--8<-- "docs/examples/([\w\-]+)\.txt"$')
MAX_README_PROSE_LINES = 160  # the README's own words; the main job's recorded output block grows with what the run prints


EXAMPLES = script("docs_examples")
REFERENCE = script("reference_pages")
PAGES = sorted(DOCS.rglob("*.md"))


def shown_examples() -> dict[str, list[str]]:
    """Example name -> the pages that include it."""
    shown: dict[str, list[str]] = {}
    for page in PAGES:
        for block in TEXT_BLOCK.findall(page.read_text(encoding="utf-8")):
            match = INCLUDE.match(block.strip())
            if match:
                shown.setdefault(match.group(1), []).append(str(page.relative_to(ROOT)))
    return shown


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_every_output_block_is_an_included_example(page: Path) -> None:
    for block in TEXT_BLOCK.findall(page.read_text(encoding="utf-8")):
        assert INCLUDE.match(block.strip()), f"{page.relative_to(ROOT)}: a text block that is not an example: {block[:200]!r}"


def test_every_example_is_shown_and_every_shown_example_exists() -> None:
    declared = {example.name for example in EXAMPLES.load_examples()}
    shown = set(shown_examples()) | set(readme_examples())
    assert declared - shown == set(), "examples no page shows"
    assert shown - declared == set(), "pages show examples nobody declares"
    for name in declared:
        assert (DOCS / "examples" / f"{name}.txt").is_file(), f"{name}: run python scripts/docs_examples.py {name}"


def readme_examples() -> dict[str, str]:
    """README output blocks by the example they reproduce: a block starts with the example's ``$ command`` line."""
    found = {}
    for block in TEXT_BLOCK.findall(README.read_text(encoding="utf-8")):
        command = block.splitlines()[0]
        matching = [e for e in EXAMPLES.load_examples() if command == f"$ {e.command}"]
        assert len(matching) == 1, f"README.md: an output block that reproduces no example: {command!r}"
        found[matching[0].name] = block
    return found


def test_the_readmes_output_blocks_are_examples_as_recorded() -> None:
    for name, block in readme_examples().items():
        recorded = (DOCS / "examples" / f"{name}.txt").read_text(encoding="utf-8")
        assert EXAMPLES.masked(block) == EXAMPLES.masked(recorded), f"README.md's {name} block differs from docs/examples/{name}.txt"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_generated_reference_blocks_are_up_to_date(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert REFERENCE.filled(text) == text, f"{page.relative_to(ROOT)}: run python scripts/reference_pages.py"


def test_the_reference_pages_hold_the_generated_blocks() -> None:
    for name, page in (("options", "reference/options.md"), ("gates", "reference/gates.md"), ("scorers", "reference/scorers.md")):
        assert f"<!-- generated:{name} -->" in (DOCS / page).read_text(encoding="utf-8"), page


def nav_pages(entries: object) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in nav_pages(value)]
    return []


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert sorted(nav_pages(config["nav"])) == sorted(str(page.relative_to(DOCS)) for page in PAGES)


def test_the_readme_is_a_landing_page() -> None:
    prose = re.sub(r"^```text\n.*?^```\n", "", README.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    assert len(prose.splitlines()) <= MAX_README_PROSE_LINES


def test_the_readmes_links_lead_to_files_that_exist() -> None:
    """mkdocs checks the site's links; the README is not part of the site, so its links are checked here."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    local = [target for target in targets if "://" not in target]
    assert local, "the README links to no page of the manual"
    assert [target for target in local if not (ROOT / target).exists()] == []


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(example.name for example in EXAMPLES.load_examples()))
def test_each_example_gives_what_the_docs_show(name: str) -> None:
    assert EXAMPLES.main(["--check", name]) == 0
