"""Run one suite on one Spark DataFrame through a GX Checkpoint, and keep its Data Docs.

Every suite in ``expectations/`` is validated the same way: a file-backed GX
Data Context per dataset under ``<LABELLAKE_HOME>/_gx/<dataset>`` (so results and
Data Docs accumulate across runs and processes, and runs of two datasets at once
never write the same GX config file), a Spark dataframe asset per suite, a
Checkpoint whose ``UpdateDataDocsAction`` renders one HTML page per validation,
and the Airflow/CLI run id as GX's run name. Each expectation's ``meta``
carries ``check`` (a stable name, used for severity and reports) and
``threshold``; :func:`outcomes` turns GX's result into plain dicts for the runs
table.

A stage with several suites (validate) stores each result and renders their
pages in one site build (:func:`render_data_docs`): a build's template compiling
and index writing cost the same however small the suite.

Each validation page gets a banner linking to the run's labellake report (a
relative link, so the lakehouse can be copied or shared as a folder): Data Docs
shows one suite at a time, the report shows the run as a whole.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from pyspark.sql import DataFrame

from expectations.offline_assets import localize_site
from jobs.core.settings import run_report_file

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteRun:
    """One validated suite: every expectation's outcome and the Data Docs page that shows them."""

    suite: str
    outcomes: list[dict[str, Any]]
    docs_page: str | None
    seconds: float = 0.0
    identifier: Any = None
    """GX's ValidationResultIdentifier of the stored result (what :func:`render_data_docs` renders)."""


def gx_root(home: Path, dataset: str) -> Path:
    return home / "_gx" / dataset


def data_docs_index(home: Path, dataset: str) -> Path:
    return gx_root(home, dataset) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


_CONTEXTS: dict[Path, Any] = {}
"""File contexts already opened by this process, by project root: opening one parses its YAML and
plugins, and a stage validates up to three suites; a run in one process, five."""


class _CompiledTemplates:
    """Jinja bytecode kept in memory for every Data Docs view of this process.

    GX builds a new jinja ``Environment`` for each view it renders, so every page
    compiled the same templates again (~90% of a Data Docs build). Jinja checks
    each entry against the template source's checksum, so a changed template
    is compiled anew.
    """

    def __init__(self) -> None:
        from jinja2 import BytecodeCache

        class Store(BytecodeCache):
            def __init__(self) -> None:
                self.entries: dict[str, bytes] = {}

            def load_bytecode(self, bucket: Any) -> None:
                if bucket.key in self.entries:
                    bucket.bytecode_from_string(self.entries[bucket.key])

            def dump_bytecode(self, bucket: Any) -> None:
                self.entries[bucket.key] = bucket.bytecode_to_string()

        self.store = Store()

    def install(self) -> None:
        """Give every GX jinja view this store (once per process)."""
        from great_expectations.render.view.view import DefaultJinjaView

        init = DefaultJinjaView.__init__
        if getattr(init, "_labellake_store", None) is self.store:
            return
        store = self.store

        def init_with_store(view: Any, *args: Any, **kwargs: Any) -> None:
            init(view, *args, **kwargs)
            view.env.bytecode_cache = store

        init_with_store._labellake_store = store  # type: ignore[attr-defined]
        DefaultJinjaView.__init__ = init_with_store  # type: ignore[method-assign,assignment]


_TEMPLATES = _CompiledTemplates()


def _context(home: Path, dataset: str) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # GX's usage statistics: off unless a user opts in
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _TEMPLATES.install()

    root = gx_root(home, dataset)
    cached = _CONTEXTS.get(root)
    if cached is not None and (root / "gx" / "great_expectations.yml").exists():
        return cached
    context = gx.get_context(mode="file", project_root_dir=str(root))
    _drop_config_variables_template(root / "gx")
    if context.config.analytics_enabled is not False and os.environ["GX_ANALYTICS_ENABLED"].lower() == "false":
        context.enable_analytics(False)
    # One log line per expectation (the caller's) beats a tqdm bar per metric batch in task logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    _CONTEXTS[root] = context
    return context


