"""Hyperparameters written for rl-baselines3-zoo (``hyperparams/trpo.yml``) as TRPO arguments.

The zoo stores some values as Python source strings (``policy_kwargs``, ``normalize``) that it
``eval``-s. Here they are parsed with the :mod:`ast` module instead and only literals, nested
``dict(...)`` calls, lists, tuples and dotted names such as ``nn.ReLU`` are accepted: nothing
is ever evaluated.
"""

import ast
import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fasttrpo.config import OnPolicyConfig, TRPOConfig
from fasttrpo.foundation.config_checks import MAX_COUNT, short_repr
from fasttrpo.foundation.portable import MAX_TEXT_BYTES, open_regular_file

__all__ = [
    "ZOO_DEFAULT_KEY",
    "load_zoo_hyperparams",
    "parse_cli_overrides",
    "parse_kwargs_string",
    "zoo_entry",
    "zoo_to_trpo_kwargs",
]

#: the entry rl-baselines3-zoo uses for an env id its file does not list
ZOO_DEFAULT_KEY = "default"

# zoo keys that configure the environment in ways fasttrpo does not reproduce
_UNSUPPORTED = {
    "env_wrapper": "environment wrappers",
    "vec_env_wrapper": "vector-env wrappers",
    "frame_stack": "frame stacking",
    "callback": "zoo callbacks",
}
# VecNormalize arguments: how they map to TRPO keyword arguments (None: ignored silently)
_NORMALIZE_KEYS = {
    "norm_obs": "normalize_obs",
    "norm_reward": "normalize_reward",
    "clip_obs": "clip_obs",
    "clip_reward": "clip_reward",
    "gamma": None,  # fasttrpo's reward scaling discounts with TRPO's own gamma
}
_NORMALIZE_IGNORED = {"epsilon", "training", "norm_obs_keys"}


def _numeric_keys(config_class: type[OnPolicyConfig]) -> set[str]:
    """Return the keys whose YAML value must be a number.

    PyYAML reads "1e-3", without a dot, as a string: the config's int and float fields, and
    the zoo's own step count, are parsed as numbers.
    """
    return {name for name in config_class.field_names()
            if config_class.field_type(name) in (int, float)} | {"n_timesteps"}

_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_SCHEDULE_RE = re.compile(r"^\s*(lin|linear|exp|const)_", re.IGNORECASE)
_TORCH_PREFIXES = ("th.nn.", "torch.nn.")


def _yaml():
    try:
        import yaml
    except ImportError as err:
        raise ImportError('reading zoo hyperparameter files needs PyYAML: '
                          'pip install "fasttrpo[yaml]"') from err
    return yaml


def zoo_entry(path_or_text: str | os.PathLike, env_id: str) -> tuple[dict, str]:
    """Read the entry for ``env_id`` from an rl-baselines3-zoo style YAML file.

    Parameters
    ----------
    path_or_text : str or os.PathLike
        A path to the YAML file (e.g. the zoo's ``hyperparams/trpo.yml``), or the YAML text
        itself. A ``str`` is read as a path when it names an existing file or ends with
        ".yml" / ".yaml" and has no line break; otherwise it is YAML text.
    env_id : str
        The top-level key, e.g. ``"CartPole-v1"``.

    Returns
    -------
    entry : dict
        A copy of the entry, unconverted (see `zoo_to_trpo_kwargs`). YAML anchors and merge
        keys (``<<: *defaults``), as used by the zoo, are resolved.
    key : str
        ``env_id``, or ``"default"`` when the file has no entry for ``env_id`` but a
        ``default:`` one (the zoo's fallback, e.g. ``n_timesteps: 1e6``, ``MlpPolicy``).

    Raises
    ------
    ImportError
        If PyYAML is not installed.
    FileNotFoundError
        If ``path_or_text`` looks like a path that does not exist.
    ValueError
        If the path is not a regular file or holds more than 64 MiB, the YAML is invalid,
        is not a mapping of env ids to mappings, or lacks both ``env_id`` and ``default``
        (the message lists the available ids).
    """
    yaml = _yaml()
    source = "hyperparameters"
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text
        and (os.path.isfile(path_or_text) or path_or_text.endswith((".yml", ".yaml")))
    ):
        path = Path(path_or_text)
        if not path.exists():
            raise FileNotFoundError(f"hyperparameter file not found: {path}")
        source = str(path)
        with open_regular_file(path) as handle:  # a FIFO or /dev/zero would never end
            data = handle.read(MAX_TEXT_BYTES + 1)
        if len(data) > MAX_TEXT_BYTES:
            raise ValueError(f"{source}: larger than {MAX_TEXT_BYTES} bytes; not a "
                             "hyperparameter file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{source}: not UTF-8 text ({err})") from None
    elif isinstance(path_or_text, str):
        text = path_or_text
    else:
        raise TypeError(f"path_or_text: expected a path or YAML text, got "
                        f"{type(path_or_text).__name__}")
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        # ValueError: an integer of more digits than Python converts; RecursionError: nesting
        # deeper than PyYAML's recursive composer goes
        raise ValueError(f"{source}: invalid YAML ({type(err).__name__}: "
                         f"{str(err)[:300]})") from None
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004 (malformed file content)
            f"{source}: expected a mapping of environment ids to hyperparameters")
    key = env_id if env_id in data else ZOO_DEFAULT_KEY if ZOO_DEFAULT_KEY in data else None
    if key is None:
        available = ", ".join(sorted(str(key) for key in data)) or "none"
        raise ValueError(f"{source}: no hyperparameters for {env_id!r}; available: {available}")
    entry = data[key]
    if entry is None:
        return {}, key
    if not isinstance(entry, dict):
        raise ValueError(f"{source}: the entry for {key!r} is not a mapping")  # noqa: TRY004
    return dict(entry), key


