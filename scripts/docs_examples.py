"""Every command output the docs show, produced by running the command.

Examples are declared in ``docs/examples/*.yaml`` (one file per part of the
docs), each a list of::

    - name: quickstart            # the output goes to docs/examples/quickstart.txt
      command: pytest cases ...   # run by bash in a fresh scratch directory, shown after "$"
      setup: [cp a b, ...]        # run first, not shown (optional)
      files: [cases, models]      # what the scratch directory holds (default: both; also "cases-tools", "tutorial")
      copy: [docs/examples/files/x]  # repository paths copied in before setup (a directory: its contents; optional)
      trim: from_summary          # what of the output the page shows: everything, from_summary, failure_section, failures_only, last:N
      exit_status: 0              # the status the command must end with (default 0)
      env: {NAME: value}          # extra environment (optional)

The scratch directory holds copies of the shipped suite (``cases``) or its tool-call
variant (``cases-tools``), a link to the shipped models (``models``) or the tutorial's files (``docs/tutorial/files``,
``tutorial``), then whatever ``copy`` names (paths relative to the repository, so a
page can include the very file an example runs). The pages include the output files;
an output block in the README that starts with an example's ``$ command`` line is
rewritten with it. Timings, the moments baselines were saved (ISO times), and how busy
a server was kept (requests, the most in flight) are masked when comparing::

    python scripts/docs_examples.py               # run every example and rewrite the files
    python scripts/docs_examples.py --check       # run them; fail on any difference
    python scripts/docs_examples.py quickstart    # only these
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "examples"
README = ROOT / "README.md"
TUTORIAL = ROOT / "docs" / "tutorial" / "files"
TIMING = re.compile(r"\b\d+(\.\d+)?s\b|\d+\.\d+/s|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LONG_RUN = re.compile(r" \(\d+:\d\d:\d\d\)")  # pytest adds "(0:01:12)" to a run over a minute
# how busy a server was kept depends on timing (adaptive concurrency, retries racing a server that went away)
HTTP_TRAFFIC = re.compile(r"; \d+ requests, up to \d+ in flight \(cap \d+\)(, \d+(\.\d+)? requests/s)?")


def from_summary(text: str) -> str:
    """From the first taskbench summary on, every FAILED line but the first replaced by one line."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "taskbench: " in line and line.startswith("=")), 0)
    kept: list[str] = []
    failed = 0
    for line in lines[start:]:
        if line.startswith("FAILED "):
            failed += 1
            if failed == 1:
                kept.append(line)
            elif failed == 2:
                kept.append("... (one line per failing case)")
            continue
        kept.append(line)
    return "\n".join(kept)


def failures_only(text: str) -> str:
    """pytest's FAILURES section alone: the failure reports, without the summary after them."""
    lines = failure_section(text).splitlines()
    end = next((i for i, line in enumerate(lines) if i and line.startswith("=")), len(lines))
    return "\n".join(lines[:end])


