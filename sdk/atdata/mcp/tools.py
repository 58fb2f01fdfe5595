"""What the MCP tools do, as plain functions of an :class:`AppviewClient` (the server only wraps them).

Names a user gives (``BathApplicationFrame``, ``alice.test/Frame``, ``Frame@1.0.0``, an at-uri)
are resolved by the appview; ``trusted`` DIDs rank first and restrict lens paths. What the tools
only show (fields, source, explanations) comes from the appview's copy of a record, checked against
its CID; samples are read with classes built from records fetched from their authors' PDSes
(:mod:`atdata.resolve`) and coerced by ``Dataset.as_type``. Failures raise
:class:`~atdata.errors.AtdataError` subclasses; the server turns them into tool errors.

The summaries of samples (:func:`summarize_sample`) are pure: arrays become shape, dtype and a few
statistics, long values are clipped, nested samples are flattened to dotted names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from atdata.errors import AtdataError, IntegrityError, NotFoundError
from atdata.mcp.models import (
    DatasetList,
    DatasetSummary,
    FieldInfo,
    FieldValue,
    LensPathResult,
    LensStep,
    LensSummary,
    SamplePreview,
    SampleSummary,
    SchemaDetail,
    SchemaRef,
    SchemaSummary,
    SearchResult,
    TypeExplanation,
)
from atdata.mcp.preview import MAX_SAMPLES, read_samples
from atdata.mcp.quoting import Author, Authors, quote
from atdata.network.appview_client import AppviewClient, DatasetView, LensView, SchemaView
from atdata.network.guard import Guard
from atdata.network.guard import active as active_guard
from atdata.network.predecessor import ALT_SCHEMA, convert_schema
from atdata.resolve import find_schema as resolve_find_schema
from atdata.resolve import resolve_dataset, schema_class
from atdata.schema import from_schema, generate_module, record_cid
from atdata.schema.record import VERSION_ATTR
from atdata.types.fields import MISSING, describe
from atdata.types.packable import is_packable, json_default, spec_of

MAX_PREVIEW = MAX_SAMPLES
_CLIP = 200
_LIST_LIMIT = 100

# --- schemas --------------------------------------------------------------------------------


def search_schemas(
    client: AppviewClient, query: str, *, limit: int = 10, trusted: Sequence[str] = ()
) -> SearchResult:
    page = client.search_schemas(query, limit=limit)
    with Authors(trusted) as authors:
        schemas = [_summary(s, authors) for s in page.items]
    return SearchResult(query=query, schemas=schemas, more=page.cursor is not None)


def get_schema(client: AppviewClient, name_or_uri: str, *, trusted: Sequence[str] = ()) -> SchemaDetail:
    view = find_schema(client, name_or_uri, trusted)
    versions = client.get_schema(view.uri).versions
    with Authors(trusted) as authors:
        author = authors(view.author)
    return SchemaDetail(
        **_ref(view, author).model_dump(),
        description=quote(view.description, author),
        fields=field_infos(display_class(client, view), author),
        # Generated here, so it is code the agent can save and import; the author's words in it are
        # docstrings only (codegen writes nothing else of the record's text).
        python_source=generate_module(view.record, resolve=_resolver(client)),
        other_versions=[f"{v.name}@{v.version}" for v in versions],
    )


def find_schema(client: AppviewClient, name_or_uri: str, trusted: Sequence[str] = ()) -> SchemaView:
    """The schema a name or at-uri refers to, ranked and verified here as ``atdata.resolve`` does
    (:func:`atdata.resolve.find_schema`): the appview's answer is a list of candidates, not a verdict."""
    return resolve_find_schema(client, name_or_uri, trusted=trusted)


def display_class(client: AppviewClient, view: SchemaView) -> type:
    """A class for showing an indexed schema (fields, source), its record checked against its CID.

    Samples are read with classes from :func:`atdata.resolve.schema_class` instead: those records come
    from their authors' PDSes, and coercion relies on one class per CID.
    """
    if record_cid(view.record) != view.cid:
        raise IntegrityError(
            f"the appview's copy of {view.uri} does not match its CID {view.cid}; "
            "the appview's index is stale or corrupt"
        )
    record = view.record
    if record.get("$type") == ALT_SCHEMA:  # atdata 0.7's: shown as the type it converts to
        record = convert_schema(record, view.uri)[0]
    return from_schema(record, resolve=_resolver(client), ref={"uri": view.uri, "cid": view.cid})


