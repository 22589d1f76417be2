import cart  # noqa: F401  (registers the environment "cart"; an installed package uses the entry point instead)
