"""The run report: one self-contained HTML page per run, under ``<lakehouse>/_reports/<dataset>/``.

What a person checks before trusting a labeling, on one page that opens from
disk (inline SVG, no scripts, no server): the run (trigger, mode, what was
recomputed, stage times), accuracy against gold, the label distribution next
to the previous version's, the confidence histogram, the transitions since the
previous version, the LF table (coverage, overlaps, conflicts, empirical and
learned accuracy, errors), an LF conflict heatmap, and every expectation's
result.

Everything is an aggregate (DuckDB over the Delta tables through delta-rs; the
heatmap from the vote-pattern counts): no row text, only a few sample ids, so
the page can be shared where the data cannot. Written by the pipeline after
each publish (and after a failed validation), and by ``labellake report``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

from jobs.core.errors import LabellakeError, RunNotFound
from jobs.core.settings import Settings, run_report_file
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.reports.charts import grouped_bars, histogram
from jobs.reports.history import labels_diff
from jobs.reports.html_table import html_table
from jobs.reports.lf_sections import label_model_row, lf_section
from jobs.reports.summary import labels_summary

log = logging.getLogger(__name__)

UNLABELED = "unlabeled (-1)"


def report_path(settings: Settings, dataset: str, run_id: str) -> Path:
    return run_report_file(settings.home, dataset, run_id)


def write_run_report(settings: Settings, dataset: str, run_id: str | None = None) -> Path:
    """Render the report of ``run_id`` (default: the run behind the newest labels version)."""
    labels_ref = table(settings, dataset, "labels")
    if run_id is None:
        if not labels_ref.exists():
            raise LabellakeError(
                f"dataset {dataset!r} has no published labels yet; run it first "
                f"(`labellake run --dataset {dataset}`), or name a run with --run"
            )
        meta = DeltaTable(str(labels_ref.path)).history(1)[0].get("userMetadata")
        run_id = json.loads(meta)["run_id"] if meta else None
    if run_id is None:
        raise LabellakeError(f"dataset {dataset!r}: the newest labels version names no run; name one with --run")
    record = run_record(None, settings, run_id, dataset)
    if record is None:
        raise RunNotFound(f"no run {run_id!r} of dataset {dataset!r} in the runs table")
    version = record.get("labels_version") if record.get("status") == "published" else None
    sections = [_run_section(record, version), _model_choice_section(settings, dataset, run_id)]
    current_from = record.get("labels_current_from")
    if current_from:
        sections.append(
            f"<p><b>Nothing changed</b> since run {escape(current_from)} (same source, votes, LF set, "
            f"config and code): its labels, v{version}, stay current. This run fitted, validated and "
            "published nothing; the figures below are that version's.</p>"
        )
    if version is not None:
        sections += _labels_sections(settings, dataset, int(version), "current" if current_from else "this run")
    else:
        sections.append(_staging_section(settings, dataset, run_id))
    sections.append(lf_section(settings, dataset, current_from or run_id))
    sections.append(_expectations_section(record))
    path = report_path(settings, dataset, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(f"labellake run {run_id} ({dataset})", sections))
    log.info("report %s: %s", dataset, path.as_uri())
    return path


def write_run_report_quietly(settings: Settings, dataset: str, run_id: str) -> Path | None:
    """The report after a run, best effort: a report that cannot be drawn never fails the run."""
    try:
        return write_run_report(settings, dataset, run_id)
    except RunNotFound:  # refused before it began (a config error, a busy dataset): nothing to report
        return None
    except Exception as exc:  # noqa: BLE001 - logged; the run's own outcome stands
        log.warning("report %s: not written for run %s: %s: %s", dataset, run_id, type(exc).__name__, exc)
        return None


def _run_section(record: dict[str, Any], version: int | None) -> str:
    recomputed = json.loads(record.get("recomputed") or "{}")
    seconds = json.loads(record.get("stage_seconds") or "{}")
    status = record.get("status")
    facts = {
        "status": f"{status} at {record.get('stage')}" if status == "failed" and record.get("stage") else status,
        "trigger": record.get("trigger"),
        "mode": record.get("mode"),
        "Airflow DAG / run": f"{record.get('dag_id') or '-'} / {record.get('run_id')}",
        "labels version": version if version is not None else "not published",
        "source": f"{record['source_table']} v{record.get('source_version')}" if record.get("source_table") else None,
        "LF set version": record.get("lf_set_version"),
        "label model": record.get("label_model"),
        "end model": record.get("end_model"),
        "gold set version": record.get("gold_set_version"),
        "review queue": _queue_text(record.get("review_queue")),
        "rows (input / accepted / quarantined)": " / ".join(
            "-" if record.get(key) is None else f"{record[key]:,}"
            for key in ("input_rows", "accepted_rows", "quarantined_rows")
        ),
        "recomputed": f"{recomputed.get('lfs')} x {recomputed.get('dirty_rows', 0)} changed rows"
        f" ({recomputed.get('reason', '')})"
        if recomputed
        else None,
        "stage seconds": ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if "." not in k) or None,
        "code version": record.get("code_version"),
        "error": record.get("error"),
    }
    facts = {k: "-" if v is None else v for k, v in facts.items()}
    return "<h2>Run</h2>" + html_table(["", ""], [[k, v] for k, v in facts.items()])


def _model_choice_section(settings: Settings, dataset: str, run_id: str) -> str:
    """How the run's label model was chosen, and the evidence (``auto``: held-out LF agreement and
    any fallback; model selection: dev accuracy), from the run's row of the label_models table."""
    found = label_model_row(settings, dataset, run_id)
    if found is None or not found["selection"]:
        return ""
    selection = json.loads(found["selection"])
    rows = [["model", found["model_id"]], ["chosen by", selection.get("selected_by", "-")]]
    if selection.get("auto_reason"):
        rows.append(["why", selection["auto_reason"]])
    for key, label in (("held_out_lf_agreement", "held-out LF agreement"), ("dev_accuracy", "dev accuracy")):
        if selection.get(key):
            rows.append([label, ", ".join(f"{k} {v:.4f}" for k, v in selection[key].items())])
    if selection.get("auto_evidence"):
        rows.append(["evidence", ", ".join(f"{k} {v}" for k, v in selection["auto_evidence"].items())])
    return "<h2>Label model</h2>" + html_table(["", ""], rows)


