"""claims.md, a self-contained claims.html and the forest plot, from claims.json."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from critiquelab.io import atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: E402

MARKS = {"supports": "#1a7f37", "contradicts": "#cf222e", "inconclusive": "#6e7781",
         "withheld": "#bf8700"}


def effect_text(mean: float | None, ci95: list | None) -> str:
    """+6.7 [+1.0, +12.3] in points, or a dash when there is no number."""
    if mean is None or not ci95:
        return "–"
    return f"{100 * mean:+.1f} [{100 * ci95[0]:+.1f}, {100 * ci95[1]:+.1f}]"


def number_text(x: float | None, scale: float = 100, fmt: str = ".1f") -> str:
    """A share in points (or any number scaled and formatted), a dash when there is none."""
    return "–" if x is None else f"{scale * x:{fmt}}"


def summary_rows(claims: dict) -> tuple[list[str], list[list[str]]]:
    """One row per claim; the primary check's effect and verdict at each size side by side
    (one column, the size named in it, when no sizes were asked for)."""
    sizes = claims["sizes"]
    header = ["claim", "experiment", "published",
              *([f"measured ({s})" for s in sizes] or ["measured"])]
    rows = []
    for c in claims["claims"]:
        by_size = {m["size"]: m for m in c["measurements"]}
        cells = [_measured(by_size.get(s)) for s in sizes] or [
            _measured(c["measurements"][-1], with_size=True)]
        rows.append([f"{c['id']} {c['title']}", c["experiment"], c["published"], *cells])
    return header, rows


def _measured(m: dict | None, with_size: bool = False) -> str:
    if m is None:
        return "–"
    t = m["checks"][0]
    size = f" ({m['size']})" if with_size and t["mean"] is not None else ""
    return f"{effect_text(t['mean'], t['ci95'])}{size} **{m['verdict']}**"


def test_rows(claim: dict) -> tuple[list[str], list[list[str]]]:
    """Every check of a claim at every size: effect, p_holm, MDE, gates, floor, verdict."""
    header = ["size", "check", "direction", "published", "measured", "p_holm", "MDE", "gates",
              "floor", "verdict", "reason"]
    rows = []
    for m in claim["measurements"]:
        for t in m["checks"]:
            gates = ", ".join(f"{a} {'passed' if g['passed'] else 'FAILED'}"
                              for a, g in (t.get("gates") or {}).items() if g) or "–"
            rows.append([m["size"], f"{t['arm']} - {t['baseline']}, {t['metric']} on "
                         f"{t['split']}", t["direction"],
                         "–" if t["published"] is None else f"{100 * t['published']:+.1f}",
                         effect_text(t["mean"], t["ci95"]),
                         number_text(t.get("p_holm"), 1, ".3f"), number_text(t.get("mde")), gates,
                         "yes" if t.get("floor") else "no", t["verdict"], t["reason"]])
    return header, rows


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def forest_plot(claims: dict) -> bytes:
    """Every check's effect with its 95% CI on one axis, one marker per size, PNG bytes."""
    rows = [(f"{c['id']} {t['arm']} - {t['baseline']}, {t['metric']} ({t['split']})", i, c)
            for c in claims["claims"] for i, t in enumerate(c["measurements"][0]["checks"])]
    sizes = claims["sizes"] or [None]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.4))
    for y, (_, i, c) in enumerate(rows):
        by_size = {m["size"]: m for m in c["measurements"]}
        for k, s in enumerate(sizes):
            m = by_size.get(s) if s else c["measurements"][-1]
            t = m["checks"][i] if m else None
            yy = y + (k - (len(sizes) - 1) / 2) * 0.22
            if t and t["mean"] is not None and t["ci95"]:
                lo, hi = (100 * v for v in t["ci95"])
                ax.errorbar(100 * t["mean"], yy, xerr=[[100 * t["mean"] - lo],
                                                       [hi - 100 * t["mean"]]],
                            fmt="os"[k % 2], color=MARKS[t["verdict"]], capsize=3,
                            label=s if y == 0 and s else None)
            if t and t["published"] is not None and k == 0:
                ax.plot(100 * t["published"], y, "D", mfc="none", color="black",
                        label="published" if y == 0 else None)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("effect, percentage points (arm - baseline), 95% CI")
    ax.set_title("Claims: measured effects (colour = verdict; hollow diamond = published)",
                 fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def claims_markdown(claims: dict) -> str:
    header, rows = summary_rows(claims)
    md = ["# Claims", "", f"Preset `{claims['preset']}`; effects are arm minus baseline in "
          "percentage points with 95% CIs; commits: "
          f"{', '.join(claims['commits']) or 'not recorded'}.", "", md_table(header, rows), "",
          "![forest plot](forest.png)", "", f"**Verdict rule.** {claims['rule']}"]
    for c in claims["claims"]:
        h, r = test_rows(c)
        md += ["", f"## {c['id']} {c['title']}", "", f"Source: {c['source']}. Published: "
               f"{c['published']}. Experiment `{c['experiment']}`.", "",
               f"Verdict at {c['size']}: **{c['verdict']}** ({c['reason']}).", "",
               md_table(h, r)]
    return "\n".join(md) + "\n"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(text: str) -> str:
    """Escape, then colour a trailing **verdict** the way the plot does."""
    for verdict, colour in MARKS.items():
        if text.endswith(f"**{verdict}**"):
            return (html.escape(text[: -len(verdict) - 4])
                    + f'<b style="color:{colour}">{verdict}</b>')
    return html.escape(text)


def claims_html(claims: dict, plot_png: bytes) -> str:
    esc = html.escape
    header, rows = summary_rows(claims)
    img = base64.b64encode(plot_png).decode()
    parts = ["<h1>Claims</h1>",
             f"<p>Preset <code>{esc(claims['preset'])}</code>; effects are arm minus baseline "
             "in percentage points with 95% CIs; commits: "
             f"{esc(', '.join(claims['commits']) or 'not recorded')}.</p>",
             _html_table(header, rows),
             f'<figure><img src="data:image/png;base64,{img}" alt="forest plot"></figure>',
             f"<p><b>Verdict rule.</b> {esc(claims['rule'])}</p>"]
    for c in claims["claims"]:
        h, r = test_rows(c)
        parts += [f"<h2>{esc(c['id'])} {esc(c['title'])}</h2>",
                  f"<p>Source: {esc(c['source'])}. Published: {esc(c['published'])}. "
                  f"Experiment <code>{esc(c['experiment'])}</code>.</p>",
                  f"<p>Verdict at {esc(c['size'])}: {_cell('**' + c['verdict'] + '**')} "
                  f"({esc(c['reason'])}).</p>", _html_table(h, r)]
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
             "padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
             "th{background:#f3f3f3}img{max-width:100%}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Claims</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write_claims(claims: dict, out_dir: Path) -> Path:
    """claims.json, claims.md, forest.png and claims.html in out_dir; returns the HTML path."""
    png = forest_plot(claims)
    atomic_write_json(out_dir / "claims.json", claims)
    atomic_write_bytes(out_dir / "forest.png", png)
    atomic_write_text(out_dir / "claims.md", claims_markdown(claims))
    path = out_dir / "claims.html"
    atomic_write_text(path, claims_html(claims, png))
    return path
