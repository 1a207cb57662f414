"""The reports of a run: a JSON file of every figure, a self-contained HTML page with plots
(inline SVG: it opens in any browser, offline, with no server and no script), and the table
printed in the terminal (rich).

The one idea: ``build_report`` turns the figures into one plain dict (what the JSON file
holds); the HTML and the terminal table are both drawn from that dict alone, so a saved JSON
can be drawn again (``render_html(json.load(...))``).
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any

from .conformance import KINDS
from .stats import FleetStats, Histogram
from .transport import ERROR_KINDS

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f")
MAX_POINTS = 300
"""Plots keep at most this many points: longer runs are binned into wider intervals."""


def build_report(stats: FleetStats, **meta: Any) -> dict[str, Any]:
    """Every figure of the run as one JSON-able dict; ``meta`` (url, devices, mix, census,
    CPU times, the exit reason...) is kept under ``run``."""
    figures = stats.to_dict()
    ended = stats.ended or max((int(s) + 1 for s in figures["series"]), default=stats.started)
    elapsed = max(1e-9, float(ended) - stats.started)
    summary = {
        "sessions": stats.sessions, "completed": stats.completed,
        "elapsed_s": elapsed, "sessions_per_s": stats.sessions / elapsed,
        "completed_per_s": stats.completed / elapsed,
        "session_latency": stats.session_latency.summary(),
        "package_latency": {name: hist.summary()
                            for name, hist in sorted(stats.package_latency.items())},
        "violations": stats.violation_count, "errors": stats.error_count,
    }
    return {"format": "omadm-codec loadtest report 1", "run": meta, "summary": summary,
            "figures": figures, "meaning": {"violations": KINDS, "errors": ERROR_KINDS},
            "timeline": timeline(figures, stats.started)}


def timeline(figures: dict[str, Any], started: float) -> list[dict[str, float]]:
    """The per-second series binned to at most ``MAX_POINTS`` points: time since the start,
    sessions/s (completed, failed) and session latency percentiles (ms)."""
    series = {int(k): v for k, v in figures["series"].items()}
    if not series:
        return []
    first = int(started)
    last = max(series)
    span = last - first + 1
    width = max(1, math.ceil(span / MAX_POINTS))
    points = []
    for start in range(first, last + 1, width):
        hist = Histogram()
        completed = failed = 0
        for second in range(start, min(start + width, last + 1)):
            point = series.get(second)
            if point is None:
                continue
            completed += point["completed"]
            failed += point["failed"]
            hist.merge(Histogram.from_dict(point["latency"]) if isinstance(
                point["latency"], dict) else point["latency"])
        points.append({"t": start - first + width / 2, "completed_per_s": completed / width,
                       "failed_per_s": failed / width,
                       "p50_ms": hist.percentile(0.5) * 1e3,
                       "p90_ms": hist.percentile(0.9) * 1e3,
                       "p99_ms": hist.percentile(0.99) * 1e3})
    return points


def write_reports(report: dict[str, Any], prefix: Path) -> tuple[Path, Path]:
    """``PREFIX.json`` and ``PREFIX.html``; each written whole (a temp file, then renamed)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    json_path = prefix.with_name(prefix.name + ".json")
    html_path = prefix.with_name(prefix.name + ".html")
    text = json.dumps(report, indent=1, sort_keys=True, default=str)
    _write(json_path, text)
    _write(html_path, render_html(json.loads(text)))  # drawn from exactly what was saved
    return json_path, html_path


def _write(path: Path, text: str) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


# -- SVG plots ---------------------------------------------------------------------------------


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover


