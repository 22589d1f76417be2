import json

CALLS = {"count": 0}


def _between(text, start, end):
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def _same(prompt):
    reference = _between(prompt, "Reference answer (what a correct response contains):\n", "\n\nResponse to grade:")
    response = _between(prompt, "Response to grade:\n", "\n\nYour JSON answer:")
    try:
        return json.loads(reference) == json.loads(response), response
    except ValueError:
        return False, response


def oracle(prompts):
    CALLS["count"] += 1
    answers = []
    for prompt in prompts:
        same, response = _same(prompt)
        why = "the response is the reference answer" if same else f"the response {response} differs from the reference"
        answers.append("Let me check.\n```json\n" + json.dumps({"reasoning": why, "verdict": "pass" if same else "fail"}) + "\n```")
    return answers


def contrarian(prompts):
    return [json.dumps({"reasoning": "contrary", "verdict": "fail" if _same(prompt)[0] else "pass"}) for prompt in prompts]


def mumbler(prompts):
    return ["hmm, hard to say" for _ in prompts]
