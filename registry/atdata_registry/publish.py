"""Publishing schema, lens, dataset and attestation records to the author's own repository.

One :class:`Publisher` per signed-in session. Every record is checked against atdata's lexicons
(and lens code against the sandbox's validator) before anything is sent, and every record has a
deterministic key (``atdata.schema.canonical.record_key``), which makes publishing idempotent:
the same content again returns the existing at-uri and CID and writes nothing; different content
under an existing schema or lens version is refused with the compatibility report and the version
it would need. A publish that stops half-way (network, PDS down) is finished by running it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from atdata.errors import IntegrityError, NetworkError, PublishError
from atdata.lenses import Lens
from atdata.lenses.extract import extract_source
from atdata.lexicon import ATTESTATION, DATASET, LENS, SCHEMA, assert_valid_record
from atdata.network.identity import IdentityResolver
from atdata.network.refs import AtUri, StrongRef
from atdata.network.xrpc import XrpcClient, XrpcError
from atdata.sandbox import check_source
from atdata.schema import semver
from atdata.schema.canonical import content_hash, record_cid, record_key
from atdata.schema.compat import compatibility, suggest_version
from atdata.schema.record import REF_ATTR, schema_of
from atdata.shards.blobs import MIME_TYPE as BLOB_MIME_TYPE
from atdata.shards.blobs import blob_cid, blob_ref, blob_url
from atdata.shards.urls import display, expand, local_path, scheme
from atdata_registry.record_builders import attestation_record, dataset_record, lens_record
from atdata_registry.session import Session
from atdata_registry.shardstats import dataset_shards

log = logging.getLogger(__name__)

Status = Literal["created", "existing", "replaced", "dry-run"]
# The repository named in dry-run addresses when nobody is signed in.
DRY_RUN_REPO = "did:web:dry-run.invalid"
DEFAULT_LENS_VERSION = "1.0.0"
BLOB_LIMIT = 5 << 20
"""The official PDS's default blob size limit (its PDS_BLOB_UPLOAD_LIMIT)."""


@dataclass(frozen=True)
class Published:
    """One record handled by a publisher: where it is, its CID, and what happened."""

    collection: str
    uri: str
    cid: str
    status: Status
    record: dict[str, Any] = field(repr=False, compare=False)

    @property
    def ref(self) -> StrongRef:
        return StrongRef(self.uri, self.cid)


class VersionConflictError(PublishError):
    """Different content under a version that is already published; says which version it needs."""

    def __init__(self, message: str, *, uri: str, next_version: str, report: Any = None) -> None:
        self.uri = uri
        self.next_version = next_version
        self.report = report
        super().__init__(message)


