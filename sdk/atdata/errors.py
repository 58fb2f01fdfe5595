"""One error hierarchy for the whole project, rooted at :class:`AtdataError`.

Every message says what failed, where, and what to do about it. Subclasses also derive from the
builtin exception a Python user would expect (``ValueError``, ``TypeError``, ``IOError``) so that
generic handlers keep working.
"""

from __future__ import annotations

from dataclasses import dataclass


class AtdataError(Exception):
    """Root of every error raised on purpose by atdata, atdata_registry and atdata_appview."""


class MissingExtraError(AtdataError, ImportError):
    """An optional feature's package is not installed; the message names the ``pip install`` to run."""

    def __init__(self, message: str, *, extra: str, package: str) -> None:
        super().__init__(message, name=package)
        self.extra = extra
        self.package = package


# --- sample types ---------------------------------------------------------------------------


class SampleTypeError(AtdataError, TypeError):
    """A class cannot become a sample type (unsupported annotation, bad default, ...)."""


class SampleValidationError(AtdataError, ValueError):
    """A value does not fit a field of a sample type.

    ``problems`` holds one ``(field path, message, value repr)`` triple per failing field.
    """

    def __init__(self, cls_name: str, problems: list[tuple[str, str, str]]) -> None:
        self.cls_name = cls_name
        self.problems = problems
        lines = [f"{cls_name}.{path}: {msg} (got {value})" for path, msg, value in problems]
        super().__init__(
            f"invalid {cls_name}: " + "; ".join(lines)
            if len(lines) == 1
            else f"invalid {cls_name}, {len(lines)} problems:\n  " + "\n  ".join(lines)
        )


# --- shards and datasets --------------------------------------------------------------------


class ShardError(AtdataError, IOError):
    """A shard could not be read or written: names the shard URL, sample key and field."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        key: str | None = None,
        field: str | None = None,
    ) -> None:
        self.url = url
        self.key = key
        self.field = field
        where = ", ".join(
            part
            for part in (
                f"shard {url}" if url else "",
                f"sample {key!r}" if key is not None else "",
                f"field {field!r}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class ShardIntegrityError(ShardError):
    """A shard's bytes or sample count do not match its sidecar."""


class DatasetError(AtdataError, ValueError):
    """A dataset was opened or used wrongly (bad URL pattern, unknown sample type, ...)."""


class SourceError(DatasetError):
    """One source of an interleaved dataset failed; ``source`` names it, ``__cause__`` says why."""

    def __init__(self, source: str, cause: Exception) -> None:
        self.source = source
        super().__init__(
            f"source {source} failed: {cause}; pass on_error='skip' to interleave to go on without it"
        )


# --- schemas --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem found in a record, at a JSON path such as ``$.fields[2].type``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SchemaError(AtdataError, ValueError):
    """A schema record (or a type on its way to becoming one) is invalid.

    Lists every problem at once, each with its JSON path, in ``problems``.
    """

    def __init__(self, what: str, problems: list[Problem]) -> None:
        self.problems = problems
        body = "\n  ".join(str(p) for p in problems)
        super().__init__(f"{what}: {len(problems)} problem(s)\n  {body}")


class RecordValidationError(SchemaError):
    """A record does not validate against its lexicon."""


# --- lenses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One reason lens code is outside the dialect, at ``line:column`` (1-based line, 0-based col)."""

    line: int
    column: int
    reason: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.reason}"


class LensError(AtdataError):
    """Base of lens problems."""


class LensValidationError(LensError, ValueError):
    """Lens code is outside the restricted dialect; ``violations`` lists every reason."""

    def __init__(self, where: str, violations: list[Violation]) -> None:
        self.where = where
        self.violations = violations
        body = "\n  ".join(f"{where}:{v}" for v in violations)
        super().__init__(
            f"lens code {where} is outside the atdata lens dialect "
            f"({len(violations)} violation(s)); see `atdata lens check` and the dialect's "
            f"documentation, module atdata.sandbox.dialect (`python -m pydoc atdata.sandbox.dialect`):"
            f"\n  {body}"
        )


