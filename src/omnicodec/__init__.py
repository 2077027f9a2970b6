"""omnicodec: learned compression of images, video and speech with real bitstreams.

Importing the package is cheap; ``compress_file`` and ``decompress_file`` load torch
and the codecs on first use, so ``omnicodec.coding`` stays usable without torch.
"""

__version__ = "0.9.0"


def compress_file(*args, **kwargs):
    """See :func:`omnicodec.api.compress_file`."""
    from .api import compress_file as impl

    return impl(*args, **kwargs)


def decompress_file(*args, **kwargs):
    """See :func:`omnicodec.api.decompress_file`."""
    from .api import decompress_file as impl

    return impl(*args, **kwargs)


__all__ = ["__version__", "compress_file", "decompress_file"]
