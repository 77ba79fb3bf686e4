"""Write a policy as the numpy-only runtime's ``.npz`` file (format in `fasttrpo.runtime`)."""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fasttrpo.foundation.portable import write_atomically
from fasttrpo.runtime import FORMAT_NAME, FORMAT_VERSION, Policy


def policy_arrays(policy: Policy) -> dict[str, np.ndarray]:
    """Build the entries of a version-1 policy file for ``policy``.

    Parameters
    ----------
    policy : fasttrpo.runtime.Policy

    Returns
    -------
    dict of str to numpy.ndarray
        ``format``, ``format_version``, the spaces as JSON strings, ``layer_sizes``,
        ``activation``, ``head``, ``nvec``, ``params``, ``clip_obs`` and, with observation
        normalisation, ``obs_mean`` and ``obs_std``; ``gru_hidden_size`` for a recurrent one.
    """
    arrays = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "observation_space": np.array(json.dumps(policy.observation_space)),
        "action_space": np.array(json.dumps(policy.action_space)),
        "layer_sizes": np.array(policy.layer_sizes, dtype=np.int64),
        "activation": np.array(policy.activation),
        "head": np.array(policy.head),
        "nvec": np.array(policy.nvec, dtype=np.int64),
        "params": np.array(policy.params),
        "clip_obs": np.array(policy.clip_obs if policy.normalize_obs else 0.0, dtype=np.float64),
    }
    if policy.recurrent:
        arrays["gru_hidden_size"] = np.array(policy.gru_hidden_size, dtype=np.int64)
    if policy.normalize_obs:
        arrays["obs_mean"] = np.array(policy.obs_mean, dtype=np.float64)
        arrays["obs_std"] = np.array(policy.obs_std, dtype=np.float64)
    return arrays


def export_npz(policy: Policy, path: str | os.PathLike) -> Path:
    """Write ``policy`` to ``path`` (".npz" appended when it has no suffix), atomically.

    Parameters
    ----------
    policy : fasttrpo.runtime.Policy
    path : str or os.PathLike
        The parent directory must exist.

    Returns
    -------
    pathlib.Path
        The file written; ``fasttrpo.runtime.load`` reads it.
    """
    target = Path(os.fspath(path))
    if target.suffix == "":
        target = target.with_name(target.name + ".npz")
    arrays: dict[str, Any] = policy_arrays(policy)  # Any: numpy types savez's **kwds narrowly
    # a file object: numpy appends no ".npz"; killed writers' temporary files are removed
    return write_atomically(target, lambda handle: np.savez(handle, **arrays))
