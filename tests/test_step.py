"""training/step.py on the CPU: the eager step, the learning rate as a number or a device
tensor, and when a CUDA graph is (not) chosen.  The graph itself runs in tests/test_cuda.py."""

import pytest
import torch
from torch import nn

from scalesearch.training.step import EagerStep, make_step, set_learning_rate


def _net_and_optimizer(lr=0.1):
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    return net, torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True)


def test_on_a_cpu_the_step_is_eager_and_trains():
    net, optimizer = _net_and_optimizer()
    step = make_step(net, optimizer, torch.device("cpu"))
    assert type(step) is EagerStep and step.kind == "eager" and step.why == ""
    x, y = torch.randn(8, 3, 2, 2), torch.randint(0, 3, (8,))
    before = [p.detach().clone() for p in net.parameters()]
    losses = [float(step(x, y, lr=0.5)) for _ in range(20)]
    assert losses[-1] < losses[0]
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert optimizer.param_groups[0]["lr"] == 0.5


def test_a_zero_learning_rate_leaves_the_weights_alone():
    net, optimizer = _net_and_optimizer()
    step = make_step(net, optimizer, torch.device("cpu"))
    before = [p.detach().clone() for p in net.parameters()]
    step(torch.randn(4, 3, 2, 2), torch.randint(0, 3, (4,)), lr=0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_the_rate_is_written_into_a_tensor_where_the_optimizer_holds_one():
    _, optimizer = _net_and_optimizer()
    rate = torch.tensor(0.1)
    optimizer.param_groups[0]["lr"] = rate
    set_learning_rate(optimizer, 0.025)
    assert optimizer.param_groups[0]["lr"] is rate and float(rate) == pytest.approx(0.025)


def test_a_resumed_rate_tensor_becomes_a_number_again():
    net, optimizer = _net_and_optimizer()
    optimizer.param_groups[0]["lr"] = torch.tensor(0.3)  # as a checkpoint of a graphed run brings it back
    make_step(net, optimizer, torch.device("cpu"))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.3) and not isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)


def test_graphs_are_not_used_where_they_cannot_be():
    net, optimizer = _net_and_optimizer()
    assert make_step(net, optimizer, torch.device("cpu"), graphs=False).why == "graphs turned off"
    rmsprop = torch.optim.RMSprop(net.parameters(), lr=0.1)
    if torch.cuda.is_available():
        assert make_step(net, rmsprop, torch.device("cuda")).why == "RMSprop runs eagerly"
        assert make_step(net, optimizer, torch.device("cuda"), world=2).why == "DDP ranks run eagerly"