class Publisher:
    """Publishes records into the signed-in author's repository.

    ``dry_run``: build and validate every record, and with a session also compare with what is
    published, but send nothing (``status == "dry-run"`` for what would be created).
    ``on_record`` is called with each :class:`Published` as soon as it is settled.
    """

    def __init__(
        self,
        session: Session | None,
        *,
        dry_run: bool = False,
        progress: bool = True,
        resolver: IdentityResolver | None = None,
        on_record: Callable[[Published], None] | None = None,
    ) -> None:
        if session is None and not dry_run:
            raise PublishError(
                "publishing needs a session: run `atdata login HANDLE` first (or use --dry-run)"
            )
        self.session = session
        self.dry_run = dry_run
        self.progress = progress
        self.resolver = resolver or IdentityResolver(plc_url=session.credentials.plc if session else None)
        self.on_record = on_record
        self.results: list[Published] = []

    @property
    def repo(self) -> str:
        return self.session.did if self.session else DRY_RUN_REPO

    # --- the four record kinds --------------------------------------------------------------

    def publish_schema(self, schema: type | Mapping[str, Any], *, version: str | None = None) -> Published:
        """Publish a sample type (``@atdata.packable`` class) or a ready schema record."""
        record = self._schema_record(schema, version)
        return self._publish(SCHEMA, record, conflict=self._schema_conflict)

    def publish_lens(
        self, lens: Lens[Any, Any], *, version: str = DEFAULT_LENS_VERSION, description: str | None = None
    ) -> Published:
        """Publish a lens (``atdata.Lens`` with restricted-Python code or declarative ops).

        Its source and target schemas are published first when they are not yet. Everything,
        the lens code included, is validated before the first record is sent.
        """
        source_ref, source_record = self._schema_of_type(lens.source)
        target_ref, target_record = self._schema_of_type(lens.target)
        code, ops = _lens_body(lens)
        desc = description or _doc_of(lens)

        def build(source: StrongRef, target: StrongRef) -> dict[str, Any]:
            return lens_record(
                name=lens.name,
                version=version,
                source=source,
                target=target,
                code=code,
                ops=ops,
                description=desc,
            )

        # Validate the lens record with the refs it would get, so that a bad lens publishes nothing.
        self._check(LENS, build(source_ref, target_ref))
        if source_record is not None:
            source_ref = self._publish(SCHEMA, source_record, conflict=self._schema_conflict).ref
        if target_record is not None:
            target_ref = self._publish(SCHEMA, target_record, conflict=self._schema_conflict).ref
        return self._publish(LENS, build(source_ref, target_ref), conflict=self._lens_conflict)

    def publish_dataset(
        self,
        *,
        name: str,
        schema: Any,
        urls: Sequence[str] | str,
        license: str | None = None,
        description: str | None = None,
        replace: bool = False,
        blobs: bool = False,
        blob_limit: int = BLOB_LIMIT,
    ) -> Published:
        """Publish a dataset of WebDataset shards; checksums and counts are computed from the shards.

        ``schema``: a published record (:class:`Published`/:class:`StrongRef`), a sample type
        (published first if needed), ``"Name@1.0.0"`` from the author's repository, or an at-uri.
        ``blobs``: upload each (local) shard to the author's PDS as a blob and record its blob
        reference, so that readers fetch it by CID (:mod:`atdata.shards.blobs`); a shard larger than
        ``blob_limit`` (the PDS's blob size limit) is refused before anything is uploaded.
        """
        url_list = [urls] if isinstance(urls, str) else list(urls)
        schema_record: dict[str, Any] | None = None
        if isinstance(schema, type):
            schema_ref, schema_record = self._schema_of_type(schema)
        else:
            schema_ref = self._ref(schema, SCHEMA)
        paths = _blob_shards(url_list, blob_limit) if blobs else []
        shards = dataset_shards(url_list, progress=self.progress)
        refs = [_predicted_blob(s.sha256, s.size) for s in shards] if blobs else []

        def build(ref: StrongRef) -> dict[str, Any]:
            record = dataset_record(
                name=name,
                schema=ref,
                urls=[blob_url(self._pds, self.repo, r["ref"]["$link"]) for r in refs] if refs else url_list,
                shards=shards,
                license=license,
                description=description,
            )
            for entry, blob in zip(record.get("shards", []), refs):
                entry["blob"] = blob
            return record

        self._check(DATASET, build(schema_ref))
        if schema_record is not None:
            schema_ref = self._publish(SCHEMA, schema_record, conflict=self._schema_conflict).ref
        if blobs and not self.dry_run and self.session is not None:
            refs = [self._upload_blob(path, ref, blob_limit) for path, ref in zip(paths, refs)]
        return self._publish(
            DATASET, build(schema_ref), conflict=_replace_hint("dataset", name), replace=replace
        )

    @property
    def _pds(self) -> str:
        return self.session.pds if self.session is not None else "https://dry-run.invalid"

    def _upload_blob(self, path: str, predicted: dict[str, Any], limit: int) -> dict[str, Any]:
        """Upload one shard; the PDS's blob reference, checked against the CID of the bytes sent."""
        assert self.session is not None
        with open(path, "rb") as f:
            data = f.read(limit + 1)
        cid = predicted["ref"]["$link"]
        try:
            answer = self.session.upload_blob(data, BLOB_MIME_TYPE)
        except XrpcError as e:
            if e.status == 413 or "large" in f"{e.error} {e.message}".lower():
                raise PublishError(
                    f"the PDS {self.session.pds} refused shard {path} ({len(data)} bytes) as too large for "
                    f"a blob ({e.error}: {e.message}); its limit is lower than --blob-limit {limit}"
                ) from None
            raise PublishError(
                f"the PDS {self.session.pds} refused to store shard {path} as a blob: {e}"
            ) from None
        blob = answer.get("blob") if isinstance(answer, dict) else None
        found = blob_ref(blob)
        if found is None or found[0] != cid or found[1] != len(data):
            raise IntegrityError(
                f"the PDS {self.session.pds} stored shard {path} as {blob!r}, expected blob {cid} of "
                f"{len(data)} bytes"
            )
        log.info("uploaded %s as blob %s", path, cid)
        assert isinstance(blob, dict)
        return blob

    def publish_dataset_record(self, record: Mapping[str, Any], *, replace: bool = False) -> Published:
        """Publish a ready ``dev.atdata.dataset`` record as it is (shards are not read again)."""
        name = str(record.get("name", ""))
        return self._publish(DATASET, dict(record), conflict=_replace_hint("dataset", name), replace=replace)

    def publish_attestation(
        self, lens: Any, kind: str, *, comment: str | None = None, replace: bool = False
    ) -> Published:
        """Publish the author's statement (``reviewed``, ``tested``, ``lawsChecked``) about a lens record."""
        record = attestation_record(subject=self._ref(lens, LENS), kind=kind, comment=comment)
        return self._publish(
            ATTESTATION, record, conflict=_replace_hint("attestation", kind), replace=replace
        )

    # --- the core: validate, compare, create ------------------------------------------------

    def _schema_record(self, schema: type | Mapping[str, Any], version: str | None) -> dict[str, Any]:
        if isinstance(schema, Mapping):
            record = dict(schema)
            if version is not None:
                record["version"] = version
            return record
        return dict(schema_of(schema, version=version))

    def _schema_of_type(self, cls: type) -> tuple[StrongRef, dict[str, Any] | None]:
        """A class made from a published schema keeps pointing at it (``None``: nothing to publish);
        any other class gives its record and the ref it would get in the author's repository."""
        ref = getattr(cls, REF_ATTR, None)
        if isinstance(ref, Mapping):
            return StrongRef(str(ref["uri"]), str(ref["cid"])), None
        record = self._schema_record(cls, None)
        self._check(SCHEMA, record)
        return self._predicted_ref(SCHEMA, record), record

    def _check(self, collection: str, record: Mapping[str, Any]) -> None:
        assert_valid_record(collection, record)
        record_key(record)

    def _predicted_ref(self, collection: str, record: Mapping[str, Any]) -> StrongRef:
        return StrongRef(str(AtUri(self.repo, collection, record_key(record))), record_cid(record))

    def _publish(
        self,
        collection: str,
        record: dict[str, Any],
        *,
        conflict: Callable[[dict[str, Any], dict[str, Any], str], PublishError],
        replace: bool = False,
    ) -> Published:
        self._check(collection, record)
        rkey = record_key(record)
        uri = str(AtUri(self.repo, collection, rkey))
        try:
            result = self._settle(collection, rkey, uri, record, conflict, replace)
        except XrpcError as e:
            if e.status < 500:
                raise PublishError(f"the PDS refused {uri}: {e.status} {e.error}: {e.message}") from e
            raise self._interrupted(uri, e) from e
        except NetworkError as e:
            raise self._interrupted(uri, e) from e
        self.results.append(result)
        if self.on_record is not None:
            self.on_record(result)
        return result

    def _interrupted(self, uri: str, cause: Exception) -> PublishError:
        done = [p for p in self.results if p.status in ("created", "replaced")]
        return PublishError(
            f"publishing {uri} failed: {cause}\n{len(done)} record(s) were published before it in this run"
            + "".join(f"\n  {p.uri}" for p in done)
            + "\nRun the same command again to finish: published records are found, not duplicated."
        )

    def _settle(
        self,
        collection: str,
        rkey: str,
        uri: str,
        record: dict[str, Any],
        conflict: Callable[[dict[str, Any], dict[str, Any], str], PublishError],
        replace: bool,
    ) -> Published:
        existing = self._get(collection, rkey) if self.session else None
        if existing is not None:
            value, cid = existing
            if content_hash(value) == content_hash(record):
                return Published(collection, uri, cid, "existing", value)
            if not replace:
                raise conflict(value, record, uri)
        if self.dry_run or self.session is None:
            return Published(collection, uri, record_cid(record), "dry-run", record)
        body: dict[str, Any] = {"repo": self.repo, "collection": collection, "rkey": rkey, "record": record}
        if existing is not None:
            # swapRecord: replace only the version we compared against, never a concurrent write.
            answer = self.session.procedure("com.atproto.repo.putRecord", {**body, "swapRecord": existing[1]})
            status: Status = "replaced"
        else:
            try:
                answer = self.session.procedure("com.atproto.repo.createRecord", body)
            except XrpcError:
                # Created meanwhile (another run, or our own request whose answer was lost)?
                again = self._get(collection, rkey)
                if again is not None and content_hash(again[0]) == content_hash(record):
                    return Published(collection, uri, again[1], "existing", again[0])
                raise
            status = "created"
        expected = record_cid(record)
        if answer.get("uri") != uri or answer.get("cid") != expected:
            raise IntegrityError(
                f"the PDS stored {collection} {rkey} as {answer.get('uri')} {answer.get('cid')}, "
                f"expected {uri} {expected}"
            )
        log.info("%s %s %s", status, uri, expected)
        return Published(collection, uri, expected, status, record)

    def _get(self, collection: str, rkey: str, repo: str | None = None) -> tuple[dict[str, Any], str] | None:
        params = {"repo": repo or self.repo, "collection": collection, "rkey": rkey}
        try:
            if repo is None or (self.session is not None and repo == self.session.did):
                assert self.session is not None
                answer = self.session.query("com.atproto.repo.getRecord", params)
            else:
                with XrpcClient(self.resolver.resolve_did(repo).pds) as pds:
                    answer = pds.query("com.atproto.repo.getRecord", params)
        except XrpcError as e:
            if e.error == "RecordNotFound" or (e.status == 400 and "not found" in e.message.lower()):
                return None
            raise
        return dict(answer["value"]), str(answer["cid"])

    def _ref(self, what: Any, collection: str) -> StrongRef:
        """A strong ref to an already published record named by ``what``."""
        if isinstance(what, Published):
            return what.ref
        if isinstance(what, StrongRef):
            return what
        if (
            isinstance(what, Mapping)
            and isinstance(what.get("uri"), str)
            and isinstance(what.get("cid"), str)
        ):
            return StrongRef(what["uri"], what["cid"])
        if isinstance(what, str) and what.startswith("at://"):
            at = AtUri.parse(what)
            repo, coll, rkey = at.repo, at.collection, at.rkey
            if coll != collection:
                raise PublishError(f"{what} is a {coll} record, expected a {collection} record")
            if not repo.startswith("did:"):  # at://<handle>/...: strong refs name the DID
                repo = self.resolver.resolve(repo).did
        elif isinstance(what, str) and "@" in what:
            name, _, version = what.partition("@")
            repo, coll, rkey = self.repo, collection, f"{name}:{version}"
        else:
            raise PublishError(
                f"cannot refer to {what!r} as a {collection} record: give an at-uri or Name@version"
            )
        if self.session is None:
            raise PublishError(f"looking up {what} needs a session: run `atdata login` first")
        found = self._get(coll, rkey, repo)
        if found is None:
            raise PublishError(
                f"{what} is not published (no {coll} record {rkey!r} in {repo}); publish it first"
            )
        return StrongRef(str(AtUri(repo, coll, rkey)), found[1])

    # --- refusals -------------------------------------------------------------------------------

    def _published_versions(self, collection: str, name: str) -> list[semver.Version]:
        if self.session is None:
            return []
        versions: list[semver.Version] = []
        cursor: str | None = None
        while True:
            page = self.session.query(
                "com.atproto.repo.listRecords",
                {"repo": self.repo, "collection": collection, "limit": 100, "cursor": cursor},
            )
            for rec in page.get("records", []):
                value = rec.get("value", {})
                if value.get("name") == name and semver.is_semver(value.get("version")):
                    versions.append(semver.parse(value["version"]))
            cursor = page.get("cursor")
            if not cursor or not page.get("records"):
                return versions

    def _latest_version(self, collection: str, record: Mapping[str, Any]) -> semver.Version:
        current = semver.parse(str(record["version"]))
        return max([current, *self._published_versions(collection, str(record["name"]))])

    def _schema_conflict(self, existing: dict[str, Any], new: dict[str, Any], uri: str) -> PublishError:
        report = compatibility(existing, new)
        # The step the change needs (major/minor/patch), taken from the newest version published.
        nxt = suggest_version(str(self._latest_version(SCHEMA, new)), report)
        changes = "".join(f"\n  - {c}" for c in report.changes)
        return VersionConflictError(
            f"schema {new['name']} version {new['version']} is already published at {uri} with different "
            f"content, and a published version never changes.\ncompatibility with the published one: "
            f"{report.level}{changes}\npublish it as version {nxt} (set __schema_version__ = {nxt!r} on the "
            f"class, or pass --version {nxt})",
            uri=uri,
            next_version=nxt,
            report=report,
        )

    def _lens_conflict(self, existing: dict[str, Any], new: dict[str, Any], uri: str) -> PublishError:
        nxt = str(self._latest_version(LENS, new).bump("minor"))
        return VersionConflictError(
            f"lens {new['name']} version {new['version']} is already published at {uri} with different "
            f"content, and a published version never changes; publish it as version {nxt} (--version {nxt})",
            uri=uri,
            next_version=nxt,
        )


