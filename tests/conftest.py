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


def _matlab_cell(values):
    """A 1×n MATLAB cell array as scipy.io writes one: an object array (empty cell: [])."""
    cell = np.empty((1, len(values)), dtype=object)
    for i, v in enumerate(values):
        cell[0, i] = np.zeros((0, 0)) if v is None else v
    return cell


def write_raster_session(directory, *, mouse, day, n_units, n_trials=60, probes=False,
                         silent_units=0, one_class=False, seed=0):
    """Write one session in the Berners-Lee layout with scipy.io.savemat directly.

    An independent writer for the loader's tests: not data_loaders' own
    writer. Units fire at 5 Hz, target trials at 25 Hz from 100 to 600 ms
    after onset (column 5001 is onset); ``silent_units`` more units fire one
    spike in all. Returns the list of (path, raster) written.
    """
    import scipy.io

    rng = np.random.default_rng([seed, day])
    if one_class:
        stim = ["target"] * n_trials
    else:
        stim = ["target", "nontarget"] * (n_trials // 2)
    if probes:
        stim = stim[:-6] + ["probes_comp_1", "probes_comp_2", "probes_comp_3"] * 2
    target = np.array([s == "target" or s.startswith("probes") for s in stim])
    choice = ["right" if t else "left" for t in target]
    licks_one = [np.array([[700.0 + 10 * i, 900.0]]) if t else None
                 for i, t in enumerate(target)]
    licks_two = [None if t else np.array([[800.0]]) for t in target]
    labels = {
        "stimulus_category_with_probes": _matlab_cell(stim),
        "correct_vs_error": _matlab_cell(["correct"] * (n_trials - 3) + ["error"] * 3),
        "lick_choice": _matlab_cell(choice),
        "all_licks_port_one": _matlab_cell(licks_one),
        "all_licks_port_two": _matlab_cell(licks_two),
        "mouse_name": mouse,
        "day_of_behavior": float(day),
    }
    folder = directory / ("probes" if probes else "training")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for u in range(n_units + silent_units):
        raster = (rng.random((n_trials, 17000)) < 0.005).astype(np.uint8)
        if u < n_units:
            boost = rng.random((n_trials, 500)) < 0.02 * (1 + (u % 3))
            raster[:, 5100:5600] |= (boost & target[:, None]).astype(np.uint8)
        else:
            raster[:] = 0
            raster[0, 12000] = 1
        path = folder / f"{mouse}_d{day:02d}_unit{u:02d}.mat"
        scipy.io.savemat(path, {"raster_data": raster, "raster_labels": labels},
                         oned_as="row")
        written.append((path, raster))
    return written


@pytest.fixture
def raster_writer():
    """The independent Berners-Lee writer (see :func:`write_raster_session`)."""
    return write_raster_session
