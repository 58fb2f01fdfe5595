"""Datasets: typed iteration over shards, batches, and the PyTorch adapter."""

from atdata.dataset.batch import Batch
from atdata.dataset.dataset import Dataset, Transform

__all__ = ["Batch", "Dataset", "Transform"]
