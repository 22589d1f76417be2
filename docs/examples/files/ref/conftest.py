def pytest_taskbench_summary(config, summary):
    """Add the model's name to each suite's JSON summary (pytest-json-report stores it)."""
    summary["model_card"] = config.getoption("taskbench_model")
