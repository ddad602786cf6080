"""The names of the built-in suites, in the order the command line lists them (a light module:
``xaibench run --help`` lists them without loading TensorFlow). ``benchmark.config.SUITES``
defines them; a test keeps the two equal."""

SUITE_NAMES = ("quick", "default", "full", "realistic")
