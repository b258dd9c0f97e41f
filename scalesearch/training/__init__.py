"""Proxy training: data held in memory, the training loop, its budget, and the
torch.distributed launcher that runs the same loop in several processes."""
