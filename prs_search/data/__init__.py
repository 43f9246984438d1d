"""Datasets held as tensors, stratified subsets and device-resident batching.

Knows nothing about Ray, SQL or HTTP: `load_dataset` -> `make_splits` -> `DeviceLoader` is all a trial
needs. The names of the built-in datasets are `prs_search.dataset_registry`'s.
"""

from prs_search.data.datasets import ImageData, RawDataset, check_dataset_name, load_dataset, make_synthetic
from prs_search.data.loader import DeviceLoader, random_crop
from prs_search.data.splits import Splits, channel_stats, make_splits
from prs_search.data.subsets import stratified_split, stratified_subset

__all__ = [
    "DeviceLoader",
    "ImageData",
    "RawDataset",
    "Splits",
    "channel_stats",
    "check_dataset_name",
    "load_dataset",
    "make_splits",
    "make_synthetic",
    "random_crop",
    "stratified_split",
    "stratified_subset",
]
