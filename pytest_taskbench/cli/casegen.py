"""Generate benchmark cases from templates with slots, stratified by category and difficulty.

A *template* is a request with ``{slot}`` placeholders and the expected JSON it
maps to. A *slot* holds values grouped into equivalence classes (values that
should behave the same, such as "tomorrow" and "the day after tomorrow") plus
*boundary* values (the edges: "at midnight", "on March 31", an empty title).
Each value sets fields of the expected answer, so the expected JSON stays right
by construction. ``generate_stratified`` fills templates until every
(category, difficulty) quota is met exactly, picking an equivalence class first
so that every class is exercised, and giving a fixed share of each stratum a
boundary value. The same seed gives the same cases.

Generated cases carry the tag ``generated``: ``merge_generated`` regenerates them
in a case file without touching the hand-written cases beside them.

The same module validates and appends a single case (``check_new_case``,
``append_case``) for the ``taskbench add-case`` command.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import DIFFICULTIES, CaseFileContents, load_case_file
from pytest_taskbench.guards.files import FileProblem, parse_yaml, read_text, split_lines, value_problem
from pytest_taskbench.suite import SuiteError, find_suite_file, load_suite

GENERATED_TAG = "generated"
DEFAULT_RATIOS: Mapping[str, float] = {"simple": 0.4, "moderate": 0.3, "complex": 0.2, "adversarial": 0.1}
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
CASE_KEY_ORDER = ("id", "input", "messages", "expected", "category", "difficulty", "scorer", "critical", "tags", "rationale", "metadata")


class CasegenError(Exception):
    """A template set that cannot be used, or quotas that cannot be met."""


@dataclass(frozen=True)
class SlotValue:
    """One value of a slot: the text put into the request and the expected fields it sets.

    ``fields`` keys may be dotted (``filter.due_date``) to set nested objects; a
    value of ``None`` removes the key from the expected answer.
    """

    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    klass: str = "default"


@dataclass(frozen=True)
class Slot:
    """A named slot: values in equivalence classes, and boundary values."""

    name: str
    values: tuple[SlotValue, ...]
    boundary: tuple[SlotValue, ...] = ()

    @property
    def classes(self) -> dict[str, list[SlotValue]]:
        grouped: dict[str, list[SlotValue]] = {}
        for value in self.values:
            grouped.setdefault(value.klass, []).append(value)
        return grouped


@dataclass(frozen=True)
class CaseTemplate:
    """A request pattern for one category and difficulty, and the expected answer it maps to."""

    name: str
    category: str
    difficulty: str
    text: str
    expected: Mapping[str, Any]
    rationale: str
    tags: tuple[str, ...] = ()
    critical: bool = False

    @property
    def slot_names(self) -> list[str]:
        names: list[str] = []
        for name in PLACEHOLDER.findall(self.text):
            if name not in names:
                names.append(name)
        return names


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything ``generate_stratified`` needs, as read from a YAML spec file."""

    slots: Mapping[str, Slot]
    templates: tuple[CaseTemplate, ...]
    quotas: Mapping[str, Mapping[str, int]]
    seed: int = 0
    id_format: str = "{prefix}_{index:03d}"
    prefixes: Mapping[str, str] = field(default_factory=dict)
    id_start: Mapping[str, int] = field(default_factory=dict)
    boundary_share: float = 0.2
    field_order: tuple[str, ...] = ()


def quotas_for(total: int, ratios: Mapping[str, float] = DEFAULT_RATIOS) -> dict[str, int]:
    """Split ``total`` cases by ``ratios`` (largest remainder): counts sum to ``total``, each within one of its share."""
    if total < 0:
        raise CasegenError(f"a quota total must be >= 0, got {total}")
    weight = sum(ratios.values())
    if weight <= 0:
        raise CasegenError("quota ratios must not all be 0")
    shares = {name: total * ratio / weight for name, ratio in ratios.items()}
    counts = {name: int(share) for name, share in shares.items()}
    by_remainder = sorted(shares, key=lambda name: (-(shares[name] - counts[name]), list(shares).index(name)))
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