def load_zoo_hyperparams(path_or_text: str | os.PathLike, env_id: str) -> dict:
    """Read the entry for ``env_id`` from an rl-baselines3-zoo style YAML file.

    As `zoo_entry`, without the key: the file's ``default:`` entry stands in for an env id
    it does not list.
    """
    return zoo_entry(path_or_text, env_id)[0]


# ---- safe parsing of Python-source strings -------------------------------------------------
def _dotted_name(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or not parts:
        return None
    parts.append(node.id)
    name = ".".join(reversed(parts))
    for prefix in _TORCH_PREFIXES:  # th.nn.Tanh, torch.nn.Tanh -> nn.Tanh
        if name.startswith(prefix):
            return "nn." + name[len(prefix):]
    return name


def _literal(node: ast.AST, key: str, source: str) -> Any:
    """Return the value of a whitelisted expression node; raise ValueError naming ``key`` else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool,
                                                                   type(None))):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, ast.List):
        return [_literal(item, key, source) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(item, key, source) for item in node.elts)
    if isinstance(node, (ast.Dict, ast.Call)):
        return _mapping(node, key, source)
    name = _dotted_name(node)
    if name is not None:
        return name
    raise ValueError(f"{key}: unsupported expression {ast.unparse(node)!r} in {source!r}; "
                     "only literals, dict(...), lists, tuples and names like nn.ReLU are allowed")


def _mapping(node: ast.AST, key: str, source: str) -> dict:
    """Evaluate a ``dict(k=v, ...)`` call or a ``{"k": v}`` literal with string keys."""
    out: dict[str, Any] = {}
    if isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id == "dict") or node.args:
            raise ValueError(f"{key}: unsupported call {ast.unparse(node)!r} in {source!r}; "
                             "only dict(name=value, ...) is allowed")
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ValueError(f"{key}: '**' unpacking is not allowed in {source!r}")
            out[keyword.arg] = _literal(keyword.value, f"{key}.{keyword.arg}", source)
        return out
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                shown = "**" if k is None else ast.unparse(k)
                raise ValueError(  # noqa: TRY004 (malformed string content)
                    f"{key}: dictionary keys must be strings, got {shown} in {source!r}")
            out[k.value] = _literal(v, f"{key}.{k.value}", source)
        return out
    raise ValueError(f"{key}: expected dict(...) or {{...}}, got {ast.unparse(node)!r}")


def parse_kwargs_string(text: str, key: str = "policy_kwargs") -> dict:
    """Parse a zoo-style keyword dictionary written as Python source, without evaluating it.

    Parameters
    ----------
    text : str
        E.g. ``"dict(log_std_init=-2, activation_fn=nn.ReLU, net_arch=dict(pi=[256], vf=[256]))"``
        or ``"{'norm_obs': True, 'norm_reward': False}"``.
    key : str
        The hyperparameter name, used in error messages.

    Returns
    -------
    dict
        Nested literals; dotted names become strings (``nn.ReLU`` -> ``"nn.ReLU"``, with a
        ``th.nn.`` / ``torch.nn.`` prefix shortened to ``nn.``).

    Raises
    ------
    ValueError
        If ``text`` is not a ``dict(...)`` call or ``{...}`` literal built only from literals,
        nested ``dict(...)`` calls, lists, tuples and dotted names.
    """
    if not isinstance(text, str):
        raise TypeError(f"{key}: expected a string, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"{key}: not a valid Python expression: {text!r} ({err.msg})") from err
    if not isinstance(tree.body, (ast.Call, ast.Dict)):
        raise ValueError(f"{key}: expected dict(...) or {{...}}, got {text!r}")  # noqa: TRY004
    return _mapping(tree.body, key, text)


#: the keys that take a schedule string ("lin_<rate>"; fasttrpo.foundation.schedules)
_SCHEDULE_KEYS = frozenset({"learning_rate"})


def _check_schedule(key: str, value: Any) -> bool:
    """Whether ``value`` is a schedule string; ValueError where ``key`` takes no schedule."""
    if not (isinstance(value, str) and _SCHEDULE_RE.match(value)):
        return False
    if key in _SCHEDULE_KEYS and value.strip().lower().startswith("lin_"):
        return True
    accepted = "; 'lin_<rate>' is supported" if key in _SCHEDULE_KEYS else ""
    raise ValueError(f"{key}: schedules such as {value!r} are not supported by fasttrpo "
                     f"here{accepted}; use a constant number")


def _number(key: str, value: Any) -> Any:
    """Numeric YAML strings ("1e-3") become numbers; "lin_<rate>" stays for the config."""
    if _check_schedule(key, value):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not _FLOAT_RE.match(text):
            raise ValueError(f"{key}: expected a number, got {short_repr(value)}")
        try:
            return int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:  # more digits than Python converts
            raise ValueError(f"{key}: expected a number, got {short_repr(value)}") from None
    return value


_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")


def _boolean(key: str, value: Any) -> Any:
    """YAML 1.1 boolean strings ('false', 'no', 'off', quoted or from the CLI) become bools.

    A non-empty string is truthy in Python, so 'false' must never reach a truth test; other
    values pass through for the config's own check.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(f"{key}: expected true or false, got {short_repr(value)}")
    return value


def _count(key: str, value: Any, minimum: int) -> int:
    value = _number(key, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)) or value != int(value) \
            or not minimum <= value <= MAX_COUNT:
        raise ValueError(f"{key}: expected a whole number in [{minimum}, {MAX_COUNT}], got "
                         f"{short_repr(value)}")
    return int(value)


