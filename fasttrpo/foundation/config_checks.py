"""The checks behind every config field: validation and normalisation of user values.

`fasttrpo.config` declares each hyperparameter with `config_field` (default, doc, check,
whether it shapes the networks); the checks here (`integer`, `real`, `boolean`, `choice`,
`optional`, `layer_sizes`, `learning_rate`, `policy_kwargs`, ...) refuse what does not fit
with a ValueError naming the field, and turn what fits into plain JSON-ready values (numpy
scalars into Python numbers). Standard library and numpy only.
"""

import math
import numbers
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

import numpy as np

from fasttrpo.foundation.compat import user_stacklevel, warn_once
from fasttrpo.foundation.heads import activation_code
from fasttrpo.foundation.schedules import LinearSchedule, schedule_from_json, schedule_value
from fasttrpo.foundation.step_defaults import MAX_CONSTRAINTS

__all__ = ["LOG_STD_INIT_BOUND", "LearningRate", "MAX_COUNT", "MAX_LAYERS", "MAX_LAYER_SIZE",
           "MAX_TARGET_KL",
           "boolean", "choice", "config_field", "dtype_name", "integer", "layer_sizes",
           "learning_rate", "optional", "path_text", "policy_kwargs", "real", "short_repr"]


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters (a message must stay readable)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ---- checks: each takes (name, value) and returns the normalised value or raises ValueError
# (a ValueError for a wrong type too: the project's one exception for bad arguments) -------
#: largest count or size a hyperparameter may hold: beyond it, no array of that many rows or
#: units fits in memory, and a clear error beats a MemoryError deep in the set-up
MAX_COUNT = 2**31 - 1


class IntegerCheck:
    """A check of integers in [minimum, maximum] (numpy integers and whole floats accepted).

    ``wanted`` describes the values it takes, for messages (`optional` names it too).
    """

    def __init__(self, minimum: int, maximum: int = MAX_COUNT) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")

    def __call__(self, name: str, value: Any) -> int:
        """Return ``value`` as an int; ValueError naming ``name`` if it is not one in range."""
        if not _is_whole_number(value):
            raise ValueError(f"{name}: must be {self.wanted}, got {short_repr(value)}")
        whole = int(value)  # a whole float (1e5 from YAML or the CLI) is accepted
        if whole < self.minimum:
            raise ValueError(f"{name}: must be {self.wanted}, got {short_repr(value)}")
        if whole > self.maximum:
            raise ValueError(f"{name}: must be {self.wanted} <= {self.maximum}, got "
                             f"{short_repr(value)}")
        return whole


def integer(minimum: int, maximum: int = MAX_COUNT) -> IntegerCheck:
    """Return a check of integers in [minimum, maximum] (numpy integers accepted)."""
    return IntegerCheck(minimum, maximum)


def _is_whole_number(value: Any) -> bool:
    """Return whether ``value`` is an integer (not a bool) or a finite whole float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    return isinstance(value, numbers.Integral) or (
        math.isfinite(float(value)) and float(value).is_integer())


def real(low: float, high: float = math.inf, low_open: bool = False,
           high_open: bool = False) -> Callable[[str, Any], float]:
    """Return a check of finite reals in the interval (bounds open or closed as given)."""
    lo, hi = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
    interval = f"{lo}{low:g}, {high:g}{hi}"

    def check(name: str, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name}: must lie in {interval}, got {short_repr(value)}")  # noqa: TRY004
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name}: must be a finite number, got {value!r}")
        if not ((value > low if low_open else value >= low)
                and (value < high if high_open else value <= high)):
            raise ValueError(f"{name}: must lie in {interval}, got {short_repr(value)}")
        return value

    return check


def boolean(name: str, value: Any) -> bool:
    """Check a bool (numpy's too); ValueError naming ``name`` otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {short_repr(value)}")  # noqa: TRY004
    return bool(value)


def optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """Return ``check`` that also lets None through."""
    def optional(name: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(name, value)
        except ValueError:
            wanted = getattr(check, "wanted", None)
            if wanted is None:
                raise
            raise ValueError(f"{name}: must be None or {wanted}, got {short_repr(value)}") from None

    return optional


def choice(*choices: str) -> Callable[[str, Any], str]:
    """Return a check of one of ``choices`` (strings)."""
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, "
                             f"got {short_repr(value)}")
        return str(value)

    return check


def dtype_name(name: str, value: Any) -> str:
    """Check a float dtype name, ``"float32"`` or ``"float64"``."""
    try:
        resolved = np.dtype(value)
    except (TypeError, ValueError, KeyError, SyntaxError) as err:  # np.dtype raises them all
        raise ValueError(f"{name}: {short_repr(value)} is not a dtype; use 'float32' or "
                         "'float64'") from err
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name}: {resolved} is not supported; use 'float32' or 'float64'")
    return str(resolved)


