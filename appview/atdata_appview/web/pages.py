"""HTML of the web pages, from plain data. Everything shown from a record is escaped: records are
written by strangers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from atdata.errors import AtdataError
from atdata.network.predecessor import ALT_SCHEMA, convert_schema

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#222}
header a{color:inherit;text-decoration:none} header{display:flex;gap:1rem;align-items:baseline}
form.search input[type=search]{width:24rem;padding:.35rem} table{border-collapse:collapse;margin:.5rem 0}
td,th{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:left;vertical-align:top}
pre{background:#f6f6f6;padding:.8rem;overflow:auto} .muted{color:#777} .bad{color:#b00}
.ok{color:#070} .graph{overflow:auto;border:1px solid #ddd;padding:.5rem} li{margin:.2rem 0}
"""


def _q(path: str, **params: str) -> str:
    return escape(f"{path}?{urlencode(params)}")


def schema_link(row: dict[str, Any]) -> str:
    label = f"{row['name']}@{row['version']}"
    return f'<a class="schema-link" href="{_q("/schema", uri=row["uri"])}">{escape(label)}</a>'


def lens_link(row: dict[str, Any]) -> str:
    name = row.get("name") or row["uri"].rsplit("/", 1)[-1]
    return f'<a class="lens-link" href="{_q("/lens", uri=row["uri"])}">{escape(str(name))}</a>'


def author(row: dict[str, Any]) -> str:
    return escape(row.get("handle") or row["did"])


def page(title: str, body: str, query: str = "") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · atdata</title><style>{_STYLE}</style></head><body>"
        '<header><h2><a href="/">atdata</a></h2>'
        '<form class="search" action="/" method="get">'
        f'<input type="search" name="q" value="{escape(query)}" '
        'placeholder="search schemas: names, fields, docs">'
        ' <button type="submit">Search</button></form></header>'
        f"<main>{body}</main></body></html>"
    )


def home(query: str, results: list[dict[str, Any]]) -> str:
    if not query:
        heading = "<h1>Recently indexed schemas</h1>"
    else:
        heading = f"<h1>Schemas matching “{escape(query)}”</h1>"
    if not results:
        return page("search", heading + '<p class="muted" id="no-results">Nothing found.</p>', query)
    items = "".join(
        f"<li>{schema_link(r)} <span class=muted>by {author(r)}</span> — "
        f"{escape(r.get('description') or '')}</li>"
        for r in results
    )
    return page("search", f'{heading}<ul id="results">{items}</ul>', query)


def _type_text(t: dict[str, Any]) -> str:
    kind = t.get("$type", "").rsplit("#", 1)[-1]
    if kind == "scalarType":
        return str(t.get("kind", "?"))
    if kind == "arrayType":
        shape = ",".join(str(a.get("size", "*")) for a in t.get("shape", [])) if "shape" in t else "…"
        return f"NDArray[{t.get('dtype', 'any')}; {shape}]"
    if kind == "literalType":
        vals = [next(iter(v.values()), None) for v in t.get("values", [])]
        return "Literal[" + ", ".join(json.dumps(v) for v in vals) + "]"
    if kind == "optionalType":
        return f"Optional[{_type_text(t.get('inner', {}))}]"
    if kind == "listType":
        return f"list[{_type_text(t.get('items', {}))}]"
    if kind == "jsonType":
        return "dict[str, Any]"
    if kind == "refType":
        return str(t.get("name") or t.get("schema", {}).get("uri", "?"))
    return kind or "?"


@dataclass(frozen=True)
class Readable:
    """A dataset of another schema, the schema it is stored in, and the lens path to this one."""

    dataset: dict[str, Any]
    stored: dict[str, Any] | None
    path: list[dict[str, Any]]


def readable_item(r: Readable) -> str:
    stored = schema_link(r.stored) if r.stored is not None else "?"
    path = " → ".join(lens_link(lens) for lens in r.path)
    return (
        f"{escape(r.dataset['name'])} <span class=muted>by {author(r.dataset)}</span>, stored as {stored}: "
        f"{path} <span class=muted>({len(r.path)} hop{'s' if len(r.path) != 1 else ''})</span>"
    )