def failure_section(text: str) -> str:
    """From pytest's FAILURES section to the end: the failure report and the summary."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "FAILURES" in line and line.startswith("=")), 0)
    return "\n".join(lines[start:])


def everything(text: str) -> str:
    return text


def last(count: int) -> Callable[[str], str]:
    def tail(text: str) -> str:
        return "\n".join(text.splitlines()[-count:])

    return tail


@dataclass(frozen=True)
class Example:
    """One command whose output a page shows.

    Attributes:
        name: the file ``docs/examples/<name>.txt``.
        command: run by bash in the scratch directory, and shown after ``$``.
        setup: shell commands run before it, not shown (files, an earlier step).
        files: what the scratch directory holds: ``cases`` (a copy of the shipped suite),
            ``cases-tools`` (a copy of its tool-call variant), ``models`` (a link to the shipped models),
            ``tutorial`` (the tutorial's files, copied in).
        trim: what of the output the page shows.
        exit_status: the status the command must end with.
        copy: repository paths copied into the scratch directory after ``files``: a file
            under its own name, a directory's contents.
    """

    name: str
    command: str
    setup: tuple[str, ...] = ()
    files: tuple[str, ...] = ("cases", "models")
    trim: Callable[[str], str] = everything
    exit_status: int = 0
    env: dict[str, str] = field(default_factory=dict)
    copy: tuple[str, ...] = ()


TRIMS: dict[str, Callable[[str], str]] = {
    "everything": everything,
    "from_summary": from_summary,
    "failure_section": failure_section,
    "failures_only": failures_only,
}


def _trim(spec: str) -> Callable[[str], str]:
    if spec.startswith("last:"):
        return last(int(spec.removeprefix("last:")))
    return TRIMS[spec]


def load_examples(directory: Path = OUT) -> tuple[Example, ...]:
    """Every example declared in ``directory/*.yaml``, in file order; a name used twice is an error."""
    examples: list[Example] = []
    for path in sorted(directory.glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            examples.append(
                Example(
                    name=item["name"],
                    command=item["command"].strip(),
                    setup=tuple(item.get("setup", ())),
                    files=tuple(item.get("files", ("cases", "models"))),
                    trim=_trim(item.get("trim", "everything")),
                    exit_status=int(item.get("exit_status", 0)),
                    env={str(k): str(v) for k, v in (item.get("env") or {}).items()},
                    copy=tuple(item.get("copy", ())),
                )
            )
    names = [e.name for e in examples]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SystemExit(f"examples declared twice: {', '.join(duplicates)}")
    return tuple(examples)


def prepare(example: Example, scratch: Path) -> None:
    if "cases" in example.files:
        shutil.copytree(ROOT / "cases", scratch / "cases")
    if "cases-tools" in example.files:
        shutil.copytree(ROOT / "cases-tools", scratch / "cases-tools")
    if "models" in example.files:
        (scratch / "models").symlink_to(ROOT / "models")
    if "tutorial" in example.files:
        shutil.copytree(TUTORIAL, scratch, dirs_exist_ok=True)
    for name in example.copy:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, scratch, dirs_exist_ok=True)
        else:
            shutil.copy2(source, scratch / source.name)


def run(example: Example) -> str:
    """Run one example in a fresh scratch directory; the text its page shows."""
    with tempfile.TemporaryDirectory(prefix="taskbench-docs-") as directory:
        scratch = Path(directory)
        prepare(example, scratch)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "80", "NO_COLOR": "1", **example.env}
        # The development venv's test plugins (hypothesis, anyio) are not what a user running these has: keep them out.
        env["PYTEST_ADDOPTS"] = "-p no:hypothesispytest -p no:anyio"
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        # pytest stops truncating its summary lines when CI or BUILD_NUMBER is set; the pages show a user's terminal.
        for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "CI", "BUILD_NUMBER"):
            env.pop(name, None)
        for step in example.setup:
            subprocess.run(["bash", "-c", step], cwd=scratch, env=env, check=True, capture_output=True)
        done = subprocess.run(["bash", "-c", example.command], cwd=scratch, env=env, capture_output=True, text=True)
        output = (done.stdout + done.stderr).replace(str(scratch), ".")
        if done.returncode != example.exit_status:
            raise SystemExit(f"{example.name}: exit status {done.returncode}, expected {example.exit_status}\n{output[-3000:]}")
    return f"$ {example.command}\n{example.trim(output).rstrip()}\n"


def readme_with(example: Example, text: str, readme: str) -> str:
    """The README with the output block that starts with the example's ``$ command`` line replaced by ``text``."""
    block = re.compile(r"^```text\n" + re.escape(f"$ {example.command}\n") + r".*?^```", re.DOTALL | re.MULTILINE)
    return block.sub(lambda _: f"```text\n{text}```", readme)


def masked(text: str) -> str:
    """The text with timings masked, for comparing two runs."""
    return TIMING.sub("<time>", HTTP_TRAFFIC.sub("; <http traffic>", LONG_RUN.sub("", text)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="examples to run (default: every one)")
    parser.add_argument("--check", action="store_true", help="compare with docs/examples instead of rewriting it")
    args = parser.parse_args(argv)
    chosen = [e for e in load_examples() if not args.names or e.name in args.names]
    stale = []
    for example in chosen:
        text = run(example)
        path = OUT / f"{example.name}.txt"
        if args.check:
            shown = masked(path.read_text(encoding="utf-8")) if path.exists() else ""
            if shown != masked(text):
                stale.append(example.name)
                diff = difflib.unified_diff(shown.splitlines(), masked(text).splitlines(), "shown", "produced", lineterm="", n=1)
                print("\n".join(diff), file=sys.stderr)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
            readme = README.read_text(encoding="utf-8")
            if readme_with(example, text, readme) != readme:
                README.write_text(readme_with(example, text, readme), encoding="utf-8")
                print("wrote its block in README.md")
    if stale:
        print(f"stale examples (run python scripts/docs_examples.py {' '.join(stale)}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
