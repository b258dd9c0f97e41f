"""What a block is: each kind's module, analytic count, block-string keys and width rule,
registered by name (registry.py); the layers they share (layers.py) and the count they add
to (count.py).  Importing the package registers the built-in kinds, in this order.
"""

from scalesearch.blocks import mbconv  # noqa: F401  (registers mb, ir)
from scalesearch.blocks import separable  # noqa: F401  (registers ds)
from scalesearch.blocks import resnet  # noqa: F401  (registers basic, bottleneck)
from scalesearch.blocks.registry import BLOCKS, BlockKind, block_names, register_block

__all__ = ["BLOCKS", "BlockKind", "block_names", "register_block"]