def _blob_shards(urls: Sequence[str], limit: int) -> list[str]:
    """The local files of the shards to upload as blobs, each within the PDS's blob size limit."""
    paths = []
    for url in expand(list(urls)):
        if scheme(url) != "file":
            raise PublishError(
                f"--blobs uploads local shard files; {display(url)} is not one (download it first, or "
                "publish its URL without --blobs)"
            )
        path = local_path(url)
        try:
            size = os.path.getsize(path)
        except OSError as e:
            raise PublishError(f"cannot read shard {path}: {e.strerror}") from None
        if size > limit:
            raise PublishError(
                f"shard {path} is {size} bytes, more than the blob size limit of {limit} bytes; nothing "
                "was uploaded. Write smaller shards (ShardWriter(maxsize=...)), raise --blob-limit if "
                "your PDS allows larger blobs (PDS_BLOB_UPLOAD_LIMIT), or publish URLs without --blobs"
            )
        paths.append(path)
    return paths


def _predicted_blob(sha256: str, size: int) -> dict[str, Any]:
    """The blob reference a PDS gives these bytes (checked against its answer on upload)."""
    return {"$type": "blob", "ref": {"$link": blob_cid(sha256)}, "mimeType": BLOB_MIME_TYPE, "size": size}


def _replace_hint(kind: str, name: str) -> Callable[[dict[str, Any], dict[str, Any], str], PublishError]:
    def conflict(existing: dict[str, Any], new: dict[str, Any], uri: str) -> PublishError:
        return PublishError(
            f"{kind} {name!r} is already published at {uri} with different content; "
            "pass --replace (replace=True) to update it"
        )

    return conflict


def _doc_of(lens: Lens[Any, Any]) -> str | None:
    natives = lens.native_functions()
    doc = natives[0].__doc__ if natives else None
    return " ".join(doc.split()) if doc else None


def _lens_body(lens: Lens[Any, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The publishable body of a lens: checked restricted-Python code, or a declarative op list."""
    if lens.ops is not None:
        return None, lens.ops.to_plain()

    code = extract_source(lens)  # LensValidationError, at the user's own lines, for native lenses
    # Checked again as the exact text that will be sent: nobody trusts another's check.
    check_source(code, filename=f"<lens {lens.name}>")
    return code, None
