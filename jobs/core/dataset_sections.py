"""The nested tables of a dataset's config (expectations, gold set, end model, review queue) and the
value checks every part of the config uses: each error names the dataset and the key."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any

from jobs.core.check_names import unknown_check
from jobs.core.errors import ConfigError

SEVERITIES = ("blocking", "warning")


@dataclass(frozen=True)
class ExpectationConfig:
    """Thresholds and severities of the suites in ``expectations/`` (config: ``[datasets.X.expectations]``).

    Candidate labels: ``min_coverage`` (share of rows with a label, not -1) and
    ``class_share`` (per class, the [min, max] share among labeled rows).
    Drift against the last published labels: ``max_kl_divergence`` of the label
    distribution, ``max_label_change_share`` (share of ids whose label changed),
    ``max_lf_coverage_change`` (absolute, per LF), ``max_confidence_drop`` (of the
    mean confidence). Gold: ``min_gold_accuracy`` (off when unset). Source:
    ``max_null_share`` of the id and text columns in the input, ``max_quarantine_share``
    of the input rows quarantined (blocking) and ``max_file_quarantine_share`` of any one
    file's rows (a warning by default: a junk file is quarantined whole), and the input row
    count within [``min_row_ratio``, ``max_row_ratio``] x the previous ingest's.
    ``severity`` maps a check name (``class_share_max``, ``drift_kl``, ...; a
    per-class or per-LF check is named by its prefix) to ``blocking`` (the run is
    not published) or ``warning`` (published and flagged).
    """

    min_coverage: float = 0.0
    class_share: dict[str, tuple[float, float]] = field(default_factory=dict)
    max_kl_divergence: float = 0.1
    max_label_change_share: float = 0.25
    max_lf_coverage_change: float = 0.2
    max_confidence_drop: float = 0.1
    min_gold_accuracy: float | None = None
    max_null_share: float = 0.05
    max_quarantine_share: float = 0.05
    max_file_quarantine_share: float = 0.05
    min_row_ratio: float = 0.5
    max_row_ratio: float | None = None
    severity: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))

    def severity_of(self, check: str) -> str:
        """``blocking`` or ``warning`` for a check, looked up by full name, then by its prefix. A check
        the config could not name (not in jobs/core/check_names.py) is a programming error."""
        problem = unknown_check(check)
        if problem:
            raise ValueError(f"{problem}: list it in jobs/core/check_names.py so a config can name it")
        return self.severity.get(check) or self.severity.get(check.split("[")[0], "blocking")

    def record(self) -> dict[str, Any]:
        """The thresholds as JSON (written on the run, so a threshold change is visible there)."""
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class GoldSetRule:
    """When hand labels become gold (config: ``[datasets.X.gold_set]``; see :mod:`jobs.hand_labels.gold_set`).

    A row is adjudicated when an expert labeled it (an expert's label stands on its
    own; experts who disagree leave the row out), or when at least ``min_agreeing``
    annotators gave the same label and, with ``unanimous``, nobody gave another
    (otherwise a strict majority suffices). ``evaluation_percent`` of the
    adjudicated rows (a stable hash of the id) are held out for evaluation: their
    annotations never reach the label model's fit. With ``publish``, the other
    adjudicated rows publish their gold label (``_label_source = 'gold'``).
    """

    min_agreeing: int = 2
    unanimous: bool = True
    experts: tuple[str, ...] = ()
    evaluation_percent: int = 100
    publish: bool = False


@dataclass(frozen=True)
class EndModelSettings:
    """The end model trained in the fit stage (``[datasets.X.end_model]``; :mod:`jobs.stages.fit.end_model`).

    ``publish`` says which label the labels table publishes: ``label_model``,
    ``end_model``, or ``fill_uncovered`` (the label model's, the end model's where
    no source voted). The rest are the classifier's hyper-parameters.
    """

    publish: str = "fill_uncovered"
    num_features: int = 1 << 18
    min_doc_freq: int = 2
    reg_param: float = 0.01
    elastic_net: float = 0.0
    max_iter: int = 100
    min_weight: float = 0.01


END_MODEL_POLICIES = ("label_model", "end_model", "fill_uncovered")


QUEUE_KINDS = ("uncertain", "conflict", "uncovered", "disagreement")
"""The review queue's kinds of rows (:mod:`jobs.hand_labels.review_queue`)."""


@dataclass(frozen=True)
class ReviewQueueSettings:
    """A review queue written by every run after it publishes (config: ``[datasets.X.review_queue]``;
    see :mod:`jobs.hand_labels.review_queue`): ``k`` rows, shared between the kinds by ``mix``."""

    k: int = 50
    mix: dict[str, float] | None = None
    """Shares of ``uncertain``, ``conflict``, ``uncovered``, ``disagreement`` (None: the default mix)."""