def line_chart(title: str, series: list[tuple[str, list[tuple[float, float]]]],
               x_label: str, y_label: str, width: int = 900, height: int = 280) -> str:
    """An SVG line chart of ``series`` ((label, [(x, y)])), self-contained."""
    left, right, top, bottom = 64, 16, 30, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for _, pts in series for x, _ in pts] or [0.0, 1.0]
    ys = [y for _, pts in series for _, y in pts] or [0.0]
    x_max = max(xs) if max(xs) > 0 else 1.0
    y_max = _nice(max(ys) * 1.05)
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">'
             f'{html.escape(title)}</text>']
    for step in range(5):
        value = y_max * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{value:.4g}</text>')
    for step in range(6):
        value = x_max * step / 5
        x = left + plot_w * step / 5
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" '
                     f'text-anchor="middle">{value:.3g}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="12" '
                 f'text-anchor="middle">{html.escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2})">{html.escape(y_label)}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
                 f'stroke="#888"/>')
    for index, (label, points) in enumerate(series):
        color = COLORS[index % len(COLORS)]
        coords = " ".join(f"{left + plot_w * x / x_max:.1f},{top + plot_h - plot_h * y / y_max:.1f}"
                          for x, y in points)
        if len(points) == 1:
            x, y = points[0]
            parts.append(f'<circle cx="{left + plot_w * x / x_max:.1f}" '
                         f'cy="{top + plot_h - plot_h * y / y_max:.1f}" r="4" fill="{color}"/>')
        elif points:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.5" '
                         f'points="{coords}"/>')
        lx = left + 10 + index * 150
        parts.append(f'<rect x="{lx}" y="{top + 6}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{lx + 16}" y="{top + 16}" font-size="12">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: list[tuple[str, float]], width: int = 900,
              height: int = 260) -> str:
    """An SVG bar chart of ``bars`` ((label, value)), self-contained."""
    left, right, top, bottom = 64, 16, 30, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice(max((value for _, value in bars), default=1.0) * 1.05)
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">'
             f'{html.escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
             f'stroke="#888"/>']
    for step in range(5):
        value = y_max * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{value:.4g}</text>')
    slot = plot_w / max(1, len(bars))
    for index, (label, value) in enumerate(bars):
        bar_h = plot_h * value / y_max
        x = left + index * slot + slot * 0.15
        color = COLORS[index % len(COLORS)]
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{bar_h:.1f}" fill="{color}"/>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h - bar_h - 4:.1f}" '
                     f'font-size="11" text-anchor="middle">{value:g}</text>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h + 16}" font-size="11" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
    if not bars:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="13" '
                     f'text-anchor="middle">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the page ------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">none</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def status_bars(table: dict[str, dict[str, int]]) -> list[tuple[str, float]]:
    """(``Element code``, count) of a by-element, by-code table, largest first."""
    bars = [(f"{element} {code}", float(count)) for element, codes in table.items()
            for code, count in codes.items()]
    return sorted(bars, key=lambda bar: -bar[1])[:16]


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page: plots as inline SVG, no script, no network."""
    run, summary, figures = report["run"], report["summary"], report["figures"]
    points = report["timeline"]
    title = f"DM load test: {run.get('url', '')}"
    latency = summary["session_latency"]
    cards = [("sessions", summary["sessions"]), ("completed", summary["completed"]),
             ("sessions/s", summary["sessions_per_s"]),
             ("p50 ms", latency.get("p50_ms", 0.0)), ("p99 ms", latency.get("p99_ms", 0.0)),
             ("violations", summary["violations"]), ("errors", summary["errors"])]
    card_html = "".join(f'<div class="card"><div class="v">{html.escape(_fmt(v))}</div>'
                        f'<div class="k">{html.escape(k)}</div></div>' for k, v in cards)
    rate_plot = line_chart(
        "Sessions per second", [
            ("completed", [(p["t"], p["completed_per_s"]) for p in points]),
            ("failed", [(p["t"], p["failed_per_s"]) for p in points])],
        "seconds since start", "sessions/s")
    latency_plot = line_chart(
        "Session latency percentiles", [
            ("p50", [(p["t"], p["p50_ms"]) for p in points]),
            ("p90", [(p["t"], p["p90_ms"]) for p in points]),
            ("p99", [(p["t"], p["p99_ms"]) for p in points])],
        "seconds since start", "milliseconds")
    http_plot = bar_chart("HTTP status codes", sorted(
        ((code, float(n)) for code, n in figures["http_statuses"].items()), key=lambda b: b[0]))
    server_plot = bar_chart("Server's status for the device's commands",
                            status_bars(figures["server_statuses"]))
    device_plot = bar_chart("Device's status for the server's commands",
                            status_bars(figures["device_statuses"]))
    packages = [[name, s["count"], s["mean_ms"], s["p50_ms"], s["p90_ms"], s["p99_ms"]]
                for name, s in summary["package_latency"].items()]
    packages.append(["whole session", latency.get("count", 0), latency.get("mean_ms", 0.0),
                     latency.get("p50_ms", 0.0), latency.get("p90_ms", 0.0),
                     latency.get("p99_ms", 0.0)])
    violations = [[kind, entry["count"], KINDS.get(kind, ""), entry["example"]]
                  for kind, entry in sorted(figures["violations"].items())]
    errors = [[kind, entry["count"], ERROR_KINDS.get(kind, ""), entry["example"]]
              for kind, entry in sorted(figures["errors"].items())]
    faults = [[kind, f.get("devices_sessions", 0), f.get("injected", 0), f.get("handled", 0),
               f.get("mishandled", 0)] for kind, f in figures["faults"].items()
              if f.get("devices_sessions")]
    outcomes = [[k, v] for k, v in sorted(figures["outcomes"].items(), key=lambda i: -i[1])]
    run_rows = [[k, json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v]
                for k, v in sorted(run.items()) if k not in ("locust",)]
    locust_rows = [[name, e["requests"], e["failures"], e["median_ms"], e["p99_ms"]]
                   for name, e in sorted((run.get("locust") or {}).items())]
    style = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
             "table{border-collapse:collapse;margin:8px 0 20px}"
             "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left;"
             "vertical-align:top;max-width:640px;word-break:break-word}"
             "th{background:#f2f2f2}.cards{display:flex;gap:12px;flex-wrap:wrap}"
             ".card{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:90px}"
             ".card .v{font-size:20px;font-weight:bold}.card .k{font-size:12px;color:#666}"
             "svg.plot{display:block;margin:12px 0;border:1px solid #eee}"
             "h2{margin-top:28px}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(str(run.get('verdict', '')))}</p>"
        f'<div class="cards">{card_html}</div>'
        f"<h2>Throughput and latency</h2>{rate_plot}{latency_plot}"
        f"<h2>Status codes</h2>{http_plot}{server_plot}{device_plot}"
        "<h2>Latency by package (ms)</h2>"
        + _table(["package", "count", "mean", "p50", "p90", "p99"], packages)
        + "<h2>Protocol violations</h2>"
        + _table(["kind", "count", "meaning", "example"], violations)
        + "<h2>Transport errors</h2>"
        + _table(["kind", "count", "meaning", "example"], errors)
        + "<h2>Faults injected</h2>"
        + _table(["fault", "sessions", "injected", "handled", "mishandled"], faults)
        + "<h2>Session outcomes</h2>" + _table(["outcome", "sessions"], outcomes)
        + ("<h2>Locust's statistics</h2>"
           + _table(["request", "count", "failures", "median ms", "p99 ms"], locust_rows)
           if locust_rows else "")
        + "<h2>Run</h2>" + _table(["key", "value"], run_rows)
        + "</body></html>\n")


# -- the terminal ------------------------------------------------------------------------------


def print_summary(report: dict[str, Any], console: Any) -> None:
    """The end-of-run tables (a ``rich.console.Console``)."""
    from rich.table import Table

    summary, figures = report["summary"], report["figures"]
    main = Table(title="DM load test", show_header=True)
    for column in ("figure", "value"):
        main.add_column(column)
    latency = summary["session_latency"]
    for name, value in (
            ("sessions", summary["sessions"]), ("completed", summary["completed"]),
            ("elapsed s", summary["elapsed_s"]), ("sessions/s", summary["sessions_per_s"]),
            ("session p50 ms", latency.get("p50_ms", 0.0)),
            ("session p99 ms", latency.get("p99_ms", 0.0)),
            ("violations", summary["violations"]), ("transport errors", summary["errors"])):
        main.add_row(name, _fmt(value))
    for key in ("harness_cpu_ms_per_session", "server_cpu_ms_per_session"):
        if key in report["run"]:
            main.add_row(key.replace("_", " "), _fmt(report["run"][key]))
    console.print(main)
    packages = Table(title="latency by package (ms)")
    for column in ("package", "count", "p50", "p90", "p99"):
        packages.add_column(column)
    for name, s in summary["package_latency"].items():
        packages.add_row(name, _fmt(s["count"]), _fmt(s["p50_ms"]), _fmt(s["p90_ms"]),
                         _fmt(s["p99_ms"]))
    console.print(packages)
    if figures["violations"] or figures["errors"]:
        problems = Table(title="violations and errors")
        for column in ("kind", "count", "example"):
            problems.add_column(column)
        for table in (figures["violations"], figures["errors"]):
            for kind, entry in sorted(table.items()):
                problems.add_row(kind, _fmt(entry["count"]), entry["example"][:100])
        console.print(problems)
    faults = [(kind, f) for kind, f in figures["faults"].items() if f.get("devices_sessions")]
    if faults:
        table = Table(title="faults")
        for column in ("fault", "sessions", "injected", "handled", "mishandled"):
            table.add_column(column)
        for kind, f in faults:
            table.add_row(kind, *(_fmt(f.get(k, 0)) for k in
                                  ("devices_sessions", "injected", "handled", "mishandled")))
        console.print(table)


__all__ = ["bar_chart", "build_report", "line_chart", "print_summary", "render_html",
           "status_bars", "timeline", "write_reports"]
