"""Custom Kedro datasets for what kedro-datasets has no dataset for.

Imported lazily, so using one dataset does not import the libraries of the others.
"""

from importlib import import_module

_WHERE = {
    "DownloadedArchiveDataset": "archive_datasets",
    "ArchiveSourceDataset": "archive_source_dataset",
    "ArrayBundleDataset": "array_bundle_dataset",
    "TorchModelDataset": "torch_model_dataset",
    "OnnxModelDataset": "onnx_model_dataset",
    "PyfuncModelDataset": "pyfunc_model_dataset",
    "ServedModelDataset": "served_model_dataset",
    "ImageFilesDataset": "image_files_dataset",
    "SparkImageFilesDataset": "spark_image_files_dataset",
    "SceneDataset": "scene_dataset",
    "GeoTiffDataset": "geotiff_dataset",
    "ProductListDataset": "product_list_dataset",
    "MapFoldersDataset": "map_folders_dataset",
    "LandUseSourceDataset": "landuse_source_dataset",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
