"""Key-value logger: an sb3-style table on stdout, a ``progress.csv`` file, TensorBoard.

Usage per iteration: ``record`` / ``record_mean`` values, then ``dump(step)`` writes them and
starts the next iteration. Keys are grouped by their prefix up to the first ``/``
(``rollout/``, ``time/``, ``train/``, ...), as in Stable-Baselines3's logger, whose
``record(key, value, exclude=...)`` / ``dump(step)`` / ``get_dir()`` calls (those sb3
callbacks make) this logger accepts.
"""

import csv
import numbers
import os
import sys
from pathlib import Path

import numpy as np

from fasttrpo.logs.tensorboard import EventFileWriter, is_scalar

_MAX_WIDTH = 30  # longer keys / values are truncated in the table, as sb3 does


def _format_value(value) -> str:
    """Compact text for the table: ints as is, floats with 3 significant digits (sb3)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.3g}"
    return str(value)


def _csv_value(value) -> str:
    """Full-precision text for the CSV file (shortest repr that round-trips)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_WIDTH else text[: _MAX_WIDTH - 3] + "..."


def format_table(values: dict) -> str:
    """sb3-style table of ``values``: one section per prefix, keys sorted inside.

    Keys without a ``/`` come first, unindented; ``"train/value_loss"`` is shown as
    ``value_loss`` under a ``train/`` heading.
    """
    rows: list[tuple[str, str]] = []
    plain = sorted(k for k in values if "/" not in k)
    grouped: dict[str, list[str]] = {}
    for key in sorted(k for k in values if "/" in k):
        prefix = key[: key.index("/") + 1]
        grouped.setdefault(prefix, []).append(key)
    for key in plain:
        rows.append((_truncate(key), _truncate(_format_value(values[key]))))
    for prefix in sorted(grouped):
        rows.append((_truncate(prefix), ""))
        for key in grouped[prefix]:
            rows.append((_truncate("    " + key[len(prefix):]),
                         _truncate(_format_value(values[key]))))
    if not rows:
        return ""
    key_width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    dashes = "-" * (key_width + value_width + 7)
    lines = [dashes]
    lines += [f"| {k:<{key_width}} | {v:<{value_width}} |" for k, v in rows]
    lines.append(dashes)
    return "\n".join(lines)