def _normalize_kwargs(value: Any, warnings: list[str]) -> dict:
    if isinstance(value, bool) or value is None:
        return {"normalize_obs": True, "normalize_reward": True} if value else {}
    if isinstance(value, str):
        if value.strip().lower() in _TRUE + _FALSE:
            return _normalize_kwargs(_boolean("normalize", value), warnings)
        value = parse_kwargs_string(value, key="normalize")
    if not isinstance(value, Mapping):
        raise ValueError(  # noqa: TRY004 (malformed hyperparameter value)
            f"normalize: expected true/false or a dict of VecNormalize arguments, got {value!r}")
    # VecNormalize's defaults: both on
    out: dict[str, Any] = {"normalize_obs": True, "normalize_reward": True}
    for name, item in value.items():
        if name in _NORMALIZE_IGNORED:
            warnings.append(f"normalize: {name}={item!r} is ignored by fasttrpo")
        elif name not in _NORMALIZE_KEYS:
            raise ValueError(f"normalize: unsupported VecNormalize argument {name!r}; "
                             f"supported: {', '.join(sorted(_NORMALIZE_KEYS))}")
        elif _NORMALIZE_KEYS[name] is None:
            warnings.append(f"normalize: {name}={item!r} is ignored by fasttrpo (the reward "
                            "scaling discounts with the algorithm's gamma)")
        else:
            label, target = f"normalize.{name}", str(_NORMALIZE_KEYS[name])
            if name.startswith("norm_"):
                item = _boolean(label, item)
            # checked here, so that a bad value is reported under the key the user wrote
            out[target] = OnPolicyConfig.check_value(target, item, label)
    return out


