"""Charts for reports and benchmarks, drawn by matplotlib as static inline SVG.

Static SVG in the page: the report opens from disk with no server, no scripts
and no network, and text stays text (searchable, sharp at any zoom). Each chart
is a ``<figure>`` whose ``aria-label`` is its title, so a screen reader (and a
test) can find it.
"""

from __future__ import annotations

import io
import math
from html import escape
from typing import Any

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
DPI = 96
STYLE: Any = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
"""Text as SVG text (not paths), small type, no box around the plot."""


def _figure(width: int, height: int) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    return figure, figure.add_subplot()


def _svg(figure: Any, title: str, wrap: bool = True) -> str:
    """The figure as an inline ``<svg>`` in a ``<figure>`` labelled ``title`` (``wrap=False``: the
    bare ``<svg>``, for a standalone .svg file)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    if not wrap:
        return svg
    return f'<figure role="img" aria-label="{escape(title)}" class="chart">{svg}</figure>'


def grouped_bars(
    categories: list[str],
    series: dict[str, list[float]],
    title: str,
    width: int = 560,
    height: int = 260,
    value_format: str = "{:,.0f}",
) -> str:
    """Bars per category, one colour per series (e.g. this version beside the previous one), each
    bar labelled with its value."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure, ax = _figure(width, height)
        group = 0.8 / max(len(series), 1)
        for k, (name, values) in enumerate(series.items()):
            xs = [i + (k - (len(series) - 1) / 2) * group for i in range(len(categories))]
            bars = ax.bar(xs, values, group * 0.95, label=name, color=PALETTE[k % len(PALETTE)])
            ax.bar_label(bars, labels=[value_format.format(v) for v in values], fontsize=8, padding=2)
        ax.set_xticks(range(len(categories)), categories)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.margins(y=0.15)
        ax.legend(frameon=False, loc="upper right")  # names the version(s), even when there is one
    return _svg(figure, title)


def histogram(
    edges: list[float], counts: list[int], title: str, x_label: str, width: int = 560, height: int = 240
) -> str:
    """Bars over contiguous bins ``[edges[i], edges[i+1])``; the count axis is logarithmic when the
    tallest bin is over 20 times the smallest non-empty one, so slivers stay visible."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure, ax = _figure(width, height)
        widths = [hi - lo for lo, hi in zip(edges, edges[1:], strict=False)]
        ax.bar(edges[:-1], counts, widths, align="edge", color=PALETTE[0], edgecolor="white", linewidth=0.5)
        nonzero = [c for c in counts if c > 0]
        logarithmic = bool(nonzero) and max(nonzero) > 20 * min(nonzero)
        if logarithmic:
            ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel("rows (log scale)" if logarithmic else "rows")
        ax.set_title(title, loc="left", fontweight="bold")
    return _svg(figure, title)


def heatmap(labels: list[str], values: list[list[float | None]], title: str, cell: int = 16) -> str:
    """A square matrix from green (0) through yellow to red (1), grey where there is no value, with
    a colour bar (exact figures belong in a table beside it: cells too small to read)."""
    import matplotlib
    import numpy as np

    n = len(labels)
    grid = np.array([[math.nan if v is None else v for v in row] for row in values], dtype=float)
    side = max(260, cell * n + 140 + 6 * max((len(name) for name in labels), default=0))
    with matplotlib.rc_context(STYLE):
        figure, ax = _figure(side + 80, side)
        colours = matplotlib.colormaps["RdYlGn_r"].with_extremes(bad="#e6e6e6")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=colours, vmin=0.0, vmax=1.0)
        ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels, fontsize=8)
        ax.spines[:].set_visible(False)
        figure.colorbar(image, ax=ax, shrink=0.8, label="conflict rate (grey: never both voted)")
        ax.set_title(title, loc="left", fontweight="bold")
    return _svg(figure, title)


def lf_bars(names: list[str], coverage: list[float], accuracy: list[float | None], title: str) -> str:
    """Two horizontal bar panels sharing the LF axis: the share of rows each LF votes on, and its
    empirical accuracy on gold (no bar where it has no gold rows)."""
    import matplotlib

    rows = len(names)
    with matplotlib.rc_context(STYLE):
        from matplotlib.figure import Figure

        height = 60 + 14 * rows
        figure = Figure(figsize=(760 / DPI, height / DPI), dpi=DPI, layout="constrained")
        left, right = figure.subplots(1, 2, sharey=True)
        ys = list(range(rows))
        left.barh(ys, coverage, color=PALETTE[0])
        left.set_yticks(ys, names, fontsize=8)
        left.invert_yaxis()  # the widest-covering LF on top
        left.set_xlabel("coverage (share of rows)")
        right.barh(ys, [math.nan if a is None else a for a in accuracy], color=PALETTE[2])
        right.set_xlim(0, 1)
        right.set_xlabel("empirical accuracy on gold")
        left.set_title(title, loc="left", fontweight="bold")
    return _svg(figure, title)


def lines(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 300,
    y_format: str = "{:.3f}",
    wrap: bool = True,
) -> str:
    """One line with dots per series over a shared x axis (e.g. accuracy vs hand labels)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure, ax = _figure(width, height)
        for k, (name, points) in enumerate(series.items()):
            xs, ys = [x for x, _ in points], [y for _, y in points]
            ax.plot(xs, ys, marker="o", markersize=3, color=PALETTE[k % len(PALETTE)], label=name)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: y_format.format(v)))
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.legend(frameon=False)
    return _svg(figure, title, wrap)
