"""report.md and a self-contained report.html (plots inlined) from results.json."""

from __future__ import annotations

import base64
import html
import json
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


def comparison_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """One row per comparison: difference, CI, Holm-adjusted p, MDE and verdict."""
    rows = []
    for c in results["comparisons"]:
        if c["mean"] is None:  # a metric with no items on this split (e.g. nothing wrong)
            continue
        lo, hi = c["ci95"]
        verdict = c.get("verdict", "ok")
        if verdict == "ok":
            verdict = ("higher" if lo > 0 else "lower" if hi < 0 else "no difference resolved")
        if c.get("floor"):
            verdict += " (at floor)"
        rows.append([c["arm"], c["baseline"], c["metric"], c["split"], f"{100 * c['mean']:+.1f}",
                     f"[{100 * lo:+.1f}, {100 * hi:+.1f}]", _p(c.get("p_holm")),
                     _num(None if c.get("mde") is None else 100 * c["mde"]),
                     verdict + (f": {c['reason']}" if c.get("reason") else "")])
    return ["arm", "baseline", "metric", "split", "difference", "95% CI", "p_holm",
            "MDE (80% power)", "verdict"], rows


def _p(p: float | None) -> str:
    return "–" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def gate_number(gate: dict, x: float | None) -> str:
    """A gate's value or reference: points for a share, 4 decimals for a fit in its `unit`."""
    if x is None:
        return "n/a"
    return f"{x:.4f}" if gate.get("unit") else pct(x)


def validity_table(results: dict) -> tuple[list[str], list[list[str]]]:
    rows = [[arm, v["metric"], gate_number(v, v["value"]),
             f"{gate_number(v, v['reference'])} ({v.get('against')})",
             margin_text(v), {True: "passed", False: "FAILED", None: "n/a"}[v["passed"]]]
            for arm, v in results.get("validity", {}).items()]
    return ["arm", "gate metric (validation)", "value", "reference", "margin [95% CI]",
            "gate"], rows


def fit_direction(fit: dict) -> str:
    """Whether an arm's held-out fit is resolved above or below its start's, by the paired CI."""
    lo, hi = fit["difference"]["ci95"] if fit.get("difference") else (0.0, 0.0)
    return "higher" if lo > 0 else "lower" if hi < 0 else "not resolved"


def fit_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """Each trained arm's held-out log-likelihood of its own kind of training records."""
    rows = []
    for arm, v in results.get("objective_fit", {}).items():
        fit = {"unit": "nats/token", **v}  # results written before fits carried their unit
        rows.append([arm, gate_number(fit, fit["value"]), gate_number(fit, fit["reference"]),
                     margin_text(fit), fit_direction(fit)])
    return ["arm", "kept model (nats/token)", "model it started from", "difference [95% CI]",
            "fit"], rows


def margin_text(gate: dict) -> str:
    """A gate's value minus its reference with the CI it passed on, or how else it was read."""
    diff = gate.get("difference")
    if diff is None:
        return "means only"
    lo, hi = diff["ci95"]
    if gate.get("unit"):
        return f"{diff['mean']:+.4f} [{lo:+.4f}, {hi:+.4f}]"
    return f"{100 * diff['mean']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def per_seed_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """The primary metric of every arm per split and seed, so single seeds can be seen."""
    m = results["primary_metric"]
    splits = list(dict.fromkeys(sp for a in results["per_seed"].values()
                                for sp in a.get(m, {})))
    rows = [[arm, sp, *(pct(v) for v in by_m[m][sp])]
            for arm, by_m in results["per_seed"].items() if m in by_m
            for sp in splits if sp in by_m[m]]
    return ["arm", "split", *(f"seed {s}" for s in results["seeds"])], rows


def floor_notes(results: dict) -> list[str]:
    """A line per (arm, metric, split) at or below its trivial baseline."""
    return [f"{f['arm']} {f['metric']} on {f['split']}: {pct(f['value'])} is at or below the "
            f"trivial baseline {pct(f['trivial'])}." for f in results.get("floors", [])]


def header(results: dict) -> str:
    n = ", ".join(f"{sp} {k}" for sp, k in results.get("n", {}).get(
        results["primary_metric"], {}).items())
    bases = results.get("bases", 1)
    span = (f"CIs span {bases} independently pretrained bases" if bases > 1 else
            "every seed shares one pretrained base, so base-to-base variance is not in the CIs")
    return (f"Preset `{results['preset']}`, seeds {results['seeds']}; {span}; commit "
            f"{results.get('commit') or 'unknown'}; budgets matched on "
            f"{results.get('matching', 'steps')}; items per split: {n}. Scores are percentages; "
            "brackets are 95% bootstrap CIs over seeds and problems.")


def make_plots(exp, results: dict, out_dir: Path) -> list[tuple[str, str]]:
    made = [plots.metric_bars(results, m, out_dir) for m in exp.metrics]
    made += [plots.difficulty_lines(results, out_dir), plots.budget_curves(results, out_dir),
             plots.loss_curves(results, out_dir)]
    made += exp.extra_plots(results, out_dir)
    return [p for p in made if p]


def sections(results: dict) -> list[tuple[str, list[str] | tuple[list[str], list[list[str]]]]]:
    """The report's sections in order, each either sentences or a (header, rows) table."""
    out: list = [("What it means", results.get("conclusions") or ["(no conclusions drawn)"])]
    out += [(metric, (header_, rows)) for metric, header_, rows in metric_tables(results)]
    if results.get("floors"):
        out.append(("Floors (at or below a trivial baseline)", floor_notes(results)))
    if results.get("validity"):
        out.append(("Validity gates", validity_table(results)))
    if results.get("objective_fit"):
        out.append(("Held-out fit to each arm's own kind of training records (validation "
                    "problems)", fit_table(results)))
    if results["comparisons"]:
        out.append(("Comparisons (paired bootstrap; p Holm-adjusted across this report)",
                    comparison_table(results)))
    if results.get("per_seed"):
        out.append((f"Per seed: {results['primary_metric']}", per_seed_table(results)))
    out.append(("Training budget per arm (mean over seeds)", budget_table(results)))
    if results.get("quarantined"):
        out.append(("Quarantined cells (recomputed)",
                    [f"{q['cell']}: {q['reason']} ({q['at']})" for q in results["quarantined"]]))
    out.append(("Resolved config", ["```json", json.dumps(results["params"], indent=1), "```"]))
    return out


def write_report(exp, results: dict, out_dir: Path) -> Path:
    """Write plots, report.md and report.html; return the HTML path."""
    figures = make_plots(exp, results, out_dir)
    md = [f"# {results['title']}", "", f"**Question.** {results['question']}", "",
          header(results)]
    for title, body in sections(results):
        md += ["", f"## {title}", ""]
        if isinstance(body, tuple):
            md.append(_md_table(*body))
        elif body and body[0] == "```json":
            md += body
        else:
            md += [f"- {s}" for s in body]
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
             f"<p>{esc(header(results))}</p>"]
    for title, body in sections(results):
        parts.append(f"<h2>{esc(title)}</h2>")
        if isinstance(body, tuple):
            parts.append(_html_table(*body))
        elif body and body[0] == "```json":
            parts.append(f"<pre>{esc(body[1])}</pre>")
        else:
            parts.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in body) + "</ul>")
    parts.append("<h2>Plots</h2>")
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
