import numpy as np
import pytest

from data_loaders.synthetic import make_overtraining_dataset


@pytest.fixture(scope="session")
def small_tree():
    """One mouse, 2 training + 3 overtraining days, 80 trials a session."""
    return make_overtraining_dataset(n_mice=1, n_training_days=2, n_overtraining_days=3,
                                     units_per_session=(5, 8), trials_per_session=80, seed=7)


@pytest.fixture(scope="session")
def study_tree():
    """Two mice with the study's day structure (8 + 18 days)."""
    return make_overtraining_dataset(n_mice=2, seed=11)


@pytest.fixture
def session(small_tree):
    from neurolearn.schema import iter_sessions

    return next(iter_sessions(small_tree))[1]


@pytest.fixture
def rng():
    return np.random.default_rng(0)
