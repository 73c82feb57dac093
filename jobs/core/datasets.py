"""Dataset declarations, read from ``config/datasets.toml``.

A dataset is data, not code: where its raw files are, how to read them, which
columns are the id, the text and the gold label, its classes, the LF pack and
the expectation thresholds. Adding a dataset means adding a table to the config
file; a typo there fails here, naming the dataset and the key.
"""

from __future__ import annotations

import codecs
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.core.check_names import unknown_check
from jobs.core.errors import ConfigError
from jobs.core.settings import Settings

SUPPORTED_FORMATS = ("csv", "json", "wrench")
ROW_ID = "@row"
"""``id_column = "@row"``: the source has no id; use ``<file name>:<row number in file>``."""


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


def _review_queue_settings(name: str, raw: dict[str, Any] | None) -> ReviewQueueSettings | None:
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


def _gold_set_rule(name: str, raw: dict[str, Any] | None) -> GoldSetRule | None:
    if raw is None:
        return None
    unknown = sorted(set(raw) - set(GoldSetRule.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"dataset {name!r}: gold_set has unknown keys {unknown}")
    rule = GoldSetRule(
        min_agreeing=int(raw.get("min_agreeing", 2)),
        unanimous=_flag(name, "gold_set.unanimous", raw.get("unanimous", True)),
        experts=tuple(str(e) for e in raw.get("experts", ())),
        evaluation_percent=int(raw.get("evaluation_percent", 100)),
        publish=_flag(name, "gold_set.publish", raw.get("publish", False)),
    )
    if rule.min_agreeing < 1:
        raise ConfigError(f"dataset {name!r}: gold_set.min_agreeing must be 1 or more, got {rule.min_agreeing}")
    if not 0 <= rule.evaluation_percent <= 100:
        raise ConfigError(
            f"dataset {name!r}: gold_set.evaluation_percent must be in 0..100, got {rule.evaluation_percent}"
        )
    return rule


def _end_model_settings(name: str, raw: dict[str, Any] | None) -> EndModelSettings | None:
    if raw is None:
        return None
    fields = EndModelSettings.__dataclass_fields__
    unknown = sorted(set(raw) - set(fields) - {"enabled"})
    if unknown:
        raise ConfigError(f"dataset {name!r}: end_model has unknown keys {unknown}")
    if not _flag(name, "end_model.enabled", raw.get("enabled", True)):
        return None
    _choice(name, "end_model.publish", str(raw.get("publish", "fill_uncovered")), END_MODEL_POLICIES)
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


def _number(dataset: str, key: str, value: object, low: float = 0.0, high: float = float("inf")) -> float:
    """``value`` as a float in [low, high]; a string, a bool or an out-of-range number is a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"dataset {dataset!r}: {key} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        bounds = f"[{low:g}, {high:g}]" if high != float("inf") else f">= {low:g}"
        raise ConfigError(f"dataset {dataset!r}: {key} must be {bounds}, got {value!r}")
    return float(value)


def _class_shares(name: str, raw: object, classes: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """``class_share``: for each named class, ``[min, max]`` with 0 <= min <= max <= 1."""
    if not isinstance(raw, dict):
        raise ConfigError(f"dataset {name!r}: expectations.class_share must be a table of [min, max], got {raw!r}")
    share = {}
    for cls, bounds in raw.items():
        key = f"expectations.class_share.{cls}"
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ConfigError(f"dataset {name!r}: {key} must be [min, max], got {bounds!r}")
        low, high = _number(name, key, bounds[0], 0, 1), _number(name, key, bounds[1], 0, 1)
        if low > high:
            raise ConfigError(f"dataset {name!r}: {key} has min {low:g} above max {high:g}")
        share[str(cls)] = (low, high)
    return share


def _expectations(name: str, raw: dict[str, Any], classes: tuple[str, ...]) -> ExpectationConfig:
    share = _class_shares(name, raw.get("class_share", {}), classes)
    unknown = sorted(set(share) - set(classes))
    if unknown:
        raise ConfigError(f"dataset {name!r}: expectations.class_share names unknown classes {unknown}")
    severity = {**DEFAULT_SEVERITY, **{str(k): str(v) for k, v in raw.get("severity", {}).items()}}
    for check, level in severity.items():
        problem = unknown_check(check, classes)
        if problem:
            raise ConfigError(f"dataset {name!r}: expectations.severity: {problem}")
        _choice(name, f"expectations.severity.{check}", level, SEVERITIES)
    defaults = ExpectationConfig()
    extra = sorted(set(raw) - set(THRESHOLD_MAX) - {"class_share", "severity"})
    if extra:
        raise ConfigError(f"dataset {name!r}: unknown expectations keys {extra}")
    numbers: dict[str, Any] = {}
    for key, high in THRESHOLD_MAX.items():
        value = raw.get(key, getattr(defaults, key))
        if value is None and key not in OPTIONAL_THRESHOLDS:
            raise ConfigError(f"dataset {name!r}: expectations.{key} must be a number, got nothing")
        numbers[key] = None if value is None else _number(name, f"expectations.{key}", value, 0.0, high)
    if numbers["max_row_ratio"] is not None and numbers["max_row_ratio"] < numbers["min_row_ratio"]:
        raise ConfigError(
            f"dataset {name!r}: expectations.min_row_ratio {numbers['min_row_ratio']:g} is above "
            f"max_row_ratio {numbers['max_row_ratio']:g}"
        )
    return ExpectationConfig(class_share=share, severity=severity, **numbers)


@dataclass(frozen=True)
class DatasetConfig:
    """One dataset as declared in the config file. See ``config/datasets.toml``."""

    name: str
    source_path: tuple[str, ...]
    format: str
    id_column: str
    text_column: str
    classes: tuple[str, ...]
    lf_pack: str
    description: str = ""
    gold_column: str | None = None
    gold_values: dict[str, str] = field(default_factory=dict)
    label_model: str = "auto"
    label_model_options: dict[str, Any] = field(default_factory=dict)
    """Hyper-parameters passed to the label model (e.g. ``{smoothing = 0.1}``)."""
    class_balance: tuple[float, ...] | None = None
    """A fixed class prior, in class order (config: ``class_balance = {HAM = 0.5, SPAM = 0.5}``)."""
    model_selection: tuple[str, ...] = ()
    """Candidate label models chosen between by accuracy on a dev share of the gold labels."""
    dev_percent: int = 20
    """Share of gold rows (by a hash of the id, so stable across runs) used as the dev split."""
    uncovered: str = "abstain"
    """Rows no LF voted on: "abstain" (label -1, probs = class prior) or "predict" (the model's guess)."""
    read_options: dict[str, str] = field(default_factory=dict)
    invalid_utf8: str = "quarantine"
    """Rows with bytes that are not UTF-8: "quarantine" (bytes kept, base64) or "replace" (U+FFFD, a warning)."""
    columns: tuple[str, ...] = ()
    expectations: ExpectationConfig = field(default_factory=ExpectationConfig)
    nightly: bool = True
    """Relabeled by the scheduled ``nightly_relabel`` runs (every dataset can still be triggered by hand)."""
    max_lf_error_rate: float = 0.01
    """Share of rows a Python LF may fail on (it abstains there) before the run fails."""
    annotator_sources: bool = False
    """Hand labels from the ``annotations`` table vote in the label model, one source per annotator."""
    annotator_groups: dict[str, str] = field(default_factory=dict)
    """Annotator -> source name, for annotators that should count as one source (``{alice = "experts"}``)."""
    gold_set: GoldSetRule | None = None
    """When annotations become gold (None: the gold column is the only gold)."""
    end_model: EndModelSettings | None = None
    """Train an end model in the fit stage and keep its label next to the label model's (None: off)."""
    review_queue: ReviewQueueSettings | None = None
    """Write a review queue after each publish (None: only on ``labellake review-queue``)."""

    def source_globs(self, settings: Settings) -> list[str]:
        """Absolute paths (globs allowed) of the raw source files."""
        return [str(p if p.is_absolute() else settings.data_root / p) for p in map(Path, self.source_path)]

    def class_index(self, class_name: str) -> int:
        return self.classes.index(class_name)


def _dataset_from_toml(name: str, raw: dict[str, Any]) -> DatasetConfig:
    required = ("source_path", "format", "id_column", "text_column", "classes", "lf_pack")
    missing = [key for key in required if key not in raw]
    if missing:
        raise ConfigError(f"dataset {name!r}: missing required keys {missing}")
    if raw["format"] not in SUPPORTED_FORMATS:
        raise ConfigError(f"dataset {name!r}: format {raw['format']!r} not one of {SUPPORTED_FORMATS}")
    classes = tuple(raw["classes"])
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ConfigError(f"dataset {name!r}: classes must be 2 or more distinct names, got {classes}")
    gold_values = {str(k): str(v) for k, v in raw.get("gold_values", {}).items()}
    unknown = sorted(set(gold_values.values()) - set(classes))
    if unknown:
        raise ConfigError(f"dataset {name!r}: gold_values map to unknown classes {unknown}")
    expectations = _expectations(name, dict(raw.get("expectations", {})), classes)
    known = set(required) | {
        "description",
        "gold_column",
        "gold_values",
        "label_model",
        "read_options",
        "invalid_utf8",
        "columns",
        "expectations",
        "max_lf_error_rate",
        "label_model_options",
        "class_balance",
        "model_selection",
        "uncovered",
        "nightly",
        "annotators",
        "gold_set",
        "end_model",
        "review_queue",
    }
    extra = sorted(set(raw) - known)
    if extra:
        raise ConfigError(f"dataset {name!r}: unknown keys {extra}")
    balance_raw = raw.get("class_balance")
    class_balance = None
    if balance_raw is not None:
        if set(balance_raw) != set(classes):
            raise ConfigError(f"dataset {name!r}: class_balance must give a share for each of {list(classes)}")
        class_balance = tuple(_number(name, f"class_balance.{c}", balance_raw[c], 0, 1) for c in classes)
        if min(class_balance) <= 0 or abs(sum(class_balance) - 1) > 1e-3:
            raise ConfigError(
                f"dataset {name!r}: class_balance must be positive shares summing to 1, got {balance_raw}"
            )
    selection = dict(raw.get("model_selection", {}))
    unknown_sel = sorted(set(selection) - {"candidates", "dev_percent"})
    if unknown_sel:
        raise ConfigError(f"dataset {name!r}: model_selection has unknown keys {unknown_sel}")
    candidates = tuple(selection.get("candidates", ()))
    for candidate in candidates:
        if candidate == "auto":
            raise ConfigError(
                f"dataset {name!r}: model_selection.candidates lists model names; "
                "'auto' is a label_model value (chosen without gold)"
            )
        _label_model_name(name, candidate)
    if candidates and not raw.get("gold_column") and "gold_set" not in raw:
        raise ConfigError(f"dataset {name!r}: model_selection needs gold labels (gold_column or gold_set)")
    dev_percent = int(selection.get("dev_percent", 20))
    if not 0 < dev_percent < 100:
        raise ConfigError(f"dataset {name!r}: model_selection.dev_percent must be in 1..99, got {dev_percent}")
    annotators = dict(raw.get("annotators", {}))
    unknown_ann = sorted(set(annotators) - {"as_sources", "groups"})
    if unknown_ann:
        raise ConfigError(f"dataset {name!r}: annotators has unknown keys {unknown_ann}")
    return DatasetConfig(
        name=name,
        source_path=(raw["source_path"],) if isinstance(raw["source_path"], str) else tuple(raw["source_path"]),
        format=raw["format"],
        id_column=raw["id_column"],
        text_column=raw["text_column"],
        classes=classes,
        lf_pack=raw["lf_pack"],
        description=raw.get("description", ""),
        gold_column=raw.get("gold_column"),
        gold_values=gold_values,
        label_model=_label_model_name(name, raw.get("label_model", "auto")),
        label_model_options=dict(raw.get("label_model_options", {})),
        class_balance=class_balance,
        model_selection=candidates,
        dev_percent=dev_percent,
        uncovered=_choice(name, "uncovered", raw.get("uncovered", "abstain"), ("abstain", "predict")),
        read_options=_read_options(name, raw.get("read_options", {})),
        invalid_utf8=_choice(name, "invalid_utf8", raw.get("invalid_utf8", "quarantine"), ("quarantine", "replace")),
        columns=tuple(raw.get("columns", ())),
        max_lf_error_rate=_number(name, "max_lf_error_rate", raw.get("max_lf_error_rate", 0.01), 0, 1),
        expectations=expectations,
        nightly=_flag(name, "nightly", raw.get("nightly", True)),
        annotator_sources=_flag(name, "annotators.as_sources", annotators.get("as_sources", False)),
        annotator_groups={str(k): str(v) for k, v in dict(annotators.get("groups", {})).items()},
        gold_set=_gold_set_rule(name, raw.get("gold_set")),
        end_model=_end_model_settings(name, raw.get("end_model")),
        review_queue=_review_queue_settings(name, raw.get("review_queue")),
    )


def _read_options(dataset: str, raw: dict[str, Any]) -> dict[str, str]:
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


def _flag(dataset: str, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"dataset {dataset!r}: {key} must be true or false, got {value!r}")
    return value


def _choice(dataset: str, key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"dataset {dataset!r}: {key} must be one of {list(allowed)}, got {value!r}")
    return value


def _read_toml(config_path: Path) -> dict[str, Any]:
    """The config file's tables; a missing file or a TOML syntax error names the file."""
    if not config_path.exists():
        raise ConfigError(f"datasets config {config_path} does not exist")
    try:
        with config_path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"datasets config {config_path}: TOML syntax error: {exc}") from exc


def _entries(config_path: Path) -> dict[str, Any]:
    entries = _read_toml(config_path).get("datasets", {})
    if not isinstance(entries, dict):
        raise ConfigError(f"{config_path}: [datasets] must be a table of datasets")
    return entries


def _parsed_entry(config_path: Path, name: str, body: object) -> DatasetConfig:
    if not isinstance(body, dict):
        raise ConfigError(f"{config_path}: dataset {name!r} must be a table, got {body!r}")
    try:
        return _dataset_from_toml(name, body)
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc
    except (TypeError, ValueError, KeyError) as exc:  # a wrong type deep in a nested table
        raise ConfigError(f"{config_path}: dataset {name!r}: invalid value ({exc})") from exc


def load_datasets(config_path: Path) -> dict[str, DatasetConfig]:
    """Parse every ``[datasets.NAME]`` table of the config file (the first broken one raises)."""
    return {name: _parsed_entry(config_path, name, body) for name, body in _entries(config_path).items()}


def load_valid_datasets(config_path: Path) -> tuple[dict[str, DatasetConfig], dict[str, str]]:
    """Every dataset whose entry parses, and the error of each one that does not: a typo in one
    dataset's entry must not stop the others (the DAGs list the valid ones)."""
    valid, broken = {}, {}
    for name, body in _entries(config_path).items():
        try:
            valid[name] = _parsed_entry(config_path, name, body)
        except ConfigError as exc:
            broken[name] = str(exc)
    return valid, broken


@dataclass(frozen=True)
class AirflowConfig:
    """The ``[airflow]`` table: when the DAGs run. Read when Airflow parses the DAG files,
    so a schedule change is a config edit, not a code change."""

    nightly_schedule: str | None = "@daily"
    """Cron expression or preset of ``nightly_relabel``; ``"none"`` turns the schedule off."""
    lf_watch_schedule: str | None = "*/30 * * * *"
    """How often ``lf_library_watch`` compares the LF library with the published labels
    (CI can also trigger it right after a merge); ``"none"`` for manual triggers only."""
    max_active_tasks: int = 2
    """Spark jobs one DAG run may run at once (datasets relabel in parallel up to this)."""


def load_airflow_config(config_path: Path) -> AirflowConfig:
    """Parse the optional ``[airflow]`` table of the datasets config."""
    if not config_path.exists():
        raise ConfigError(f"datasets config {config_path} does not exist")
    raw = dict(_read_toml(config_path).get("airflow", {}))
    unknown = sorted(set(raw) - {"nightly_schedule", "lf_watch_schedule", "max_active_tasks"})
    if unknown:
        raise ConfigError(f"{config_path} [airflow]: unknown keys {unknown}")

    def schedule(key: str) -> str | None:
        value = raw.get(key, getattr(AirflowConfig, key))
        if value is None or str(value).strip().lower() in ("", "none", "null"):
            return None
        return str(value)

    tasks = raw.get("max_active_tasks", AirflowConfig.max_active_tasks)
    if not isinstance(tasks, int) or tasks < 1:
        raise ConfigError(f"{config_path} [airflow]: max_active_tasks must be a positive integer, got {tasks!r}")
    return AirflowConfig(schedule("nightly_schedule"), schedule("lf_watch_schedule"), tasks)


def get_dataset(name: str, settings: Settings | None = None) -> DatasetConfig:
    """The dataset called ``name``; the error lists the declared ones."""
    settings = settings or Settings.from_env()
    entries = _entries(settings.config_path)
    if name not in entries:
        raise ConfigError(f"unknown dataset {name!r} in {settings.config_path}; declared: {sorted(entries)}")
    return _parsed_entry(settings.config_path, name, entries[name])


def write_datasets_toml(path: Path, datasets: dict[str, dict[str, Any]]) -> Path:
    """Write a datasets TOML file from plain dicts (tests and benchmarks that need their own datasets)."""
    lines: list[str] = []

    def value(v: object) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(str(k))} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    for name, body in datasets.items():
        lines.append(f"[datasets.{name}]")
        for key, v in body.items():
            lines.append(f"{key} = {value(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _label_model_name(dataset: str, value: object) -> str:
    """A known label model name, or ``"auto"`` (chosen by held-out LF agreement); a typo fails
    when the config is read, naming the dataset, not at the end of an hour of applying LFs."""
    from jobs.core.label_model_names import LABEL_MODEL_NAMES

    if value != "auto" and value not in LABEL_MODEL_NAMES:
        raise ConfigError(
            f"dataset {dataset!r}: unknown label model {value!r}; known: auto, " + ", ".join(sorted(LABEL_MODEL_NAMES))
        )
    return str(value)
