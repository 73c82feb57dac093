"""Small inline-SVG charts for reports and benchmarks: bars, a histogram, a heatmap and lines.

Hand-written SVG rather than a plotting library: the report must open from
disk with no server and no scripts, stay a few hundred kilobytes, and the
project should not pull matplotlib into every Spark worker's environment for
three chart types. Every mark carries a ``<title>`` so hovering shows the
exact number.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")


def grouped_bars(
    categories: list[str],
    series: dict[str, list[float]],
    title: str,
    width: int = 560,
    height: int = 260,
    value_format: str = "{:,.0f}",
) -> str:
    """Vertical bars per category, one colour per series (e.g. this version vs the previous one)."""
    left, bottom, top = 60, 60, 30
    plot_w, plot_h = width - left - 20, height - bottom - top
    peak = max([v for values in series.values() for v in values] + [1e-12])
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    parts = [_frame(width, height, title)]
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 20}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{escape(value_format.format(value))}</text>"
        )
    for i, category in enumerate(categories):
        x0 = left + i * group_w + group_w * 0.1
        for k, (name, values) in enumerate(series.items()):
            value = values[i]
            h = plot_h * value / peak
            parts.append(
                f'<rect x="{x0 + k * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(name)}, '
                f"{escape(category)}: {escape(value_format.format(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{left + (i + 0.5) * group_w:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'font-size="11">{escape(category)}</text>'
        )
    for k, name in enumerate(series):
        parts.append(
            f'<rect x="{left + k * 150}" y="{height - 22}" width="10" height="10" '
            f'fill="{PALETTE[k % len(PALETTE)]}"/><text x="{left + k * 150 + 14}" y="{height - 13}" '
            f'font-size="11">{escape(name)}</text>'
        )
    return "".join(parts) + "</svg>"


def histogram(
    edges: list[float], counts: list[int], title: str, x_label: str, width: int = 560, height: int = 240
) -> str:
    """Bars over contiguous bins ``[edges[i], edges[i+1])``."""
    left, bottom, top = 60, 45, 30
    plot_w, plot_h = width - left - 20, height - bottom - top
    peak = max(counts + [1])
    span = (edges[-1] - edges[0]) or 1.0
    parts = [_frame(width, height, title)]
    for lo, hi, n in zip(edges, edges[1:], counts, strict=False):
        x = left + plot_w * (lo - edges[0]) / span
        w = plot_w * (hi - lo) / span
        h = plot_h * n / peak
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(w - 1, 0.5):.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"><title>[{lo:.2f}, {hi:.2f}): {n:,} rows</title></rect>'
        )
    for value in (edges[0], (edges[0] + edges[-1]) / 2, edges[-1]):
        x = left + plot_w * (value - edges[0]) / span
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle" font-size="10">{value:.2f}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" font-size="11">'
        f'{escape(x_label)}</text><text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="10">'
        f"{peak:,}</text>"
    )
    return "".join(parts) + "</svg>"


def heatmap(
    labels: list[str], values: list[list[float | None]], notes: list[list[str]], title: str, cell: int = 14
) -> str:
    """A square matrix coloured from green (0) through yellow to red (1); ``None`` cells are grey."""
    left = top = 10 + 7 * max((len(name) for name in labels), default=0)
    top += 24
    size = cell * len(labels)
    width, height = left + size + 20, top + size + 20
    parts = [_frame(width, height, title)]
    for i, row in enumerate(values):
        parts.append(
            f'<text x="{left - 4}" y="{top + i * cell + cell - 3}" text-anchor="end" font-size="10">'
            f"{escape(labels[i])}</text>"
        )
        for j, value in enumerate(row):
            colour = "#eee" if value is None else _ramp(value)
            parts.append(
                f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{colour}"><title>{escape(notes[i][j])}</title></rect>'
            )
    for j, name in enumerate(labels):
        x, y = left + j * cell + cell - 4, top - 4
        parts.append(f'<text x="{x}" y="{y}" font-size="10" transform="rotate(-60 {x} {y})">{escape(name)}</text>')
    return "".join(parts) + "</svg>"


def lines(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 300,
    y_format: str = "{:.3f}",
) -> str:
    """One polyline with dots per series over a shared x axis (e.g. accuracy vs hand labels)."""
    left, bottom, top, right = 64, 62, 30, 20
    plot_w, plot_h = width - left - right, height - bottom - top
    xs = [x for points in series.values() for x, _ in points] or [0.0, 1.0]
    ys = [y for points in series.values() for _, y in points] or [0.0, 1.0]
    x_lo, x_hi = min(xs), max(max(xs), min(xs) + 1e-12)
    pad = (max(ys) - min(ys)) * 0.1 or 0.01
    y_lo, y_hi = min(ys) - pad, max(ys) + pad

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + plot_w * (x - x_lo) / (x_hi - x_lo), top + plot_h - plot_h * (y - y_lo) / (y_hi - y_lo))

    parts = [_frame(width, height, title)]
    for tick in range(5):
        value = y_lo + (y_hi - y_lo) * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{escape(y_format.format(value))}</text>"
        )
    for x in sorted(set(xs)):
        px, _ = at(x, y_lo)
        parts.append(f'<text x="{px:.1f}" y="{top + plot_h + 14}" text-anchor="middle" font-size="10">{x:g}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 30}" text-anchor="middle" '
        f'font-size="11">{escape(x_label)}</text>'
        f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" transform="rotate(-90 12 '
        f'{top + plot_h / 2:.1f})" text-anchor="middle">{escape(y_label)}</text>'
    )
    for k, (name, points) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        coords = [at(x, y) for x, y in points]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
            + " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
            + '"/>'
        )
        for (x, y), (px, py) in zip(points, coords, strict=True):
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"><title>{escape(name)}: '
                f"{x:g} -> {escape(y_format.format(y))}</title></circle>"
            )
        parts.append(
            f'<rect x="{left + k * 170}" y="{height - 16}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + k * 170 + 14}" y="{height - 7}" font-size="11">{escape(name)}</text>'
        )
    return "".join(parts) + "</svg>"


def _frame(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" role="img" aria-label="{escape(title)}">'
        f'<title>{escape(title)}</title><text x="8" y="16" font-size="13" font-weight="bold">{escape(title)}</text>'
    )


def _ramp(value: float) -> str:
    """0 -> green, 0.5 -> yellow, 1 -> red."""
    v = min(max(value, 0.0), 1.0)
    if v < 0.5:
        r, g = int(90 + 330 * v), 170
    else:
        r, g = 235, int(170 - 220 * (v - 0.5))
    return f"rgb({min(r, 255)},{max(g, 40)},70)"
