"""Write a generator script's files, or with ``--check`` say which committed ones differ (shared by the suite generators)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def write_or_check(description: str, default_out: Path, outputs: Callable[[], Mapping[str, str]], argv: Sequence[str] | None, out_help: str = "") -> int:
    """The command line of a script that writes ``outputs()`` (relative path -> text) below ``--out``; 1 when ``--check`` finds stale files."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing them")
    parser.add_argument("--out", type=Path, default=default_out, help=out_help or None)
    args = parser.parse_args(argv)
    stale = []
    for name, text in outputs().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale in {args.out}: {', '.join(stale)}; run python {Path(sys.argv[0]).as_posix()}", file=sys.stderr)
        return 1
    return 0
