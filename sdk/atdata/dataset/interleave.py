"""``atdata.interleave``: several datasets of one sample type read as one ``Dataset``.

The sources are datasets already read as the target type (``Dataset.as_type``), or
:class:`atdata.sources.Source` entries from :func:`atdata.find_datasets`, opened here through the
lens path each names, run in the isolation its trust calls for.

Shards of all sources form one list, taken round-robin from the sources so that every reader
gets a fair share of each. Under DataLoader workers and ``torch.distributed`` ranks the list (the
same permutation everywhere when shuffled, from the seed and the epoch) is split round-robin into
slots, so nothing is read twice. Each slot then mixes the samples of its shards:

- without weights, every sample of every source exactly once per epoch: ``ordered`` takes one
  sample from each source in turn, ``shuffled`` draws the next source at random in proportion to
  what it has left, then passes the stream through the shuffle buffer;
- with weights, each next sample comes from a source drawn with probability proportional to its
  weight (a source that runs out starts over), for as many samples as the slot's shards hold
  (``len``), so the mix matches the weights in expectation whatever the sources' sizes.

A source that fails (its lens path cannot be built, a shard cannot be read, its lens raises)
follows ``on_error``: ``"raise"`` raises :class:`~atdata.errors.SourceError` naming the source;
``"skip"`` logs the reason and goes on with the others.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from atdata.dataset.dataset import Dataset, Keyed, _batches, _reservoir, check_iteration
from atdata.errors import AtdataError, DatasetError, LengthUnknownError, SourceError
from atdata.shards.urls import display
from atdata.types.packable import spec_of

log = logging.getLogger("atdata.interleave")

OnError = Literal["raise", "skip"]

_BLOCK = 256
"""Sources drawn per call into the random generator."""


@dataclass
class _Member:
    """One source as opened: a dataset of the target type, a label for messages, its weight."""

    label: str
    dataset: Dataset[Any]
    weight: float


def interleave(
    sources: Sequence[Any],
    weights: Sequence[float] | None = None,
    seed: int = 0,
    *,
    on_error: OnError = "raise",
) -> Interleaved:
    """One ``Dataset`` reading every source (see the module docstring).

    ``sources``: :class:`atdata.sources.Source` entries (from :func:`atdata.find_datasets`) or
    datasets of one sample type. ``weights``: one non-negative number per source, or None for
    each sample exactly once. ``seed`` fixes the mixing (``shuffled(seed=...)`` still picks the
    shuffle). ``on_error``: what a failing source does, ``"raise"`` or ``"skip"``.
    """
    if on_error not in ("raise", "skip"):
        raise DatasetError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if not sources:
        raise DatasetError("interleave needs at least one source")
    if weights is not None:
        weights = [float(w) for w in weights]
        if len(weights) != len(sources):
            raise DatasetError(f"interleave got {len(weights)} weights for {len(sources)} sources")
        if any(not w >= 0 for w in weights) or not any(w > 0 for w in weights):
            raise DatasetError(f"weights must be non-negative numbers, not all zero: {weights}")
    members: list[_Member] = []
    for i, source in enumerate(sources):
        label = _label(source, i)
        try:
            dataset = source if isinstance(source, Dataset) else source.open()
        except AtdataError as e:
            if on_error == "raise":
                raise SourceError(label, e) from e
            log.warning("interleave: skipping source %s: %s", label, e)
            continue
        members.append(_Member(label, dataset, weights[i] if weights is not None else 1.0))
    if not members:
        raise DatasetError("interleave: every source failed (see the log for each reason)")
    return Interleaved(members, weighted=weights is not None, seed=seed, on_error=on_error)


def _label(source: Any, index: int) -> str:
    if isinstance(source, Dataset):
        published = source.published
        return published.uri if published is not None else f"#{index} {source!r}"
    return str(getattr(source, "label", None) or f"#{index} {source!r}")


class Interleaved(Dataset[Any]):
    """The dataset :func:`interleave` returns: a ``Dataset`` of the sources' common sample type."""

    def __init__(self, members: list[_Member], *, weighted: bool, seed: int, on_error: OnError) -> None:
        first = members[0].dataset.sample_type
        for m in members[1:]:
            other = m.dataset.sample_type
            if other is not first and spec_of(other) != spec_of(first):
                raise DatasetError(
                    f"interleave: source {m.label} holds {other.__name__}, not {first.__name__}; "
                    f"read it as_type({first.__name__}) first"
                )
        self.published = None
        self._members = members
        self._weighted = weighted
        self._seed = seed
        self._interleave_on_error: OnError = on_error
        self._sample_type = first
        self.on_error = on_error
        self.verify = True
        self.timeout = members[0].dataset.timeout
        self._sidecars = {}
        self._source = None
        self._transform = None
        self._chunk = 64
        self._lens_path = ((), ())
        self._shards = _round_robin([[(i, u) for u in m.dataset.shards] for i, m in enumerate(members)])
        self._urls = [u for _, u in self._shards]

    @property
    def sources(self) -> list[tuple[str, Dataset[Any]]]:
        """``(label, dataset)`` of each source that opened, in order."""
        return [(m.label, m.dataset) for m in self._members]

    def __repr__(self) -> str:
        names = ", ".join(m.label for m in self._members)
        return f"interleave[{self.sample_type.__name__}]({names})"

    def __len__(self) -> int:
        """Samples per epoch: the sum over the sources (from their shards' sidecars)."""
        return sum(len(m.dataset) for m in self._members)

    def as_type(self, target: type[Any], **kwargs: Any) -> Dataset[Any]:
        """Every source read as ``target``, interleaved the same way."""
        members = [_Member(m.label, m.dataset.as_type(target, **kwargs), m.weight) for m in self._members]
        return Interleaved(
            members, weighted=self._weighted, seed=self._seed, on_error=self._interleave_on_error
        )

    def _transformed(self, *args: Any, **kwargs: Any) -> Dataset[Any]:
        raise DatasetError("an interleaved dataset is transformed source by source: use as_type")

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
        shards = list(self._shards)
        if split[1] > len(shards) and split[0] == 0:
            log.warning(
                "%r has %d shards for %d readers (nodes x workers): some readers get none",
                self,
                len(shards),
                split[1],
            )
        base = (random.randrange(2**63) if seed is None else seed) if shuffle else self._seed
        if shuffle:
            # One permutation everywhere, so that split shares are disjoint across processes.
            random.Random(f"{base}/{epoch}").shuffle(shards)
        mine = shards[split[0] :: split[1]]
        per_member = [[u for j, u in mine if j == i] for i in range(len(self._members))]
        rng = random.Random(f"{base}/{self._seed}/{epoch}/{split[0]}")
        keyed: Keyed
        if self._weighted:
            keyed = self._weighted_mix(per_member, rng, shuffle)
        else:
            keyed = self._each_once(per_member, rng, shuffle)
        if shuffle:
            keyed = _reservoir(keyed, buffer, rng)
        if batch_size is None:
            return (sample for _, sample in keyed)
        return _batches(keyed, batch_size, self.sample_type)

    # --- mixing --------------------------------------------------------------------------------

    def _stream(self, index: int, shards: list[str], failed: set[int] | None = None) -> Keyed:
        """The ``(key, sample)`` pairs of one source's ``shards``, errors named after the source.

        A skipped source is added to ``failed``."""
        member = self._members[index]
        try:
            # Delegating with yield from keeps the per-sample cost of this layer near nothing.
            yield from member.dataset._keyed(shards)
        except AtdataError as e:
            if self._interleave_on_error == "raise":
                raise SourceError(member.label, e) from e
            log.warning("interleave: skipping the rest of source %s: %s", member.label, e)
            if failed is not None:
                failed.add(index)

    def _each_once(self, per_member: list[list[str]], rng: random.Random, shuffle: bool) -> Keyed:
        live = [(i, self._stream(i, s)) for i, s in enumerate(per_member) if s]
        if not shuffle:
            streams = [stream for _, stream in live]
            while streams:
                ended: list[int] = []
                for n, stream in enumerate(streams):
                    item = next(stream, None)
                    if item is None:
                        ended.append(n)
                    else:
                        yield item
                if ended:  # drop the sources that ran out, keeping the others' turns in order
                    streams = [st for n, st in enumerate(streams) if n not in ended]
            return
        left = [self._remaining(i, per_member[i]) for i, _ in live]
        while live:
            # Draws come in blocks (one call per block is far cheaper than one per sample); the
            # weights, what each source has left, are updated between blocks.
            for k in rng.choices(range(len(live)), weights=left, k=_BLOCK):
                item = next(live[k][1], None)
                if item is None:
                    del live[k], left[k]
                    break
                left[k] = max(left[k] - 1, 1)
                yield item

    def _remaining(self, index: int, shards: list[str]) -> int:
        """Samples in a source's share of the shards (1 per shard when unknown, to keep it drawn)."""
        total = 0
        for url in shards:
            sidecar = self._members[index].dataset._sidecar(url)
            total += sidecar.samples if sidecar is not None else 1
        return max(total, 1)

    def _weighted_mix(self, per_member: list[list[str]], rng: random.Random, shuffle: bool) -> Keyed:
        live = [i for i, s in enumerate(per_member) if s and self._members[i].weight > 0]
        missing = [self._members[i].label for i, s in enumerate(per_member) if not s]
        if missing:
            log.warning("interleave: this reader has no shard of %s; the mix leaves them out", missing)
        try:
            total: int | None = sum(self._remaining_known(i, s) for i, s in enumerate(per_member) if s)
        except LengthUnknownError:
            total = None  # then the epoch ends when a source first runs out
        failed: set[int] = set()
        streams = {i: self._stream(i, per_member[i], failed) for i in live}
        emitted = 0
        while live and (total is None or emitted < total):
            for k in rng.choices(live, weights=[self._members[i].weight for i in live], k=_BLOCK):
                item = next(streams[k], None)
                if item is None:
                    if k in failed:
                        live.remove(k)
                        break
                    if total is None:
                        return
                    # Start this source over (shuffled: its shards in another order).
                    shards = list(per_member[k])
                    if shuffle:
                        rng.shuffle(shards)
                    streams[k] = self._stream(k, shards, failed)
                    item = next(streams[k], None)
                    if item is None:  # nothing readable in it (or skipped after an error)
                        live.remove(k)
                        break
                emitted += 1
                yield item
                if total is not None and emitted >= total:
                    return

    def _remaining_known(self, index: int, shards: list[str]) -> int:
        total = 0
        for url in shards:
            sidecar = self._members[index].dataset._sidecar(url)
            if sidecar is None:
                raise LengthUnknownError(f"shard {display(url)} has no sidecar")
            total += sidecar.samples
        return total


def _round_robin(lists: list[list[tuple[int, str]]]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out
