# test_ticket_label.py: the scorer never raises, stays in [0, 1], and gives 1 to a right answer.
import json

from hypothesis import given
from hypothesis import strategies as st

from pytest_taskbench import Case
from pytest_taskbench.scoring import build_scorer

LABELS = ["billing", "bug", "account", "other"]
# built the way the suite builds it: the spec, plus the suite's scoring: values
score = build_scorer({"name": "ticket_label", "ignore_case": True}, {"labels": LABELS})


def case(label):
    return Case(id="t", category="routing", difficulty="simple", expected={"label": label})


@given(output=st.text(), label=st.sampled_from(LABELS))
def test_any_text_gets_a_score_in_the_unit_interval(output, label):
    assert 0.0 <= score(output, case(label)).value <= 1.0


@given(answer=st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_any_json_gets_a_score_in_the_unit_interval(answer):
    assert 0.0 <= score(json.dumps(answer), case("bug")).value <= 1.0


@given(label=st.sampled_from(LABELS), upper=st.booleans())
def test_the_right_label_scores_1(label, upper):
    answer = json.dumps({"label": label.upper() if upper else label})
    assert score(answer, case(label)).value == 1.0
