"""Custom Kedro datasets for what kedro-datasets has no dataset for."""

from .archive_datasets import DownloadedFileDataset, ExtractedArchiveDataset
from .array_bundle_dataset import ArrayBundleDataset

__all__ = ["ArrayBundleDataset", "DownloadedFileDataset", "ExtractedArchiveDataset"]
