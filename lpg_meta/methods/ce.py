"""Cross-entropy: the reference every other method is compared with."""

from lpg_meta.methods.base import Method
from lpg_meta.registry import METHODS


@METHODS.register("ce")
class CrossEntropy(Method):
    """Plain cross-entropy training."""

