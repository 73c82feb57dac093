"""The label models' names, for checks that must not load numpy and scipy.

A config check runs before Spark starts and must answer in about a second; the
models themselves (``jobs/label_models``, which imports scipy) load only when a
run fits one. ``tests/label_models/test_label_models.py`` keeps the two lists equal.
"""

LABEL_MODEL_NAMES: tuple[str, ...] = ("majority_vote", "weighted_majority_vote", "dawid_skene", "metal", "ebcc")
