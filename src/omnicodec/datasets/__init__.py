"""Reading and writing media files."""

from .image_io import ImageInfo, read_image, write_image

__all__ = ["ImageInfo", "read_image", "write_image"]