@dataclass(frozen=True)
class RetentionSettings:
    """How much history ``labellake vacuum`` keeps (config: ``[datasets.X.retention]``): every
    version newer than ``days`` stays readable, and the ``min_versions`` newest ones whatever
    their age; older versions' files, and older runs' staging partitions, are deleted."""

    days: float = 30.0
    min_versions: int = 10


def retention_settings(name: str, raw: dict[str, Any] | None) -> RetentionSettings:
    if raw is None:
        return RetentionSettings()
    unknown = sorted(set(raw) - {"days", "min_versions"})
    if unknown:
        raise ConfigError(f"dataset {name!r}: retention has unknown keys {unknown}")
    days = number(name, "retention.days", raw.get("days", 30.0))
    versions = raw.get("min_versions", 10)
    if isinstance(versions, bool) or not isinstance(versions, int) or versions < 1:
        raise ConfigError(f"dataset {name!r}: retention.min_versions must be an integer >= 1, got {versions!r}")
    return RetentionSettings(days, versions)


def review_queue_settings(name: str, raw: dict[str, Any] | None) -> ReviewQueueSettings | None:
    if raw is None:
        return None
    unknown = sorted(set(raw) - {"k", "mix"})
    if unknown:
        raise ConfigError(f"dataset {name!r}: review_queue has unknown keys {unknown}")
    k = raw.get("k", 50)
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"dataset {name!r}: review_queue.k must be a positive integer, got {k!r}")
    mix = raw.get("mix")
    if mix is not None:
        mix = {str(kind): float(share) for kind, share in dict(mix).items()}
        if set(mix) - set(QUEUE_KINDS) or any(v < 0 for v in mix.values()) or not sum(mix.values()):
            raise ConfigError(
                f"dataset {name!r}: review_queue.mix must give non-negative shares of {list(QUEUE_KINDS)}, got {mix}"
            )
    return ReviewQueueSettings(k, mix)