def _drop_config_variables_template(gx_dir: Path) -> None:
    """Delete ``uncommitted/config_variables.yml`` while it is GX's template (comments and an
    analytics ``instance_id``, unused with analytics off).

    GX re-reads and YAML-parses that file on every read of a context variable (hundreds per
    stage: 0.5 s of an LF-edit rerun on youtube_spam); a missing file reads as no variables.
    A file a user has written variables into is kept."""
    from great_expectations.data_context.templates import CONFIG_VARIABLES_INTRO

    path = gx_dir / "uncommitted" / "config_variables.yml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    rest = text.removeprefix(CONFIG_VARIABLES_INTRO)
    if rest != text and re.fullmatch(r"instance_id: [0-9a-f-]+\s*", rest):
        path.unlink(missing_ok=True)


def run_suite(
    home: Path,
    dataset: str,
    build_suite: Callable[[], Any],
    frame: DataFrame | pd.DataFrame,
    run_id: str,
    severity_of: Callable[[str], str],
    observed: Callable[[str, dict], Any],
    index_columns: list[str] | None = None,
    data_docs: bool = True,
) -> SuiteRun:
    """Validate ``frame`` (Spark, or pandas for a table of a few rows: no Spark job, no Delta log
    replay) against the suite ``build_suite()`` makes, as run ``run_id``; render its
    Data Docs page, unless ``data_docs`` is False: then the result is stored and
    :func:`render_data_docs` renders it with the stage's other suites. (The suite is built here
    because GX binds a suite to the active context.)"""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    started = time.monotonic()
    context = _context(home, dataset)
    suite = build_suite()
    # A fresh datasource per validation: GX caches the execution engine (and the metrics it
    # computed, keyed by batch id) on the datasource, and a whole-dataframe batch has the same
    # id every run, so a reused one would answer with the previous run's metrics.
    name = f"labellake_{dataset}_{suite.name}"
    with _one_config_save(context):
        if name in context.data_sources.all():
            context.data_sources.delete(name)
        # persist=False: GX would cache the frame and never release it, and Spark's cache matches by
        # plan, so the next run's frame over the same paths would be answered from this run's rows.
        # Callers persist (and unpersist) what they hand in.
        if _is_pandas(frame):
            source = context.data_sources.add_pandas(name=name)
        else:
            source = context.data_sources.add_spark(name=name, persist=False)
        asset = source.add_dataframe_asset(name=suite.name)
        batch_definition = asset.add_batch_definition_whole_dataframe("run")
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
    )
    result_format: dict[str, Any] = {"result_format": "SUMMARY"}
    if index_columns:
        result_format["unexpected_index_column_names"] = list(index_columns)
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs")] if data_docs else [],
            result_format=result_format,
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_id))
    ((identifier, validation),) = result.run_results.items()
    page = _linked_page(context, home, dataset, run_id, suite.name, identifier) if data_docs else None
    seconds = round(time.monotonic() - started, 2)
    log.info("validated %s: %d expectations in %.1fs", suite.name, len(validation.results), seconds)
    return SuiteRun(suite.name, outcomes(validation, severity_of, observed), page, seconds, identifier)


@contextmanager
def _one_config_save(context: Any) -> Iterator[None]:
    """Write ``great_expectations.yml`` once for the datasource changes made inside: GX's file
    context rewrites it after each (delete, add, asset, batch definition: four per validation,
    about 20 ms each as the file lists every suite's datasource). On an error the file is
    written as well, with whatever changes were made."""
    save = context._save_project_config
    context._save_project_config = lambda: None
    try:
        yield
    finally:
        del context._save_project_config  # the class's method again
        save()


def _is_pandas(frame: object) -> bool:
    return type(frame).__module__.split(".")[0] == "pandas"


