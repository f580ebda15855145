"""Caffe's CPU random stream (torchcaffe.rng): boost's mt19937 and its distributions."""
import numpy as np
import torch

import torchcaffe as caffe
from tc_helpers import make_net
from torchcaffe import rng


def test_mt19937_is_boosts():
    # boost::mt19937 default-seeded (5489): first output, and the 10000th that the C++ standard names
    rng.seed(5489)
    draws = rng.raw(10000)
    assert draws[0] == 3499211612
    assert draws[-1] == 4123659995


def test_seed_is_taken_modulo_two_to_the_32():
    rng.seed(2 ** 32 + 7)
    a = rng.raw(5)
    rng.seed(7)
    np.testing.assert_array_equal(a, rng.raw(5))


def test_one_call_or_many_draw_the_same_values_and_leave_the_stream_alike():
    # the ziggurat and uniform_real take extra draws for rare values: the stream position must
    # come out the same however the values are asked for
    for draw in (lambda n: rng.gaussian(n, 0.5, 2.0), lambda n: rng.uniform(n, -1.0, 3.0)):
        rng.seed(11)
        whole, after_whole = draw(30000), rng.raw(3)
        rng.seed(11)
        parts, after_parts = np.concatenate([draw(n) for n in (1, 9999, 7, 19993)]), rng.raw(3)
        np.testing.assert_array_equal(whole, parts)
        np.testing.assert_array_equal(after_whole, after_parts)


def test_walk_in_chunks_is_the_walk_at_once():
    rng.seed(3)
    # one value in 50 is left to the one-by-one walk, which takes one more draw; one in 7 takes two
    # draws (the walk finishes it where its second draw lies past the array fast sees)
    def fast(u):
        code = np.where(u % 50 == 0, 0, np.where(u % 7 == 0, 2, 1)).astype(np.int8)
        code[-1:][code[-1:] == 2] = 0
        return u.astype(np.float32), code

    def slow(u, draw):
        second = draw()
        return np.float32(u) if u % 7 == 0 and u % 50 else np.float32(-second)
    at_once = rng._walk(5000, fast, slow, chunk=5000)
    rng.seed(3)
    np.testing.assert_array_equal(at_once, rng._walk(5000, fast, slow, chunk=64))


def test_vectorized_ziggurat_layers_are_the_one_by_one_walk():
    # the second stage of the ziggurat (y01 against the layer's bounds) done on whole arrays gives
    # the values and the stream position of boost's loop walked value by value
    def first_stage_only(u):
        values, code = rng._normal_fast(u)
        return values, np.where(np.abs(code) == 2, 0, code).astype(np.int8)
    rng.seed(17)
    want, after = rng._walk(200000, first_stage_only, rng._normal_slow), rng.raw(2)
    rng.seed(17)
    got = rng._walk(200000, rng._normal_fast, rng._normal_slow)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(rng.raw(2), after)
    assert (np.abs(rng._normal_fast(rng.raw(100000))[1]) == 2).sum() > 500    # the second stage is exercised


def test_gaussian_and_uniform_have_their_moments():
    rng.seed(1)
    g = rng.gaussian(400000, 1.0, 2.0)
    assert g.dtype == np.float32 and abs(g.mean() - 1.0) < 0.02 and abs(g.std() - 2.0) < 0.02
    assert np.abs(g - 1).max() > 8      # the ziggurat's tail (beyond 3.44 sigma) is reached
    u = rng.uniform(400000, -0.5, 0.5)
    assert u.min() >= -0.5 and u.max() <= 0.5 and abs(u.mean()) < 0.005


def test_bernoulli_compares_as_boost():
    rng.seed(9)
    u = rng.raw(1001)
    rng.seed(9)
    keep = rng.bernoulli(1000, 0.3)
    np.testing.assert_array_equal(keep, u[:1000].astype(np.float64) <= 0.3 * 4294967295.0)
    assert not rng.bernoulli(10, 0.0).any()     # p == 0 takes no draw
    assert rng.raw(1)[0] == u[1000]


def test_state_round_trip_and_set_random_seed():
    caffe.set_random_seed(21)
    state = rng.get_state()
    a = rng.raw(4)
    rng.set_state(state)
    np.testing.assert_array_equal(a, rng.raw(4))
    caffe.set_random_seed(21)
    np.testing.assert_array_equal(a, rng.raw(4))


def test_dropout_forward_on_cpu_draws_from_the_stream():
    net_text = ('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 4 } } }\n'
                'layer { name: "drop" type: "Dropout" bottom: "data" top: "out" dropout_param { dropout_ratio: 0.3 } }\n')
    caffe.set_random_seed(5)
    net = make_net(net_text, caffe.TRAIN)
    net.blobs['data'].data[...] = 1
    net.forward()
    caffe.set_random_seed(5)
    keep = rng.raw(24).astype(np.float64) <= (1 - float(np.float32(0.3))) * 4294967295.0
    np.testing.assert_array_equal(net.blobs['out'].data.ravel() != 0, keep)
    assert torch.is_tensor(rng.dropout_mask((2, 3), 0.5))
