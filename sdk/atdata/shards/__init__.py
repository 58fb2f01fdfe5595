"""Shards: WebDataset tar files of msgpack samples, their sidecars, and the URLs that name them."""

from atdata.shards.reader import samples
from atdata.shards.sidecar import Sidecar, read_sidecar
from atdata.shards.urls import expand
from atdata.shards.writer import ShardWriter

__all__ = ["ShardWriter", "Sidecar", "expand", "read_sidecar", "samples"]