def field_infos(cls: type, author: Author | None = None) -> list[FieldInfo]:
    """The fields of ``cls``; with ``author``, their docs and units quoted as that author's words."""

    def words(text: str | None) -> str | None:
        return quote(text, author) if author is not None else text

    return [
        FieldInfo(
            name=f.name,
            type=describe(f.type),
            required=f.default is MISSING,
            default=None if f.default is MISSING else _clip(repr(f.default)),
            doc=words(f.doc),
            unit=words(f.unit),
        )
        for f in spec_of(cls).fields
    ]


# --- lenses and datasets ----------------------------------------------------------------------


def find_lens_path(
    client: AppviewClient, source: str, target: str, *, trusted: Sequence[str] = ()
) -> LensPathResult:
    src, dst = find_schema(client, source, trusted), find_schema(client, target, trusted)
    path = client.find_lens_path(src.uri, dst.uri, trusted=trusted)
    names = _Names(client)
    steps = []
    authors = Authors(trusted)
    for step in path.steps:
        lens = client.get_lens(step.lens.uri)
        steps.append(
            LensStep(
                lens_uri=lens.uri,
                lens_cid=lens.cid,
                name=lens.name,
                version=lens.version,
                author=authors(lens.author).short,
                source=names(step.source.uri),
                target=names(step.target.uri),
                valid=lens.valid,
                trusted=lens.author in trusted,
            )
        )
    source_ref, target_ref = _ref(src, authors(src.author)), _ref(dst, authors(dst.author))
    authors.close()
    return LensPathResult(
        source=source_ref,
        target=target_ref,
        found=path.found,
        steps=steps,
        reason=path.reason,
        reachable=[r.uri for r in path.reachable],
        trusted=list(trusted),
    )


def list_datasets(
    client: AppviewClient,
    schema: str,
    *,
    convertible: bool = True,
    trusted: Sequence[str] = (),
    limit: int = 25,
) -> DatasetList:
    view = find_schema(client, schema, trusted)
    page = client.list_datasets(schema=view.uri, convertible=convertible, limit=limit)
    with Authors(trusted) as authors:
        return DatasetList(
            schema_ref=_ref(view, authors(view.author)),
            convertible=convertible,
            datasets=[dataset_summary(d, authors) for d in page.items],
            more=page.cursor is not None,
        )


def dataset_summary(view: DatasetView, authors: Authors) -> DatasetSummary:
    """A dataset record, its author's free text (description, licence) quoted as their words."""
    record = view.record
    author = authors(view.author)
    license = record.get("license")
    description = record.get("description")
    return DatasetSummary(
        uri=view.uri,
        name=view.name,
        author=author.short,
        author_did=author.did,
        trusted=author.trusted,
        schema_uri=view.schema.uri,
        urls=[str(u) for u in record.get("urls", [])],
        sample_count=record.get("sampleCount"),
        license=quote(license, author) if isinstance(license, str) else None,
        description=quote(description, author) if isinstance(description, str) else None,
        conversion=[r.uri for r in view.path],
    )


# --- samples ----------------------------------------------------------------------------------


def preview_samples(
    client: AppviewClient,
    dataset: str,
    *,
    as_type: str | None = None,
    n: int = 5,
    schema: str | None = None,
    trusted: Sequence[str] = (),
    guard: Guard | None = None,
) -> SamplePreview:
    """The first ``n`` samples of a dataset, read as ``as_type`` when given (see :mod:`atdata.mcp.preview`).

    ``dataset`` is a dataset record's at-uri, or shard URLs together with ``schema`` (the stored type).
    Every shard location passes ``guard`` (default: the active one, else one that allows nothing).
    """
    if not 1 <= n <= MAX_PREVIEW:
        raise AtdataError(f"n must be between 1 and {MAX_PREVIEW}, not {n}")
    guard = guard or active_guard() or Guard()
    published = None
    if dataset.startswith("at://"):
        published = resolve_dataset(dataset)
        locations: str | list[str] = published.urls
        source: type = published.sample_type
    elif schema is None:
        raise AtdataError(
            "the dataset argument is not a dataset at-uri, so the type stored in its shards is unknown: "
            "pass schema= (its name or at-uri), or give the dataset's at-uri (list_datasets shows them)"
        )
    else:
        locations = dataset
        source = schema_class(find_schema(client, schema, trusted).ref.as_dict())
    target = (
        schema_class(find_schema(client, as_type, trusted).ref.as_dict()) if as_type is not None else None
    )
    samples, read_as, cut_short = read_samples(
        guard, locations, source, n=n, as_type=target, published=published
    )
    return SamplePreview(
        dataset=dataset,
        sample_type=_label(read_as),
        source_type=_label(source),
        samples=[SampleSummary(index=i, fields=summarize_sample(s)) for i, s in enumerate(samples)],
        cut_short=cut_short,
    )


