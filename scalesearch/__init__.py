"""scalesearch: EfficientNet-style compound model scaling for any convnet baseline.

The pure core: spec (NetSpec), scaling (multipliers and rounding), models (build),
measure (params, FLOPs, activations).  The edges: cli, search storage, report writers.

The public Python API (scalesearch/api.py) is re-exported here lazily, so that
`import scalesearch` stays cheap (no torch import) until a function is used:

    import scalesearch
    model = scalesearch.build_model("efficientnet-b0", phi=1, alpha=1.2, beta=1.1, gamma=1.15)
"""

__version__ = "0.2.0"

__all__ = ["Cost", "LoadedWeights", "NetSpec", "RunResults", "SearchSpace", "UserError", "build_model",
           "load_space", "measure", "read_compare", "read_family", "read_grid", "variant", "__version__"]


def __getattr__(name: str):
    if name in __all__:
        from scalesearch import api

        return getattr(api, name)
    raise AttributeError(f"module 'scalesearch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
