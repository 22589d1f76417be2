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

Generated cases carry the tag ``generated`` (``case_files.merge_generated``
regenerates them in a case file without touching the hand-written ones).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import DIFFICULTIES
from pytest_taskbench.cli.case_files import GENERATED_TAG, CasegenError, ordered
from pytest_taskbench.guards import validation
from pytest_taskbench.guards.files import FileProblem, parse_yaml, read_text, value_problem

DEFAULT_RATIOS: Mapping[str, float] = {"simple": 0.4, "moderate": 0.3, "complex": 0.2, "adversarial": 0.1}
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
                cases.append(ordered(case))
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
    try:
        spec = _spec(data)
    except (validation.Invalid, CasegenError) as exc:
        raise CasegenError(f"{spec_path}: {exc}") from None
    try:
        _check_templates(spec.templates, spec.slots)
    except CasegenError as exc:
        raise CasegenError(f"{spec_path}: {exc}") from None
    return spec


SPEC_KEYS = ("seed", "slots", "templates", "quotas", "id_format", "prefixes", "id_start", "boundary_share", "field_order")


def _spec(data: Any) -> GeneratorSpec:
    data = validation.mapping("a generator spec", data, what="a mapping with slots, templates and quotas")
    validation.only_keys("the generator spec", data, SPEC_KEYS)
    slots = validation.mapping("slots", data.get("slots") or {})
    templates = data.get("templates") or []
    if not isinstance(templates, list):
        raise validation.Invalid(f"templates must be a list, got {templates!r}")
    return GeneratorSpec(
        slots={str(name): _parse_slot(str(name), value) for name, value in slots.items()},
        templates=tuple(_parse_template(item, position) for position, item in enumerate(templates, start=1)),
        quotas=_parse_quotas(validation.mapping("quotas", data.get("quotas") or {})),
        seed=validation.whole("seed", data.get("seed", 0), minimum=0),
        id_format=validation.text("id_format", data.get("id_format", "{prefix}_{index:03d}")),
        prefixes={str(k): validation.text(f"prefixes.{k}", v) for k, v in validation.mapping("prefixes", data.get("prefixes") or {}).items()},
        id_start={str(k): validation.whole(f"id_start.{k}", v, minimum=0) for k, v in validation.mapping("id_start", data.get("id_start") or {}).items()},
        boundary_share=validation.unit("boundary_share", data.get("boundary_share", 0.2)),
        field_order=validation.texts("field_order", data.get("field_order") or []),
    )


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
        raise validation.Invalid(f"a slot value is a string or a mapping with 'text' (and 'set', 'class'), got {item!r}")
    text = validation.text("a slot value's text", item["text"], empty=True)
    fields = validation.mapping(f"slot value {text!r}: set", item.get("set") or {}, what="a mapping of expected fields")
    return SlotValue(text, dict(fields), validation.text(f"slot value {text!r}: class", item.get("class", klass)))


def _parse_slot(name: str, value: Any) -> Slot:
    if isinstance(value, list):
        return Slot(name, tuple(_parse_value(item, "default") for item in value))
    if not isinstance(value, dict):
        raise validation.Invalid(f"slot {name!r} must be a list of values or a mapping with 'values'/'classes' and 'boundary'")
    validation.only_keys(f"slot {name!r}", value, ("values", "classes", "boundary"))
    values: list[SlotValue] = [_parse_value(item, "default") for item in value.get("values") or []]
    for klass, items in validation.mapping(f"slot {name!r}: classes", value.get("classes") or {}).items():
        values.extend(_parse_value(item, str(klass)) for item in items)
    boundary = tuple(_parse_value(item, "boundary") for item in value.get("boundary") or [])
    return Slot(name, tuple(values), boundary)


def _parse_template(item: Any, position: int) -> CaseTemplate:
    name = f"template {position}"
    item = validation.mapping(name, item)
    missing = [key for key in ("category", "difficulty", "text", "expected", "rationale") if key not in item]
    if missing:
        raise validation.Invalid(f"{name} is missing {', '.join(missing)}")
    return CaseTemplate(
        name=validation.text(f"{name}: name", item.get("name", f"template_{position}")),
        category=validation.text(f"{name}: category", item["category"]),
        difficulty=validation.text(f"{name}: difficulty", item["difficulty"]),
        text=validation.text(f"{name}: text", item["text"]),
        expected=dict(validation.mapping(f"{name}: expected", item["expected"])),
        rationale=validation.text(f"{name}: rationale", item["rationale"], empty=True),
        tags=validation.texts(f"{name}: tags", item.get("tags") or []),
        critical=validation.flag(f"{name}: critical", item.get("critical", False)),
    )


def _parse_quotas(value: dict[Any, Any]) -> dict[str, dict[str, int]]:
    quotas: dict[str, dict[str, int]] = {}
    for category, spec in value.items():
        if isinstance(spec, int) and not isinstance(spec, bool):
            quotas[str(category)] = quotas_for(validation.whole(f"quotas.{category}", spec, minimum=0))
        elif isinstance(spec, dict):
            quotas[str(category)] = {str(d): validation.whole(f"quotas.{category}.{d}", n, minimum=0) for d, n in spec.items()}
        else:
            raise validation.Invalid(f"quotas.{category} must be a total or a mapping of difficulty to count, got {spec!r}")
    return quotas
