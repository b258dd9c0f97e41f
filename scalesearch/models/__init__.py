"""Networks built from a NetSpec (the builder) and their analytic count."""

from scalesearch.models.build import ConvNet, build_model

__all__ = ["ConvNet", "build_model"]