def _label(cls: type) -> str:
    version = getattr(cls, VERSION_ATTR, None)
    return f"{cls.__name__}@{version}" if version else cls.__name__


def summarize_sample(sample: Any, prefix: str = "") -> list[FieldValue]:
    """One :class:`FieldValue` per field, nested samples flattened to ``outer.inner`` names."""
    out: list[FieldValue] = []
    for f in spec_of(type(sample)).fields:
        out.extend(summarize_value(prefix + f.name, getattr(sample, f.name)))
    return out


def summarize_value(name: str, value: Any) -> list[FieldValue]:
    if is_packable(type(value)):
        return summarize_sample(value, prefix=name + ".")
    if isinstance(value, np.ndarray):
        return [
            FieldValue(
                name=name,
                kind="ndarray",
                dtype=str(value.dtype),
                shape=[int(d) for d in value.shape],
                value=_array_text(value),
            )
        ]
    if value is None:
        return [FieldValue(name=name, kind="none", value="None")]
    if isinstance(value, bytes):
        head = value[:16].hex()
        return [FieldValue(name=name, kind="bytes", shape=[len(value)], value=f"{len(value)} bytes: {head}")]
    if isinstance(value, list):
        items = [_short_item(v) for v in value[:5]]
        more = f", ... ({len(value)} items)" if len(value) > 5 else ""
        return [
            FieldValue(name=name, kind="list", shape=[len(value)], value=_clip(f"[{', '.join(items)}{more}]"))
        ]
    if isinstance(value, dict):
        text = json.dumps(value, default=json_default, sort_keys=True)
        return [FieldValue(name=name, kind="dict", value=_clip(text))]
    return [FieldValue(name=name, kind=type(value).__name__, value=_clip(repr(value)))]


def _short_item(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray{list(value.shape)} {value.dtype}"
    if is_packable(type(value)):
        return type(value).__name__ + "(...)"
    return _clip(repr(value), 40)


def _array_text(a: np.ndarray) -> str:
    if a.size == 0:
        return "empty"
    flat = a.reshape(-1)
    head = ", ".join(_num(x) for x in flat[:4])
    head = f"[{head}{', ...' if a.size > 4 else ''}]"
    if np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating):
        stats = f"min={_num(a.min())}, max={_num(a.max())}, mean={_num(a.mean())}"
        return f"{stats}; first {head}"
    return f"first {head}"


def _num(x: Any) -> str:
    if isinstance(x, (np.floating, float)):
        return f"{float(x):.6g}"
    if isinstance(x, (np.integer, int, np.bool_, bool)):
        return str(x.item() if isinstance(x, np.generic) else x)
    return _clip(repr(x), 40)


