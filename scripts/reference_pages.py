"""Fill the docs' generated blocks from the code's own tables, so the reference cannot drift.

A page marks a block with ``<!-- generated:NAME -->`` ... ``<!-- /generated:NAME -->``;
this script rewrites what lies between from the table NAME names:

- ``options``: every ``--taskbench-*`` option (``settings.OPTIONS``);
- ``gates``: every gate (``verdict/gates.py``'s table);
- ``scorers``: every registered scorer, its pack and its parameters with their defaults.

    python scripts/reference_pages.py            # rewrite the blocks
    python scripts/reference_pages.py --check    # fail when one is stale (tests/test_docs.py runs this)
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path

from pytest_taskbench.scoring.registry import _REGISTRY, registered_scorers
from pytest_taskbench.settings import options_markdown
from pytest_taskbench.verdict.gates import GATES

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z_]+) -->\n).*?(<!-- /generated:(?P=name) -->)", re.DOTALL)


def gates_markdown() -> str:
    rows = ["| gate (suite key, option) | threshold | default | needs a baseline | fails the run when |", "| --- | --- | --- | --- | --- |"]
    for name, gate in GATES.items():
        option = f"`--taskbench-{name.replace('_', '-')}" + ("" if gate.kind.metavar is None else f"={gate.kind.metavar}") + "`"
        default = "off" if gate.default is None else f"`{gate.default}`"
        rows.append(f"| `{name}`, {option} | {gate.kind.describe} | {default} | {'yes' if gate.needs_baseline else 'no'} | {gate.help} |")
    return "\n".join(rows)


def _parameters(factory: Callable[..., object]) -> str:
    shown = []
    for parameter in inspect.signature(factory).parameters.values():
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        default = "" if parameter.default is inspect.Parameter.empty else f" ({parameter.default!r})"
        shown.append(f"`{parameter.name}`{default}")
    return ", ".join(shown) or "none"


def scorers_markdown() -> str:
    rows = ["| scorer | pack | what it checks | parameters (default) |", "| --- | --- | --- | --- |"]
    for name, factory in sorted(registered_scorers().items()):
        pack = _REGISTRY[name].pack or "core"
        summary = (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{name}` | {pack} | {summary} | {_parameters(factory).replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


CODE_SPAN = re.compile(r"`[^`\n]*`")


def site_options_markdown() -> str:
    """The options table as the site renders it: ``options_markdown`` escapes ``|`` for GitHub's tables, where a code
    span needs it; Python-Markdown's tables leave pipes inside a code span alone and would show the backslash."""
    return CODE_SPAN.sub(lambda span: span.group(0).replace("\\|", "|"), options_markdown())


GENERATORS: dict[str, Callable[[], str]] = {"options": site_options_markdown, "gates": gates_markdown, "scorers": scorers_markdown}


def filled(text: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in GENERATORS:
            raise SystemExit(f"unknown generated block {name!r}; known: {', '.join(GENERATORS)}")
        return match.group(1) + GENERATORS[name]() + "\n" + match.group(3)

    return BLOCK.sub(fill, text)


def pages() -> list[Path]:
    return sorted((ROOT / "docs").rglob("*.md"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        new = filled(text)
        if new != text:
            if args.check:
                stale.append(str(page.relative_to(ROOT)))
            else:
                page.write_text(new, encoding="utf-8")
                print(f"updated {page.relative_to(ROOT)}")
    if stale:
        print(f"stale generated blocks (run python scripts/reference_pages.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
