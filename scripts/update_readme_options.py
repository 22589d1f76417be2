"""Rewrite the README's options table from pytest_taskbench.settings.OPTIONS (run after adding an option)."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_taskbench.settings import options_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- options:begin -->\n).*?(<!-- options:end -->)", re.DOTALL)

if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    if not BLOCK.search(text):
        raise SystemExit("README.md has no <!-- options:begin --> ... <!-- options:end --> block")
    README.write_text(BLOCK.sub(lambda m: m.group(1) + options_markdown() + "\n" + m.group(2), text), encoding="utf-8")
    print("README.md options table updated")