def _clip(text: str, limit: int = _CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- explanations -----------------------------------------------------------------------------


def explain_type(client: AppviewClient, name_or_uri: str, *, trusted: Sequence[str] = ()) -> TypeExplanation:
    view = find_schema(client, name_or_uri, trusted)
    lenses_in = client.list_lenses(target=view.uri, limit=_LIST_LIMIT).items
    lenses_out = client.list_lenses(source=view.uri, limit=_LIST_LIMIT).items
    listed = client.list_datasets(schema=view.uri, convertible=True, limit=_LIST_LIMIT).items
    with Authors(trusted) as authors:
        author = authors(view.author)
        fields = field_infos(display_class(client, view), author)
        datasets = [dataset_summary(d, authors) for d in listed]
        ins = [_lens_summary(lens, lens.source.uri, authors) for lens in lenses_in]
        outs = [_lens_summary(lens, lens.target.uri, authors) for lens in lenses_out]
    names = _Names(client)
    return TypeExplanation(
        schema_ref=_ref(view, author),
        text=explanation_text(view, author, fields, ins, outs, datasets, names),
        fields=fields,
        lenses_in=ins,
        lenses_out=outs,
        datasets=datasets,
    )


def explanation_text(
    view: SchemaView,
    author: Author,
    fields: Sequence[FieldInfo],
    lenses_in: Sequence[LensSummary],
    lenses_out: Sequence[LensSummary],
    datasets: Sequence[DatasetSummary],
    name_of: Callable[[str], str],
) -> str:
    """Prose for a coding agent (or its user): what the type holds and how to get samples of it.

    The author's own words (description, docs, units: ``fields`` carry them quoted) stay quoted."""
    lines = [
        f"{view.name} (version {view.version}) is a sample type published by {author.label} ({author.trust})."
    ]
    if view.description:
        lines.append(f"Its description: {quote(view.description.strip(), author)}")
    lines += ["", f"Fields ({len(fields)}):"]
    for f in fields:
        unit = f", in {f.unit}" if f.unit else ""
        need = "required" if f.required else f"default {f.default}"
        doc = f": {f.doc.strip()}" if f.doc else ""
        lines.append(f"- {f.name} ({f.type}{unit}; {need}){doc}")
    lines += ["", _lens_paragraph("Lenses into it", "from", lenses_in, name_of)]
    lines += [_lens_paragraph("Lenses out of it", "to", lenses_out, name_of)]
    lines.append("")
    if not datasets:
        lines.append("No published dataset holds it or converts to it yet.")
    else:
        lines.append(f"Datasets that hold it or convert to it ({len(datasets)}):")
        for d in datasets:
            count = f", {d.sample_count} samples" if d.sample_count is not None else ""
            how = (
                "holds it directly" if not d.conversion else f"converts through {len(d.conversion)} lens(es)"
            )
            trust = "trusted" if d.trusted else "not trusted"
            lines.append(f"- {d.name} by {d.author} ({trust}){count}: {how} ({d.uri})")
    lines += [
        "",
        f'In Python: cls = atdata.resolve("{view.uri}"); then '
        "atdata.Dataset(<dataset at-uri>).as_type(cls) reads any dataset above as this type.",
    ]
    return "\n".join(lines)


def _lens_paragraph(
    title: str, word: str, lenses: Sequence[LensSummary], name_of: Callable[[str], str]
) -> str:
    if not lenses:
        return f"{title}: none."
    parts = []
    for lens in lenses:
        refused = "" if lens.valid else " (its code was refused by the appview's validator)"
        trust = "trusted" if lens.trusted else "not trusted"
        parts.append(
            f"- {lens.name} {lens.version} by {lens.author} ({trust}), {word} {name_of(lens.other)}{refused}"
        )
    return f"{title} ({len(lenses)}):\n" + "\n".join(parts)


def _lens_summary(lens: LensView, other: str, authors: Authors) -> LensSummary:
    author = authors(lens.author)
    return LensSummary(
        uri=lens.uri,
        name=lens.name,
        version=lens.version,
        author=author.short,
        trusted=author.trusted,
        other=other,
        valid=lens.valid,
    )


# --- helpers ----------------------------------------------------------------------------------


def _ref(view: SchemaView, author: Author) -> SchemaRef:
    return SchemaRef(
        uri=view.uri,
        cid=view.cid,
        name=view.name,
        version=view.version,
        author=author.short,
        author_did=author.did,
        trusted=author.trusted,
    )


def _summary(view: SchemaView, authors: Authors) -> SchemaSummary:
    fields = view.record.get("fields", [])
    author = authors(view.author)
    return SchemaSummary(
        **_ref(view, author).model_dump(),
        description=quote(view.description, author),
        field_names=[str(f.get("name")) for f in fields if isinstance(f, Mapping)],
    )


def _resolver(client: AppviewClient) -> Callable[[Mapping[str, str]], Mapping[str, Any]]:
    """Fetches schema records that nested types point to (their CIDs are checked by the caller)."""

    def resolve(ref: Mapping[str, str]) -> Mapping[str, Any]:
        return client.get_schema(ref["uri"], cid=ref["cid"]).schema.record

    return resolve


class _Names:
    """``Name@version`` of schemas by at-uri, fetched once per tool call."""

    def __init__(self, client: AppviewClient) -> None:
        self.client = client
        self.known: dict[str, str] = {}

    def __call__(self, uri: str) -> str:
        if uri not in self.known:
            try:
                view = self.client.get_schema(uri).schema
                self.known[uri] = f"{view.name}@{view.version}"
            except NotFoundError:
                self.known[uri] = uri
        return self.known[uri]
