"""Readers of continuous recordings aligned by an events table, and general NDT rasters.

Every fixture is written in the format's documented layout with numpy, h5py,
scipy or pynwb (the format's own library where it is on PyPI); the expected
responses are computed here by a plain per-trial loop, never by the reader.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.io as sio

from data_loaders import (
    detect_format,
    from_pynapple,
    load,
    load_caiman,
    load_ndt,
    load_phy,
    load_suite2p,
    read_events,
)
from data_loaders.events import spike_responses, trace_responses
from neurolearn.errors import EventOutsideRecordingError, LoaderError
from neurolearn.schema import iter_sessions

FS = 10.0  # imaging frame rate (Hz)


def _events(n=24, start=5.0, every=4.0, session=None, **extra):
    table = pd.DataFrame({"time": start + every * np.arange(n),
                          "stimulus": np.where(np.arange(n) % 2, "B", "A"),
                          "label": (np.arange(n) % 2 == 0).astype(int), **extra})
    if session is not None:
        table.insert(0, "session", session)
    return table


def _window_mean(trace, times, onset, window):
    inside = (times >= onset + window[0]) & (times < onset + window[1])
    return trace[inside].mean()


def _write_suite2p_plane(folder, rng, n_rois=6, n_frames=1200, fs=FS):
    folder.mkdir(parents=True)
    F = rng.uniform(200, 400, (n_rois, n_frames)).astype(np.float32)
    Fneu = rng.uniform(50, 100, (n_rois, n_frames)).astype(np.float32)
    spks = rng.exponential(1.0, (n_rois, n_frames)).astype(np.float32)
    iscell = np.column_stack([np.arange(n_rois) % 3 != 2, np.linspace(0.2, 0.95, n_rois)])
    stat = np.array([{"med": [10 * i, 20 * i], "npix": 50} for i in range(n_rois)],
                    dtype=object)
    np.save(folder / "F.npy", F)
    np.save(folder / "Fneu.npy", Fneu)
    np.save(folder / "spks.npy", spks)
    np.save(folder / "iscell.npy", iscell)
    np.save(folder / "stat.npy", stat, allow_pickle=True)
    np.save(folder / "ops.npy", np.array({"fs": fs, "nplanes": 1}, dtype=object),
            allow_pickle=True)
    return F, Fneu, spks, iscell


def test_events_table_csv_tsv_and_errors(tmp_path):
    table = _events(4, session="s1", mouse="m", day=3)
    table.to_csv(tmp_path / "e.csv", index=False)
    table.to_csv(tmp_path / "e.tsv", index=False, sep="\t")
    for name in ("e.csv", "e.tsv"):
        back = read_events(tmp_path / name)
        assert back["time"].tolist() == table["time"].tolist()
        assert back["label"].dtype == np.int64 and back["session"].tolist() == ["s1"] * 4
    with pytest.raises(LoaderError, match="missing column"):
        read_events(table.drop(columns="label"))
    with pytest.raises(LoaderError, match=r"`label` must be numeric.*map names first"):
        read_events(table.assign(label=["target", "nontarget"] * 2))
    with pytest.raises(LoaderError, match="`label` must hold integers"):
        read_events(table.assign(label=[0.5, 1, 0, 1]))
    with pytest.raises(LoaderError, match="not found"):
        read_events(tmp_path / "none.csv")


def test_trace_and_spike_responses_match_a_loop(rng):
    times = np.arange(2000) / FS
    traces = rng.normal(size=(3, times.size))
    onsets = rng.uniform(5, 180, 15)
    out = trace_responses(traces, times, onsets, window=(0.2, 1.3), baseline=(-0.5, 0.0))
    expected = np.array([[_window_mean(tr, times, t, (0.2, 1.3))
                          - _window_mean(tr, times, t, (-0.5, 0.0)) for tr in traces]
                         for t in onsets])
    np.testing.assert_allclose(out["rates"], expected, rtol=1e-12, atol=1e-12)
    binned = trace_responses(traces, times, onsets, window=(0.0, 1.0), bin_size=0.5)
    assert binned["binned"].shape == (15, 3, 2)
    np.testing.assert_allclose(binned["binned"][:, :, 1],
                               [[_window_mean(tr, times, t, (0.5, 1.0)) for tr in traces]
                                for t in onsets])
    spikes = [np.sort(rng.uniform(0, 200, 500)) for _ in range(4)]
    sp = spike_responses(spikes, onsets, window=(0.1, 0.6), bin_size=0.25)
    counts = np.array([[np.sum((s >= t + 0.1) & (s < t + 0.6)) for s in spikes] for t in onsets])
    np.testing.assert_allclose(sp["rates"], counts / 0.5)
    np.testing.assert_array_equal(sp["binned"].sum(axis=2), counts)


def test_a_subject_without_days_loads_and_decodes(tmp_path, rng):
    from neurolearn import decode

    _write_suite2p_plane(tmp_path / "K-s1" / "suite2p" / "plane0", rng)
    events = _events(subject="monkey-K")  # no mouse, no day, no phase
    tree = load_suite2p(tmp_path / "K-s1" / "suite2p", events)
    (path, ds), = iter_sessions(tree)
    assert path == "/monkey-K/K-s1" and "subject" in ds.coords
    assert not {"mouse", "day", "phase"} & set(ds.coords)
    out = decode(tree, n_permutations=10, progress=False)
    assert "subject" in out.coords and "mouse" not in out.coords and "day" not in out.coords


def test_events_outside_the_recording_raise_a_typed_error(rng):
    times = np.arange(100) / FS  # 10 s
    with pytest.raises(EventOutsideRecordingError, match=r"session 's9': event 1 \(onset 9.5"):
        trace_responses(rng.normal(size=(2, 100)), times, [2.0, 9.5], window=(0, 1),
                        session="s9")
    with pytest.raises(EventOutsideRecordingError, match="baseline window"):
        spike_responses([[0.5, 9.0]], [0.2], window=(0.1, 0.3), baseline=(-0.5, 0.0),
                        session="s9")


@pytest.mark.parametrize("signal", ["dff", "spks"])
def test_suite2p_single_plane(tmp_path, rng, signal):
    F, Fneu, spks, iscell = _write_suite2p_plane(tmp_path / "m1-d03" / "suite2p" / "plane0",
                                                 rng)
    events = _events(mouse="m1", day=3)
    tree = load_suite2p(tmp_path / "m1-d03" / "suite2p", events, signal=signal, zscore=False)
    (path, ds), = iter_sessions(tree)
    assert path == "/m1/m1-d03"
    cells = np.flatnonzero(iscell[:, 0] > 0.5)
    assert ds["roi"].values.tolist() == cells.tolist()
    times = np.arange(F.shape[1]) / FS
    if signal == "dff":
        fc = F[cells].astype(float) - 0.7 * Fneu[cells].astype(float)
        f0 = np.percentile(fc, 8, axis=1)
        traces = (fc - f0[:, None]) / f0[:, None]
        assert ds["rates"].attrs["units"] == "dF/F"
    else:
        traces = spks[cells].astype(float)
    expected = np.array([[_window_mean(tr, times, t, (0.0, 1.0)) for tr in traces]
                         for t in events["time"]])
    np.testing.assert_allclose(ds["rates"].values, expected, rtol=1e-10)
    assert ds.attrs["rejected_by_iscell"] == int((iscell[:, 0] <= 0.5).sum())
    assert ds.attrs["frame_rate_hz"] == FS
    np.testing.assert_array_equal(ds["x_px"].values, [20 * i for i in cells])
    # A probability threshold instead of Suite2p's own choice.
    tree = load_suite2p(tmp_path / "m1-d03" / "suite2p", events, iscell_threshold=0.6)
    assert next(iter_sessions(tree))[1]["roi"].values.tolist() == \
        np.flatnonzero(iscell[:, 1] >= 0.6).tolist()


def test_suite2p_multi_plane_and_study_folder(tmp_path, rng):
    for session in ("A-d01", "A-d02"):
        for plane in (0, 1):
            _write_suite2p_plane(tmp_path / session / "suite2p" / f"plane{plane}", rng,
                                 n_rois=4)
    events = pd.concat([_events(session=s, mouse="A", day=d)
                        for d, s in ((1, "A-d01"), (2, "A-d02"))])
    assert detect_format(tmp_path) == "suite2p"
    tree = load(tmp_path, events=events)
    sessions = dict(iter_sessions(tree))
    assert sorted(sessions) == ["/A/A-d01", "/A/A-d02"]
    ds = sessions["/A/A-d02"]
    assert sorted(set(ds["plane"].values)) == ["plane0", "plane1"]
    assert int(ds["day"].values[0]) == 2 and ds.attrs["n_planes"] == 2
    assert abs(float(ds["rates"].mean())) < 1e-12  # z-scored by default


def test_suite2p_errors(tmp_path, rng):
    folder = tmp_path / "s" / "suite2p" / "plane0"
    _write_suite2p_plane(folder, rng)
    with pytest.raises(LoaderError, match="pass `events=`"):
        load_suite2p(tmp_path / "s")
    with pytest.raises(LoaderError, match="no rows for session 's'"):
        load_suite2p(tmp_path / "s", _events(session="other", mouse="m", day=1))
    with pytest.raises(LoaderError, match="pass `mouse=`"):
        load_suite2p(tmp_path / "s", _events(day=1))
    with pytest.raises(EventOutsideRecordingError, match="session 's'"):
        load_suite2p(tmp_path / "s", _events(n=40, every=4.0, mouse="m", day=1))
    (folder / "iscell.npy").unlink()
    with pytest.raises(LoaderError, match="missing Suite2p file"):
        load_suite2p(tmp_path / "s", _events(mouse="m", day=1))


def _write_caiman(path, rng, n=5, T=1500, fr=FS, evaluated=True, with_dff=True):
    import h5py

    C = rng.normal(size=(n, T))
    with h5py.File(path, "w") as f:
        # CaImAn's save_dict_to_hdf5 layout: nested groups, None as "NoneType".
        f["estimates/C"] = C
        f["estimates/S"] = np.abs(C)
        f["estimates/F_dff"] = C / 10 if with_dff else "NoneType"
        f["estimates/idx_components"] = np.array([0, 2, 3]) if evaluated else "NoneType"
        f["estimates/idx_components_bad"] = np.array([1, 4]) if evaluated else "NoneType"
        f["params/data/fr"] = fr
        f["params/data/dims"] = np.array([64, 64])
    return C


def test_caiman(tmp_path, rng):
    C = _write_caiman(tmp_path / "m2-d05.hdf5", rng)
    events = _events(mouse="m2", day=5)
    assert detect_format(tmp_path / "m2-d05.hdf5") == "caiman"
    tree = load(tmp_path / "m2-d05.hdf5", events=events, zscore=False)
    ds = next(iter_sessions(tree))[1]
    assert ds["component"].values.tolist() == [0, 2, 3] and ds.attrs["rejected_components"] == 2
    times = np.arange(C.shape[1]) / FS
    expected = np.array([[_window_mean(C[c] / 10, times, t, (0.0, 1.0)) for c in (0, 2, 3)]
                         for t in events["time"]])
    np.testing.assert_allclose(ds["rates"].values, expected, rtol=1e-10)
    _write_caiman(tmp_path / "x.hdf5", rng, evaluated=False, with_dff=False)
    assert load_caiman(tmp_path / "x.hdf5", events, signal="C").leaves[0].sizes["neuron"] == 5
    with pytest.raises(LoaderError, match="detrend_df_f"):
        load_caiman(tmp_path / "x.hdf5", events)


def _write_phy(folder, rng, n_clusters=5, fs=30000.0, duration=200.0):
    folder.mkdir(parents=True)
    times = [np.sort(rng.uniform(0, duration, rng.integers(300, 900)))
             for _ in range(n_clusters)]
    samples = np.concatenate([np.round(t * fs) for t in times]).astype(np.uint64)
    clusters = np.concatenate([np.full(t.size, 10 + c) for c, t in enumerate(times)])
    order = np.argsort(samples, kind="stable")
    np.save(folder / "spike_times.npy", samples[order][:, None])
    np.save(folder / "spike_clusters.npy", clusters[order].astype(np.int32))
    (folder / "params.py").write_text(f"dat_path = 'continuous.dat'\nn_channels_dat = 385\n"
                                      f"dtype = 'int16'\noffset = 0\nsample_rate = {fs}\n"
                                      "hp_filtered = True\n")
    groups = ["good", "mua", "good", "noise", "good"][:n_clusters]
    pd.DataFrame({"cluster_id": 10 + np.arange(n_clusters), "group": groups}).to_csv(
        folder / "cluster_group.tsv", sep="\t", index=False)
    pd.DataFrame({"cluster_id": 10 + np.arange(n_clusters), "KSLabel": ["good"] * n_clusters}
                 ).to_csv(folder / "cluster_KSLabel.tsv", sep="\t", index=False)
    return [np.round(t * fs) / fs for t in times], groups


def test_phy_good_units(tmp_path, rng):
    trains, groups = _write_phy(tmp_path / "R-d04" / "kilosort4", rng)
    events = _events(n=30, every=5.0, mouse="R", day=4)
    assert detect_format(tmp_path) == "phy"
    tree = load(tmp_path, events=events, zscore=False)
    (path, ds), = iter_sessions(tree)
    assert path == "/R/R-d04"
    good = [i for i, g in enumerate(groups) if g == "good"]
    assert ds["cluster_id"].values.tolist() == [10 + i for i in good]
    expected = np.array([[np.sum((trains[i] >= t + 0.1) & (trains[i] < t + 0.6)) / 0.5
                          for i in good] for t in events["time"]])
    np.testing.assert_allclose(ds["rates"].values, expected)
    assert ds.attrs["label_file"] == "cluster_group.tsv" and ds.attrs["clusters_left_out"] == 2
    every = load_phy(tmp_path, events, groups=None)
    assert every.leaves[0].sizes["neuron"] == 5
    (tmp_path / "R-d04" / "kilosort4" / "params.py").unlink()
    with pytest.raises(LoaderError, match="missing params.py"):
        load_phy(tmp_path, events)


def test_pynapple_tsgroup_and_intervalset(rng):
    nap = pytest.importorskip("pynapple")
    trains = {i: np.sort(rng.uniform(0, 120, 400)) for i in range(4)}
    group = nap.TsGroup({i: nap.Ts(t) for i, t in trains.items()},
                        time_support=nap.IntervalSet(0, 120),
                        metadata={"depth": [100, 200, 300, 400]})
    events = _events(n=20, every=5.0)
    epochs = nap.IntervalSet(start=events["time"].to_numpy(), end=events["time"] + 2.0,
                             metadata={"stimulus": events["stimulus"].to_numpy(),
                                       "label": events["label"].to_numpy()})
    tree = from_pynapple(group, epochs, session="s1", mouse="rat1", day=1, zscore=False)
    ds = next(iter_sessions(tree))[1]
    expected = np.array([[np.sum((trains[i] >= t + 0.1) & (trains[i] < t + 0.6)) / 0.5
                          for i in range(4)] for t in events["time"]])
    np.testing.assert_allclose(ds["rates"].values, expected)
    assert ds["depth"].values.tolist() == [100, 200, 300, 400]
    np.testing.assert_array_equal(ds["stimulus"].values, events["stimulus"])
    with pytest.raises(EventOutsideRecordingError):
        from_pynapple(group, _events(n=40, every=5.0), session="s1", mouse="rat1", day=1)
    # A Tsd of labels, one per onset; a rat is a subject, and this study has no days.
    labels = nap.Tsd(t=events["time"].to_numpy(), d=events["label"].to_numpy())
    tsd = from_pynapple(group, labels, session="s1", subject="rat1", zscore=False)
    ds = next(iter_sessions(tsd))[1]
    np.testing.assert_allclose(ds["rates"].values, expected)
    assert ds["stimulus"].values.tolist() == events["label"].astype(str).tolist()
    assert "subject" in ds.coords and "day" not in ds.coords


def _write_ndt_site(path, raster, labels, site_info):
    sio.savemat(path, {"raster_data": raster,
                       "raster_labels": {k: np.array(v, dtype=object).reshape(1, -1)
                                         for k, v in labels.items()},
                       "raster_site_info": site_info})


def test_ndt_any_label_field_and_sessions(tmp_path, rng):
    n_trials = 40
    stim = np.array(["car", "face", "kiwi", "face"] * 10, dtype=object)
    sessions = {"mA": 1, "mB": 2}
    expected = {}
    for s, (name, day) in enumerate(sessions.items()):
        for u in range(3):
            raster = (rng.random((n_trials, 1200)) < 0.02).astype(np.uint8)
            _write_ndt_site(tmp_path / f"site_{s}_{u}.mat", raster,
                            {"stimulus_ID": stim, "position": ["upper"] * n_trials},
                            {"session_ID": f"sess{s}", "monkey": name, "day": day,
                             "alignment_event_time": 501})
            # Onset at column 501 (1-based): the window [0.1, 0.6) s is columns 601-1100.
            expected[(name, u)] = raster[:, 600:1100].sum(axis=1) / 0.5
    tree = load_ndt(tmp_path, label_field="stimulus_ID", target="face",
                    session_field="session_ID", mouse_field="monkey", day_field="day",
                    zscore=False)
    found = dict(iter_sessions(tree))
    assert sorted(found) == ["/mA/mA-d01", "/mB/mB-d02"]
    ds = found["/mA/mA-d01"]
    np.testing.assert_array_equal(ds["label"].values, (stim == "face").astype(int))
    np.testing.assert_allclose(ds["rates"].values,
                               np.column_stack([expected[("mA", u)] for u in range(3)]))
    multi = load_ndt(tmp_path, label_field="stimulus_ID", session_field="session_ID",
                     mouse_field="monkey", day_field="day")
    assert sorted(set(multi.leaves[0]["label"].values.tolist())) == [0, 1, 2]
    with pytest.raises(LoaderError, match="no field 'odour'"):
        load_ndt(tmp_path, label_field="odour", mouse="x", day=1)


def test_ndt_pseudo_populations(tmp_path, rng):
    for u, n_trials in enumerate((30, 36, 42)):  # recorded separately: different trials
        labels = np.array(["a", "b", "c"] * (n_trials // 3), dtype=object)
        rng.shuffle(labels)
        _write_ndt_site(tmp_path / f"u{u}.mat", (rng.random((n_trials, 800)) < 0.05) * 1,
                        {"cond": labels}, {"alignment_event_time": 201})
    # Without pseudo-populations, sites whose trials differ stay separate sessions.
    apart = load_ndt(tmp_path, label_field="cond", target="a", mouse="M", day=1)
    assert [leaf.sizes["neuron"] for leaf in apart.leaves] == [1, 1, 1]
    with pytest.warns(UserWarning, match="pseudo-populations"):
        tree = load_ndt(tmp_path, label_field="cond", target="a", mouse="M", day=1,
                        pseudo_populations=True, seed=3)
    ds = tree.leaves[0]
    assert ds.sizes == {"trial": 30, "neuron": 3} and tree.attrs["pseudo_population"] == 1
    assert int(ds["label"].sum()) == 10


def test_corrupt_and_inconsistent_files_name_the_file(tmp_path, rng):
    events = _events(mouse="m", day=1)
    plane = tmp_path / "s2p" / "suite2p" / "plane0"
    _write_suite2p_plane(plane, rng)
    (plane / "F.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(LoaderError, match=r"F\.npy: cannot read"):
        load_suite2p(tmp_path / "s2p", events)
    (tmp_path / "bad.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(LoaderError, match="bad.hdf5: cannot read as CaImAn HDF5"):
        load_caiman(tmp_path / "bad.hdf5", events)
    folder = tmp_path / "ks" / "kilosort4"
    _write_phy(folder, rng)
    np.save(folder / "spike_clusters.npy", np.zeros(3, dtype=np.int32))
    with pytest.raises(LoaderError, match="spike_times.npy has .* spikes but spike_clusters"):
        load_phy(tmp_path / "ks", _events(n=30, every=5.0, mouse="R", day=4))
    (tmp_path / "ndt").mkdir()
    (tmp_path / "ndt" / "site.mat").write_bytes(b"MATLAB garbage")
    with pytest.raises(LoaderError, match="site.mat: cannot read as a MATLAB file"):
        load_ndt(tmp_path / "ndt", label_field="x", mouse="M")


def test_suite2p_study_with_cellreg_per_mouse_through_the_cli(tmp_path, rng):
    import xarray as xr

    from neurolearn.cli import main

    rows = []
    for m in ("M0", "M1"):
        for d in (1, 2, 3):
            session = f"{m}-d{d}"
            F, *_ = _write_suite2p_plane(tmp_path / "study" / session / "suite2p" / "plane0",
                                         rng, n_rois=6)
            table = _events(n=40, every=2.5, session=session, mouse=m, day=d)
            rows.append(table)
        # CellReg per mouse: Suite2p keeps ROIs 0, 1, 3, 4 each day; all four are tracked.
        index_map = np.tile(np.arange(1, 5, dtype=float)[:, None], (1, 3))
        sio.savemat(tmp_path / f"cellRegistered_{m}.mat",
                    {"cell_registered_struct": {"cell_to_index_map": index_map}})
    pd.concat(rows).to_csv(tmp_path / "events.csv", index=False)
    out = tmp_path / "out"
    status = main(["analyze", str(tmp_path / "study"), "--events", str(tmp_path / "events.csv"),
                   "--tracks", f"M0={tmp_path / 'cellRegistered_M0.mat'}",
                   "--tracks", f"M1={tmp_path / 'cellRegistered_M1.mat'}",
                   "--permutations", "10", "--out", str(out), "--no-progress"])
    assert status == 0
    results = xr.open_datatree(out / "results.nc")
    assert results.attrs["format"] == "suite2p"
    across = results["across_days"].to_dataset()
    assert across["mouse"].values.tolist() == ["M0", "M1"]
    assert (across["transfer_n_cells"].values == 4).all()
