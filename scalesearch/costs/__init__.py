"""What a network costs: fvcore counts and their analytic twin (cost.py), latency
(latency.py), one meter over all of them (meter.py), landing a variant on a cost
(match.py, landing.py), Variant — a baseline at (d, w, r) and one input shape, built and
measured (variant.py) — and the memory guard (guard.py).

The public `scalesearch.measure(model_or_spec, resolution)` is the function in of.py.
"""