def gold_set_rule(name: str, raw: dict[str, Any] | None) -> GoldSetRule | None:
    if raw is None:
        return None
    unknown = sorted(set(raw) - set(GoldSetRule.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"dataset {name!r}: gold_set has unknown keys {unknown}")
    rule = GoldSetRule(
        min_agreeing=int(raw.get("min_agreeing", 2)),
        unanimous=flag(name, "gold_set.unanimous", raw.get("unanimous", True)),
        experts=tuple(str(e) for e in raw.get("experts", ())),
        evaluation_percent=int(raw.get("evaluation_percent", 100)),
        publish=flag(name, "gold_set.publish", raw.get("publish", False)),
    )
    if rule.min_agreeing < 1:
        raise ConfigError(f"dataset {name!r}: gold_set.min_agreeing must be 1 or more, got {rule.min_agreeing}")
    if not 0 <= rule.evaluation_percent <= 100:
        raise ConfigError(
            f"dataset {name!r}: gold_set.evaluation_percent must be in 0..100, got {rule.evaluation_percent}"
        )
    return rule


def end_model_settings(name: str, raw: dict[str, Any] | None) -> EndModelSettings | None:
    if raw is None:
        return None
    fields = EndModelSettings.__dataclass_fields__
    unknown = sorted(set(raw) - set(fields) - {"enabled"})
    if unknown:
        raise ConfigError(f"dataset {name!r}: end_model has unknown keys {unknown}")
    if not flag(name, "end_model.enabled", raw.get("enabled", True)):
        return None
    choice(name, "end_model.publish", str(raw.get("publish", "fill_uncovered")), END_MODEL_POLICIES)
    defaults = EndModelSettings()
    return EndModelSettings(**{k: type(getattr(defaults, k))(raw.get(k, getattr(defaults, k))) for k in fields})


DEFAULT_SEVERITY: dict[str, str] = {"votes_lf_fires": "warning", "source_file_quarantined_share": "warning"}
"""An LF that never fires is worth a look, not a stopped relabel; so is one bad file among good ones."""

THRESHOLD_MAX = {
    "min_coverage": 1.0,
    "max_kl_divergence": float("inf"),
    "max_label_change_share": 1.0,
    "max_lf_coverage_change": 1.0,
    "max_confidence_drop": 1.0,
    "max_null_share": 1.0,
    "max_quarantine_share": 1.0,
    "max_file_quarantine_share": 1.0,
    "min_row_ratio": float("inf"),
    "min_gold_accuracy": 1.0,
    "max_row_ratio": float("inf"),
}
"""Every numeric expectation threshold and its upper bound (all are >= 0; shares of rows are <= 1)."""


OPTIONAL_THRESHOLDS = ("min_gold_accuracy", "max_row_ratio")
"""Thresholds that may be unset (the check is off)."""


def number(dataset: str, key: str, value: object, low: float = 0.0, high: float = float("inf")) -> float:
    """``value`` as a float in [low, high]; a string, a bool or an out-of-range number is a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"dataset {dataset!r}: {key} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        bounds = f"[{low:g}, {high:g}]" if high != float("inf") else f">= {low:g}"
        raise ConfigError(f"dataset {dataset!r}: {key} must be {bounds}, got {value!r}")
    return float(value)


def class_shares(name: str, raw: object, classes: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """``class_share``: for each named class, ``[min, max]`` with 0 <= min <= max <= 1."""
    if not isinstance(raw, dict):
        raise ConfigError(f"dataset {name!r}: expectations.class_share must be a table of [min, max], got {raw!r}")
    share = {}
    for cls, bounds in raw.items():
        key = f"expectations.class_share.{cls}"
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ConfigError(f"dataset {name!r}: {key} must be [min, max], got {bounds!r}")
        low, high = number(name, key, bounds[0], 0, 1), number(name, key, bounds[1], 0, 1)
        if low > high:
            raise ConfigError(f"dataset {name!r}: {key} has min {low:g} above max {high:g}")
        share[str(cls)] = (low, high)
    return share


def expectation_config(name: str, raw: dict[str, Any], classes: tuple[str, ...]) -> ExpectationConfig:
    share = class_shares(name, raw.get("class_share", {}), classes)
    unknown = sorted(set(share) - set(classes))
    if unknown:
        raise ConfigError(f"dataset {name!r}: expectations.class_share names unknown classes {unknown}")
    severity = {**DEFAULT_SEVERITY, **{str(k): str(v) for k, v in raw.get("severity", {}).items()}}
    for check, level in severity.items():
        problem = unknown_check(check, classes)
        if problem:
            raise ConfigError(f"dataset {name!r}: expectations.severity: {problem}")
        choice(name, f"expectations.severity.{check}", level, SEVERITIES)
    defaults = ExpectationConfig()
    extra = sorted(set(raw) - set(THRESHOLD_MAX) - {"class_share", "severity"})
    if extra:
        raise ConfigError(f"dataset {name!r}: unknown expectations keys {extra}")
    numbers: dict[str, Any] = {}
    for key, high in THRESHOLD_MAX.items():
        value = raw.get(key, getattr(defaults, key))
        if value is None and key not in OPTIONAL_THRESHOLDS:
            raise ConfigError(f"dataset {name!r}: expectations.{key} must be a number, got nothing")
        numbers[key] = None if value is None else number(name, f"expectations.{key}", value, 0.0, high)
    if numbers["max_row_ratio"] is not None and numbers["max_row_ratio"] < numbers["min_row_ratio"]:
        raise ConfigError(
            f"dataset {name!r}: expectations.min_row_ratio {numbers['min_row_ratio']:g} is above "
            f"max_row_ratio {numbers['max_row_ratio']:g}"
        )
    return ExpectationConfig(class_share=share, severity=severity, **numbers)


def read_options_of(dataset: str, raw: dict[str, Any]) -> dict[str, str]:
    """Spark reader options as strings; an encoding nobody can decode is refused here, not as a
    Java traceback from inside the first task."""
    options = {str(k): str(v) for k, v in raw.items()}
    for key, value in options.items():
        if key.lower() in ("encoding", "charset"):
            try:
                codecs.lookup(value)
            except LookupError:
                raise ConfigError(
                    f"dataset {dataset!r}: read_options.{key} {value!r} is not a known encoding"
                ) from None
    return options


def flag(dataset: str, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"dataset {dataset!r}: {key} must be true or false, got {value!r}")
    return value


def choice(dataset: str, key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"dataset {dataset!r}: {key} must be one of {list(allowed)}, got {value!r}")
    return value


def label_model_name(dataset: str, value: object) -> str:
    """A known label model name, or ``"auto"`` (chosen by held-out LF agreement); a typo fails
    when the config is read, naming the dataset, not at the end of an hour of applying LFs."""
    from jobs.core.label_model_names import LABEL_MODEL_NAMES

    if value != "auto" and value not in LABEL_MODEL_NAMES:
        raise ConfigError(
            f"dataset {dataset!r}: unknown label model {value!r}; known: auto, " + ", ".join(sorted(LABEL_MODEL_NAMES))
        )
    return str(value)
