"""Monitor-format episode files (sb3's ``*.monitor.csv``): the writer's bytes and the reader.

benchmarks/test_interop_logs.py compares `load_monitor` with sb3's ``load_results``."""

import json

import numpy as np
import pytest

from fasttrpo.logs.monitor import MonitorWriter, find_monitor_folders, load_monitor


def test_writer_format_matches_sb3_monitor(tmp_path):
    writer = MonitorWriter(tmp_path / "run", n_envs=2, env_id="CartPole-v1")
    start = writer.t_start
    row = writer.write(1, {"r": 21.123456789, "l": 21}, start + 1.5)
    writer.write(0, {"r": 9.0, "l": 9}, start + 2.0000004)
    writer.close()
    assert row == {"r": 21.123457, "l": 21, "t": 1.5}
    lines0 = (tmp_path / "run" / "0.monitor.csv").read_text().splitlines()
    lines1 = (tmp_path / "run" / "1.monitor.csv").read_text().splitlines()
    assert lines0[0] == "#" + json.dumps({"t_start": start, "env_id": "CartPole-v1"})
    assert lines0[1:] == ["r,l,t", "9.0,9,2.0"]
    assert lines1[1:] == ["r,l,t", "21.123457,21,1.5"]
    data = load_monitor(tmp_path / "run")
    assert data["r"].tolist() == [21.123457, 9.0]  # sorted by end time across files
    assert data["l"].tolist() == [21, 9] and data["l"].dtype == np.int64
    assert data["t"].tolist() == pytest.approx([1.5, 2.0])
    assert float(data["t_start"]) == start and "c" not in data


def test_reader_merges_files_from_the_earliest_start(tmp_path):
    for name, t_start, rows in (("a.monitor.csv", 100.0, ["1,1,5.0", "2,2,7.0"]),
                                ("b.monitor.csv", 103.0, ["3,3,1.0"])):
        (tmp_path / name).write_text(
            "#" + json.dumps({"t_start": t_start, "env_id": "X"}) + "\nr,l,t\n"
            + "\n".join(rows) + "\n")
    data = load_monitor(tmp_path)
    assert data["r"].tolist() == [3.0, 1.0, 2.0]
    assert data["t"].tolist() == [4.0, 5.0, 7.0]


def test_cost_column_and_files_without_episodes(tmp_path):
    writer = MonitorWriter(tmp_path, n_envs=1, env_id=None)
    writer.write(0, {"r": 1.0, "l": 2, "c": 0.5}, writer.t_start + 1)
    writer.close()
    assert (tmp_path / "0.monitor.csv").read_text().splitlines()[1:] == ["r,l,t,c",
                                                                         "1.0,2,1.0,0.5"]
    assert load_monitor(tmp_path)["c"].tolist() == [0.5]
    empty = MonitorWriter(tmp_path / "empty", n_envs=2, env_id="E")
    empty.close()  # no episode: files with a header only
    data = load_monitor(tmp_path / "empty")
    assert len(data["r"]) == 0 and len(data["t"]) == 0


def test_append_keeps_the_header_and_start(tmp_path):
    first = MonitorWriter(tmp_path, n_envs=1, env_id="E")
    first.write(0, {"r": 1.0, "l": 1}, first.t_start + 1)
    first.close()
    again = MonitorWriter(tmp_path, n_envs=1, env_id="E", append=True)
    assert again.t_start == first.t_start and again.columns == ("r", "l", "t")
    again.write(0, {"r": 2.0, "l": 1}, first.t_start + 3)
    again.close()
    assert load_monitor(tmp_path)["t"].tolist() == [1.0, 3.0]


@pytest.mark.parametrize(("text", "fragment"), [
    ("r,l,t\n1,1,1\n", "header"),
    ("#[1, 2]\nr,l,t\n", "t_start"),
    ('#{"t_start": 1}\nreward,length\n', "columns"),
    ('#{"t_start": 1}\nr,l,t\n1,x,2\n', "malformed row"),
])
def test_malformed_monitor_files_are_named(tmp_path, text, fragment):
    (tmp_path / "0.monitor.csv").write_text(text)
    with pytest.raises(ValueError, match=fragment) as err:
        load_monitor(tmp_path)
    assert "0.monitor.csv" in str(err.value)


def test_missing_files_and_folder_search(tmp_path):
    with pytest.raises(ValueError, match="no monitor files"):
        load_monitor(tmp_path)
    for run in ("trpo/A_1", "trpo/A_2", "trpo/B_1/sub"):
        MonitorWriter(tmp_path / run, 1, "A").close()
    assert find_monitor_folders(tmp_path) == [tmp_path / "trpo/A_1", tmp_path / "trpo/A_2",
                                              tmp_path / "trpo/B_1/sub"]
