"""Reports: ``report.md`` and a self-contained ``report.html`` built from the same blocks.

A report is a list of blocks (text, tables, figures, code). Figures are PNG files; the Markdown
links them by relative path, the HTML inlines them as base64 so it can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:960px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:1px solid #ddd;padding-bottom:.3em}
h2{font-size:1.25em;margin-top:1.6em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}pre{background:#f7f7f7;padding:.8em;overflow-x:auto}
"""


@dataclass(frozen=True)
class Link:
    """A table cell or text that links to another file (relative paths keep reports movable)."""

    text: str
    href: str


def format_value(value: Any) -> str:
    """Numbers with 4 significant digits, everything else as text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Link):
        return value.text
    return str(value)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _rows_of(data: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[dict[str, Any]]:
    if isinstance(data, Mapping):
        return [{"name": k, "value": v} for k, v in flatten(data).items()]
    return [dict(row) for row in data]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    return list(columns)


def _md_cell(value: Any) -> str:
    text = format_value(value).replace("|", "\\|").replace("\n", " ")
    return f"[{text}]({value.href})" if isinstance(value, Link) else text


def _html_cell(value: Any) -> str:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    text = html.escape(format_value(value))
    if isinstance(value, Link):
        text = f'<a href="{html.escape(value.href, quote=True)}">{text}</a>'
    return f'<td class="num">{text}</td>' if number else f"<td>{text}</td>"


class Report:
    """Collects blocks, then writes ``<name>.md`` and ``<name>.html`` into a directory."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[tuple[str, Any]] = []

    def heading(self, text: str) -> Report:
        self.blocks.append(("heading", text))
        return self

    def text(self, text: str) -> Report:
        """A paragraph (plain text; blank lines separate paragraphs)."""
        self.blocks.append(("text", text))
        return self

    def table(
        self,
        data: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        *,
        title: str | None = None,
    ) -> Report:
        """A table from a list of row dicts, or a (nested) dict shown as name/value rows."""
        rows = _rows_of(data)
        if title:
            self.heading(title)
        self.blocks.append(("table", rows))
        return self

    def figure(self, path: str | Path, caption: str | None = None) -> Report:
        """A PNG figure; ``path`` should lie inside the directory the report is written to (the
        Markdown links it relative to that directory)."""
        self.blocks.append(("figure", (Path(path).resolve(), caption)))
        return self

    def code(self, text: str) -> Report:
        self.blocks.append(("code", text))
        return self

    @property
    def figures(self) -> list[Path]:
        return [value[0] for kind, value in self.blocks if kind == "figure"]

    # Rendering ---------------------------------------------------------------------------
    def to_markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "heading":
                out += [f"## {value}", ""]
            elif kind == "text":
                out += [value, ""]
            elif kind == "code":
                out += ["```", value.rstrip("\n"), "```", ""]
            elif kind == "table":
                if not value:
                    out += ["(no rows)", ""]
                    continue
                columns = _columns(value)
                out.append("| " + " | ".join(columns) + " |")
                out.append("|" + "|".join("---" for _ in columns) + "|")
                for row in value:
                    out.append("| " + " | ".join(_md_cell(row.get(c, "")) for c in columns) + " |")
                out.append("")
            elif kind == "figure":
                path, caption = value
                rel = _relative(path, base)
                out += [f"![{caption or path.stem}]({rel})", ""]
                if caption:
                    out += [f"*{caption}*", ""]
        return "\n".join(out)

    def to_html(self, base: Path) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, value in self.blocks:
            if kind == "heading":
                body.append(f"<h2>{html.escape(value)}</h2>")
            elif kind == "text":
                for paragraph in value.split("\n\n"):
                    body.append(f"<p>{html.escape(paragraph)}</p>")
            elif kind == "code":
                body.append(f"<pre>{html.escape(value)}</pre>")
            elif kind == "table":
                if not value:
                    body.append("<p>(no rows)</p>")
                    continue
                columns = _columns(value)
                head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
                rows = "".join(
                    "<tr>" + "".join(_html_cell(row.get(c, "")) for c in columns) + "</tr>"
                    for row in value
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "figure":
                path, caption = value
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                alt = html.escape(caption or path.stem, quote=True)
                cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
                body.append(
                    f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">{cap}</figure>'
                )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body>\n{chr(10).join(body)}\n</body></html>\n"
        )

    def write(self, directory: str | Path, name: str = "report") -> tuple[Path, Path]:
        """Write ``<directory>/<name>.md`` and ``<directory>/<name>.html``; returns both paths."""
        base = Path(directory)
        md_path, html_path = base / f"{name}.md", base / f"{name}.html"
        md_path.write_text(self.to_markdown(base), encoding="utf-8")
        html_path.write_text(self.to_html(base), encoding="utf-8")
        return md_path, html_path


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
