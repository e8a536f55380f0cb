"""Small SVG charts written by hand (no plotting library): the Pareto front of an index tuning run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT, MARGIN = 640, 420, 60
COLORS = {"HNSW": "#1f77b4", "IVF_FLAT": "#2ca02c", "IVF_SQ8": "#ff7f0e", "IVF_PQ": "#d62728", "HNSWLIB": "#9467bd"}


def pareto_svg(
    points: Sequence[dict[str, Any]], front: Sequence[dict[str, Any]], *, recall_target: float, title: str
) -> str:
    """Every measured point (recall on x, queries per second on a log y axis), the front joined by a line."""
    qps = [max(point["qps"], 1e-9) for point in points] or [1.0]
    low, high = math.log10(min(qps)), math.log10(max(qps))
    high = high if high > low else low + 1.0

    def x(recall: float) -> float:
        return MARGIN + recall * (WIDTH - 2 * MARGIN)

    def y(value: float) -> float:
        return HEIGHT - MARGIN - (math.log10(max(value, 1e-9)) - low) / (high - low) * (HEIGHT - 2 * MARGIN)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 20}" text-anchor="middle">recall@k</text>',
        f'<text x="15" y="{HEIGHT / 2}" transform="rotate(-90 15 {HEIGHT / 2})" text-anchor="middle">queries/s (log)</text>',
        f'<line x1="{x(recall_target):.1f}" y1="{MARGIN}" x2="{x(recall_target):.1f}" y2="{HEIGHT - MARGIN}" '
        'stroke="gray" stroke-dasharray="4 4"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{x(tick):.1f}" y="{HEIGHT - MARGIN + 16}" text-anchor="middle">{tick:.2f}</text>')
    for power in range(math.floor(low), math.ceil(high) + 1):
        if low <= power <= high:
            parts.append(f'<text x="{MARGIN - 6}" y="{y(10**power) + 4:.1f}" text-anchor="end">1e{power}</text>')
    for point in points:
        color = COLORS.get(point["index_type"], "black")
        label = escape(f"{point['index_type']} {point['params']} {point['search_params']}")
        parts.append(
            f'<circle cx="{x(point["recall"]):.1f}" cy="{y(point["qps"]):.1f}" r="3" fill="{color}" fill-opacity="0.5">'
            f"<title>{label}</title></circle>"
        )
    ordered = sorted(front, key=lambda point: point["recall"])
    path = " ".join(f"{x(point['recall']):.1f},{y(point['qps']):.1f}" for point in ordered)
    parts.append(f'<polyline points="{path}" fill="none" stroke="black" stroke-width="1.5"/>')
    for position, (name, color) in enumerate(COLORS.items()):
        parts.append(f'<circle cx="{WIDTH - MARGIN - 80}" cy="{MARGIN + 14 * position}" r="4" fill="{color}"/>')
        parts.append(f'<text x="{WIDTH - MARGIN - 72}" y="{MARGIN + 4 + 14 * position}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
