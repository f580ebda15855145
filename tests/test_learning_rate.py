"""fcn.training.learning_rate (log.csv's lr column) against Caffe's SGDSolver::GetLearningRate."""
import math

import pytest

from backend import caffe
from fcn import training


def multistep(*stepvalue):
    return caffe.proto.caffe_pb2.SolverParameter(base_lr=1.0, gamma=0.1, lr_policy='multistep',
                                                 stepvalue=list(stepvalue))


def test_multistep_with_out_of_order_stepvalues_steps_as_caffe():
    # Caffe compares the iteration with stepvalue[current_step] only, one step at most per iteration:
    # with 6, 2, 9 the first step comes at 6, the second (2 is long past) at 7, the third at 9
    p = multistep(6, 2, 9)
    steps = [round(-math.log10(training.learning_rate(p, it))) for it in range(12)]
    assert steps == [0] * 6 + [1, 2, 2, 3, 3, 3]
    assert [round(-math.log10(training.learning_rate(multistep(3, 3), it))) for it in range(6)] == \
        [0, 0, 0, 1, 2, 2]


@pytest.mark.torchcaffe_only    # the engine's solver schedule, stepped as a solver steps it
def test_multistep_agrees_with_the_solvers_schedule():
    from torchcaffe.solver import learning_rate
    for values in ((6, 2, 9), (1, 1, 1), (5, 10, 3, 4), (0,), ()):
        p, current = multistep(*values), 0
        for it in range(16):
            rate, current = learning_rate(p, it, current)
            assert training.learning_rate(p, it) == pytest.approx(rate, rel=1e-12), (values, it)
