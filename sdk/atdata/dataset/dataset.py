"""``Dataset``: typed, streamed iteration over WebDataset shards of msgpack samples."""

from __future__ import annotations

import logging
import os
import random
import typing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, Literal, TypeVar, overload

from atdata.codec import decoder_for
from atdata.dataset.batch import Batch
from atdata.dataset.provenance import ATTR, Origin, carry
from atdata.errors import AtdataError, DatasetError, LengthUnknownError, LensExecutionError, ShardError
from atdata.shards.blobs import record_sidecars
from atdata.shards.reader import ReadAhead
from atdata.shards.reader import samples as shard_samples
from atdata.shards.shard_cache import DEFAULT_MAX_BYTES, ShardCache
from atdata.shards.sidecar import Sidecar, read_sidecar
from atdata.shards.streams import DEFAULT_TIMEOUT
from atdata.shards.urls import display, expand, scheme
from atdata.types.packable import is_packable

T = TypeVar("T")
log = logging.getLogger("atdata.dataset")

_DISPATCH_EVERY = 32
"""Samples decoded between two looks at a transform's workers (see ``_transformed_keyed``)."""

Transform = Callable[[list[Any], list[str]], list[Any]]
"""Samples of a source type and their keys in, samples of the target type out (same length)."""

Keyed = Iterator[tuple[str, Any]]


def check_iteration(*, batch_size: int | None, shuffle: bool, buffer: int) -> None:
    """Refuse iteration arguments no reader can honour (every kind of dataset checks the same way)."""
    if batch_size is not None and batch_size < 1:
        raise DatasetError(f"batch_size must be a positive int or None, not {batch_size!r}")
    if shuffle and buffer < 1:
        raise DatasetError(f"buffer must be positive, not {buffer!r}")