def _queue_text(raw: str | None) -> str:
    if not raw:
        return "-"
    queue = json.loads(raw)
    return f"{queue['queue_id']}: {queue['rows']} rows {queue['kinds']} ({queue['csv']})"


def _labels_sections(settings: Settings, dataset: str, version: int, whose: str = "this run") -> list[str]:
    summary = labels_summary(settings, dataset, version)
    previous = labels_summary(settings, dataset, version - 1) if version > 0 else None
    classes = list(dict.fromkeys([*summary["distribution"], *((previous or {}).get("distribution") or {})]))
    series = {f"v{version} ({whose})": [summary["distribution"].get(c, 0) for c in classes]}
    if previous:
        series[f"v{version - 1} (previous)"] = [previous["distribution"].get(c, 0) for c in classes]
    out = [
        "<h2>Labels</h2>",
        f"<p>{summary['rows']:,} rows, {summary['labeled']:,} labeled"
        + (f", {summary.get('covered', 0):,} with at least one LF vote" if "covered" in summary else "")
        + ".</p>",
    ]
    gold = summary.get("gold")
    if gold and gold.get("accuracy") is not None:
        out.append(
            f"<p><b>Accuracy against gold</b>: {gold['correct']:,} of {gold['labeled_with_gold']:,} labeled "
            f"rows with gold are correct (<b>{gold['accuracy']:.1%}</b>); {gold['rows_with_gold']:,} rows "
            f"have gold (evaluation gold, {gold['table']}).</p>"
        )
        if "end_model_accuracy" in gold:
            out.append(
                f"<p>Where each gives a label: label model {gold['label_model_accuracy']:.1%}, end model "
                f"{gold['end_model_accuracy']:.1%}.</p>"
            )
    if summary.get("label_sources"):
        out.append(
            "<p><b>Where the published labels came from</b> (<code>_label_source</code>): "
            + ", ".join(f"{k} {v:,}" for k, v in summary["label_sources"].items())
            + ".</p>"
        )
    out.append(grouped_bars(classes, series, "Label distribution"))
    out.append(_confidence_histogram(settings, dataset, version))
    if version > 0:
        diff = labels_diff(settings, dataset, version - 1, version, samples=3)
        out.append(
            f"<h2>Changes since v{version - 1}</h2><p>{diff['changed']:,} of {diff['rows_to']:,} ids changed label.</p>"
        )
        out.append(
            html_table(
                ["from", "to", "rows", "sample ids"],
                [
                    [t["from"], t["to"], f"{t['rows']:,}", ", ".join(t["sample_ids"])]
                    for t in diff["transitions"]
                    if t["from"] != t["to"]
                ]
                or [["-", "-", "0", ""]],
            )
        )
    return out


