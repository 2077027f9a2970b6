"""Reading and writing media files, and local dataset folders."""

from .folders import image_folder, speech_folder, verify_sha256, video_sequences
from .image_io import ImageInfo, read_image, write_image

__all__ = ["ImageInfo", "image_folder", "read_image", "speech_folder", "verify_sha256", "video_sequences", "write_image"]
