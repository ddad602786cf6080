"""The metric categories, in report order (a light module: importing it loads no TensorFlow)."""

CATEGORIES = (
    "faithfulness",
    "robustness",
    "complexity",
    "randomisation",
    "localisation",
    "ground_truth",
    "axiomatic",
    "cost",
    "model_property",
)
# ground_truth: explanations scored against interventions (the samples rendered without a part:
# shapes, scenes). model_property: what the same interventions say of the model (the same score
# for every method: background_independence), reported beside them and ranking no method.
# The categories left out of a method's overall rank: cost (runtime: reported beside the quality
# of the explanations, and in the tradeoffs) and model_property (the same for every method).
UNRANKED = ("cost", "model_property")

# The axes of the tradeoff tables and plots a metric can feed (``Metric.tradeoff``):
# how faithful and how simple a method's explanations are.
TRADEOFF_AXES = ("faithfulness", "simplicity")
