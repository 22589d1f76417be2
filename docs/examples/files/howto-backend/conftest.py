# conftest.py: a backend that answers from keyword rules in a YAML file: --taskbench-model=rules:FILE
import hashlib
from pathlib import Path

import yaml

from pytest_taskbench import BaseBackend, ModelLoadError, backend


class RulesBackend(BaseBackend):
    name = "rules"

    def __init__(self, path, batch_size):
        super().__init__(batch_size)
        self.text = path.read_text(encoding="utf-8")
        self.rules = yaml.safe_load(self.text)

    def identity(self):
        # Everything that can change the outputs; here, the rules file's content.
        return "rules:" + hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def generate_batch(self, prompts, params):
        # One output per prompt, in order; the stop sequences are cut afterwards, by the base class.
        return [self.answer(prompt.text.lower()) for prompt in prompts]

    def answer(self, text):
        for rule in self.rules["rules"]:
            if rule["if"] in text:
                return rule["answer"]
        return self.rules["otherwise"]


def check(args):
    """Runs before any case: a cheap check, so a wrong spec is one usage error."""
    if not Path(args).is_file():
        raise ModelLoadError(f"rules file {args!r} does not exist")


@backend("rules", check=check)
def rules(args, options):
    """args: the text after "rules:"; options: the run's BackendOptions."""
    return RulesBackend(Path(options.rootdir or ".", args), batch_size=options.batch_size or 32)
