"""``Dataset.as_type``: read a dataset as another sample type through a lens chain."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from atdata.config import how_to_set, settings
from atdata.errors import AppviewError, LensCompositionError, LensPathError, NetworkError
from atdata.lenses.lens import Lens
from atdata.lenses.registry import LensRegistry, default_registry
from atdata.trust import TrustPolicy, current_policy

log = logging.getLogger(__name__)

CHUNK = 256
"""Samples per call into a lens chain: large enough that a sandbox worker's round trip (about 4 MB
of 64x64 float32 images) is amortized, small enough to keep memory and latency low."""


def coerce(
    dataset: Any,
    target: type[Any],
    *,
    lens: Lens[Any, Any] | None = None,
    trust: TrustPolicy | None = None,
    lenses: LensRegistry | None = None,
    chunk: int = CHUNK,
    on_error: Literal["raise", "skip"] | None = None,
) -> Any:
    """``dataset`` as a dataset of ``target``.

    The chain is ``lens`` when given, else the best path in the lens registry (the process-wide
    one unless ``lenses=`` names another), else a path of lenses published on the network
    (:mod:`atdata.lenses.remote`: found by the appview when one is configured and up, else over
    the trusted authors' repositories), run as the trust policy says (``trust``
    overrides the configured :class:`atdata.trust.TrustPolicy` for this call). It is compiled once
    and applied to ``chunk`` samples at a time; each output is validated into ``target``, and
    batching then stacks the new samples as usual. A sample the chain fails on follows ``on_error``
    (default: the dataset's): "skip" logs its key, the lens and the reason and goes on; "raise"
    raises :class:`~atdata.errors.LensExecutionError` after every earlier sample. Raises
    :class:`~atdata.errors.LensPathError` when no chain exists, listing the types that are reachable.
    """
    source = dataset.sample_type
    if lens is None:
        policy = current_policy(trust)
        try:
            # Local lenses are the caller's own code: trust decides nothing here but the hop limit.
            lens = (lenses or default_registry).path(source, target, policy.lens_filter(trusted_only=False))
        except LensPathError as e:
            if lenses is not None:
                raise
            if not settings().appview and not policy.authors:
                raise LensPathError(
                    f"{e.args[0].splitlines()[0]}; to search lenses published on the network, "
                    f"configure an appview ({how_to_set('appview')}) or trust authors whose "
                    "repositories to search (atdata trust add HANDLE)",
                    reachable=e.reachable,
                ) from None
            published = getattr(dataset, "published", None)
            lens = _network_lens(source, target, policy, published.schema if published is not None else None)
    elif lens.source is not source or lens.target is not target:
        raise LensCompositionError(
            f"lens {lens.name} maps {lens.source.__name__} -> {lens.target.__name__}, "
            f"but the dataset holds {source.__name__} and {target.__name__} was asked for"
        )
    if lens.steps == 0:
        return dataset
    return dataset._transformed(
        target, LensTransform(lens), chunk=chunk, on_error=on_error, lens_path=lens.step_names
    )


class LensTransform:
    """A lens as a dataset's transform: ``lens.get_many``, and ``submit`` to read ahead of it.

    ``depth`` is how many chunks the dataset keeps in flight through :meth:`submit` (0: none, the
    chain runs nothing in worker processes), so shards are decoded while the workers compute.
    """

    def __init__(self, lens: Lens[Any, Any]) -> None:
        self.lens = lens

    @property
    def depth(self) -> int:
        return self.lens.pipeline_depth

    def __call__(self, samples: list[Any], keys: list[str]) -> list[Any]:
        return self.lens.get_many(samples, keys)

    def submit(self, samples: list[Any], keys: list[str]) -> Callable[[], list[Any]]:
        return self.lens.submit_many(samples, keys)

    def dispatch(self) -> None:
        """Hand chunks waiting for a worker to the workers that have answered (never waits)."""
        self.lens._chain().dispatch()


def _network_lens(
    source: type, target: type, policy: TrustPolicy, source_ref: dict[str, str] | None
) -> Lens[Any, Any]:
    """A published lens path: the appview's when one is configured and up, else the trusted repos'."""
    from atdata.sandbox.checker import prestart

    prestart()  # the lenses' code is checked in a child: let it start up while this process works
    from atdata.lenses.remote import remote_lens, repo_lens

    url = settings().appview
    if url:
        try:
            return remote_lens(source, target, policy=policy, source_ref=source_ref)
        except NetworkError as e:
            if isinstance(e, AppviewError) and (e.status is None or e.status < 500):
                raise
            log.warning("the appview %s is unavailable (%s); searching trusted authors' repositories", url, e)
    return repo_lens(source, target, policy=policy, source_ref=source_ref)