def _linked_page(context: Any, home: Path, dataset: str, run_id: str, suite: str, identifier: Any) -> str | None:
    """The rendered Data Docs page of one validation, with the link to the run report added."""
    try:
        urls = context.get_docs_sites_urls(resource_identifier=identifier)
        page = urls[0]["site_url"] if urls else None
        if page:
            link_run_report(page, run_report_file(home, dataset, run_id), run_id)
        return page
    except Exception as exc:  # noqa: BLE001 - a missing docs link must not fail a validation
        log.warning("no Data Docs page for %s: %s", suite, exc)
        return None


def render_data_docs(home: Path, dataset: str, run_id: str, runs: list[SuiteRun]) -> list[SuiteRun]:
    """Render the Data Docs pages of several validated suites (``run_suite(..., data_docs=False)``)
    in one site build; ``runs`` with their pages, the build's seconds shared among them.

    Why one build: each GX site build compiles its page templates and rewrites the index (which
    lists every stored validation), however small the suite; validate runs three.
    A build that fails is logged, not raised: the outcomes stand without their pages.
    """
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    pending = [r for r in runs if r.identifier is not None and r.docs_page is None]
    if not pending:
        return runs
    started, built_at = time.monotonic(), time.time()
    try:
        context = _context(home, dataset)
        context.build_data_docs(
            resource_identifiers=[
                *[r.identifier for r in pending],
                *[ExpectationSuiteIdentifier(name=r.suite) for r in pending],
            ]
        )
    except Exception as exc:  # noqa: BLE001 - a missing docs page must not fail a validation
        log.warning("Data Docs not rendered for %s: %s", ", ".join(r.suite for r in pending), exc)
        return runs
    localize_site(data_docs_index(home, dataset).parent, since=built_at - 1)
    pages = {id(r): _linked_page(context, home, dataset, run_id, r.suite, r.identifier) for r in pending}
    share = round((time.monotonic() - started) / len(pending), 2)
    return [
        dataclasses.replace(r, docs_page=pages[id(r)], seconds=r.seconds + share) if id(r) in pages else r for r in runs
    ]


REPORT_BANNER_ID = "labellake-run-report"


def link_run_report(page_url: str, report: Path, run_id: str) -> None:
    """Put a link to the run's report at the top of a rendered Data Docs page (idempotent).

    GX 1.x renders nothing a caller can attach to a validation page (batch
    parameters are limited to the dataframe, suite notes render only on the
    suite page), so the link is added to the page GX has just written.
    """
    page = Path(page_url.removeprefix("file://"))
    if not page.exists():  # a URL-quoted path (run ids carry ':' and '+')
        page = Path(unquote(page_url.removeprefix("file://")))
    html = page.read_text(encoding="utf-8")
    if REPORT_BANNER_ID in html or "<body" not in html:
        return
    href = quote(Path(os.path.relpath(report, page.parent)).as_posix())
    banner = (
        f'<div id="{REPORT_BANNER_ID}" class="alert alert-info m-2">labellake run '
        f'<b>{escape(run_id)}</b>: <a href="{escape(href, quote=True)}">open the run report</a> '
        "(LF table, label distribution, confidence, changes, every suite of the run)</div>"
    )
    start = html.index("<body")
    end = html.index(">", start) + 1
    page.write_text(html[:end] + banner + html[end:], encoding="utf-8")


def outcomes(validation: Any, severity_of: Callable[[str], str], observed: Callable[[str, dict], Any]) -> list[dict]:
    """One dict per expectation: check, GX type, column, success, observed value, threshold, severity."""
    out = []
    for item in validation.results:
        config = item.expectation_config
        meta = config.meta or {}
        check = meta.get("check", config.type)
        out.append(
            {
                "check": check,
                "expectation": config.type,
                "column": config.kwargs.get("column"),
                "success": bool(item.success),
                "observed": observed(check, dict(item.result)),
                "threshold": meta.get("threshold"),
                "severity": severity_of(check),
            }
        )
    return out