def zoo_to_trpo_kwargs(entry: Mapping[str, Any],
                       config_class: type[OnPolicyConfig] = TRPOConfig) -> tuple[dict, dict]:
    """Convert a zoo hyperparameter entry into TRPO keyword arguments and run settings.

    Parameters
    ----------
    entry : dict
        One environment's entry, as returned by `load_zoo_hyperparams`, possibly updated with
        command-line overrides (`parse_cli_overrides`).
    config_class : type, default TRPOConfig
        The algorithm's config (`fasttrpo.config.CPOConfig` for CPO, ...): its fields are
        the keys accepted, typed by the fields' types.

    Returns
    -------
    trpo_kwargs : dict
        Keyword arguments for ``TRPO``. ``normalize`` becomes ``normalize_obs`` /
        ``normalize_reward`` (and ``clip_obs`` / ``clip_reward`` from a VecNormalize dict);
        a ``policy_kwargs`` string is parsed safely into a dict; every other key passes
        through unchanged (``n_steps``, ``batch_size``, ``gamma``, ``cg_damping``, ...).
    run_settings : dict
        ``n_timesteps`` (int, or None if absent), ``n_envs`` (int, default 1), ``policy``
        (default ``"MlpPolicy"``) and ``warnings`` (list of str: settings that were dropped,
        such as VecNormalize arguments fasttrpo ignores).

    Raises
    ------
    ValueError
        For schedules (``"lin_7.3e-4"``), unsafe or malformed ``policy_kwargs`` /
        ``normalize`` strings, and zoo features fasttrpo does not support (``env_wrapper``,
        ``vec_env_wrapper``, ``frame_stack``, ``callback``); the message names the key.
    """
    if not isinstance(entry, Mapping):
        raise TypeError(f"hyperparameters: expected a mapping, got {type(entry).__name__}")
    warnings: list[str] = []
    settings: dict[str, Any] = {"n_timesteps": None, "n_envs": 1, "policy": "MlpPolicy",
                                "warnings": warnings}
    kwargs: dict[str, Any] = {}
    numeric_keys = _numeric_keys(config_class)
    boolean_keys = {name for name in config_class.field_names()
                    if config_class.field_type(name) is bool}
    for key, value in entry.items():
        if not isinstance(key, str):
            raise ValueError(f"hyperparameters: keys must be strings, got {key!r}")  # noqa: TRY004
        if key in _UNSUPPORTED:
            raise ValueError(f"{key}: {_UNSUPPORTED[key]} are not supported by fasttrpo; "
                             f"remove {key!r} from the hyperparameters")
        if key == "n_timesteps":
            settings["n_timesteps"] = _count(key, value, 1)
        elif key == "n_envs":
            settings["n_envs"] = _count(key, value, 1)
        elif key == "policy":
            if not isinstance(value, str):
                raise ValueError(f"policy: expected a policy name such as 'MlpPolicy', "
                                 f"got {value!r}")
            settings["policy"] = value
        elif key == "normalize":
            kwargs.update(_normalize_kwargs(value, warnings))
        elif key == "policy_kwargs":
            if isinstance(value, str):
                value = parse_kwargs_string(value, key)
            elif value is None:
                value = {}
            elif not isinstance(value, Mapping):
                raise ValueError(f"policy_kwargs: expected a dict or a dict(...) string, "
                                 f"got {value!r}")
            kwargs[key] = dict(value)
        elif key in numeric_keys:
            kwargs[key] = _number(key, value)
        elif key in boolean_keys:
            kwargs[key] = _boolean(key, value)
        elif key in config_class.field_names() or key in config_class.SB3_IGNORED:
            _check_schedule(key, value)
            kwargs[key] = value
        else:
            algorithm = config_class.__name__.removesuffix("Config")
            close = difflib.get_close_matches(key, config_class.field_names(), n=3, cutoff=0.6)
            hint = (f"did you mean {' or '.join(close)}?" if close else
                    "`fasttrpo train --help` lists them")
            raise ValueError(f"{key}: not a {algorithm} hyperparameter; {hint}")
    return kwargs, settings


def _cli_value(key: str, text: str) -> Any:
    if key in ("policy_kwargs", "normalize") and text.strip().startswith(("dict", "{")):
        return parse_kwargs_string(text, key)
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_cli_overrides(tokens: Sequence[str]) -> dict:
    """Parse ``--key value`` (or ``--key=value``) pairs given on the command line.

    Parameters
    ----------
    tokens : sequence of str
        E.g. ``["--n_steps", "128", "--policy_kwargs", "dict(net_arch=[8])"]``. Dashes in a
        key become underscores (``--n-steps`` is ``n_steps``).

    Returns
    -------
    dict
        Values parsed with ``ast.literal_eval`` when possible (numbers, booleans, lists, ...),
        ``true`` / ``false`` / ``null`` as in YAML, otherwise kept as strings.
        ``policy_kwargs`` and ``normalize`` strings go through `parse_kwargs_string`. Feed
        the result, merged into a zoo entry, to `zoo_to_trpo_kwargs`.

    Raises
    ------
    ValueError
        If a token is not a ``--key`` where one is expected, a key has no value, or a
        ``policy_kwargs`` string is unsafe or malformed.
    """
    out: dict[str, Any] = {}
    tokens = list(tokens)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise ValueError(f"unexpected argument {token!r}: hyperparameter overrides are "
                             "given as --key value")
        if "=" in token:
            key, text = token[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(tokens):
                raise ValueError(f"{token}: missing value")
            key, text = token[2:], tokens[i + 1]
            i += 2
        key = key.replace("-", "_")
        if not key.isidentifier():
            raise ValueError(f"--{key}: not a valid hyperparameter name")
        out[key] = _cli_value(key, text)
    return out
