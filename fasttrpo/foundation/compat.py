"""Warnings for what is accepted for Stable-Baselines3 compatibility but changes nothing.

Each distinct warning is given once per process (`warn_once`), however often the argument is
passed: a loop that builds models does not flood the output.
"""

import os
import sys
import types
import warnings
from typing import Any

__all__ = ["user_stacklevel", "warn_ignored_sb3_kwargs", "warn_once"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_stacklevel() -> int:
    """Return the ``stacklevel`` that makes a warning name the user's line, not fasttrpo's.

    The number of frames from the caller of this function to the first one outside the
    fasttrpo package (Python 3.12's ``skip_file_prefixes``, for 3.11).
    """
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level

_WARNED: set[str] = set()

#: sb3 keyword arguments fasttrpo accepts and ignores, with the values that ask for nothing
#: fasttrpo does not do anyway (no warning for those) and why the others are ignored
_SB3_IGNORED_VALUES: dict[str, tuple[tuple[Any, ...], str]] = {
    "device": (("auto", "cpu"), "fasttrpo runs on the CPU"),
    "_init_setup_model": ((True,), "the model is always set up by the constructor"),
    "rollout_buffer_class": ((None,), "fasttrpo's samplers fill their own RolloutBatch"),
    "rollout_buffer_kwargs": ((None, {}), "fasttrpo's samplers fill their own RolloutBatch"),
}


def warn_once(key: str, message: str, category: type[Warning] = UserWarning,
              stacklevel: int = 3) -> bool:
    """Issue ``message`` unless a warning with ``key`` was already given; returns whether it was."""
    if key in _WARNED:
        return False
    _WARNED.add(key)
    warnings.warn(message, category, stacklevel=stacklevel)
    return True


def warn_ignored_sb3_kwargs(kwargs: dict[str, Any]) -> None:
    """Warn once per name for each sb3 argument in ``kwargs`` that fasttrpo ignores."""
    for name, value in kwargs.items():
        accepted, reason = _SB3_IGNORED_VALUES.get(name, ((), "it has no effect in fasttrpo"))
        try:
            harmless = any(value is a or (type(value) is type(a) and value == a)
                           for a in accepted)
        except (TypeError, ValueError):  # e.g. an array
            harmless = False
        if not harmless:
            warn_once(f"sb3:{name}", f"{name}={value!r} is accepted for Stable-Baselines3 "
                      f"compatibility and ignored: {reason}", stacklevel=5)
