import csv

import numpy as np
import pytest

from fasttrpo.logs.logger import Logger, format_table


def test_record_last_value_wins_and_mean(capsys):
    log = Logger()
    log.record("train/value_loss", 3.0)
    log.record("train/value_loss", 1.5)
    for x in (1.0, 2.0, 6.0):
        log.record_mean("rollout/ep_rew_mean", x)
    assert log.name_to_value == {"train/value_loss": 1.5, "rollout/ep_rew_mean": pytest.approx(3.0)}
    log.dump(100)
    assert capsys.readouterr().out == ""  # verbose=0 prints nothing
    assert log.name_to_value == {}
    assert log.last_values["rollout/ep_rew_mean"] == pytest.approx(3.0)
    assert log.last_step == 100
    log.record_mean("rollout/ep_rew_mean", 10.0)  # the mean restarts after a dump
    assert log.name_to_value["rollout/ep_rew_mean"] == 10.0


def test_table_groups_sorts_and_formats(capsys):
    log = Logger(verbose=1)
    log.record("time/fps", 1234)
    log.record("train/value_loss", 0.000123456)
    log.record("rollout/ep_rew_mean", 22.4567)
    log.record("train/std", np.float32(0.5))
    log.record("time/iterations", np.int64(7))
    log.dump(10)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("---") and lines[-1].startswith("---")
    assert len({len(line) for line in lines}) == 1  # aligned columns
    body = [line.strip("| ").split("|")[0].strip() for line in lines[1:-1]]
    assert body == ["rollout/", "ep_rew_mean", "time/", "fps", "iterations",
                    "train/", "std", "value_loss"]
    values = {k: line.split("|")[2].strip() for k, line in zip(body, lines[1:-1])}
    assert values["ep_rew_mean"] == "22.5"
    assert values["fps"] == "1234"
    assert values["iterations"] == "7"
    assert values["value_loss"] == "0.000123"
    assert values["std"] == "0.5"
    assert values["rollout/"] == ""


def test_table_plain_keys_first():
    table = format_table({"b/x": 1, "a": 2.0})
    rows = [line.split("|")[1].strip() for line in table.splitlines()[1:-1]]
    assert rows == ["a", "b/", "x"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_rows_and_header_growth(tmp_path):
    folder = tmp_path / "run"
    log = Logger(folder=folder)
    log.record("time/fps", 10)
    log.record("train/loss", 0.1)
    log.dump(1)
    log.record("time/fps", 20)
    log.record("train/loss", 0.2)
    log.dump(2)
    rows = read_csv(folder / "progress.csv")
    assert rows == [["time/fps", "train/loss"], ["10", "0.1"], ["20", "0.2"]]
    # a new key: the header grows, old rows keep empty cells
    log.record("time/fps", 30)
    log.record("eval/mean_reward", 1.0 / 3.0)
    log.dump(3)
    rows = read_csv(folder / "progress.csv")
    assert rows[0] == ["time/fps", "train/loss", "eval/mean_reward"]
    assert rows[1:] == [["10", "0.1", ""], ["20", "0.2", ""], ["30", "", repr(1.0 / 3.0)]]
    assert float(rows[3][2]) == 1.0 / 3.0  # full precision in the file
    # an empty iteration writes nothing
    log.dump(4)
    assert len(read_csv(folder / "progress.csv")) == 4


def test_new_logger_starts_a_fresh_file(tmp_path):
    first = Logger(folder=tmp_path)
    first.record("a", 1)
    first.dump(0)
    second = Logger(folder=tmp_path)
    second.record("b", 2)
    second.dump(0)
    assert read_csv(tmp_path / "progress.csv") == [["b"], ["2"]]
