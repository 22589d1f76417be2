def test_the_model_greets_back(taskbench_model):
    (answer,) = taskbench_model.generate(["Request: hello"])
    assert answer.startswith("Hello")
