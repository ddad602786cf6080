"""The metric categories, in report order (a light module: importing it loads no TensorFlow)."""

CATEGORIES = (
    "faithfulness",
    "robustness",
    "complexity",
    "randomisation",
    "localisation",
    "axiomatic",
    "cost",
)
