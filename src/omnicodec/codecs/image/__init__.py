"""Image codecs."""

from .feds_student import FEDSStudent
from .feds_teacher import FEDSTeacher
from .hyperprior import HyperpriorImageCodec
from .s2lic import S2LIC, S2LICSmall

__all__ = ["FEDSStudent", "FEDSTeacher", "HyperpriorImageCodec", "S2LIC", "S2LICSmall"]
