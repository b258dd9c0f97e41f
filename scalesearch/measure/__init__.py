"""What a network costs: fvcore counts, the analytic twin's use, latency, and Variant —
a baseline at (d, w, r) and one input shape, built and measured."""
