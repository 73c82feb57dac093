"""The one HTML table helper the report pages share (escaped cells, no styling of its own)."""

from __future__ import annotations

from html import escape
from typing import Any


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    """A ``<table>`` of ``rows`` under ``header``, every cell escaped."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
