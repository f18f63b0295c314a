"""Data sets: registry, offline loaders and per_class / fraction limiting into a `DataSplit`."""

from .registry import (DATASETS, FAMILIES, DatasetEntry, dataset_family, list_datasets, load_dataset,
                       network_images)
from .split import DataSplit

__all__ = ["DATASETS", "FAMILIES", "DataSplit", "DatasetEntry", "dataset_family", "list_datasets",
           "load_dataset", "network_images"]
