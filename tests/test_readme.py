"""The README's reference tables stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_taskbench.settings import OPTIONS, options_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_options_table_matches_the_option_table() -> None:
    match = re.search(r"<!-- options:begin -->\n(.*?)\n<!-- options:end -->", README, re.DOTALL)
    assert match, "README.md lost its options block"
    assert match.group(1) == options_markdown(), "README options table is stale: run python scripts/update_readme_options.py"


def test_every_option_is_in_the_readme() -> None:
    missing = [option.flag for option in OPTIONS if f"`{option.flag}" not in README]
    assert missing == []
