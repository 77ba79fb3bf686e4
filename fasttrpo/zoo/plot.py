"""Learning curves from Monitor files: ``fasttrpo plot LOGDIR... --output curves.png``.

Every folder under the given ones that holds ``*monitor.csv`` files (a ``log_folder``, or a
run of the zoo layout ``LOGDIR/trpo/<env>_<k>/``) is one run, drawn as one line: the mean
episode return over a sliding window of episodes against environment steps (the running
sum of episode lengths, as sb3's ``ts2xy``) and against wall time, and the episode cost the
same way when the runs report one. Needs matplotlib (``pip install "fasttrpo[plot]"``).
"""

import os
from pathlib import Path

import numpy as np

from fasttrpo.logs.monitor import find_monitor_folders, load_monitor

__all__ = ["learning_curves", "plot_learning_curves", "rolling_mean"]


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each index (fewer at the start)."""
    if window < 1:
        raise ValueError(f"window: expected a positive integer, got {window!r}")
    sums = np.cumsum(np.insert(np.asarray(values, dtype=np.float64), 0, 0.0))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (sums[index] - sums[start]) / (index - start)


def _label(folder: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            relative = folder.resolve().relative_to(root.resolve())
        except ValueError:
            continue
        parts = [root.name or str(root), *relative.parts]
        return "/".join(parts[-3:])
    return folder.name


def learning_curves(logdirs: list[str | os.PathLike], window: int = 100) -> list[dict]:
    """Read the runs under ``logdirs``.

    Returns
    -------
    list of dict
        One per run folder: ``label``, ``steps`` (cumulative env steps at each episode's
        end), ``time`` (seconds), ``return`` and ``cost`` (None without costs), both
        smoothed over ``window`` episodes.

    Raises
    ------
    ValueError
        If a LOGDIR does not exist or holds no monitor file (the message names it).
    """
    roots = [Path(d) for d in logdirs]
    runs = []
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"LOGDIR: {root} is not a folder")
        folders = find_monitor_folders(root)
        if not folders:
            raise ValueError(f"LOGDIR: no monitor files (*monitor.csv) under {root}")
        for folder in folders:
            data = load_monitor(folder)
            cost = data.get("c")
            runs.append({
                "label": _label(folder, roots),
                "steps": np.cumsum(data["l"]),
                "time": data["t"],
                "return": rolling_mean(data["r"], window),
                "cost": None if cost is None else rolling_mean(cost, window),
            })
    return runs


def plot_learning_curves(logdirs: list[str | os.PathLike], output: str | os.PathLike,
                         window: int = 100, title: str | None = None) -> Path:
    """Draw the learning curves of the runs under ``logdirs`` to the image ``output``.

    One column per x axis (environment steps, wall time), one row for the return and one
    for the episode cost when any run reports costs. Returns the path written.

    Raises
    ------
    ImportError
        Without matplotlib (the message says what to install).
    ValueError
        For a LOGDIR without monitor files, or a ``window`` below 1.
    """
    runs = learning_curves(logdirs, window)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError('fasttrpo plot needs matplotlib: pip install "fasttrpo[plot]"') \
            from err
    rows = [("return", "episode return")]
    if any(run["cost"] is not None for run in runs):
        rows.append(("cost", "episode cost"))
    columns = [("steps", "environment steps"), ("time", "wall time (s)")]
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 4 * len(rows)), squeeze=False)
    for r, (key, ylabel) in enumerate(rows):
        for c, (x_key, xlabel) in enumerate(columns):
            ax = axes[r][c]
            for i, run in enumerate(runs):
                if run[key] is not None and len(run[key]):
                    ax.plot(run[x_key], run[key], label=run["label"], color=f"C{i % 10}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{ylabel} (mean of {window})")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(title or "Learning curves")
    fig.tight_layout()
    output = Path(output)
    if output.parent != Path():
        output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
