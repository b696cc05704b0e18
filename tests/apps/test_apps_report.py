"""Reports: report.md links the plots, report.html inlines them and needs no network."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from entropykit.plots import plot_scalars, plot_series, pyplot, save_figure
from entropykit.report import Link, Report, flatten, format_value


def make_plot(path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [3, 1, 2])
    return save_figure(fig, path)


def test_report_markdown_and_html(tmp_path: Path) -> None:
    png = make_plot(tmp_path / "plots" / "curve.png")
    report = Report("demo <run>")
    report.text("First paragraph.\n\nSecond & last.")
    report.table({"auroc": 0.91234567, "nested": {"k": 3}}, title="Results")
    report.table([{"model": "a", "bpp": 0.5, "link": Link("run", "a/report.html")}])
    report.figure(png, caption="Loss curve")
    report.code("lr: 0.1")
    md_path, html_path = report.write(tmp_path)

    md = md_path.read_text(encoding="utf-8")
    assert md.startswith("# demo <run>")
    assert "| auroc | 0.9123 |" in md
    assert "| nested.k | 3 |" in md
    assert "[run](a/report.html)" in md
    assert "![Loss curve](plots/curve.png)" in md

    html = html_path.read_text(encoding="utf-8")
    assert "<h1>demo &lt;run&gt;</h1>" in html
    assert "Second &amp; last." in html
    assert base64.b64encode(png.read_bytes()).decode("ascii") in html
    assert '<a href="a/report.html">run</a>' in html
    assert '<td class="num">0.9123</td>' in html
    assert not re.search(r"src=[\"']?https?://", html), "report must be self-contained"
    assert "<link" not in html
    assert "<script" not in html


def test_empty_table_renders() -> None:
    report = Report("t").table([])
    assert "(no rows)" in report.to_markdown(Path("."))
    assert "(no rows)" in report.to_html(Path("."))


def test_flatten_and_format() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "d": 2}) == {"a.b.c": 1, "d": 2}
    assert format_value(0.000123456) == "0.0001235"
    assert format_value(True) == "True"
    assert format_value(Link("x", "y")) == "x"


def test_standard_plots_write_png(tmp_path: Path) -> None:
    records = [{"step": i, "loss": 1.0 / (i + 1), "note": "x"} for i in range(5)]
    series = plot_series(records, ["loss"], tmp_path / "loss")
    bars = plot_scalars({"a": 1.0, "b": 2.0}, tmp_path / "bars.png")
    for path in (series, bars):
        assert path.suffix == ".png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=12), max_size=5))
@settings(max_examples=100, deadline=None)
def test_html_escapes_any_text(cells: dict[str, str]) -> None:
    report = Report("<t>").table([cells]).text(" ".join(cells.values()))
    html = report.to_html(Path("."))
    body = html.split("<body>", 1)[1]
    # user text can never open a tag of its own: every '<' in the body is one of ours
    tags = set(re.findall(r"<(/?[a-z0-9]+)", body))
    assert tags <= {
        "h1",
        "/h1",
        "h2",
        "/h2",
        "p",
        "/p",
        "table",
        "/table",
        "thead",
        "/thead",
        "tbody",
        "/tbody",
        "tr",
        "/tr",
        "th",
        "/th",
        "td",
        "/td",
        "/body",
        "/html",
    }
