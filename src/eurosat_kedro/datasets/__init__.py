"""Custom Kedro datasets for what kedro-datasets has no dataset for."""

from .archive_datasets import DownloadedFileDataset, ExtractedArchiveDataset
from .array_bundle_dataset import ArrayBundleDataset
from .torch_model_dataset import TorchModelDataset

__all__ = ["ArrayBundleDataset", "DownloadedFileDataset", "ExtractedArchiveDataset", "TorchModelDataset"]
