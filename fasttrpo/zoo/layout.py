"""rl-baselines3-zoo's experiment layout, as ``fasttrpo train`` writes it.

``python -m rl_zoo3.train --algo trpo --env X -f LOGDIR`` writes ``LOGDIR/trpo/<env>_<k>/``
(``k`` one more than the largest run of that env there) holding the model ``<env>.zip``,
``<env>/config.yml`` (the hyperparameters used), ``<env>/args.yml`` (the command-line
arguments), ``<env>/command.txt``, the Monitor files ``<rank>.monitor.csv``,
``evaluations.npz`` and ``best_model.zip``; ``fasttrpo train`` writes the same (plus its
``progress.csv``), so the zoo's plot scripts read both. ``<env>`` is the env id with ``/``
replaced by ``-``, as the zoo names it.
"""

import os
import sys
import uuid
from pathlib import Path
from typing import Any

from fasttrpo.logs.tensorboard import latest_run_id

__all__ = ["default_hyperparams_file", "env_folder_name", "new_run_folder", "write_run_config"]


def default_hyperparams_file() -> Path:
    """``trpo.yml`` shipped with fasttrpo: the repository's ``hyperparams/trpo.yml``."""
    return Path(__file__).resolve().parents[1] / "data" / "trpo.yml"


def env_folder_name(env_id: str) -> str:
    """``env_id`` as a folder name (the zoo's: ``/`` becomes ``-``)."""
    return env_id.replace("/", "-").replace(os.sep, "-")


def new_run_folder(log_folder: str | os.PathLike, algo: str, env_id: str,
                   unique: bool = False) -> Path:
    """``<log_folder>/<algo>/<env>_<k+1>`` (``_<uuid>`` appended with ``unique``), created.

    Parameters
    ----------
    log_folder : str or os.PathLike
        The zoo's ``-f`` folder.
    algo : str
        ``"trpo"``, ``"cpo"`` or ``"trpo_lagrangian"``.
    env_id : str
    unique : bool, default False
        The zoo's ``--uuid``.
    """
    parent = Path(log_folder) / algo
    name = env_folder_name(env_id)
    folder = parent / f"{name}_{latest_run_id(parent, name) + 1}"
    if unique:
        folder = folder.with_name(f"{folder.name}_{uuid.uuid4()}")
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def _plain(value: Any) -> Any:
    """``value`` with tuples, paths and other objects made YAML-safe."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_run_config(run_folder: str | os.PathLike, env_id: str, hyperparams: dict[str, Any],
                     args: dict[str, Any], command: str | None = None) -> Path:
    """Write ``config.yml``, ``args.yml`` and ``command.txt`` to ``<run_folder>/<env>/``.

    ``config.yml`` holds the hyperparameters as read (the file's entry with the command
    line's overrides), ``args.yml`` the command-line arguments, both sorted by key as the zoo
    writes them (plain YAML mappings: the zoo's ``get_saved_hyperparams`` and
    ``yaml.safe_load`` read them), ``command.txt`` ``command`` (default: this process's
    command line). Returns that folder.
    """
    import yaml

    folder = Path(run_folder) / env_folder_name(env_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in (("config.yml", hyperparams), ("args.yml", args)):
        text = yaml.safe_dump(_plain(dict(sorted(values.items()))), sort_keys=True)
        (folder / name).write_text(text)
    if command is None:
        command = " ".join(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    (folder / "command.txt").write_text(command + "\n")
    return folder
