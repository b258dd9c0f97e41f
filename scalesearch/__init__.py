"""scalesearch: EfficientNet-style compound model scaling for any convnet baseline.

The pure core: spec (NetSpec), scaling (multipliers and rounding), models (build),
measure (params, FLOPs, activations).  The edges: cli, search storage, report writers.
"""

__version__ = "0.2.0"
