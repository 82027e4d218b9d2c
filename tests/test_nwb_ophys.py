"""NWB optical physiology and DANDI-layout folders, written with pynwb itself."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from data_loaders import detect_format, load_nwb
from neurolearn.schema import iter_sessions

pynwb = pytest.importorskip("pynwb")

RATE = 10.0


def write_ophys_nwb(path, traces, onsets, odor, rewarded, *, subject="M1", date=None,
                    session_id="ses-1", with_timestamps=False):
    """One pynwb-written file: DfOverF over a PlaneSegmentation, trials with own names."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    nwb = NWBFile(session_description="odour task", identifier=f"{subject}-{session_id}",
                  session_id=session_id,
                  session_start_time=date or datetime(2024, 3, 1, 9, tzinfo=timezone.utc),
                  subject=Subject(subject_id=subject, species="Mus musculus"))
    device = nwb.create_device(name="2p")
    channel = OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(name="plane0", optical_channel=channel,
                                     imaging_rate=RATE, description="L2/3", device=device,
                                     excitation_lambda=920.0, indicator="GCaMP6s",
                                     location="piriform")
    seg = ImageSegmentation()
    module = nwb.create_processing_module("ophys", "optical physiology")
    module.add(seg)
    ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="rois",
                                       imaging_plane=plane)
    for i in range(traces.shape[0]):
        mask = np.zeros((8, 8))
        mask[i % 8, i // 8] = 1.0
        ps.add_roi(image_mask=mask)
    rois = ps.create_roi_table_region(region=list(range(traces.shape[0])), description="all")
    kwargs = ({"timestamps": np.arange(traces.shape[1]) / RATE} if with_timestamps
              else {"rate": RATE, "starting_time": 0.0})
    dff = DfOverF()
    module.add(dff)  # in the file before its series, so the ROI region has an ancestor
    dff.create_roi_response_series(name="dff", data=traces.T, rois=rois, unit="n.a.", **kwargs)
    nwb.add_trial_column("odor", "odour presented")
    nwb.add_trial_column("rewarded", "1 for the target odour")
    for t, o, r in zip(onsets, odor, rewarded, strict=True):
        nwb.add_trial(start_time=t - 1.0, stop_time=t + 3.0, odor=o, rewarded=int(r))
    nwb.add_trial_column("odor_on", "odour onset (s)", data=list(onsets))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def _window_mean(trace, onset, window=(0.0, 1.0)):
    times = np.arange(trace.size) / RATE
    return trace[(times >= onset + window[0]) & (times < onset + window[1])].mean()


def test_ophys_file_with_mapped_trial_columns(tmp_path, rng):
    traces = rng.normal(size=(7, 1500))
    onsets = 5.0 + 6.0 * np.arange(20)
    odor = np.where(np.arange(20) % 2, "pinene", "limonene")
    write_ophys_nwb(tmp_path / "s.nwb", traces, onsets, odor, odor == "limonene",
                    with_timestamps=True)
    tree = load_nwb(tmp_path / "s.nwb", columns={"odor_on": "time", "odor": "stimulus",
                                                 "rewarded": "label"}, day=3, zscore=False)
    (path, ds), = iter_sessions(tree)
    assert path == "/M1/ses-1" and int(ds["day"].values[0]) == 3
    expected = np.array([[_window_mean(tr, t) for tr in traces] for t in onsets])
    np.testing.assert_allclose(ds["rates"].values, expected, rtol=1e-10)
    assert ds["rates"].attrs["units"] == "dF/F" and ds.attrs["series_kind"] == "DfOverF"
    np.testing.assert_array_equal(ds["label"].values, (odor == "limonene").astype(int))
    assert ds["roi"].values.tolist() == list(range(7))


def write_dandiset(root, rng, *, n_mice=2, n_days=3, n_rois=12, n_trials=40, signal=1.0):
    """A DANDI-layout folder; the target odour drives half the ROIs by ``signal``."""
    onsets = 4.0 + 5.0 * np.arange(n_trials)
    n_frames = int((onsets[-1] + 4.0) * RATE)
    for m in range(n_mice):
        subject = f"M{m}"
        (root / f"sub-{subject}").mkdir(parents=True)
        for d in range(n_days):
            odor = np.where(rng.random(n_trials) < 0.5, "limonene", "pinene")
            traces = rng.normal(0, 1, (n_rois, n_frames))
            t = np.arange(n_frames) / RATE
            for onset, o in zip(onsets, odor, strict=True):
                if o == "limonene":
                    traces[: n_rois // 2, (t >= onset) & (t < onset + 1.0)] += signal * (1 + d)
            date = datetime(2024, 3, 1, 9, tzinfo=timezone.utc) + timedelta(days=2 * d)
            write_ophys_nwb(root / f"sub-{subject}" / f"sub-{subject}_ses-{d + 1}_ophys.nwb",
                            traces, onsets, odor, odor == "limonene", subject=subject,
                            date=date, session_id=f"{subject}-ses{d + 1}")


def test_dandiset_folder_days_from_session_dates(tmp_path, rng):
    write_dandiset(tmp_path, rng, n_mice=2, n_days=3)
    assert detect_format(tmp_path) == "nwb"
    tree = load_nwb(tmp_path, columns={"odor_on": "time", "odor": "stimulus",
                                       "rewarded": "label"})
    found = {p: int(ds["day"].values[0]) for p, ds in iter_sessions(tree)}
    # Sessions two calendar days apart: days 1, 3, 5 of each subject.
    assert found == {f"/M{m}/M{m}-ses{d + 1}": 1 + 2 * d for m in range(2) for d in range(3)}


def test_dandiset_runs_end_to_end_through_the_cli(tmp_path, rng):
    import pandas as pd
    import xarray as xr

    from neurolearn.cli import main

    write_dandiset(tmp_path / "dandiset", rng, n_mice=2, n_days=3, signal=0.8)
    # The fixture images the same 12 ROIs every day: a tracks table says so.
    pd.DataFrame([{"session": f"M{m}-ses{d}", "unit_id": f"PlaneSegmentation-roi{i}",
                   "track": f"M{m}-cell{i}"} for m in range(2) for d in (1, 2, 3)
                  for i in range(12)]).to_csv(tmp_path / "tracks.csv", index=False)
    out = tmp_path / "out"
    status = main(["analyze", str(tmp_path / "dandiset"), "--out", str(out),
                   "--columns", "odor_on=time,odor=stimulus,rewarded=label",
                   "--tracks", str(tmp_path / "tracks.csv"),
                   "--permutations", "20", "--no-progress"])
    assert status == 0
    assert (out / "report.html").is_file() and (out / "results.nc").is_file()
    results = xr.open_datatree(out / "results.nc")
    decoding = results["decoding"].to_dataset()
    assert decoding.sizes["session"] == 6
    assert results.attrs["format"] == "nwb"
    # The planted odour response (larger every day) is decoded above chance.
    assert float(decoding["accuracy"].min()) > 0.6
    across = results["across_days"].to_dataset()
    assert across.sizes["train_day"] == 3  # days 1, 3, 5 from the session dates
    assert float(across["transfer_accuracy"].mean()) > 0.6
    assert "Tracked cells across days" in (out / "report.html").read_text()


def test_multi_plane_file_reads_every_plane_on_its_own_clock(tmp_path, rng):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    nwb = NWBFile(session_description="two planes", identifier="mp", session_id="mp-1",
                  session_start_time=datetime(2024, 3, 1, 9, tzinfo=timezone.utc),
                  subject=Subject(subject_id="M9", species="Mus musculus"))
    device = nwb.create_device(name="2p")
    module = nwb.create_processing_module("ophys", "optical physiology")
    seg, dff = ImageSegmentation(), DfOverF()
    module.add(seg)
    module.add(dff)
    traces, clocks = {}, {}
    for k, n_rois in enumerate((3, 5)):
        plane = nwb.create_imaging_plane(
            name=f"plane{k}", optical_channel=OpticalChannel(name="green", description="g",
                                                             emission_lambda=510.0),
            imaging_rate=RATE / 2, description="", device=device, excitation_lambda=920.0,
            indicator="GCaMP6s", location="piriform")
        ps = seg.create_plane_segmentation(name=f"seg{k}", description="", imaging_plane=plane)
        for i in range(n_rois):
            mask = np.zeros((4, 4))
            mask[i % 4, i // 4] = 1.0
            ps.add_roi(image_mask=mask)
        rois = ps.create_roi_table_region(region=list(range(n_rois)), description="all")
        clocks[k] = np.arange(600) * 2 / RATE + k / RATE  # planes interleaved in time
        traces[k] = rng.normal(size=(n_rois, 600))
        dff.create_roi_response_series(name=f"dff{k}", data=traces[k].T, rois=rois, unit="n.a.",
                                       timestamps=clocks[k])
    onsets = 5.0 + 5.0 * np.arange(20)
    nwb.add_trial_column("stimulus", "odour")
    nwb.add_trial_column("label", "class")
    for i, t in enumerate(onsets):
        nwb.add_trial(start_time=t, stop_time=t + 2, stimulus="AB"[i % 2], label=i % 2)
    with NWBHDF5IO(str(tmp_path / "mp.nwb"), "w") as io:
        io.write(nwb)
    ds = next(iter_sessions(load_nwb(tmp_path / "mp.nwb", day=1, zscore=False)))[1]
    assert ds["plane"].values.tolist() == ["seg0"] * 3 + ["seg1"] * 5
    expected = np.hstack([
        np.array([[tr[(clocks[k] >= t) & (clocks[k] < t + 1.0)].mean() for tr in traces[k]]
                  for t in onsets]) for k in (0, 1)])
    np.testing.assert_allclose(ds["rates"].values, expected, rtol=1e-10)
    assert ds.attrs["series"] == "dff0,dff1"
    one = next(iter_sessions(load_nwb(tmp_path / "mp.nwb", day=1, series="dff1")))[1]
    assert one.sizes["neuron"] == 5
