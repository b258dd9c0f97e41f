"""The analytic count every block kind adds its layers to: multiply-adds, params, activations.

- `macs`: multiply-adds of conv and linear layers (the paper's FLOPs);
- `params`: parameters (conv weights, the SE convs' biases, batch-norm scale and shift,
  the classifier's weight and bias);
- `activations`: output elements of conv and linear layers (fvcore's activation count).

Every conv uses 'same' padding (k // 2), so an output side is ceil(side / stride).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Complexity:
    macs: int = 0
    params: int = 0
    activations: int = 0

    def conv(self, side: int, cin: int, cout: int, kernel: int = 1, groups: int = 1, *,
             bn: bool = True, bias: bool = False) -> None:
        """A conv producing a side x side map (+ its batch norm, unless `bn` is False)."""
        self.macs += side * side * cout * (cin // groups) * kernel * kernel
        self.params += cout * (cin // groups) * kernel * kernel + (cout if bias else 0) + (2 * cout if bn else 0)
        self.activations += side * side * cout

    def __iadd__(self, other: "Complexity") -> "Complexity":
        self.macs += other.macs
        self.params += other.params
        self.activations += other.activations
        return self


def out_side(side: int, stride: int) -> int:
    return -(-side // stride)