def path_text(name: str, value: Any) -> str:
    """Check a path given as a string or os.PathLike; return it as a string."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name}: expected a folder path, got {short_repr(value)}")  # noqa: TRY004
    return os.fspath(value)


_POLICY_KWARGS = ("net_arch", "activation_fn", "log_std_init", "ortho_init", "full_std",
                  "gru_hidden_size")
#: sb3's feature-extractor keys: fasttrpo flattens observations (sb3's FlattenExtractor for a
#: Box, CombinedExtractor for a Dict without images), so they are accepted and, where they
#: would change sb3's networks, ignored with a warning (`_extractor_kwargs`)
_EXTRACTOR_KWARGS = ("features_extractor_class", "features_extractor_kwargs",
                     "share_features_extractor", "normalize_images")
#: sb3's extractors that are what fasttrpo's flattening computes (by class name)
_FLATTENING_EXTRACTORS = ("FlattenExtractor", "CombinedExtractor")
#: largest target_kl (nats)
MAX_TARGET_KL = 10.0
#: |log_std_init| limit: std from 2e-9 to 5e8
LOG_STD_INIT_BOUND = 20.0


#: widest hidden layer and most hidden layers ``net_arch`` may ask for
MAX_LAYER_SIZE, MAX_LAYERS = 65_536, 64


def layer_sizes(name: str, value: Any) -> list[int]:
    """Check a list of at most MAX_LAYERS positive layer widths."""
    if not isinstance(value, (list, tuple)) or len(value) > MAX_LAYERS or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
            and 0 < int(v) <= MAX_LAYER_SIZE for v in value):
        raise ValueError(f"{name}: expected a list of at most {MAX_LAYERS} positive integers "
                         f"<= {MAX_LAYER_SIZE}, got {short_repr(value)}")
    return [int(v) for v in value]



#: the type of ``learning_rate``: a rate, or a schedule of the remaining progress (sb3)
LearningRate = float | Callable[[float], float]


def learning_rate(name: str, value: Any) -> "float | Callable[[float], float]":
    """Check a positive rate, or a schedule: a callable, ``"lin_<rate>"`` (zoo) or a saved one.

    A callable is called at the start and the end of training (remaining progress 1 and 0)
    to check it returns finite rates >= 0, positive at the start.
    """
    if isinstance(value, str):
        try:
            return LinearSchedule.from_zoo(value)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    if isinstance(value, Mapping):
        try:
            return schedule_from_json(dict(value))
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    if callable(value) and not isinstance(value, type):
        if schedule_value(name, value, 1.0) <= 0:
            raise ValueError(f"{name}: the schedule must start with a positive rate")
        schedule_value(name, value, 0.0)
        return value
    return real(0.0, low_open=True)(name, value)


def _extractor_kwargs(name: str, value: Mapping) -> None:
    """Check sb3's feature-extractor keys of ``policy_kwargs``; none is kept.

    ``features_extractor_class`` must be one whose output is the flattened observation
    (``FlattenExtractor``, ``CombinedExtractor``); ``share_features_extractor`` changes
    nothing there (a flattening has no parameters to share); ``features_extractor_kwargs``
    (CombinedExtractor's ``cnn_output_dim``, ``normalized_image``) and ``normalize_images``
    act on image observations, which fasttrpo flattens as they are: given, they are ignored
    with one warning.
    """
    if "features_extractor_class" in value:
        extractor = value["features_extractor_class"]
        extractor_name = extractor.__name__ if isinstance(extractor, type) else extractor
        if extractor_name not in _FLATTENING_EXTRACTORS:
            raise ValueError(f"{name}.features_extractor_class: fasttrpo's MLPs read the "
                             f"flattened observation ({' or '.join(_FLATTENING_EXTRACTORS)}); "
                             f"got {short_repr(extractor)} (custom extractors are out of "
                             "scope)")
    if "share_features_extractor" in value:
        boolean(f"{name}.share_features_extractor", value["share_features_extractor"])
    for key in ("features_extractor_kwargs", "normalize_images"):
        if key in value:
            if key == "features_extractor_kwargs" and not isinstance(value[key], Mapping):
                raise ValueError(f"{name}.{key}: expected a dict, got {short_repr(value[key])}")
            warn_once(f"policy_kwargs.{key}",
                      f"{name}.{key} is ignored: fasttrpo flattens observations (image "
                      "entries included, as they are); it has no CNN extractor",
                      stacklevel=user_stacklevel())


def policy_kwargs(name: str, value: Any) -> dict:
    """sb3's ``policy_kwargs`` subset fasttrpo builds: a plain, JSON-ready dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: expected a dict, got {short_repr(value)}")  # noqa: TRY004
    unknown = sorted(set(value) - set(_POLICY_KWARGS) - set(_EXTRACTOR_KWARGS))
    if unknown:
        raise ValueError(f"{name}: unsupported key(s) {unknown}; supported: "
                         f"{', '.join(_POLICY_KWARGS + _EXTRACTOR_KWARGS)}")
    _extractor_kwargs(name, value)
    out: dict[str, Any] = {}
    if "net_arch" in value:
        arch = value["net_arch"]
        if isinstance(arch, Mapping):
            unknown = sorted(set(arch) - {"pi", "vf"})
            if unknown:
                raise ValueError(f"{name}: net_arch keys {unknown} unknown; use pi, vf")
            out["net_arch"] = {k: layer_sizes(f"{name}.net_arch.{k}", v) for k, v in arch.items()}
        else:
            try:
                out["net_arch"] = layer_sizes(f"{name}.net_arch", arch)
            except ValueError:
                raise ValueError(f"{name}: net_arch must be a list of at most {MAX_LAYERS} "
                                 f"ints in [1, {MAX_LAYER_SIZE}] or dict(pi=..., vf=...), got "
                                 f"{short_repr(arch)}") from None
    if "activation_fn" in value:
        activation = value["activation_fn"]
        if isinstance(activation, type):  # what sb3 users paste: nn.Tanh / nn.ReLU, by name
            activation = activation.__name__
        if not isinstance(activation, str):
            raise ValueError(f"{name}: activation_fn must be a name such as 'tanh', 'relu', "
                             f"'nn.Tanh' or 'nn.ReLU', or a class named Tanh or ReLU, got "
                             f"{short_repr(activation)}")
        try:
            activation_code(activation)
        except ValueError:
            raise ValueError(f"{name}.activation_fn: unknown activation {activation!r}; "
                             "supported: 'tanh', 'relu' (or nn.Tanh, nn.ReLU)") from None
        out["activation_fn"] = activation
    if "log_std_init" in value:
        # beyond +-20 the variance exp(2 log_std) leaves float32's range within a few steps
        out["log_std_init"] = real(-LOG_STD_INIT_BOUND, LOG_STD_INIT_BOUND)(
            f"{name}.log_std_init", value["log_std_init"])
    if "full_std" in value:  # gSDE: log_std per (latent, action) pair, else per latent unit
        out["full_std"] = boolean(f"{name}.full_std", value["full_std"])
    if "ortho_init" in value:
        out["ortho_init"] = boolean(f"{name}.ortho_init", value["ortho_init"])
    if "gru_hidden_size" in value:  # MlpGruPolicy: the GRU's H (net_arch's pi: its encoder)
        out["gru_hidden_size"] = integer(1, MAX_LAYER_SIZE)(f"{name}.gru_hidden_size",
                                                            value["gru_hidden_size"])
    return out


def config_field(default: Any, doc: str, check: Callable[[str, Any], Any], *,
           network: bool = False) -> Any:
    """Declare a config field.

    ``default``, its ``doc``, the ``check`` that validates and normalises a value, and whether
    it shapes the networks (``network``).
    """
    return field(default=default, metadata={"doc": doc, "check": check, "network": network})


#: ``cost_limit``'s type: one limit, or one per cost
CostLimit = float | list[float]
_COST_SIGNAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?$")


def cost_limits(name: str, value: Any) -> "float | list[float]":
    """Check a limit >= 0, or a list of 1 to ``MAX_CONSTRAINTS`` of them (one per cost)."""
    one = real(0.0)
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.ravel(value))
        if not 1 <= len(values) <= MAX_CONSTRAINTS:
            raise ValueError(f"{name}: expected a number or a list of 1 to {MAX_CONSTRAINTS} "
                             f"numbers (one per cost), got {short_repr(value)}")
        return [one(f"{name}[{i}]", item) for i, item in enumerate(values)]
    return one(name, value)


def cost_keys(name: str, value: Any) -> "list[str] | None":
    """Check None or a list of distinct cost signal names (an info key or ``key[column]``)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name}: expected None or a non-empty list of info keys such as "
                         f"['cost_hazards', 'cost_vases'] or ['cost[0]', 'cost[1]'], got "
                         f"{short_repr(value)}")
    keys = []
    for item in value:
        if not isinstance(item, str) or not _COST_SIGNAL.match(item) or item == "reward":
            raise ValueError(f"{name}: {short_repr(item)} is not an info key (a Python name "
                             "other than 'reward') or key[column]")
        keys.append(item)
    if len(set(keys)) != len(keys):
        raise ValueError(f"{name}: the keys must be distinct, got {keys}")
    return keys
