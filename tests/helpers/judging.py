"""A labelled set for judge tests: Task API answers people marked pass or fail, and judges that agree or do not.

``write_labelled_suite`` writes ``cases/`` (a judge-scored category, ``replies``,
whose cases carry ``human_label``, and an exact-match one, ``plain``), the saved
outputs the labels are about (``outputs.jsonl``) and ``judges.py`` with three
callable judges: ``oracle`` reads the reference and the response from the prompt
and says pass exactly when they are the same JSON (it matches every label),
``contrarian`` says the opposite (kappa -1), and ``mumbler`` never gives a verdict.
Half the replies are wrong, so the replies category's mean is 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TITLES = ["Call mom", "Buy milk", "Book dentist", "Pay rent", "Water plants", "Send invoice", "Fix the printer", "Walk the dog", "Renew passport", "Email Sam"]
ACTIONS = ["create", "delete", "complete", "update", "create", "delete", "complete", "update", "create", "delete"]

SUITE = """\
name: labelled
categories:
  replies:
    weight: 0.5
    scorer: {{name: judge, rubric: "The answer has the same action and title as the reference answer.", scale: pass_fail}}
  plain: {{weight: 0.5, scorer: exact_match}}
judges:
  default: {judge}
gates:
  judge_min_agreement: 0.5
  min_category: {{replies: 0.9}}
"""

# The judges the how-to shows (docs/examples/files/judging/judges.py): the tests run the very file the docs include.
JUDGES = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "files" / "judging" / "judges.py").read_text(encoding="utf-8")


def labelled_rows(count: int = 10) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(replies cases with human labels, their saved outputs): even cases answered right (pass), odd ones wrong (fail)."""
    cases, outputs = [], []
    for i in range(count):
        expected = {"action": ACTIONS[i % len(ACTIONS)], "title": TITLES[i % len(TITLES)]}
        right = i % 2 == 0
        answer = expected if right else {"action": "list", "title": TITLES[i % len(TITLES)]}
        case_id = f"r{i:02d}"
        cases.append(
            {
                "id": case_id,
                "input": f"please {expected['action']} {expected['title'].lower()}",
                "expected": expected,
                "difficulty": "simple",
                "human_label": "pass" if right else "fail",
            }
        )
        outputs.append({"id": case_id, "output": json.dumps(answer)})
    return cases, outputs


def write_labelled_suite(root: Path, judge: str = "judges:oracle", count: int = 10) -> Path:
    """Write the labelled suite under ``root`` (see the module docstring); returns the saved outputs' path."""
    cases_dir = root / "cases"
    cases_dir.mkdir(exist_ok=True)
    (cases_dir / "taskbench.yaml").write_text(SUITE.format(judge=judge))
    rows, outputs = labelled_rows(count)
    (cases_dir / "replies.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    plain = [
        {"id": "p1", "input": "say ok", "expected": "ok", "difficulty": "simple"},
        {"id": "p2", "input": "say yes", "expected": "yes", "difficulty": "simple"},
    ]
    (cases_dir / "plain.jsonl").write_text("".join(json.dumps(row) + "\n" for row in plain))
    outputs += [{"id": "p1", "output": "ok"}, {"id": "p2", "output": "yes"}]
    saved = root / "outputs.jsonl"
    saved.write_text("".join(json.dumps(row) + "\n" for row in outputs))
    (root / "judges.py").write_text(JUDGES)
    return saved
