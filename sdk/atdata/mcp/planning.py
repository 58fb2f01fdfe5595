"""The MCP tools for choosing data for a task: which datasets can serve a type, the type's Python
module, and a runnable plan that loads the chosen ones as one stream.

``find_datasets`` answers as :func:`atdata.find_datasets` does (the appview proposes; each hop's
trust is decided from the trust list given); ``get_type_source`` is the module ``atdata codegen``
writes for the schema record, read from its author's PDS and CID-checked; ``plan_load`` writes a
Python snippet that finds the chosen datasets again, with the same trust list, and reads them
through :func:`atdata.interleave`. Nothing here runs lens code or reads shards: the snippet does,
on the user's machine, when they run it, and opening each source there checks every record
against its author's PDS again.

Text written by dataset and schema authors (names, descriptions) is someone else's words: it is
passed on as data, clipped, and never spliced into the snippet's code or comments; the snippet
holds only at-uris and DIDs that were parsed and checked, as Python string literals.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from atdata.errors import AtdataError, NotFoundError
from atdata.lexicon.formats import is_did
from atdata.mcp.models import (
    LoadPlan,
    PathHopInfo,
    SchemaRef,
    SourceInfo,
    SourceList,
    TypeSource,
)
from atdata.network.appview_client import AppviewClient, SchemaView
from atdata.network.record_fetch import RecordFetcher
from atdata.network.refs import AtUri
from atdata.resolve import find_schema, resolve_record, schema_class
from atdata.schema import generate_module
from atdata.shards.urls import expand
from atdata.sources import Source, find_datasets
from atdata.trust import TrustedAuthor, TrustPolicy

_CLIP = 300
MAX_SOURCES = 50


def _policy(trusted: Sequence[str]) -> TrustPolicy:
    return TrustPolicy(authors=tuple(TrustedAuthor(d) for d in trusted))


def _ref(view: SchemaView) -> SchemaRef:
    return SchemaRef(
        uri=view.uri, cid=view.cid, name=view.name, version=view.version, author=view.author_label
    )


def _clip(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    return text if len(text) <= _CLIP else text[: _CLIP - 1] + "…"


def _matches(source: Source, keywords: str | None) -> bool:
    if not keywords:
        return True
    record = source.dataset.record
    haystack = " ".join(
        str(x)
        for x in (source.dataset.name, record.get("description", ""), source.stored_type, source.license)
    ).lower()
    return all(word in haystack for word in keywords.lower().split())


def source_info(source: Source) -> SourceInfo:
    return SourceInfo(
        dataset_uri=source.dataset.uri,
        dataset_cid=source.dataset.cid,
        name=_clip(source.dataset.name) or "",
        author=source.dataset.author_label,
        author_did=source.author,
        description=_clip(source.dataset.record.get("description")),
        stored_type=source.stored_type,
        hops=source.hops,
        path=[
            PathHopInfo(
                lens_uri=h.lens.uri,
                lens_cid=h.lens.cid,
                name=h.name,
                author=h.handle or h.author,
                trusted=h.trusted,
            )
            for h in source.path
        ],
        trusted=source.trusted,
        samples=source.samples,
        license=_clip(source.license),
        local_shards=_local_shards(source),
    )


def _sources(
    client: AppviewClient,
    target: str,
    *,
    keywords: str | None,
    trusted: Sequence[str],
    include_untrusted: bool,
    max_hops: int | None,
) -> tuple[SchemaView, list[Source]]:
    view = find_schema(client, target, trusted=trusted)
    cls = schema_class(view.ref.as_dict())
    found = find_datasets(
        cls,
        trust=_policy(trusted),
        max_hops=max_hops,
        include_untrusted=include_untrusted,
        appview=client.base_url,
    )
    return view, [s for s in found if _matches(s, keywords)]


def find_datasets_tool(
    client: AppviewClient,
    target: str,
    *,
    keywords: str | None = None,
    trusted: Sequence[str] = (),
    include_untrusted: bool = False,
    max_hops: int | None = None,
) -> SourceList:
    view, found = _sources(
        client,
        target,
        keywords=keywords,
        trusted=trusted,
        include_untrusted=include_untrusted,
        max_hops=max_hops,
    )
    return SourceList(
        target=_ref(view),
        trusted=list(trusted),
        include_untrusted=include_untrusted,
        sources=[source_info(s) for s in found[:MAX_SOURCES]],
        more=len(found) > MAX_SOURCES,
    )


def get_type_source(client: AppviewClient, name_or_uri: str, *, trusted: Sequence[str] = ()) -> TypeSource:
    view = find_schema(client, name_or_uri, trusted=trusted)
    # The record as its author's PDS holds it (CID-checked, cached), as `atdata codegen` reads it.
    record = resolve_record(view.uri)
    with RecordFetcher() as fetcher:
        module = generate_module(record, resolve=lambda ref: fetcher.fetch(ref["uri"], ref["cid"]).value)
    stem = "".join(c if c.isalnum() else "_" for c in view.name).lower()
    return TypeSource(
        **_ref(view).model_dump(),
        module=module,
        module_name=f"{stem}_types",
        usage=f"save as {stem}_types.py, then: from {stem}_types import {view.name}",
    )


def plan_load(
    client: AppviewClient,
    target: str,
    *,
    datasets: Sequence[str] | None = None,
    weights: Sequence[float] | None = None,
    keywords: str | None = None,
    trusted: Sequence[str] = (),
    include_untrusted: bool = False,
    max_hops: int | None = None,
    batch_size: int = 64,
) -> LoadPlan:
    view, found = _sources(
        client,
        target,
        keywords=keywords,
        trusted=trusted,
        include_untrusted=include_untrusted,
        max_hops=max_hops,
    )
    by_uri = {s.dataset.uri: s for s in found}
    if datasets:
        missing = [u for u in datasets if u not in by_uri]
        if missing:
            raise NotFoundError(
                client.endpoint("dev.atdata.listDatasets"),
                f"not readable as {view.name}@{view.version} under this trust list: {', '.join(missing)}; "
                "find_datasets lists the ones that are",
            )
        chosen = [by_uri[u] for u in datasets]
    else:
        chosen = found[:MAX_SOURCES]
    if not chosen:
        raise NotFoundError(
            client.endpoint("dev.atdata.listDatasets"),
            f"no dataset is readable as {view.name}@{view.version} under this trust list",
        )
    if weights is not None and len(weights) != len(chosen):
        raise AtdataError(
            f"{len(weights)} weights for {len(chosen)} datasets: give one per dataset, in order"
        )
    if batch_size < 1:
        raise AtdataError(f"batch_size must be positive, not {batch_size}")
    warnings = [
        f"{s.dataset.uri}: its shards are on this machine or a private network "
        f"({', '.join(_local_shards(s)[:3])}); running the snippet reads them from there"
        for s in chosen
        if _local_shards(s)
    ]
    warnings += [
        f"{s.dataset.uri}: its lens path includes untrusted lenses; they run in the process sandbox"
        for s in chosen
        if not s.trusted
    ]
    return LoadPlan(
        target=_ref(view),
        sources=[source_info(s) for s in chosen],
        weights=list(weights) if weights is not None else None,
        snippet=snippet(
            client.base_url, view, chosen, trusted, weights, include_untrusted, max_hops, batch_size
        ),
        warnings=warnings,
    )


def snippet(
    appview: str,
    target: SchemaView,
    chosen: Sequence[Source],
    trusted: Sequence[str],
    weights: Sequence[float] | None,
    include_untrusted: bool,
    max_hops: int | None,
    batch_size: int,
) -> str:
    """Python code loading ``chosen`` as ``target``; every literal from the network is checked first."""
    AtUri.parse(target.uri)
    for s in chosen:
        AtUri.parse(s.dataset.uri)
    for did in trusted:
        if not is_did(did):
            raise AtdataError(f"{did!r} is not a DID")
    if urlsplit(appview).scheme not in ("http", "https"):
        raise AtdataError(f"the appview URL {appview!r} is not http(s)")
    authors = "".join(f"TrustedAuthor({d!r}), " for d in trusted)
    uris = "".join(f"    {s.dataset.uri!r},\n" for s in chosen)
    hops = "" if max_hops is None else f", max_hops={int(max_hops)}"
    mix = "None" if weights is None else repr([float(w) for w in weights])
    return f"""import atdata
