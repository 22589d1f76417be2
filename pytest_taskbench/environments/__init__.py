"""Environments a conversation acts on: the contract (base.py), the registry, the built-in ``task_api``."""

from pytest_taskbench.environments.base import Action, Environment, EnvironmentProblem, Observation, RecordCollection
from pytest_taskbench.environments.registry import environment, make_environment, registered_environments

__all__ = ["Action", "Environment", "EnvironmentProblem", "Observation", "RecordCollection", "environment", "make_environment", "registered_environments"]
