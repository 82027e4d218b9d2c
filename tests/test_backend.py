import array_api_strict as xps
import numpy as np
import pytest

from neurolearn.backend import get_namespace, make_rng, namespace_for_device, to_device, to_numpy


def test_strict_round_trip():
    x = to_device(np.arange(6.0).reshape(2, 3), xps)
    assert get_namespace(x) is xps
    np.testing.assert_array_equal(to_numpy(x), np.arange(6.0).reshape(2, 3))


def test_numpy_namespace():
    xp = namespace_for_device("cpu")
    assert get_namespace(np.ones(2)).__name__ == xp.__name__
    with pytest.raises(ValueError, match="`device` must be 'cpu' or 'cuda'"):
        namespace_for_device("tpu")


def test_rng_needs_a_seed():
    assert make_rng(3).integers(100) == np.random.default_rng(3).integers(100)
    g = np.random.default_rng(1)
    assert make_rng(g) is g
    with pytest.raises(ValueError, match="explicit integer `seed`"):
        make_rng(None)


@pytest.mark.gpu
def test_cupy_device():
    cp = pytest.importorskip("cupy")
    x = to_device(np.ones(3), "cuda")
    assert isinstance(x, cp.ndarray)
    np.testing.assert_array_equal(to_numpy(x), np.ones(3))
