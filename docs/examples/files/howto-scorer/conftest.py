# conftest.py: a scorer for support-ticket routing, registered for every suite of this test run.
from pytest_taskbench import Score, scorer
from pytest_taskbench.scoring.extract import parse_output


@scorer("ticket_label")
def ticket_label(*, labels, ignore_case=False, extract_json=False):
    """1 when the output is JSON whose "label" is the expected label, else 0.

    labels: the labels a ticket can get (the suite gives them to every scorer in `scoring:`).
    ignore_case: accept "Billing" for "billing".
    extract_json: look for the JSON inside prose or a code fence (also a suite-wide setting).
    """
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"labels must be a non-empty list of strings, got {labels!r}")
    if not isinstance(ignore_case, bool):
        raise ValueError(f"ignore_case must be true or false, got {ignore_case!r}")
    fold = str.casefold if ignore_case else str
    known = {fold(label) for label in labels}

    def score(output, case):
        expected = case.expected["label"]
        parsed = parse_output(output, extract=extract_json)
        if not parsed.ok:  # parse_error: counted under "invalid JSON" by the failure analysis
            return Score(0.0, f"invalid JSON: {parsed.error}", parsed.details())
        got = parsed.value.get("label") if isinstance(parsed.value, dict) else None
        # observed: the label as this scorer compared it, which the failure analysis tabulates
        details = {**parsed.details(), "observed": {"label": fold(got) if isinstance(got, str) else got}}
        if isinstance(got, str) and fold(got) == fold(expected):
            return Score(1.0, f"label {got}", details)
        if not isinstance(got, str) or fold(got) not in known:
            return Score(0.0, f"{got!r} is not a label ({', '.join(labels)})", details)
        return Score(0.0, f"expected {expected}, got {got}", details)

    return score
