"""Coercion through lenses published on the network, when no local lens path exists.

The appview (``findLensPath``) proposes a chain; nothing it says is run on its word. Each lens record
is read from its author's PDS with its CID recomputed, its code's sha-256 checked against the record,
and the code validated again here by the sandbox's dialect check. The trust policy then decides how
each lens runs: ``inline`` for trusted authors, or lenses a trusted author attested (the attestation
record read from the attester's PDS and CID-checked too), the ``process``
sandbox for the rest, and under a strict policy untrusted lenses are refused. The chain is composed
into one :class:`~atdata.Lens` and compiled once.

With no appview configured, or the appview down, :func:`repo_lens` finds the path itself: the lens
records of the trusted authors' repos (``listRecords``, each CID-checked, listed again only when a
repo's revision changed) make a :class:`~atdata.lenses.graph.LensGraph`, searched with the same
shortest-path rules the appview uses; each lens on the path is then checked and run as above.

Path search: paths of trusted lenses are asked for first (when the policy names anyone), then paths
through any valid lens; under a strict policy the first untrusted lens on the path is refused
(:class:`~atdata.errors.UntrustedLensPathError`, a ``TrustError`` and a ``LensPathError``). A path
that no longer works (a lens deleted or replaced, its code invalid, its author refused) raises
:class:`~atdata.errors.LensPathError` listing the other lenses the appview knows between the same
schemas, so the caller can see what else could be used.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from functools import reduce
from typing import Any

from atdata.errors import (
    AmbiguousNameError,
    AtdataError,
    IdentityError,
    IntegrityError,
    LensPathError,
    LensValidationError,
    NetworkError,
    NotFoundError,
    TrustError,
    UntrustedLensPathError,
)
from atdata.lenses.declarative import Ops
from atdata.lenses.graph import LensEdge, LensGraph
from atdata.lenses.lens import Lens
from atdata.lexicon.nsid import ATTESTATION, LENS
from atdata.network.appview_client import AppviewClient, LensPath, PathStep, SchemaView
from atdata.network.record_fetch import FetchedRecord, RecordFetcher
from atdata.network.refs import StrongRef
from atdata.resolve import schema_class, schema_ref
from atdata.sandbox import validate_source
from atdata.schema import content_hash, schema_of
from atdata.trust import TrustPolicy

_ALTERNATIVES_SHOWN = 10

log = logging.getLogger(__name__)


def remote_lens(
    source: type,
    target: type,
    *,
    policy: TrustPolicy,
    source_ref: Mapping[str, str] | None = None,
    appview: AppviewClient | None = None,
) -> Lens[Any, Any]:
    """A lens chain from ``source`` to ``target`` built from records on the network (module docstring).

    ``source_ref`` is the strong ref of the source schema when known (a dataset record names it);
    otherwise it comes from the class (classes made by :func:`atdata.resolve` carry it) or from the
    appview, matched by content.
    """
    own = appview is None
    client = appview or AppviewClient()
    fetcher = RecordFetcher()
    try:
        trusted = [a.did for a in policy.authors]
        src = dict(source_ref) if source_ref is not None else _ref_of(source, client, trusted)
        dst = _ref_of(target, client, trusted)
        path = _find_path(client, src, dst, policy)
        return lens_for_path(path, source, target, policy=policy, appview=client, fetcher=fetcher)
    finally:
        fetcher.close()
        if own:
            client.close()


def lens_for_path(
    path: LensPath,
    source: type,
    target: type,
    *,
    policy: TrustPolicy,
    appview: AppviewClient | None,
    fetcher: RecordFetcher | None = None,
) -> Lens[Any, Any]:
    """The chain of the lenses ``path`` names, each record CID-checked and run as ``policy`` says.

    The path is a proposal (the appview's ``findLensPath``, or a search over listed records);
    nothing in it is taken on its word. ``appview`` (None without one) is asked for attestations
    and for the alternatives when a step fails.
    """
    if not path.steps:  # the same schema record: nothing to convert
        return Lens((), source=source, target=target)
    own = fetcher is None
    records = fetcher or RecordFetcher()
    try:
        lenses = [
            _step_lens(appview, records, step, i, path, policy, source, target)
            for i, step in enumerate(path.steps)
        ]
    finally:
        if own:
            records.close()
    return reduce(lambda a, b: a | b, lenses)


def repo_lens(
    source: type,
    target: type,
    *,
    policy: TrustPolicy,
    source_ref: Mapping[str, str] | None = None,
) -> Lens[Any, Any]:
    """A lens chain from ``source`` to ``target`` over the lens records of the trusted authors' repos."""
    if not policy.authors:
        raise LensPathError(
            f"no lens path from {source.__name__} to {target.__name__}: with no appview configured or "
            "reachable, lenses are looked for in trusted authors' repositories, and the trust policy "
            "names none (atdata trust add HANDLE, or configure an appview)"
        )
    src = dict(source_ref) if source_ref is not None else schema_ref(source)
    dst = schema_ref(target)
    for cls, ref in ((source, src), (target, dst)):
        if ref is None:
            raise LensPathError(
                f"{cls.__name__} is a class written in code: without an appview its published record "
                "cannot be looked up; use a class from atdata.resolve(...)"
            )
    assert src is not None and dst is not None
    fetcher = RecordFetcher()
    try:
        graph, records = _trusted_graph(fetcher, policy)
        if src["uri"] == dst["uri"]:
            return Lens((), source=source, target=target)
        edges = graph.path(src["uri"], dst["uri"], policy.lens_filter(trusted_only=True))
        steps = tuple(
            PathStep(
                lens=StrongRef(records[e.cid].uri, e.cid),
                source=StrongRef.of(records[e.cid].value["source"]),
                target=StrongRef.of(records[e.cid].value["target"]),
            )
            for e in edges
        )
        path = LensPath(steps=steps, reason=None, reachable=())
        return lens_for_path(path, source, target, policy=policy, appview=None, fetcher=fetcher)
    finally:
        fetcher.close()


def _trusted_graph(fetcher: RecordFetcher, policy: TrustPolicy) -> tuple[LensGraph, dict[str, FetchedRecord]]:
    """The lens graph of the trusted authors' published lenses; a repo that cannot be read is skipped."""
    graph = LensGraph()
    records: dict[str, FetchedRecord] = {}
    for author in policy.authors:
        try:
            listed = fetcher.list(author.did, LENS)
        except (NetworkError, IdentityError) as e:
            log.warning("cannot list the lenses of %s: %s", author.label, e)
            continue
        for record in listed:
            ends = [record.value.get(k) for k in ("source", "target")]
            if record.value.get("$type") != LENS or not all(
                isinstance(r, dict) and isinstance(r.get("uri"), str) and isinstance(r.get("cid"), str)
                for r in ends
            ):
                continue
            records[record.cid] = record
            graph.add(LensEdge(record.cid, ends[0]["uri"], ends[1]["uri"], author=record.author))  # type: ignore[index]
    return graph, records


def _ref_of(cls: type, client: AppviewClient, trusted: list[str]) -> dict[str, str]:
    """The strong ref of the schema record ``cls`` stands for."""
    ref = schema_ref(cls)
    if ref is not None:
        return ref
    # A class written in code: find a published record with the same content under its name.
    mine = content_hash(schema_of(cls))
    try:
        answer = client.resolve_schema(cls.__name__, trusted=trusted)
        candidates: tuple[SchemaView, ...] = (answer.schema, *answer.candidates)
    except (NotFoundError, AmbiguousNameError):
        candidates = ()
    for view in candidates:
        try:
            if content_hash(view.record) == mine:
                return {"uri": view.uri, "cid": view.cid}
        except AtdataError:
            continue
    raise LensPathError(
        f"{cls.__name__} is not a published schema the appview {client.base_url} knows: "
        "use a class from atdata.resolve(...), or publish it"
    )


def _find_path(
    client: AppviewClient, src: dict[str, str], dst: dict[str, str], policy: TrustPolicy
) -> LensPath:
    # A path through untrusted lenses is returned under a strict policy too: the step that needs
    # one is then refused by name, which says more than "no path".
    trusted = [a.did for a in policy.authors]
    path: LensPath | None = None
    for t in [trusted, []] if trusted else [[]]:
        path = client.find_lens_path(src["uri"], dst["uri"], trusted=t, max_hops=policy.max_hops)
        if path.steps or src["uri"] == dst["uri"]:
            return path
    assert path is not None
    raise LensPathError(
        f"no lens path from {src['uri']} to {dst['uri']} (appview {client.base_url}): {path.reason}",
        reachable=[r.uri for r in path.reachable],
    )


def _step_lens(
    client: AppviewClient | None,
    fetcher: RecordFetcher,
    step: PathStep,
    index: int,
    path: LensPath,
    policy: TrustPolicy,
    source: type,
    target: type,
) -> Lens[Any, Any]:
    try:
        record = fetcher.fetch(step.lens.uri, step.lens.cid)
        body = _checked_lens(record, step)
        if not policy.trusts(record.author, record.cid) and client is not None:
            policy = policy.with_attested(_attested(client, fetcher, record, policy))
        isolation = policy.isolation_for(record.author, record.cid, what=f"lens {step.lens.uri}")
    except (IntegrityError, LensValidationError, NetworkError, TrustError) as e:
        raise _broken(client, step, index, path, e) from e
    # The dataset's own class reads the first step and the caller's class comes out of the last, so
    # the chain plugs into both even when they were not built from these very records.
    s = source if index == 0 else schema_class(_plain(step.source), fetcher=fetcher)
    t = target if index == len(path.steps) - 1 else schema_class(_plain(step.target), fetcher=fetcher)
    name = f"{body['name']}@{body['version']}"
    log.info("lens %s (%s) by %s: %s", name, record.uri, record.author, isolation)
    code = body["code"]
    if code.get("$type") == f"{LENS}#declarative":
        return Lens.from_ops(Ops.from_record(code["ops"]), source=s, target=t, name=name, isolation=isolation)
    return Lens.from_source(code["source"], source=s, target=t, isolation=isolation, name=name)


def _attested(
    client: AppviewClient, fetcher: RecordFetcher, lens: FetchedRecord, policy: TrustPolicy
) -> list[str]:
    """``[lens.cid]`` when a trusted author attested this very lens record, read from their own PDS."""
    try:
        view = client.get_lens(lens.uri, cid=lens.cid)
    except AtdataError:
        return []
    for att in view.attestations:
        if att.author not in policy.dids:
            continue
        try:
            statement = fetcher.fetch(att.uri, att.cid)
        except AtdataError:
            continue  # an attestation that cannot be checked does not count
        subject = statement.value.get("subject")
        if (
            statement.author == att.author
            and statement.value.get("$type") == ATTESTATION
            and isinstance(subject, dict)
            and (subject.get("uri"), subject.get("cid")) == (lens.uri, lens.cid)
        ):
            return [lens.cid]
    return []


def _checked_lens(record: FetchedRecord, step: PathStep) -> dict[str, Any]:
    """The lens record, checked against the step the appview proposed and its code against its hash."""
    value = record.value
    if value.get("$type") != LENS:
        raise IntegrityError(f"the record at {record.uri} is not a {LENS} record")
    for end, ref in (("source", step.source), ("target", step.target)):
        got = value.get(end)
        if not isinstance(got, dict) or (got.get("uri"), got.get("cid")) != (ref.uri, ref.cid):
            raise IntegrityError(
                f"lens {record.uri} reads/writes other schemas than the appview said ({end})"
            )
    code = value.get("code")
    if not isinstance(code, dict):
        raise IntegrityError(f"lens {record.uri} has no code")
    if code.get("$type") == f"{LENS}#python":
        source = str(code.get("source", ""))
        digest = hashlib.sha256(source.encode()).hexdigest()
        if digest != code.get("sha256"):
            raise IntegrityError(f"the code of lens {record.uri} hashes to {digest}, not its recorded sha256")
        violations = validate_source(source, filename=f"<lens {record.uri}>")
        if violations:
            raise LensValidationError(f"lens {record.uri}", violations)
    return value


def _broken(
    client: AppviewClient | None, step: PathStep, index: int, path: LensPath, cause: Exception
) -> LensPathError:
    """The error for a path that stopped working at ``step``, listing the other lenses between its schemas."""
    alternatives: list[str] = []
    try:
        if client is None:
            raise AtdataError("no appview to ask")
        page = client.list_lenses(
            source=step.source.uri, target=step.target.uri, limit=_ALTERNATIVES_SHOWN + 1
        )
        for view in page.items:
            if view.uri == step.lens.uri or not view.valid:
                continue
            who = f"{view.handle} ({view.author})" if view.handle else view.author
            alternatives.append(f"{view.name}@{view.version} by {who}: {view.uri}")
    except AtdataError:
        pass  # the appview being unreachable now must not hide the original failure
    message = (
        f"the lens path stopped working at step {index + 1} of {len(path.steps)} "
        f"({_short(step.source)} -> {_short(step.target)}): {cause}"
    )
    if not alternatives and client is not None:
        message += "\n  no other lens between these two schemas is known to the appview"
    kind = UntrustedLensPathError if isinstance(cause, TrustError) else LensPathError
    return kind(message, alternatives=alternatives[:_ALTERNATIVES_SHOWN])


def _plain(ref: StrongRef) -> dict[str, str]:
    return {"uri": ref.uri, "cid": ref.cid}


def _short(ref: StrongRef) -> str:
    return ref.uri.rsplit("/", 1)[-1]