class LensExecutionError(LensError, RuntimeError):
    """Running a lens failed: names the lens, the sample key and the reason."""

    def __init__(self, lens: str, reason: str, *, key: str | None = None) -> None:
        self.lens = lens
        self.key = key
        self.reason = reason
        where = f" on sample {key!r}" if key is not None else ""
        super().__init__(f"lens {lens} failed{where}: {reason}")


class LensLimitError(LensExecutionError):
    """A lens broke a resource limit (wall clock, CPU, memory): the run was stopped, not failed by code."""


class LensPathError(LensError, LookupError):
    """No lens path joins two schemas under the caller's trust policy."""

    def __init__(
        self, message: str, *, reachable: list[str] | None = None, alternatives: list[str] | None = None
    ) -> None:
        self.reachable = reachable or []
        self.alternatives = alternatives or []
        extra = ""
        if self.reachable:
            extra += "\n  reachable from the source: " + ", ".join(self.reachable)
        if self.alternatives:
            extra += "\n  alternatives: " + ", ".join(self.alternatives)
        super().__init__(message + extra)


# --- network, registry and appview ----------------------------------------------------------


class AtUriError(AtdataError, ValueError):
    """A string is not a record address ``at://<did or handle>/<collection NSID>/<record key>``."""


class NetworkError(AtdataError, IOError):
    """A remote service could not be reached or answered with an error."""


class IdentityError(AtdataError, LookupError):
    """A handle or DID could not be resolved."""


class LocationRefusedError(AtdataError, PermissionError):
    """A location (file, URL, address) that this process may not reach on someone else's word;
    ``rule`` names the rule that refused it (see :mod:`atdata.network.guard`)."""

    def __init__(self, message: str, *, rule: str) -> None:
        self.rule = rule
        super().__init__(message)


class CodeReferenceError(AtdataError, ValueError):
    """A git reference to code (repository, commit, path) is malformed, or the file it names could
    not be fetched at that commit; the message names the repository, commit and path."""


class AuthError(AtdataError, PermissionError):
    """Signing in failed or no session is available. Never carries a password."""


class PublishError(AtdataError):
    """A record could not be published."""


class IntegrityError(AtdataError, ValueError):
    """Fetched content does not match the CID or hash it was promised under."""


class TrustError(AtdataError, PermissionError):
    """Content from an author outside the caller's trust policy was refused."""


class RowError(DatasetError):
    """A row of a table (a pandas DataFrame) does not fit the sample type it was written as.

    ``row`` is the row's index label, ``column`` the column at fault (None when the row as a whole
    is), ``value`` a short repr of the value.
    """

    def __init__(self, message: str, *, row: object, column: str | None, value: str) -> None:
        self.row = row
        self.column = column
        self.value = value
        super().__init__(message)


class LengthUnknownError(DatasetError, TypeError):
    """A dataset's length was asked for but some shard has no sidecar to count it."""


class LensCompositionError(LensError, TypeError):
    """Two lenses cannot be composed (or a lens cannot be defined) because their types do not line up."""


class AppviewError(NetworkError):
    """An appview answered a query with an error, or with a body outside the query's lexicon.

    ``endpoint`` is the full query URL; ``error`` the XRPC error name when the appview gave one.
    """

    def __init__(
        self, endpoint: str, message: str, *, status: int | None = None, error: str | None = None
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.error = error
        super().__init__(f"{endpoint}: {message}")


class NotFoundError(AppviewError, LookupError):
    """The appview has no record matching the query (XRPC error ``NotFound``)."""


class AmbiguousNameError(AppviewError, LookupError):
    """Several authors publish a name and none is trusted (XRPC error ``Ambiguous``)."""


class RecordNotFoundError(NetworkError, LookupError):
    """A record is not (or no longer) in its author's repository."""


class UntrustedLensPathError(LensPathError, TrustError):
    """A lens path needs a lens the strict trust policy refuses (lists the alternatives too)."""