def schema_page(
    row: dict[str, Any],
    versions: list[dict[str, Any]],
    datasets: list[dict[str, Any]],
    lenses_in: list[dict[str, Any]],
    lenses_out: list[dict[str, Any]],
    picture: str,
    targets: list[tuple[str, str]],
    target: str,
    path_note: str,
    readable: list[Readable] | None = None,
) -> str:
    rec = _as_ours(row["record"], row["uri"])
    fields = "".join(
        f"<tr><td><code>{escape(str(f.get('name')))}</code></td>"
        f"<td><code>{escape(_type_text(f.get('type', {})))}"
        f"</code></td><td>{escape(str(f.get('unit', '')))}</td><td>{escape(str(f.get('doc', '')))}</td></tr>"
        for f in rec.get("fields", [])
    )

    def listing(rows: list[dict[str, Any]], render: Any, empty: str) -> str:
        if not rows:
            return f'<p class="muted">{empty}</p>'
        return "<ul>" + "".join(f"<li>{render(r)}</li>" for r in rows) + "</ul>"

    options = "".join(
        f'<option value="{escape(uri)}"{" selected" if uri == target else ""}>{escape(label)}</option>'
        for uri, label in targets
    )
    body = (
        f'<h1 id="schema-title">{escape(rec.get("name", ""))} '
        f"<span class=muted>{escape(rec.get('version', ''))}</span></h1>"
        f"<p>by {author(row)} · <code class=muted>{escape(row['uri'])}</code></p>"
        f"<p>{escape(rec.get('description', ''))}</p>"
        '<h2>Fields</h2><table id="fields"><tr><th>name</th><th>type</th><th>unit</th><th>doc</th></tr>'
        f"{fields}</table>"
        "<h2>Other versions</h2>"
        + listing(versions, schema_link, "No other versions.")
        + "<h2>Datasets</h2>"
        + listing(
            datasets, lambda d: f"{escape(d['name'])} <span class=muted>by {author(d)}</span>", "No datasets."
        )
        + '<h2 id="readable">Datasets readable as this type</h2>'
        + listing(readable or [], readable_item, "No dataset of another type has a lens path to this one.")
        + "<h2>Lenses in</h2>"
        + listing(lenses_in, lens_link, "No lens produces this schema.")
        + "<h2>Lenses out</h2>"
        + listing(lenses_out, lens_link, "No lens reads this schema.")
        + '<h2>Lens graph</h2><form method="get" action="/schema">'
        f'<input type="hidden" name="uri" value="{escape(row["uri"])}">'
        '<label>Shortest path to <select name="target"><option value="">(none)</option>'
        f"{options}</select></label>"
        ' <button type="submit">Highlight</button></form>'
        f'<p class="muted" id="path-note">{escape(path_note)}</p><div class="graph">{picture}</div>'
    )
    return page(rec.get("name", "schema"), body)


def lens_page(row: dict[str, Any], source: str, target: str, attestations: list[dict[str, Any]]) -> str:
    rec = row["record"]
    code = rec.get("code", {})
    if code.get("$type", "").endswith("#python"):
        code_html = (
            f'<pre id="code">{escape(code.get("source", ""))}</pre>'
            f"<p class=muted>sha-256 {escape(code.get('sha256', ''))}</p>"
        )
    else:
        code_html = f'<pre id="code">{escape(json.dumps(code.get("ops", []), indent=2))}</pre>'
    problems = json.loads(row["code_report"]) if row.get("code_report") else []
    report = (
        '<p class="ok" id="report">The code passed this appview\'s sandbox validator.</p>'
        if not problems
        else '<div id="report" class="bad"><p>Refused by the sandbox validator; not used for paths:</p><ul>'
        + "".join(f"<li><code>{escape(p)}</code></li>" for p in problems)
        + "</ul></div>"
    )
    atts = (
        "<ul>" + "".join(f"<li>{escape(a['statement'])} by {author(a)}</li>" for a in attestations) + "</ul>"
        if attestations
        else '<p class="muted">No attestations.</p>'
    )
    body = (
        f'<h1 id="lens-title">{escape(rec.get("name", ""))} '
        f"<span class=muted>{escape(rec.get('version', ''))}</span></h1>"
        f"<p>by {author(row)} · <code class=muted>{escape(row['uri'])}</code></p>"
        f"<p>{escape(rec.get('description', ''))}</p><p>{source} → {target}</p>"
        f"<h2>Validation</h2>{report}<h2>Code</h2>{code_html}<h2>Attestations</h2>{atts}"
    )
    return page(rec.get("name", "lens"), body)


def not_found(what: str) -> str:
    return page("not found", f"<h1>Not found</h1><p>{escape(what)}</p>")


def _as_ours(record: dict[str, Any], uri: str) -> dict[str, Any]:
    """An atdata 0.7 schema shown with the fields it converts to (its own record when it cannot)."""
    if record.get("$type") != ALT_SCHEMA:
        return record
    try:
        return convert_schema(record, uri)[0]
    except AtdataError:
        return record
