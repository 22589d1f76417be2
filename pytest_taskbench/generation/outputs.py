"""Saved outputs as the model: ``--taskbench-outputs=FILE`` scores outputs produced by any system.

The file holds one JSON object per line: the case (``"id"``: the case id, or
``"nodeid"``: the pytest node id when ids repeat across files) and its
``"output"`` (a string). A line may carry ``"error"`` instead, to record that the
system failed on that case. No model is loaded and nothing is generated; a case
with no line fails with a reason that says so.

    {"id": "greet-1", "output": "hello"}
    {"nodeid": "cases/shout.yaml::loud", "output": "HEY"}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_taskbench.generation.base import Generation, GenerationParams, ModelLoadError, Prompt
from pytest_taskbench.guards.files import FileProblem, decode, parse_json, raw_lines

if TYPE_CHECKING:
    from pytest_taskbench.generation.engine import Job


class SavedOutputs:
    """Answers each job from the file, by node id first, then by case id."""

    name = "outputs"

    def __init__(self, path: Path, by_nodeid: dict[str, Generation], by_id: dict[str, Generation], digest: str) -> None:
        self.path = path
        self.by_nodeid = by_nodeid
        self.by_id = by_id
        self.digest = digest

    @classmethod
    def load(cls, path: Path) -> SavedOutputs:
        """Read and validate the file; raises ModelLoadError naming the file, the line and the fix."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"--taskbench-outputs {str(path)!r}: cannot read the outputs file: {exc}") from None
        by_nodeid: dict[str, Generation] = {}
        by_id: dict[str, Generation] = {}
        first_line: dict[tuple[str, str], int] = {}
        for number, line_bytes in raw_lines(raw):
            where = f"{path}:{number}"
            try:
                line = decode(line_bytes, str(path), number)
                if not line.strip():
                    continue
                entry = parse_json(line, str(path), number)
            except FileProblem as exc:
                raise ModelLoadError(f'{exc}; expected {{"id": CASE_ID, "output": TEXT}} on each line') from None
            if not isinstance(entry, dict):
                raise ModelLoadError(f'{where}: expected a JSON object with "id" (or "nodeid") and "output"')
            if is_lm_eval_sample(entry):
                entry = sample_as_output(entry)  # a line of lm_eval --log_samples: doc_id N answers case doc_N
            name, table = ("nodeid", by_nodeid) if "nodeid" in entry else ("id", by_id)
            case = entry.get(name)
            if not isinstance(case, str) or not case:
                raise ModelLoadError(f'{where}: needs a string "id" (the case id) or "nodeid" (the pytest node id)')
            if isinstance(entry.get("output"), str):
                generation = Generation(entry["output"])
            elif isinstance(entry.get("error"), str):
                generation = Generation(None, f"the saved outputs record an error: {entry['error']}")
            else:
                raise ModelLoadError(f'{where}: "output" must be a string (or give "error" to record a failure)')
            if (name, case) in first_line:
                raise ModelLoadError(
                    f'{where}: {name} {case!r} repeats line {first_line[(name, case)]}; give each case one line (use "nodeid" to tell apart cases that share an id)'
                )
            first_line[(name, case)] = number
            table[case] = generation
        return cls(path, by_nodeid, by_id, hashlib.sha256(raw).hexdigest()[:16])

    def outputs_for(self, jobs: Sequence[Job]) -> list[Generation]:
        results = []
        for job in jobs:
            found = self.by_nodeid.get(str(job.key)) or self.by_id.get(job.case_id)
            if found is None:
                found = Generation(
                    None, f'no output for case {job.case_id!r} ({job.key}) in {self.path}; add a line {{"id": {json.dumps(job.case_id)}, "output": ...}}'
                )
            results.append(found)
        return results

    def identity(self) -> str:
        return f"outputs:{self.path}:{self.digest}"

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        """Saved outputs answer cases, not free prompts (the ``taskbench_model`` fixture needs a model)."""
        return [Generation(None, f"saved outputs from {self.path} cannot answer a free prompt; pass --taskbench-model") for _ in prompts]

    def close(self) -> None:
        return None


def sample_as_output(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A line of ``lm_eval --log_samples`` (``samples_<task>_<date>.jsonl``) as a saved-outputs line.

    lm-eval logs ``doc_id``, ``doc``, ``target``, ``arguments``, ``resps`` (the raw
    generations, one list per request) and ``filtered_resps``. Our case for
    document N is ``doc_N``; its output is the raw response, so our scorer applies
    the task's filters itself, exactly as lm-eval did before scoring.
    """
    resps = entry.get("resps")
    output = resps[0][0] if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0] else resps
    if isinstance(output, list) or output is None:
        output = None
    return {"id": f"doc_{entry.get('doc_id')}", "output": output}


def is_lm_eval_sample(entry: Mapping[str, Any]) -> bool:
    return "doc_id" in entry and "resps" in entry and "id" not in entry and "nodeid" not in entry
