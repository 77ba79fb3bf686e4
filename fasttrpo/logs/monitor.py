"""Episode logs in Stable-Baselines3's Monitor format, written during training and read back.

A model with ``log_folder`` writes one ``<rank>.monitor.csv`` per env there, as sb3's
``make_vec_env(monitor_dir=...)`` (and so rl-baselines3-zoo) does::

    #{"t_start": 1700000000.123456, "env_id": "CartPole-v1"}
    r,l,t
    21.0,21,0.213412

``r`` is the episode's return (raw env rewards), ``l`` its length, ``t`` the seconds from
``t_start`` to its end; episodes of an env that reports a cost add ``c``, the episode cost.
sb3's ``results_plotter.load_results`` and rl-zoo3's plot scripts read these files;
`load_monitor` reads them without pandas, with the same result.
"""

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import TextIO

import numpy as np

__all__ = ["MONITOR_SUFFIX", "MonitorWriter", "find_monitor_folders", "load_monitor"]

#: how every monitor file name ends (sb3's ``Monitor.EXT``)
MONITOR_SUFFIX = "monitor.csv"


class MonitorWriter:
    """Write finished episodes to ``<folder>/<rank>.monitor.csv``, one file per env.

    Files are created at the first episode (their columns, ``r,l,t`` and ``c`` when that
    episode has a cost, follow it) or at `close` when no episode finished.

    Parameters
    ----------
    folder : str or os.PathLike
        Created when missing.
    n_envs : int
        One file per env rank ``0 .. n_envs - 1``.
    env_id : str or None
        Written in the header (sb3 writes ``"None"`` for an env without id).
    append : bool, default False
        Continue existing files (their header's ``t_start`` is kept), as a ``learn`` call
        with ``reset_num_timesteps=False`` does; otherwise they start afresh.
    """

    def __init__(self, folder: str | os.PathLike, n_envs: int, env_id: str | None,
                 append: bool = False) -> None:
        self.folder = Path(folder)
        self.n_envs = int(n_envs)
        self.env_id = str(env_id)
        self.t_start = time.time()
        self.columns: tuple[str, ...] | None = None
        self._handles: dict[int, TextIO] = {}
        if append and all(self.path(rank).is_file() for rank in range(self.n_envs)):
            header, columns = _read_header(self.path(0))
            self.t_start = float(header["t_start"])
            self.columns = tuple(columns)
            self._handles = {rank: open(self.path(rank), "a", newline="")  # noqa: SIM115
                             for rank in range(self.n_envs)}

    def path(self, rank: int) -> Path:
        """Return the file of env ``rank``."""
        return self.folder / f"{rank}.{MONITOR_SUFFIX}"

    def _create(self, columns: tuple[str, ...]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.columns = columns
        header = "#" + json.dumps({"t_start": self.t_start, "env_id": self.env_id}) + "\n"
        for rank in range(self.n_envs):
            handle = open(self.path(rank), "w", newline="")  # noqa: SIM115 (kept open)
            handle.write(header)
            handle.write(",".join(columns) + "\n")
            handle.flush()
            self._handles[rank] = handle

    def write(self, rank: int, episode: dict, end_time: float) -> dict:
        """Append ``episode`` (``{"r", "l"[, "c"]}``) of env ``rank`` that ended at ``end_time``.

        Returns the row written (sb3's ``info["episode"]``: ``r``, ``l``, ``t``[, ``c``]).
        """
        if self.columns is None:
            self._create(("r", "l", "t", "c") if "c" in episode else ("r", "l", "t"))
        assert self.columns is not None  # set by _create
        row = {"r": round(float(episode["r"]), 6), "l": int(episode["l"]),
               "t": round(end_time - self.t_start, 6)}
        if "c" in self.columns:
            row["c"] = round(float(episode.get("c", math.nan)), 6)
        handle = self._handles[rank]
        csv.writer(handle).writerow([row[name] for name in self.columns])
        handle.flush()
        return row

    def close(self) -> None:
        """Close the files (creating them, with no episode, if none was written)."""
        if self.columns is None:
            self._create(("r", "l", "t"))
        for handle in self._handles.values():
            handle.close()
        self._handles = {}


def _read_header(path: Path) -> tuple[dict, list[str]]:
    """Return the JSON header and the column names of a monitor file (ValueError naming it)."""
    with open(path, newline="") as handle:
        first = handle.readline()
        columns = handle.readline().strip().split(",")
    try:
        if not first.startswith("#"):
            raise ValueError("no '#{...}' header line")
        header = json.loads(first[1:])
        if not isinstance(header, dict) or not isinstance(header.get("t_start"), (int, float)):
            raise ValueError("the header has no numeric t_start")
    except ValueError as err:
        raise ValueError(f"{path}: not a monitor file ({err})") from None
    if not {"r", "l", "t"} <= set(columns):
        raise ValueError(f"{path}: not a monitor file (columns {columns}, expected r, l, t)")
    return header, columns


def monitor_files(folder: str | os.PathLike) -> list[Path]:
    """Return the ``*monitor.csv`` files directly in ``folder``, sorted."""
    return sorted(Path(folder).glob("*" + MONITOR_SUFFIX))


def find_monitor_folders(root: str | os.PathLike) -> list[Path]:
    """``root`` and the folders below it that hold monitor files, sorted."""
    root = Path(root)
    found = {path.parent for path in root.rglob("*" + MONITOR_SUFFIX)}
    return sorted(found)


def load_monitor(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every monitor file of ``folder`` as sb3's ``load_results`` does.

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    dict of str to numpy arrays
        One array per column (``r``, ``l``, ``t``, and ``c`` when any file has it; NaN for
        the episodes of files without it), the episodes of all files sorted by their end
        time, ``t`` counted from the earliest file's ``t_start``; ``"t_start"`` holds that
        start (a 0-d array).

    Raises
    ------
    ValueError
        If ``folder`` has no monitor file, or one is malformed (the message names it).
    """
    paths = monitor_files(folder)
    if not paths:
        raise ValueError(f"{folder}: no monitor files (*{MONITOR_SUFFIX}) found")
    starts, tables = [], []
    for path in paths:
        header, _ = _read_header(path)
        with open(path, newline="") as handle:
            handle.readline()
            rows = list(csv.DictReader(handle))
        try:
            table = {name: np.array([float(row[name]) if row.get(name) not in (None, "")
                                     else math.nan for row in rows])
                     for name in ("r", "l", "t", "c")}
        except ValueError as err:
            raise ValueError(f"{path}: malformed row ({err})") from None
        table["t"] = table["t"] + float(header["t_start"])
        starts.append(float(header["t_start"]))
        tables.append(table)
    merged = {name: np.concatenate([table[name] for table in tables]) for name in tables[0]}
    order = np.argsort(merged["t"], kind="stable")
    out = {name: values[order] for name, values in merged.items()}
    out["l"] = out["l"].astype(np.int64)
    t_start = min(starts)
    out["t"] = out["t"] - t_start
    if np.isnan(out["c"]).all():
        del out["c"]
    out["t_start"] = np.array(t_start)
    return out