from atdata.trust import TrustedAuthor, TrustPolicy

atdata.configure(appview={appview!r})
Target = atdata.resolve({target.uri!r})
trust = TrustPolicy(authors=({authors}))
chosen = [
{uris}]
listed = atdata.find_datasets(Target, trust=trust, include_untrusted={include_untrusted!r}{hops})
found = {{s.dataset.uri: s for s in listed}}
missing = [uri for uri in chosen if uri not in found]
if missing:
    raise SystemExit(f"no longer readable as {{Target.__name__}} under this trust list: {{missing}}")
sources = [found[uri] for uri in chosen]
for s in sources:
    print(s.dataset.name, s.stored_type, "->", " -> ".join(s.path_names) or "(stored as it)", s.samples)
stream = atdata.interleave(sources, weights={mix}, seed=0)
seen = 0
for batch in stream.shuffled(batch_size={int(batch_size)}):
    seen += len(batch)  # your training or analysis step here
print(f"read {{seen}} samples as {{Target.__name__}} from {{len(sources)}} datasets")
"""


def _local_shards(source: Source) -> list[str]:
    """Shard URLs of a source that point at this machine or a private network."""
    urls = source.dataset.record.get("urls")
    local: list[str] = []
    for pattern in urls if isinstance(urls, list) else []:
        try:
            expanded = expand(str(pattern))
        except AtdataError:
            continue
        for url in expanded[:1]:
            if _is_local(url):
                local.append(str(pattern)[:200])
    return local


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return True  # a file path or file:// URL
    host = (parts.hostname or "").lower()
    if host in ("localhost", "") or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global
