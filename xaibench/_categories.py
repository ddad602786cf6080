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

# The axes of the tradeoff tables and plots a metric can feed (``Metric.tradeoff``):
# how faithful and how simple a method's explanations are.
TRADEOFF_AXES = ("faithfulness", "simplicity")
