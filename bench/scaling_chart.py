"""A chart of replicas and backlog over time from a real autoscaling run, as SVG.

The timeline comes from tests/k8s/test_scaling_workers.py (300 tasks of 1 s on a queue of
min 1 / max 4 workers, the real controllers and the process kubelet):

    KUBETASK_SCALING_TIMELINE=/tmp/timeline.json \\
        .venv/bin/python -m pytest tests/k8s/test_scaling_workers.py -k backlog
    .venv/bin/python -m bench.scaling_chart /tmp/timeline.json docs/img/autoscaling-300.svg

No plotting library: the SVG is written by hand (two axes, three lines, a legend).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 720, 320, 56
SERIES = (  # (field, label, colour, axis): replicas and workers on the left, tasks right
    ("replicas", "Deployment replicas", "#1f77b4", "left"),
    ("workers", "workers registered", "#2ca02c", "left"),
    ("backlog", "backlog (pending + running)", "#d62728", "right"),
)


def chart(points: Sequence[dict[str, float]]) -> str:
    """The SVG of `points` (each: t, replicas, workers, pending, running)."""
    rows = [{**p, "backlog": p["pending"] + p["running"]} for p in points]
    t_max = max(p["t"] for p in rows) or 1.0
    left_max = max(max(p["replicas"], p["workers"]) for p in rows) + 1
    right_max = max(p["backlog"] for p in rows) or 1.0
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def x(t: float) -> float:
        return MARGIN + t / t_max * plot_w

    def y(value: float, top: float) -> float:
        return HEIGHT - MARGIN - value / top * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
           f'y2="{HEIGHT - MARGIN}" stroke="black"/>',
           f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" '
           'stroke="black"/>',
           f'<line x1="{WIDTH - MARGIN}" y1="{MARGIN}" x2="{WIDTH - MARGIN}" '
           f'y2="{HEIGHT - MARGIN}" stroke="black"/>']
    for tick in range(int(left_max) + 1):
        out.append(f'<text x="{MARGIN - 8}" y="{y(tick, left_max) + 4:.1f}" '
                   f'text-anchor="end">{tick}</text>')
    for i in range(5):
        value = right_max * i / 4
        out.append(f'<text x="{WIDTH - MARGIN + 8}" y="{y(value, right_max) + 4:.1f}">'
                   f'{value:.0f}</text>')
    for i in range(6):
        t = t_max * i / 5
        out.append(f'<text x="{x(t):.1f}" y="{HEIGHT - MARGIN + 18}" '
                   f'text-anchor="middle">{t:.0f}</text>')
    out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">'
               'seconds since 300 tasks of 1 s were submitted</text>')
    for i, (name, label, colour, axis) in enumerate(SERIES):
        top = left_max if axis == "left" else right_max
        path = " ".join(f"{x(p['t']):.1f},{y(p[name], top):.1f}" for p in rows)
        dash = ' stroke-dasharray="4 3"' if name == "workers" else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{MARGIN + 10 + 220 * i}" y="{MARGIN - 18}" fill="{colour}">'
                   f'{label} ({axis})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.scaling_chart TIMELINE.json OUT.svg", file=sys.stderr)
        return 2
    points = json.loads(Path(argv[0]).read_text())
    if not points:
        print(f"{argv[0]} has no points: run the test with KUBETASK_SCALING_TIMELINE set",
              file=sys.stderr)
        return 1
    Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
    Path(argv[1]).write_text(chart(points))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