class Logger:
    """Collects scalars during an iteration and writes them at ``dump``.

    Parameters
    ----------
    verbose : int, default 0
        ``>= 1`` prints a table at every ``dump``.
    folder : str or path, optional
        When given, every ``dump`` appends a row to ``folder/progress.csv`` (the folder is
        created). The first dump of a Logger starts the file afresh, as sb3 does; when a later
        dump brings new keys, the file is rewritten with the extended header, old rows keeping
        empty cells for them.
    tensorboard_dir : str or path, optional
        When given (or set later with `set_tensorboard_dir`), every ``dump`` also writes the
        numeric values as TensorBoard scalars at ``step`` (`fasttrpo.logs.tensorboard`).

    Attributes
    ----------
    name_to_value : dict
        Values recorded since the last dump (means for ``record_mean`` keys).
    name_to_count : dict
        Number of values averaged per ``record_mean`` key.
    name_to_excluded : dict
        Outputs each key of this iteration is kept out of (sb3's ``exclude``: ``"stdout"``,
        ``"log"``, ``"csv"``, ``"tensorboard"``, ``"json"``).
    last_values : dict
        The values written by the last ``dump``.
    """

    def __init__(self, verbose: int = 0, folder=None, tensorboard_dir=None) -> None:
        self.verbose = int(verbose)
        self.folder = None if folder is None else Path(folder)
        self.name_to_value: dict = {}
        self.name_to_count: dict[str, int] = {}
        self.name_to_excluded: dict[str, tuple[str, ...]] = {}
        self.tensorboard: EventFileWriter | None = None
        if tensorboard_dir is not None:
            self.set_tensorboard_dir(tensorboard_dir)
        self.last_values: dict = {}
        self.last_step: int | None = None
        self._csv_keys: list[str] = []
        self._csv_started = False

    @property
    def csv_path(self) -> Path | None:
        """The ``progress.csv`` file in ``folder``, or None without a folder."""
        return None if self.folder is None else self.folder / "progress.csv"

    def get_dir(self) -> str | None:
        """Return the ``progress.csv`` folder (sb3's ``Logger.get_dir``), or None."""
        return None if self.folder is None else str(self.folder)

    def set_tensorboard_dir(self, tensorboard_dir) -> None:
        """Write TensorBoard scalars to a new event file in ``tensorboard_dir`` (None: stop)."""
        self.tensorboard = None if tensorboard_dir is None else EventFileWriter(tensorboard_dir)

    def record(self, key: str, value, exclude: str | tuple[str, ...] | None = None) -> None:
        """Set ``key`` to ``value`` for this iteration (the last call wins).

        ``exclude`` names outputs to keep it out of, as sb3's ``Logger.record``.
        """
        self.name_to_value[key] = value
        self.name_to_count.pop(key, None)
        self._exclude(key, exclude)

    def record_mean(self, key: str, value,
                    exclude: str | tuple[str, ...] | None = None) -> None:
        """Add ``value`` to the running mean of ``key`` over this iteration."""
        if value is None:
            return
        count = self.name_to_count.get(key, 0)
        old = self.name_to_value.get(key, 0.0) if count else 0.0
        # running mean: m_{k+1} = m_k + (x - m_k) / (k + 1)
        self.name_to_value[key] = old + (float(value) - old) / (count + 1)
        self.name_to_count[key] = count + 1
        self._exclude(key, exclude)

    def _exclude(self, key: str, exclude: str | tuple[str, ...] | None) -> None:
        if exclude is None:
            self.name_to_excluded.pop(key, None)
        else:
            self.name_to_excluded[key] = (exclude,) if isinstance(exclude, str) else tuple(exclude)

    def _shown_in(self, values: dict, *outputs: str) -> dict:
        """``values`` without the keys excluded from any of ``outputs``."""
        excluded = self.name_to_excluded
        return {k: v for k, v in values.items()
                if not any(o in excluded.get(k, ()) for o in outputs)}

    def dump(self, step: int = 0) -> None:
        """Write this iteration's values (table, CSV row, TensorBoard), then clear them."""
        values = dict(self.name_to_value)
        if values:
            table = self._shown_in(values, "stdout", "log")
            if self.verbose >= 1 and table:
                print(format_table(table), file=sys.stdout, flush=True)
            if self.folder is not None:
                self._write_csv(self._shown_in(values, "csv"))
            if self.tensorboard is not None:
                scalars = {k: v for k, v in self._shown_in(values, "tensorboard").items()
                           if is_scalar(v)}
                self.tensorboard.add_scalars(scalars, int(step))
        self.last_values = values
        self.last_step = int(step)
        self.name_to_value.clear()
        self.name_to_count.clear()
        self.name_to_excluded.clear()

    def _write_csv(self, values: dict) -> None:
        if not values:
            return
        path, folder = self.csv_path, self.folder
        if path is None or folder is None:  # no folder: nothing is written
            return
        os.makedirs(folder, exist_ok=True)
        new_keys = sorted(k for k in values if k not in self._csv_keys)
        if not self._csv_started:
            self._csv_keys = sorted(values)
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(self._csv_keys)
            self._csv_started = True
        elif new_keys:
            # rewrite the file with the extended header; old rows get empty new cells
            with open(path, newline="") as f:
                old_rows = list(csv.reader(f))[1:]
            self._csv_keys = self._csv_keys + new_keys
            with open(path, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(self._csv_keys)
                pad = [""] * len(new_keys)
                writer.writerows(row + pad for row in old_rows)
        row = ["" if k not in values else _csv_value(values[k]) for k in self._csv_keys]
        with open(path, "a", newline="") as f:
            csv.writer(f).writerow(row)

    def close(self) -> None:
        """Stop writing TensorBoard scalars; no file is kept open between dumps."""
        self.tensorboard = None