class Dataset(Generic[T]):
    """Samples of one type, read from WebDataset shards: ``Dataset[Frame]("out/frames-{0000..0009}.tar")``.

    ``urls`` is a shard URL or brace pattern (``::`` joins several), or a list of them: local paths,
    ``file://``, ``http(s)://`` or an object store through fsspec (``s3://``, ``gs://``, ``az://``,
    ``hf://``; streamed, never downloaded whole first); or the at-uri of a published dataset record
    (``dev.atdata.dataset``, or atdata 0.7's ``science.alt.dataset.entry``), read (CID-checked) from
    its author's PDS, which gives the shard URLs and the sample type (its schema, resolved like
    :func:`atdata.resolve`). Remote shards with a sidecar are kept on disk after their first read,
    verified against the sidecar's sha-256, so later epochs read them locally: ``cache_dir=`` says
    where (default ``$ATDATA_CACHE_DIR/shards``, bounded by ``ATDATA_SHARD_CACHE_BYTES``), ``False``
    turns it off (:mod:`atdata.shards.shard_cache`). Each sample is checked
    against the type while it is decoded; a bad sample raises :class:`~atdata.errors.ShardError`
    naming shard, key and field, or with ``on_error="skip"`` is logged and skipped; the same holds
    for a sample a lens fails on in a dataset made by :meth:`as_type` (with the default the error is
    raised once every earlier sample has been delivered). Shards with a
    sidecar (``<shard>.json``, written by :class:`~atdata.ShardWriter`) give ``len()`` and are checked
    against its sample count and sha-256 as they stream (raising
    :class:`~atdata.errors.ShardIntegrityError` once the shard has been read through); a local shard
    already verified and unchanged is not hashed again in the same process, and ``verify=False``
    turns the check off. Arrays come as read-only views over the decoded bytes (``.copy()`` one to
    change it); batches stack them into new, writable arrays.
    """

    def __init__(
        self,
        urls: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        sample_type: type[T] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        verify: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
    ) -> None:
        self.published: Any = None
        """For a dataset opened by its record's at-uri: the record (``atdata.resolve.PublishedDataset``)."""
        if isinstance(urls, str) and urls.startswith("at://"):
            from atdata.resolve import resolve_dataset

            self.published = resolve_dataset(urls)
            urls = self.published.urls
            sample_type = sample_type or self.published.sample_type
        named: str | list[str] = (
            os.fspath(urls) if isinstance(urls, (str, os.PathLike)) else [os.fspath(u) for u in urls]
        )
        self._urls = expand(named)
        for url in self._urls:
            scheme(url)
        if on_error not in ("raise", "skip"):
            raise DatasetError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        if sample_type is not None and not is_packable(sample_type):
            raise DatasetError(f"{sample_type!r} is not a sample type; decorate it with @atdata.packable")
        self._sample_type = sample_type
        self.on_error: Literal["raise", "skip"] = on_error
        self.verify = verify
        self.timeout = timeout
        self.cache: ShardCache | None = (
            None
            if cache_dir is False
            else ShardCache.default()
            if cache_dir is None
            else ShardCache(cache_dir, getattr(ShardCache.default(), "max_bytes", DEFAULT_MAX_BYTES))
        )
        """Where remote shards with sidecars are kept after their first read (None: nowhere)."""
        self._record_sha256: dict[str, str] = {}
        checksums = getattr(self.published, "metadata", {}).get("checksums") if self.published else None
        if isinstance(checksums, list) and len(checksums) == len(self._urls):
            from atdata.network.predecessor import expected_sha256

            for url, checksum in zip(self._urls, checksums):
                sha = expected_sha256(checksum)
                if sha is not None:
                    self._record_sha256[url] = sha
        self._sidecars: dict[str, Sidecar | None] = {}
        if self.published is not None:  # shards stored as blobs: count and size are in the record
            self._sidecars.update(record_sidecars(self.published.record, self._urls))
        self._source: Dataset[Any] | None = None
        self._transform: Transform | None = None
        self._chunk = 64
        self._lens_path: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        if sample_type is not None:
            self._check_stored_type(sample_type)

    def __class_getitem__(cls, params: Any) -> Any:
        # Dataset[Frame](...) passes Frame in as sample_type, so construction can check it against
        # the shards; a plain typing alias would only set it after __init__ returned.
        alias = super().__class_getitem__(params)  # type: ignore[misc]
        return _TypedAlias(alias.__origin__, alias.__args__)

    def _check_stored_type(self, sample_type: type) -> None:
        """Refuse a dataset whose first shard's sidecar names another stored type than ``sample_type``."""
        if not self._urls:
            return
        try:
            sidecar = self._sidecar(self._urls[0])
        except ShardError:
            return  # unreadable here; reading the shard reports it with its URL
        stored = sidecar.sample_type if sidecar is not None else None
        if stored is not None and stored != sample_type.__name__:
            raise DatasetError(
                f"{display(self._urls[0])} holds samples of type {stored}, but the dataset was opened "
                f"as {sample_type.__name__}; open it as Dataset[{stored}] and convert with "
                f".as_type({sample_type.__name__}) through a lens"
            )

    # --- what it is -----------------------------------------------------------------------

    @property
    def sample_type(self) -> type[T]:
        if self._sample_type is None:
            # Dataset[Frame](...) records Frame on the instance only after __init__ returns.
            args = typing.get_args(getattr(self, "__orig_class__", None))
            if args and is_packable(args[0]):
                self._sample_type = args[0]
            else:
                raise DatasetError(
                    "this Dataset has no sample type; open it as Dataset[MyType](urls) "
                    "or pass sample_type=MyType"
                )
        return self._sample_type

    @property
    def shards(self) -> list[str]:
        """The shard URLs, brace patterns expanded, in order."""
        return list(self._urls)

    def __repr__(self) -> str:
        try:
            name = self.sample_type.__name__
        except DatasetError:
            name = "?"
        first = display(self._urls[0])
        more = f" and {len(self._urls) - 1} more" if len(self._urls) > 1 else ""
        return f"Dataset[{name}]({first}{more})"

    def _sidecar(self, url: str) -> Sidecar | None:
        if self._source is not None:
            return self._source._sidecar(url)
        if url not in self._sidecars:
            self._sidecars[url] = read_sidecar(url, self.timeout)
        return self._sidecars[url]

    def __len__(self) -> int:
        """The number of samples, from the shards' sidecars."""
        total = 0
        for url in self._urls:
            sidecar = self._sidecar(url)
            if sidecar is None:
                raise LengthUnknownError(
                    f"the length of {self!r} is unknown: shard {display(url)} has no sidecar"
                )
            total += sidecar.samples
        return total

    # --- iteration --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[T]:
        return self._iterate(batch_size=None, shuffle=False)

    @overload
    def ordered(self, batch_size: None = None) -> Iterator[T]: ...
    @overload
    def ordered(self, batch_size: int) -> Iterator[Batch[T]]: ...
    def ordered(self, batch_size: int | None = None) -> Iterator[T] | Iterator[Batch[T]]:
        """Samples in shard order (or :class:`Batch` objects of ``batch_size``; the last may be short)."""
        return self._iterate(batch_size=batch_size, shuffle=False)

    @overload
    def shuffled(
        self, batch_size: None = None, *, seed: int | None = None, buffer: int = 1000
    ) -> Iterator[T]: ...
    @overload
    def shuffled(
        self, batch_size: int, *, seed: int | None = None, buffer: int = 1000
    ) -> Iterator[Batch[T]]: ...
    def shuffled(
        self, batch_size: int | None = None, *, seed: int | None = None, buffer: int = 1000
    ) -> Iterator[T] | Iterator[Batch[T]]:
        """Samples in random order: shards in a permutation, then through a ``buffer``-sample reservoir.

        The same ``seed`` gives the same order; None draws a fresh one.
        """
        return self._iterate(batch_size=batch_size, shuffle=True, seed=seed, buffer=buffer)

    def to_torch(
        self,
        batch_size: int | None = None,
        *,
        shuffle: bool = False,
        seed: int = 0,
        buffer: int = 1000,
        tensors: bool = False,
    ) -> Any:
        """A ``torch.utils.data.IterableDataset`` over this dataset (needs torch installed).

        Under a DataLoader with workers, and across ``torch.distributed`` ranks, each process reads
        its own share of the shards. Use it with ``DataLoader(..., batch_size=None)`` when batching
        here; call ``set_epoch(n)`` on it to reshuffle per epoch. With ``tensors=True`` it yields
        dicts of fields: arrays (stacked, in batches) and numbers as torch tensors, strings and other
        values as they are (a list of them in batches).
        """
        from atdata.dataset.torch_adapter import adapter

        return adapter(
            self, batch_size=batch_size, shuffle=shuffle, seed=seed, buffer=buffer, tensors=tensors
        )

    def _iterate(
        self,
        *,
        batch_size: int | None,
        shuffle: bool,
        seed: int | None = None,
        buffer: int = 1000,
        split: tuple[int, int] = (0, 1),
        epoch: int = 0,
    ) -> Iterator[Any]:
        check_iteration(batch_size=batch_size, shuffle=shuffle, buffer=buffer)
        sample_type = self.sample_type
        shards = list(self._urls)
        if split[1] > len(shards) and split[0] == 0:
            log.warning(
                "%r has %d shards for %d readers (nodes x workers): some readers get none; "
                "write more, smaller shards to use them all",
                self,
                len(shards),
                split[1],
            )
        keyed: Keyed
        if shuffle:
            base = random.randrange(2**63) if seed is None else seed
            # One permutation everywhere, so that split shares are disjoint across processes.
            random.Random(f"{base}/{epoch}").shuffle(shards)
            keyed = _reservoir(
                self._keyed(shards[split[0] :: split[1]]), buffer, random.Random(f"{base}/{epoch}/{split[0]}")
            )
        elif batch_size is None and self._source is None:
            # The plain case needs no keys: skipping the pairs saves a layer per sample.
            return self._decoded(shards[split[0] :: split[1]], keys=False)
        else:
            keyed = self._keyed(shards[split[0] :: split[1]])
        if batch_size is None:
            return (sample for _, sample in keyed)
        return _batches(keyed, batch_size, sample_type)

    def _keyed(self, shards: list[str]) -> Keyed:
        """``(key, sample)`` pairs from ``shards`` in order; the key names the sample in errors."""
        if self._source is not None:
            return self._transformed_keyed(self._source._keyed(shards))
        return self._decoded(shards)

    def _decoded(self, shards: list[str], keys: bool = True) -> Iterator[Any]:
        """``(key, sample)`` pairs, or samples alone when not ``keys``."""
        decode = decoder_for(self.sample_type)
        skip = self.on_error == "skip"
        published = self.published
        uri, cid = (published.uri, published.cid) if published is not None else (None, None)
        # Local shards are opened and hashed a little ahead of their turn (see ReadAhead).
        ahead = ReadAhead() if self.verify else None
        try:
            for i, url in enumerate(shards):
                if ahead is not None:
                    ahead.prepare(self._upcoming(shards[i : i + 1 + ReadAhead.AHEAD_SHARDS]))
                shown = display(url)
                origin = Origin(uri, cid, shown)
                try:
                    sidecar = self._sidecar(url) if self.verify else None
                    for key, body in shard_samples(
                        url,
                        sidecar,
                        verify=self.verify,
                        timeout=self.timeout,
                        cache=self.cache,
                        sha256=self._record_sha256.get(url),
                        ahead=ahead,
                    ):
                        if body is None:
                            error = ShardError("sample has no .msgpack member", url=shown, key=key)
                            if not skip:
                                raise error
                            log.warning("skipping sample: %s", error)
                            continue
                        try:
                            sample = decode(body, shown, key)
                        except ShardError as e:
                            if not skip:
                                raise
                            log.warning("skipping sample: %s", e)
                            continue
                        sample.__dict__[ATTR] = (origin, key)
                        yield (key, sample) if keys else sample
                except ShardError as e:
                    if not skip:
                        raise
                    log.warning("skipping the rest of the shard: %s", e)
        finally:
            if ahead is not None:
                ahead.close()

    def _upcoming(self, urls: list[str]) -> list[tuple[str, Sidecar | None, str | None]]:
        """The local shards among ``urls`` with what their bytes must hash to (sidecar, record)."""
        out: list[tuple[str, Sidecar | None, str | None]] = []
        for url in urls:
            if not ReadAhead.local(url):
                continue
            try:
                sidecar = self._sidecar(url)
            except AtdataError:
                continue  # reported when the shard's turn comes
            out.append((url, sidecar, self._record_sha256.get(url)))
        return out

    # --- derived datasets -------------------------------------------------------------------

    def as_type(self, target: type[Any], **kwargs: Any) -> Dataset[Any]:
        """This dataset read as ``target``, through the lens path found for it (see atdata.lenses)."""
        from atdata.lenses.coerce import coerce

        return coerce(self, target, **kwargs)  # type: ignore[no-any-return]

    def _transformed(
        self,
        sample_type: type[Any],
        transform: Transform,
        *,
        chunk: int = 64,
        on_error: Literal["raise", "skip"] | None = None,
        lens_path: tuple[str, ...] = (),
        lenses: tuple[str, ...] = (),
    ) -> Dataset[Any]:
        """A dataset of ``sample_type`` whose samples are ``transform(samples, keys)`` of this one's.

        The hook through which ``atdata.lenses.coerce`` plugs a compiled lens chain in. ``transform``
        gets up to ``chunk`` decoded samples with their keys and returns as many results, in order;
        shards, sidecars (so ``len()``), error handling and batching stay this dataset's.
        ``lens_path`` (lens names) and ``lenses`` (their at-uris, when published) extend each
        sample's :func:`atdata.provenance`.
        """
        if not is_packable(sample_type):
            raise DatasetError(f"{sample_type!r} is not a sample type; decorate it with @atdata.packable")
        derived: Dataset[Any] = Dataset.__new__(Dataset)
        derived.__dict__.update(self.__dict__)
        derived._sample_type = sample_type
        derived._source = self
        derived._transform = transform
        derived._chunk = max(1, chunk)
        derived._lens_path = (lens_path, lenses)
        if on_error is not None:
            if on_error not in ("raise", "skip"):
                raise DatasetError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
            derived.on_error = on_error
        derived._sidecars = {}
        return derived

    def _transformed_keyed(self, source: Keyed) -> Keyed:
        transform = self._transform
        assert transform is not None
        # A transform that runs in worker processes takes chunks ahead (``submit``), so that the
        # next chunks are decoded while the workers compute; answers are still taken in order.
        depth = getattr(transform, "depth", 0)
        submit = getattr(transform, "submit", None)
        # While a chunk is decoded, workers that have answered are handed the chunks waiting for
        # them (``dispatch``), instead of idling until the chunk is complete.
        dispatch = getattr(transform, "dispatch", None) if depth and submit is not None else None
        ahead: deque[tuple[list[Any], list[str], Callable[[], list[Any]]]] = deque()
        for batch, keys in self._chunks(source, dispatch):
            if not depth or submit is None:
                yield from self._apply(transform, batch, keys)
                continue
            ahead.append((batch, keys, submit(batch, keys)))
            if len(ahead) >= depth:
                yield from self._apply(transform, *ahead.popleft())
        while ahead:
            yield from self._apply(transform, *ahead.popleft())

    def _chunks(
        self, source: Keyed, dispatch: Callable[[], None] | None = None
    ) -> Iterator[tuple[list[Any], list[str]]]:
        keys: list[str] = []
        batch: list[Any] = []
        for key, sample in source:
            if dispatch is not None and keys and not len(keys) % _DISPATCH_EVERY:
                dispatch()
            keys.append(key)
            batch.append(sample)
            if len(batch) >= self._chunk:
                yield batch, keys
                keys, batch = [], []
        if batch:
            yield batch, keys

    def _apply(
        self,
        transform: Transform,
        batch: list[Any],
        keys: list[str],
        submitted: Callable[[], list[Any]] | None = None,
    ) -> Keyed:
        try:
            out = transform(batch, keys) if submitted is None else submitted()
        except LensExecutionError:
            # One sample failed somewhere in the chunk: redo it sample by sample, so every sample
            # before the failing one is delivered and on_error decides about the failing one.
            return self._apply_each(transform, batch, keys)
        if len(out) != len(batch):
            raise DatasetError(
                f"a transform into {self.sample_type.__name__} returned {len(out)} samples for {len(batch)}"
            )
        carry(batch, out, *self._lens_path)
        return zip(keys, out)

    def _apply_each(self, transform: Transform, batch: list[Any], keys: list[str]) -> Keyed:
        for sample, key in zip(batch, keys, strict=True):
            try:
                (out,) = transform([sample], [key])
            except LensExecutionError as e:
                if self.on_error != "skip":
                    raise
                log.warning("skipping sample %r: lens %s failed: %s", key, e.lens, e.reason)
                continue
            carry([sample], [out], *self._lens_path)
            yield key, out


class _TypedAlias(typing._GenericAlias, _root=True):  # type: ignore[call-arg,misc,name-defined]
    """``Dataset[T]`` that hands ``T`` to the constructor as ``sample_type``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        arg = self.__args__[0] if self.__args__ else None
        if kwargs.get("sample_type") is None and is_packable(arg):
            kwargs["sample_type"] = arg
        return super().__call__(*args, **kwargs)


def _reservoir(items: Keyed, size: int, rng: random.Random) -> Keyed:
    pool: list[tuple[str, Any]] = []
    for item in items:
        if len(pool) < size:
            pool.append(item)
            continue
        i = rng.randrange(size)
        out, pool[i] = pool[i], item
        yield out
    rng.shuffle(pool)
    yield from pool


def _batches(items: Keyed, size: int, sample_type: type[Any]) -> Iterator[Batch[Any]]:
    keys: list[str] = []
    samples: list[Any] = []
    for key, sample in items:
        keys.append(key)
        samples.append(sample)
        if len(samples) == size:
            yield Batch(sample_type, samples, keys)
            keys, samples = [], []
    if samples:
        yield Batch(sample_type, samples, keys)
