"""Export a trained policy for deployment without fasttrpo's training stack.

Formats (one module each):

* ``"npz"`` (`fasttrpo.export.npz`): the file ``fasttrpo.runtime.load`` reads; runs with
  numpy alone.
* ``"onnx"`` (`fasttrpo.export.onnx`): an ONNX graph for onnxruntime and other ONNX
  runtimes; needs the ``export`` extra (``pip install "fasttrpo[export]"``).
* ``"c"`` (`fasttrpo.export.c`): a self-contained C99 ``.c`` + ``.h`` pair.

Every format computes ``TRPO.predict(obs, deterministic=True)``: observation encoding and
normalisation with the frozen statistics, the MLP, clipping to the Box bounds or the mode of a
discrete head. The npz runtime also samples stochastic actions.

Examples
--------
>>> model.export("policy.npz")                        # doctest: +SKIP
>>> model.export("policy.onnx", format="onnx")        # doctest: +SKIP
>>> model.export("build/cartpole", format="c")        # doctest: +SKIP
"""

import os
from pathlib import Path

from fasttrpo.runtime import Policy

__all__ = ["FORMATS", "SUFFIXES", "as_policy", "export"]

FORMATS = ("npz", "onnx", "c")
SUFFIXES = {".npz": "npz", ".onnx": "onnx", ".c": "c", ".h": "c"}


def as_policy(source) -> Policy:
    """Return a runtime `Policy` from a ``TRPO`` model, a `Policy` or a policy ``.npz`` path."""
    if isinstance(source, Policy):
        return source
    if isinstance(source, (str, os.PathLike)):
        from fasttrpo.runtime import load

        return load(source)
    if hasattr(source, "policy") and hasattr(source, "codec"):
        from fasttrpo.export.model import policy_from_model

        return policy_from_model(source)
    raise TypeError(f"expected a fasttrpo TRPO model, a fasttrpo.runtime.Policy or a policy "
                    f"file path, got {type(source).__name__}")


def export(source, path: str | os.PathLike, format: str | None = None,
           name: str | None = None) -> list[Path]:
    """Write ``source``'s policy to ``path`` in ``format``.

    Parameters
    ----------
    source : fasttrpo.TRPO, fasttrpo.runtime.Policy, or path of a policy ``.npz``
    path : str or os.PathLike
        Destination. Without a suffix the format's suffix is appended; the C format writes
        ``<path>.c`` and ``<path>.h``. The parent directory must exist.
    format : {"npz", "onnx", "c"}, optional
        Default: from the suffix of ``path`` (``.npz``, ``.onnx``, ``.c`` / ``.h``), else npz.
    name : str, optional
        The ONNX graph name, or the C symbol prefix (default: the file stem).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ValueError
        On an unknown format (or a C name that is not an identifier).
    ImportError
        For ``"onnx"`` without the ``onnx`` package.
    """
    path = Path(os.fspath(path))
    if format is None:
        format = SUFFIXES.get(path.suffix.lower(), "npz")
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    policy = as_policy(source)
    if format == "npz":
        from fasttrpo.export.npz import export_npz

        return [export_npz(policy, path)]
    if format == "onnx":
        from fasttrpo.export.onnx import export_onnx

        return [export_onnx(policy, path, name=name or "fasttrpo_policy")]
    from fasttrpo.export.c import export_c

    return export_c(policy, path, name=name)