def _confidence_histogram(settings: Settings, dataset: str, version: int, bins: int = 20) -> str:
    con = duckdb.connect()
    con.register(
        "labels", DeltaTable(str(table(settings, dataset, "labels").path), version=version).to_pyarrow_dataset()
    )
    # Confidence is at least 1/k (k classes): the bins span [1/k, 1], not [0, 1].
    low = float(con.execute("SELECT coalesce(1.0 / max(len(probs)), 0.0) FROM labels").fetchone()[0])
    found = dict(
        con.execute(f"""
        SELECT least(floor((confidence - {low}) / {1.0 - low} * {bins}), {bins - 1})::INT AS bin, count(*)
        FROM labels WHERE label >= 0 GROUP BY 1""").fetchall()
    )
    edges = [low + (1.0 - low) * i / bins for i in range(bins + 1)]
    return histogram(
        edges,
        [int(found.get(i, 0)) for i in range(bins)],
        "Confidence of labeled rows",
        "confidence (max class probability)",
    )


def _staging_section(settings: Settings, dataset: str, run_id: str) -> str:
    ref = table(settings, dataset, "staging_labels")
    if not ref.exists():
        return "<h2>Candidate labels</h2><p>none written</p>"
    con = duckdb.connect()
    con.register("staging", DeltaTable(str(ref.path)).to_pyarrow_dataset())
    rows = dict(
        con.execute(
            "SELECT coalesce(label_name, ?), count(*) FROM staging WHERE _run_id = ? GROUP BY 1 ORDER BY 1",
            [UNLABELED, run_id],
        ).fetchall()
    )
    series = {"candidates": rows}
    if table(settings, dataset, "labels").exists():  # what analysts read now, for comparison
        published = labels_summary(settings, dataset)
        series[f"v{published['version']} (published)"] = published["distribution"]
    classes = list(dict.fromkeys(c for counts in series.values() for c in counts))
    return "<h2>Candidate labels (not published)</h2>" + grouped_bars(
        classes,
        {name: [counts.get(c, 0) for c in classes] for name, counts in series.items()},
        "Candidate label distribution",
    )


def _expectations_section(record: dict[str, Any]) -> str:
    rows = []
    for column in ("source_validation", "votes_validation", "validation"):
        for outcome in json.loads(record.get(column) or "[]"):
            rows.append(
                [
                    column.replace("_validation", "").replace("validation", "labels"),
                    outcome.get("check"),
                    "ok" if outcome.get("success") else "FAILED",
                    outcome.get("severity"),
                    json.dumps(outcome.get("observed"), default=str)[:120],
                    outcome.get("threshold"),
                ]
            )
    docs = json.loads(record.get("data_docs") or "{}")
    if isinstance(docs, list):  # a failed run's record before it kept the {index, pages} shape
        docs = {"pages": docs}
    link = (
        (
            f'<p>Great Expectations Data Docs: <a href="{escape(Path(docs["index"]).as_uri())}">'
            f"{escape(docs['index'])}</a></p>"
        )
        if docs.get("index")
        else ""
    )
    return (
        "<h2>Expectations</h2>"
        + link
        + html_table(
            ["suite", "check", "result", "severity", "observed", "threshold"],
            rows or [["-", "no expectations recorded", "", "", "", ""]],
        )
    )


def _page(title: str, sections: list[str]) -> str:
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f4f4f4}"
        "figure.chart{margin:1em 0}figure.chart svg{display:block;max-width:100%;height:auto}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{escape(title)}</h1>"
        f"<p>Generated {generated} by labellake. Aggregates only: no row text.</p>"
        + "".join(sections)
        + "</body></html>"
    )
