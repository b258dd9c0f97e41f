"""Networks built from a NetSpec: blocks and the builder."""

from scalesearch.models.build import ConvNet, build_model

__all__ = ["ConvNet", "build_model"]
