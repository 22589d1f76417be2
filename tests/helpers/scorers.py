"""The scorers issue #4 asked for."""

from __future__ import annotations

ISSUE_4_SCORERS = (
    "action_recognition",
    "entity_extraction",
    "default_handling",
    "edge_case",
    "format_compliance",
    "exact_match",
    "json_equal",
    "json_subset",
    "regex",
    "contains",
    "not_contains",
    "json_schema",
    "field_match",
)
