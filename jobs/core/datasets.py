"""Dataset declarations, read from ``config/datasets.toml``.

A dataset is data, not code: where its raw files are, how to read them, which
columns are the id, the text and the gold label, its classes, the LF pack and
the expectation thresholds. Adding a dataset means adding a table to the config
file; a typo there fails here, naming the dataset and the key.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.core.dataset_sections import (
    EndModelSettings,
    ExpectationConfig,
    GoldSetRule,
    RetentionSettings,
    ReviewQueueSettings,
    choice,
    end_model_settings,
    expectation_config,
    flag,
    gold_set_rule,
    label_model_name,
    number,
    read_options_of,
    retention_settings,
    review_queue_settings,
)
from jobs.core.errors import ConfigError
from jobs.core.settings import Settings, object_store_uri

SUPPORTED_FORMATS = ("csv", "json", "wrench")
ROW_ID = "@row"
"""``id_column = "@row"``: the source has no id; use ``<file name>:<row number in file>``."""


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
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    """What ``labellake vacuum`` (and the DAGs after a publish) keeps of the tables' history."""

    def source_globs(self, settings: Settings) -> list[str]:
        """Absolute paths or ``s3a://`` URIs (globs allowed) of the raw source files."""
        globs = []
        for raw in self.source_path:
            uri = object_store_uri(raw)
            if uri or Path(raw).is_absolute():
                globs.append(uri or raw)
            elif isinstance(settings.data_root, str):  # a data root on an object store
                globs.append(f"{settings.data_root}/{raw}")
            else:
                globs.append(str(settings.data_root / raw))
        return globs

    def class_index(self, class_name: str) -> int:
        return self.classes.index(class_name)


REQUIRED_KEYS = ("source_path", "format", "id_column", "text_column", "classes", "lf_pack")
OPTIONAL_KEYS = (
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
    "retention",
)


def _checked_keys(name: str, raw: dict[str, Any]) -> tuple[str, ...]:
    """The dataset's classes, once its keys, format and classes are checked."""
    missing = [key for key in REQUIRED_KEYS if key not in raw]
    if missing:
        raise ConfigError(f"dataset {name!r}: missing required keys {missing}")
    extra = sorted(set(raw) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if extra:
        raise ConfigError(f"dataset {name!r}: unknown keys {extra}")
    if raw["format"] not in SUPPORTED_FORMATS:
        raise ConfigError(f"dataset {name!r}: format {raw['format']!r} not one of {SUPPORTED_FORMATS}")
    classes = tuple(raw["classes"])
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ConfigError(f"dataset {name!r}: classes must be 2 or more distinct names, got {classes}")
    return classes


def _gold_values(name: str, raw: dict[str, Any], classes: tuple[str, ...]) -> dict[str, str]:
    gold_values = {str(k): str(v) for k, v in raw.get("gold_values", {}).items()}
    unknown = sorted(set(gold_values.values()) - set(classes))
    if unknown:
        raise ConfigError(f"dataset {name!r}: gold_values map to unknown classes {unknown}")
    return gold_values


def _class_balance(name: str, balance_raw: Any, classes: tuple[str, ...]) -> tuple[float, ...] | None:
    if balance_raw is None:
        return None
    if set(balance_raw) != set(classes):
        raise ConfigError(f"dataset {name!r}: class_balance must give a share for each of {list(classes)}")
    class_balance = tuple(number(name, f"class_balance.{c}", balance_raw[c], 0, 1) for c in classes)
    if min(class_balance) <= 0 or abs(sum(class_balance) - 1) > 1e-3:
        raise ConfigError(f"dataset {name!r}: class_balance must be positive shares summing to 1, got {balance_raw}")
    return class_balance


def _model_selection(name: str, raw: dict[str, Any]) -> tuple[tuple[str, ...], int]:
    """``[datasets.X.model_selection]``: candidate models (which need gold) and the dev share."""
    selection = dict(raw.get("model_selection", {}))
    unknown = sorted(set(selection) - {"candidates", "dev_percent"})
    if unknown:
        raise ConfigError(f"dataset {name!r}: model_selection has unknown keys {unknown}")
    candidates = tuple(selection.get("candidates", ()))
    for candidate in candidates:
        if candidate == "auto":
            raise ConfigError(
                f"dataset {name!r}: model_selection.candidates lists model names; "
                "'auto' is a label_model value (chosen without gold)"
            )
        label_model_name(name, candidate)
    if candidates and not raw.get("gold_column") and "gold_set" not in raw:
        raise ConfigError(f"dataset {name!r}: model_selection needs gold labels (gold_column or gold_set)")
    dev_percent = int(selection.get("dev_percent", 20))
    if not 0 < dev_percent < 100:
        raise ConfigError(f"dataset {name!r}: model_selection.dev_percent must be in 1..99, got {dev_percent}")
    return candidates, dev_percent


def _annotators(name: str, raw: dict[str, Any]) -> tuple[bool, dict[str, str]]:
    """``[datasets.X.annotators]``: whether annotators vote as sources, and their groups."""
    annotators = dict(raw.get("annotators", {}))
    unknown = sorted(set(annotators) - {"as_sources", "groups"})
    if unknown:
        raise ConfigError(f"dataset {name!r}: annotators has unknown keys {unknown}")
    groups = {str(k): str(v) for k, v in dict(annotators.get("groups", {})).items()}
    return flag(name, "annotators.as_sources", annotators.get("as_sources", False)), groups


def _dataset_from_toml(name: str, raw: dict[str, Any]) -> DatasetConfig:
    classes = _checked_keys(name, raw)
    gold_values = _gold_values(name, raw, classes)
    expectations = expectation_config(name, dict(raw.get("expectations", {})), classes)
    class_balance = _class_balance(name, raw.get("class_balance"), classes)
    candidates, dev_percent = _model_selection(name, raw)
    as_sources, groups = _annotators(name, raw)
    source_path = raw["source_path"]
    return DatasetConfig(
        name=name,
        source_path=(source_path,) if isinstance(source_path, str) else tuple(source_path),
        format=raw["format"],
        id_column=raw["id_column"],
        text_column=raw["text_column"],
        classes=classes,
        lf_pack=raw["lf_pack"],
        description=raw.get("description", ""),
        gold_column=raw.get("gold_column"),
        gold_values=gold_values,
        label_model=label_model_name(name, raw.get("label_model", "auto")),
        label_model_options=dict(raw.get("label_model_options", {})),
        class_balance=class_balance,
        model_selection=candidates,
        dev_percent=dev_percent,
        uncovered=choice(name, "uncovered", raw.get("uncovered", "abstain"), ("abstain", "predict")),
        read_options=read_options_of(name, raw.get("read_options", {})),
        invalid_utf8=choice(name, "invalid_utf8", raw.get("invalid_utf8", "quarantine"), ("quarantine", "replace")),
        columns=tuple(raw.get("columns", ())),
        max_lf_error_rate=number(name, "max_lf_error_rate", raw.get("max_lf_error_rate", 0.01), 0, 1),
        expectations=expectations,
        nightly=flag(name, "nightly", raw.get("nightly", True)),
        annotator_sources=as_sources,
        annotator_groups=groups,
        gold_set=gold_set_rule(name, raw.get("gold_set")),
        end_model=end_model_settings(name, raw.get("end_model")),
        review_queue=review_queue_settings(name, raw.get("review_queue")),
        retention=retention_settings(name, raw.get("retention")),
    )


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