def generate_stratified(
    templates: Sequence[CaseTemplate],
    slots: Mapping[str, Slot],
    quotas: Mapping[str, Mapping[str, int]],
    seed: int,
    *,
    boundary_share: float = 0.2,
    id_format: str = "{prefix}_{index:03d}",
    prefixes: Mapping[str, str] | None = None,
    id_start: Mapping[str, int] | None = None,
    avoid_inputs: Iterable[str] = (),
    field_order: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Fill templates until each category x difficulty quota is met exactly.

    Args:
        templates: the request patterns; each stratum with a quota needs at least one.
        slots: the slots the templates name, by name.
        quotas: category -> difficulty -> number of cases.
        seed: the same seed (and inputs) always gives the same cases.
        boundary_share: the share of each stratum whose case takes one boundary value
            (only where its templates have slots with boundary values).
        id_format: format of case ids; gets ``prefix`` (default: the category),
            ``category``, ``difficulty`` and ``index`` (numbered per category).
        prefixes: category -> id prefix.
        id_start: category -> first index (default 1).
        avoid_inputs: inputs that must not be produced (for example, existing cases).
        field_order: top-level keys of ``expected`` in this order first (for readable files).

    Returns:
        Case dicts (id, input, expected, category, difficulty, rationale, tags,
        metadata) in quota order, ready for ``write_case_file``.

    Raises:
        CasegenError: a stratum has no template, a template names an unknown slot,
            or the templates cannot produce enough distinct inputs.
    """
    _check_templates(templates, slots)
    rng = random.Random(seed)
    seen = set(avoid_inputs)
    cases: list[dict[str, Any]] = []
    for category, per_difficulty in quotas.items():
        index = (id_start or {}).get(category, 1)
        for difficulty, count in per_difficulty.items():
            stratum = [t for t in templates if t.category == category and t.difficulty == difficulty]
            if count > 0 and not stratum:
                raise CasegenError(f"no template for category {category!r}, difficulty {difficulty!r} (quota {count})")
            for case in _fill_stratum(stratum, slots, count, rng, seen, boundary_share):
                case["expected"] = _reorder(case["expected"], field_order)
                prefix = (prefixes or {}).get(category, category)
                case["id"] = id_format.format(prefix=prefix, category=category, difficulty=difficulty, index=index)
                index += 1
                cases.append(_ordered(case))
    return cases


def _check_templates(templates: Sequence[CaseTemplate], slots: Mapping[str, Slot]) -> None:
    for template in templates:
        if template.difficulty not in DIFFICULTIES:
            raise CasegenError(f"template {template.name!r}: difficulty must be one of {', '.join(DIFFICULTIES)}")
        for name in template.slot_names:
            if name not in slots:
                raise CasegenError(f"template {template.name!r} names unknown slot {{{name}}}; known slots: {', '.join(sorted(slots))}")
            if not slots[name].values:
                raise CasegenError(f"slot {name!r} has no values")


def _fill_stratum(
    stratum: Sequence[CaseTemplate],
    slots: Mapping[str, Slot],
    count: int,
    rng: random.Random,
    seen: set[str],
    boundary_share: float,
) -> list[dict[str, Any]]:
    can_bound = [t for t in stratum if any(slots[name].boundary for name in t.slot_names)]
    boundary_count = round(count * boundary_share) if can_bound else 0
    produced: list[dict[str, Any]] = []
    failures = 0
    order: list[CaseTemplate] = []
    while len(produced) < count:
        want_boundary = len(produced) < boundary_count
        pool = can_bound if want_boundary else list(stratum)
        if not order:
            order = list(pool)
            rng.shuffle(order)
        template = order.pop()
        if want_boundary and template not in can_bound:
            continue
        case = _fill(template, slots, rng, want_boundary)
        if case["input"] in seen:
            failures += 1
            if failures > 200 + 50 * count:
                raise CasegenError(
                    f"templates for {template.category}/{template.difficulty} produced only {len(produced)} distinct inputs "
                    f"of the {count} asked; add templates or slot values"
                )
            continue
        seen.add(case["input"])
        produced.append(case)
    rng.shuffle(produced)
    return produced


def _fill(template: CaseTemplate, slots: Mapping[str, Slot], rng: random.Random, boundary: bool) -> dict[str, Any]:
    names = template.slot_names
    bounded = rng.choice([n for n in names if slots[n].boundary]) if boundary else None
    chosen: dict[str, SlotValue] = {}
    for name in names:
        slot = slots[name]
        if name == bounded:
            chosen[name] = rng.choice(slot.boundary)
        else:
            classes = slot.classes
            chosen[name] = rng.choice(classes[rng.choice(sorted(classes))])
    expected = json.loads(json.dumps(template.expected))
    for value in chosen.values():
        for key, field_value in value.fields.items():
            _set_path(expected, key, field_value)
    metadata: dict[str, Any] = {"template": template.name, "classes": {name: chosen[name].klass for name in names}}
    if bounded:
        metadata["boundary"] = bounded
    case: dict[str, Any] = {
        "input": _render(template.text, chosen),
        "expected": expected,
        "category": template.category,
        "difficulty": template.difficulty,
        "rationale": _render(template.rationale, chosen),
        "tags": [*template.tags, GENERATED_TAG],
        "metadata": metadata,
    }
    if template.critical:
        case["critical"] = True
    return case


def _render(text: str, chosen: Mapping[str, SlotValue]) -> str:
    filled = PLACEHOLDER.sub(lambda match: chosen[match.group(1)].text if match.group(1) in chosen else match.group(0), text)
    filled = re.sub(r" {2,}", " ", filled)
    filled = re.sub(r" ([,.!?;:])", r"\1", filled)
    return filled.strip()


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = target
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value


def _reorder(expected: Any, field_order: Sequence[str]) -> Any:
    if not isinstance(expected, dict) or not field_order:
        return expected
    first = {key: expected[key] for key in field_order if key in expected}
    return {**first, **{key: value for key, value in expected.items() if key not in first}}


def _ordered(case: Mapping[str, Any]) -> dict[str, Any]:
    return {key: case[key] for key in CASE_KEY_ORDER if key in case}


# --------------------------------------------------------------------------- spec files


def load_spec(path: str | Path) -> GeneratorSpec:
    """Read a YAML generator spec (slots, templates, quotas); see the README, "Generating cases from templates", for the format."""
    spec_path = Path(path)
    try:
        data = parse_yaml(read_text(spec_path, str(spec_path)), str(spec_path)) or {}
    except FileProblem as exc:
        raise CasegenError(f"{exc.path}:{exc.line}: cannot read generator spec: {exc.message}") from None
    problem = value_problem(data)
    if problem is not None:
        raise CasegenError(f"{spec_path}: the generator spec {problem}")
    if not isinstance(data, dict):
        raise CasegenError(f"{spec_path}: a generator spec is a mapping with slots, templates and quotas")
    unknown = set(data) - {"seed", "slots", "templates", "quotas", "id_format", "prefixes", "id_start", "boundary_share", "field_order"}
    if unknown:
        raise CasegenError(f"{spec_path}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        slots = {str(name): _parse_slot(str(name), value) for name, value in (data.get("slots") or {}).items()}
        templates = tuple(_parse_template(item, position) for position, item in enumerate(data.get("templates") or [], start=1))
        quotas = _parse_quotas(data.get("quotas") or {})
    except (TypeError, ValueError, KeyError) as exc:
        raise CasegenError(f"{spec_path}: {exc}") from None
    spec = GeneratorSpec(
        slots=slots,
        templates=templates,
        quotas=quotas,
        seed=int(data.get("seed", 0)),
        id_format=str(data.get("id_format", "{prefix}_{index:03d}")),
        prefixes={str(k): str(v) for k, v in (data.get("prefixes") or {}).items()},
        id_start={str(k): int(v) for k, v in (data.get("id_start") or {}).items()},
        boundary_share=float(data.get("boundary_share", 0.2)),
        field_order=tuple(str(key) for key in data.get("field_order") or ()),
    )
    try:
        _check_templates(spec.templates, spec.slots)
    except CasegenError as exc:
        raise CasegenError(f"{spec_path}: {exc}") from None
    return spec


def generate_from_spec(spec: GeneratorSpec, *, seed: int | None = None, avoid_inputs: Iterable[str] = ()) -> list[dict[str, Any]]:
    return generate_stratified(
        spec.templates,
        spec.slots,
        spec.quotas,
        spec.seed if seed is None else seed,
        boundary_share=spec.boundary_share,
        id_format=spec.id_format,
        prefixes=spec.prefixes,
        id_start=spec.id_start,
        avoid_inputs=avoid_inputs,
        field_order=spec.field_order,
    )


def _parse_value(item: Any, klass: str) -> SlotValue:
    if isinstance(item, str):
        return SlotValue(item, {}, klass)
    if not isinstance(item, dict) or "text" not in item:
        raise ValueError(f"a slot value is a string or a mapping with 'text' (and 'set', 'class'), got {item!r}")
    fields = item.get("set") or {}
    if not isinstance(fields, dict):
        raise ValueError(f"slot value {item['text']!r}: 'set' must be a mapping of expected fields")
    return SlotValue(str(item["text"]), dict(fields), str(item.get("class", klass)))


def _parse_slot(name: str, value: Any) -> Slot:
    if isinstance(value, list):
        return Slot(name, tuple(_parse_value(item, "default") for item in value))
    if not isinstance(value, dict):
        raise ValueError(f"slot {name!r} must be a list of values or a mapping with 'values'/'classes' and 'boundary'")
    values: list[SlotValue] = [_parse_value(item, "default") for item in value.get("values") or []]
    for klass, items in (value.get("classes") or {}).items():
        values.extend(_parse_value(item, str(klass)) for item in items)
    boundary = tuple(_parse_value(item, "boundary") for item in value.get("boundary") or [])
    return Slot(name, tuple(values), boundary)


def _parse_template(item: Any, position: int) -> CaseTemplate:
    if not isinstance(item, dict):
        raise ValueError(f"template {position} must be a mapping")
    missing = [key for key in ("category", "difficulty", "text", "expected", "rationale") if key not in item]
    if missing:
        raise ValueError(f"template {position} is missing {', '.join(missing)}")
    tags = item.get("tags") or []
    return CaseTemplate(
        name=str(item.get("name", f"template_{position}")),
        category=str(item["category"]),
        difficulty=str(item["difficulty"]),
        text=str(item["text"]),
        expected=dict(item["expected"]),
        rationale=str(item["rationale"]),
        tags=tuple(str(tag) for tag in tags),
        critical=bool(item.get("critical", False)),
    )


def _parse_quotas(value: Any) -> dict[str, dict[str, int]]:
    quotas: dict[str, dict[str, int]] = {}
    for category, spec in value.items():
        if isinstance(spec, int):
            quotas[str(category)] = quotas_for(spec)
        elif isinstance(spec, dict):
            quotas[str(category)] = {str(d): int(n) for d, n in spec.items()}
        else:
            raise ValueError(f"quota for {category!r} must be a total or a mapping of difficulty to count")
    return quotas


# --------------------------------------------------------------------------- case files


def case_line(case: Mapping[str, Any], *, file_stem: str | None = None) -> str:
    """One JSONL line; ``category`` is left out when the file's stem already names it."""
    ordered = _ordered(case)
    if file_stem is not None and ordered.get("category") == file_stem:
        del ordered["category"]
    return json.dumps(ordered, ensure_ascii=False)


def write_case_file(path: str | Path, cases: Sequence[Mapping[str, Any]], *, defaults: Mapping[str, Any] | None = None) -> None:
    """Write cases as an ordinary JSONL case file (replacing it)."""
    target = Path(path)
    lines = [json.dumps({"defaults": dict(defaults)}, ensure_ascii=False)] if defaults else []
    lines.extend(case_line(case, file_stem=target.stem) for case in cases)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def merge_generated(path: str | Path, cases: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """Replace the generated cases of a JSONL file, keeping every other line as it is.

    Returns (generated cases written, lines kept). The new generated cases come
    first, after a defaults line if there is one.
    """
    target = Path(path)
    kept: list[str] = []
    header: list[str] = []
    if target.exists():
        for line in split_lines(target.read_text(encoding="utf-8")):
            data = _json_or_none(line)
            if isinstance(data, dict) and set(data) == {"defaults"} and not kept:
                header.append(line)
            elif not (isinstance(data, dict) and GENERATED_TAG in (data.get("tags") or [])):
                kept.append(line)
    fresh = [case_line(case, file_stem=target.stem) for case in cases]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(line + "\n" for line in header + fresh + kept), encoding="utf-8")
    return len(fresh), len([line for line in kept if line.strip()])


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def check_new_case(path: str | Path, case: Mapping[str, Any]) -> list[str]:
    """Every reason ``case`` cannot be appended to ``path`` (empty when it can).

    Applies the loader's rules, and when the file sits below a ``taskbench.yaml``
    the suite's categories and output schema; refuses an id already in the file
    and an input already asked by any case of the suite.
    """
    target = Path(path)
    suite = None
    suite_file = find_suite_file(target.resolve().parent)
    if suite_file is not None:
        try:
            suite = load_suite(suite_file)
        except SuiteError as exc:
            return [f"cannot read the suite this file belongs to: {exc}"]
    # The suite's own reader applies its categories and difficulties; outside a suite, the loader's defaults.
    read: Callable[..., CaseFileContents] = suite.load_cases if suite is not None else load_case_file

    header = _defaults_line(target)
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / (target.name if target.suffix == ".jsonl" else target.stem + ".jsonl")
        probe.write_text("".join(line + "\n" for line in [*header, json.dumps(dict(case), ensure_ascii=False)]), encoding="utf-8")
        loaded = read(probe, display_path=str(target))
    problems = [f"{target}: {error.message}" for error in loaded.errors]

    if suite is not None and suite.schema is not None and "expected" in case:
        from jsonschema import Draft202012Validator

        schema_name = suite.schema_path.name if suite.schema_path else "the suite schema"
        for error in Draft202012Validator(suite.schema).iter_errors(case["expected"]):
            where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
            problems.append(f"{target}: 'expected' does not follow {schema_name}: {error.message} (at {where})")

    existing = read(target, display_path=_shown(target)).cases if target.exists() else []
    problems.extend(
        f"{target}: duplicate case id {other.id!r}: already defined at {target}:{other.line}; choose another id"
        for other in existing
        if other.id == case.get("id")
    )
    new_input = case.get("input")
    if isinstance(new_input, str):
        files = suite.case_files() if suite is not None else ([target] if target.exists() else [])
        for file in files:
            cases = existing if file.resolve() == target.resolve() else read(file, display_path=_shown(file)).cases  # read each file once
            problems.extend(
                f"{target}: duplicate input: case {other.id!r} at {other.location} already asks exactly this" for other in cases if other.input == new_input
            )
    return problems


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, as the user would type it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _defaults_line(target: Path) -> list[str]:
    if target.suffix != ".jsonl" or not target.exists():
        return []
    for line in split_lines(target.read_text(encoding="utf-8")):
        if not line.strip() or line.strip().startswith("#"):
            continue
        data = _json_or_none(line)
        return [line] if isinstance(data, dict) and set(data) == {"defaults"} else []
    return []


def append_case(path: str | Path, case: Mapping[str, Any]) -> None:
    """Append one case as a JSONL line (call ``check_new_case`` first)."""
    target = Path(path)
    if target.suffix != ".jsonl":
        raise CasegenError(f"{target}: cases can only be appended to a .jsonl file")
    existing = target.read_text(encoding="utf-8") if target.exists() else ""
    separator = "" if not existing or existing.endswith("\n") else "\n"
    with target.open("a", encoding="utf-8") as handle:
        handle.write(separator + case_line(case, file_stem=target.stem) + "\n")
