"""Check suite files against the shipped JSON Schema, as an editor does: python check_suite.py FILE..."""

import sys

import yaml
from jsonschema import Draft202012Validator

from pytest_taskbench.schemas import shipped


class Loader(yaml.SafeLoader):
    """YAML as editors read it: an unquoted 2026-03-04 stays text (PyYAML would make it a date)."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

validator = Draft202012Validator(shipped("taskbench.schema.json"))
problems = 0
for name in sys.argv[1:]:
    with open(name, encoding="utf-8") as file:
        suite = yaml.load(file, Loader=Loader)
    for error in validator.iter_errors(suite):
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        print(f"{name}: {where}: {error.message}")
        problems += 1
print(f"{problems} problem(s) in {len(sys.argv) - 1} file(s)")
sys.exit(1 if problems else 0)
