"""report.md and a self-contained report.html (plots inlined) from results.json."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from critiquelab.io import atomic_write_text
from critiquelab.reporting import plots


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def cell_text(cell: dict | None) -> str:
    if not cell or cell.get("mean") is None:
        return "–"
    lo, hi = cell["ci95"]
    return f"{pct(cell['mean'])} [{pct(lo)}, {pct(hi)}]"


def describe_difference(c: dict) -> str:
    """One sentence on a paired difference and whether its CI excludes zero."""
    lo, hi = c["ci95"]
    if lo > 0:
        verdict = "higher, and the 95% CI excludes zero"
    elif hi < 0:
        verdict = "lower, and the 95% CI excludes zero"
    else:
        verdict = "not distinguishable: the 95% CI includes zero"
    return (f"{c['arm']} vs {c['baseline']} on {c['split']} {c['metric']}: "
            f"{100 * c['mean']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}], {verdict}.")


def floor_sentence(results: dict, metric: str = "solve_accuracy", floor: float = 0.02
                   ) -> str | None:
    """A warning when every arm scores under `floor` on every split: differences then mean
    nothing, whatever their CIs say."""
    cells = [c for arm in results["arms"].values() for c in arm.get(metric, {}).values()]
    if not cells or max(c["mean"] for c in cells) >= floor:
        return None
    return (f"Floor effect: no arm reaches {100 * floor:.0f}% {metric} on any split, so this "
            f"run cannot tell the arms apart; a larger preset is needed to test the claim.")


def metric_tables(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(metric, header, rows) for each metric: arms as rows, splits as columns."""
    tables = []
    metrics = list(dict.fromkeys(m for a in results["arms"].values() for m in a))
    for m in metrics:
        splits = list(dict.fromkeys(sp for a in results["arms"].values() for sp in a.get(m, {})))
        rows = [[arm] + [cell_text(results["arms"][arm].get(m, {}).get(sp)) for sp in splits]
                for arm in results["arms"]]
        tables.append((m, ["arm", *splits], rows))
    return tables


def budget_table(results: dict) -> tuple[list[str], list[list[str]]]:
    keys = list(dict.fromkeys(k for b in results["budget"].values() for k in b))
    rows = [[arm] + [_num(b.get(k)) for k in keys] for arm, b in results["budget"].items()]
    return ["arm", *keys], rows


def _num(x) -> str:
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def make_plots(exp, results: dict, out_dir: Path) -> list[tuple[str, str]]:
    made = [plots.metric_bars(results, m, out_dir) for m in exp.metrics]
    made += [plots.difficulty_lines(results, out_dir), plots.loss_curves(results, out_dir)]
    made += exp.extra_plots(results, out_dir)
    return [p for p in made if p]


def write_report(exp, results: dict, out_dir: Path) -> Path:
    """Write plots, report.md and report.html; return the HTML path."""
    figures = make_plots(exp, results, out_dir)
    md = [f"# {results['title']}", "", f"**Question.** {results['question']}", "",
          f"Preset `{results['preset']}`, seeds {results['seeds']}. Scores are percentages; "
          "brackets are 95% bootstrap CIs over seeds and problems.", "", "## What it means", ""]
    md += [f"- {s}" for s in results.get("conclusions", [])] or ["- (no conclusions drawn)"]
    for metric, header, rows in metric_tables(results):
        md += ["", f"## {metric}", "", _md_table(header, rows)]
    if results["comparisons"]:
        md += ["", "## Differences against the baseline (paired bootstrap)", ""]
        md += [f"- {describe_difference(c)}" for c in results["comparisons"]]
    header, rows = budget_table(results)
    md += ["", "## Training budget per arm (mean over seeds)", "", _md_table(header, rows)]
    md += ["", "## Plots", ""] + [f"![{cap}]({name})\n\n{cap}\n" for name, cap in figures]
    v = results["versions"]
    md += ["", "## Versions", "", ", ".join(f"{k} {val}" for k, val in v.items())]
    atomic_write_text(out_dir / "report.md", "\n".join(md) + "\n")
    path = out_dir / "report.html"
    atomic_write_text(path, _html(results, figures, out_dir))
    return path


def _html(results: dict, figures: list[tuple[str, str]], out_dir: Path) -> str:
    esc = html.escape
    parts = [f"<h1>{esc(results['title'])}</h1>",
             f"<p><b>Question.</b> {esc(results['question'])}</p>",
             f"<p>Preset <code>{esc(results['preset'])}</code>, seeds {results['seeds']}. "
             "Scores are percentages; brackets are 95% bootstrap CIs over seeds and problems.</p>",
             "<h2>What it means</h2><ul>"]
    parts += [f"<li>{esc(s)}</li>" for s in results.get("conclusions", [])]
    parts.append("</ul>")
    for metric, header, rows in metric_tables(results):
        parts += [f"<h2>{esc(metric)}</h2>", _html_table(header, rows)]
    if results["comparisons"]:
        parts.append("<h2>Differences against the baseline (paired bootstrap)</h2><ul>")
        parts += [f"<li>{esc(describe_difference(c))}</li>" for c in results["comparisons"]]
        parts.append("</ul>")
    header, rows = budget_table(results)
    parts += ["<h2>Training budget per arm (mean over seeds)</h2>", _html_table(header, rows),
              "<h2>Plots</h2>"]
    for name, cap in figures:
        data = base64.b64encode((out_dir / name).read_bytes()).decode()
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(cap)}">'
                     f"<figcaption>{esc(cap)}</figcaption></figure>")
    v = results["versions"]
    parts.append("<h2>Versions</h2><p>" + esc(", ".join(f"{k} {val}" for k, val in v.items()))
                 + "</p>")
    style = ("body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;"
             "padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
             "th{background:#f3f3f3}img{max-width:100%}figcaption{font-size:12px;color:#555}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(results['title'])}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
