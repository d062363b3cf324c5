"""Map many products, one after another or on Spark, each into its own folder, and join the
maps into a STAC Collection and one VRT mosaic per CRS."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
