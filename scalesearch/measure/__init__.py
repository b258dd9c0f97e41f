"""What a network costs: fvcore counts, the analytic twin's use, latency, and Variant —
a baseline at (d, w, r) and one input shape, built and measured.

The package is also the public `scalesearch.measure(model_or_spec, resolution)`: the
name is both this package and the API function, so the package is callable and a call
goes to `measure.of.measure` (params, FLOPs, activations; see there).
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    """`scalesearch.measure(...)` calls the API function; `scalesearch.measure.cost` stays a module."""

    def __call__(self, model_or_spec, resolution=None, in_channels=None):
        from scalesearch.measure.of import measure

        return measure(model_or_spec, resolution, in_channels)


sys.modules[__name__].__class__ = _CallablePackage
