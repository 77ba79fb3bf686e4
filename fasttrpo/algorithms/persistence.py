"""A model's persistent state: the saved file's contents and sb3's parameter names.

Plain functions over the networks and the values they need, which
`fasttrpo.algorithms.base.OnPolicyAlgorithm` wires into ``save`` / ``load`` /
``get_parameters`` / ``set_parameters``:

- the file (written and read by `fasttrpo.logs.serialization`): metadata (config, spaces, counters,
  RNG and noise-stream states, the algorithm's own state) and arrays (each network's flat
  parameters, each critic optimiser's state, the normalisation statistics), `model_arrays` and
  `SavedState` / `read_saved_state`; every value is checked before anything is built or set;
- sb3's ``state_dict`` naming of the networks (`named_networks`, `named_parameters`,
  `set_named_parameters`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fasttrpo.algorithms.networks import critic_prefix, expected_param_sizes
from fasttrpo.foundation.compat import user_stacklevel
from fasttrpo.foundation.validation import mapping_entry_array
from fasttrpo.logs.serialization import load_archive
from fasttrpo.models.parameters import (
    assign_named,
    named_from_flat,
)
from fasttrpo.models.spaces import space_from_json, space_to_json
from fasttrpo.rollout.batch import REWARD
from fasttrpo.rollout.streams import NoiseStreams

__all__ = ["SAVED_ATTRIBUTES", "SavedState", "check_save_lists", "model_arrays",
           "model_meta", "named_networks", "named_parameters", "read_model_file",
           "read_saved_state",
           "restore_networks", "set_named_parameters"]

#: sb3's key of torch's optimiser state in ``get_parameters()`` (ignored here)
SB3_OPTIMIZER_KEY = "policy.optimizer"

#: the normalisers' array-name prefixes in saved models (sb3's VecNormalize attribute names)
NORMALIZER_PREFIXES = ("obs_rms", "ret_rms")


#: what a saved file always holds, by sb3 attribute name (``save(exclude=...)`` refuses them)
SAVED_ATTRIBUTES = frozenset({
    "policy", "value_function", "value_functions", "vf_fitter", "vf_fitters", "config",
    "observation_space", "action_space", "num_timesteps", "_n_updates", "rng", "noise_streams",
    "obs_normalizer", "reward_scaler", "env_id", "lagrange_multiplier", "multiplier"})


def check_save_lists(exclude, include) -> None:
    """Check sb3's ``save(exclude=, include=)`` against what fasttrpo's file holds."""
    for name, names in (("exclude", exclude), ("include", include)):
        if names is None:
            continue
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{name}: expected a list of attribute names, got {names!r}")
        kept = sorted(set(names) & SAVED_ATTRIBUTES)
        if name == "exclude" and kept:
            raise ValueError(f"exclude: {kept} are always saved (the file would not load "
                             "without them)")
        dropped = sorted(set(names) - SAVED_ATTRIBUTES)
        if name == "include" and dropped:
            raise ValueError(f"include: {dropped} cannot be saved: the file holds the config, "
                             "spaces, networks, optimiser and normalisation state, counters "
                             "and random states only (no envs, no Python objects)")


def optimizer_prefix(signal: str) -> str:
    """Array-name prefix of a signal's critic optimiser state in saved models."""
    return "vf_optimizer" if signal == REWARD else f"vf_optimizer_{signal}"


def model_arrays(policy, critics: dict, fitters: dict, normalizers) -> dict[str, np.ndarray]:
    """Every array of a saved model, by name (``normalizers``: obs and reward, or None)."""
    arrays = {"policy/params": policy.get_params()}
    for signal, critic in critics.items():
        arrays[f"{critic_prefix(signal)}/params"] = critic.get_params()
        for key, value in fitters[signal].state_dict().items():
            arrays[f"{optimizer_prefix(signal)}/{key}"] = np.asarray(value)
    for prefix, normalizer in zip(NORMALIZER_PREFIXES, normalizers, strict=True):
        if normalizer is not None:
            for key, value in normalizer.state_dict().items():
                arrays[f"{prefix}/{key}"] = np.asarray(value)
    for key, value in arrays.items():  # load refuses non-finite state: never write it
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{key}: contains NaN or infinite values; the model was not "
                             "saved (a file holding them could not be loaded)")
    return arrays


def _meta_count(meta: dict, key: str) -> int:
    """Return a non-negative integer entry of a saved model's metadata (0 when absent)."""
    value = meta.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}: expected a non-negative integer, got {str(value)[:100]!r}")
    return value


def _group(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


@dataclass
class SavedState:
    """What a saved file holds beyond the config and spaces, checked by `read_saved_state`."""

    num_timesteps: int
    n_updates: int
    env_id: str | None
    rng_state: dict | None
    noise_streams: NoiseStreams | None
    algorithm_state: dict[str, Any]
    policy_params: np.ndarray
    critic_params: dict[str, np.ndarray]
    optimizer_states: dict[str, dict[str, np.ndarray]]
    normalizer_states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def read_saved_state(meta: dict, arrays: dict[str, np.ndarray],
                     signals: tuple[str, ...]) -> SavedState:
    """Read the state of a saved model's metadata and arrays (ValueError: what is invalid).

    The arrays' sizes are checked beforehand (`fasttrpo.algorithms.networks.
    expected_param_sizes`); the networks and optimisers check their own values when set.
    """
    try:
        env_id = meta.get("env_id")
        if env_id is not None and not isinstance(env_id, str):
            raise ValueError(f"env_id: expected a string, got {str(env_id)[:100]!r}")
        state = meta.get("algorithm_state", {})
        if not isinstance(state, dict):
            raise ValueError(f"algorithm_state: must be a JSON object, got {state!r}")
        return SavedState(
            num_timesteps=_meta_count(meta, "num_timesteps"),
            n_updates=_meta_count(meta, "n_updates"),
            env_id=env_id,
            rng_state=meta.get("rng_state"),
            # files written before the per-env streams have none
            noise_streams=(NoiseStreams.from_state_dict(meta["noise_streams"])
                           if "noise_streams" in meta else None),
            algorithm_state=state,
            policy_params=arrays["policy/params"],
            critic_params={s: arrays[f"{critic_prefix(s)}/params"] for s in signals},
            optimizer_states={s: _group(arrays, optimizer_prefix(s)) for s in signals},
            normalizer_states={p: _group(arrays, p) for p in NORMALIZER_PREFIXES})
    except KeyError as err:
        raise ValueError(f"model file lacks array {err}") from err


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    """Restore a generator's saved state (numpy's own checks, as ValueError)."""
    try:
        rng.bit_generator.state = state
    except (TypeError, KeyError, OverflowError) as err:
        raise ValueError(f"rng_state: invalid ({type(err).__name__}: {err})") from None


# ---- sb3's state_dict names -----------------------------------------------------------------

def named_networks(policy, critics: dict) -> list[tuple[Any, str, str]]:
    """``(network, hidden-layer prefix, output-layer name)`` in sb3's state_dict naming."""
    networks = [(policy, getattr(policy, "SB3_HIDDEN", ""), getattr(policy, "SB3_OUTPUT", ""))]
    for signal, critic in critics.items():
        stem = "value_net" if signal == REWARD else f"{signal}_value_net"
        networks.append((critic, f"mlp_extractor.{stem}", stem))
    return networks


def named_parameters(policy, critics: dict) -> dict[str, np.ndarray]:
    """Every network's parameters under sb3's names and shapes (copies).

    A GRU policy's: `fasttrpo.models.recurrent.GRUPolicy.state_dict` (torch's ``nn.GRU``
    names for the GRU).
    """
    named = policy.state_dict()
    for network, hidden, output in named_networks(policy, critics)[1:]:
        named.update(named_from_flat(network.layout, network.get_params(), hidden, output))
    return named


def set_named_parameters(policy, critics: dict, params: Mapping,
                         exact_match: bool = True) -> None:
    """Set the networks from sb3-named arrays, as sb3's ``set_parameters`` does.

    ``params`` is `named_parameters`' dict wrapped as ``{"policy": {...}}`` (what
    ``get_parameters`` returns); sb3's own dict also holds ``"policy.optimizer"``, torch's
    optimiser state, which is ignored with a warning (fasttrpo's critic optimisers keep their
    own). ``exact_match=True``: ``"policy"`` must be given with every array and no other
    (torch's ``strict=True``); False: the arrays given are set, the others left, unknown
    names ignored (``strict=False``). Everything is checked (names, shapes, finite values)
    before anything changes: a ValueError names the array.
    """
    unknown = sorted(set(params) - {"policy", SB3_OPTIMIZER_KEY})
    if unknown:
        raise ValueError(f"params: {unknown} are not parts of a fasttrpo model (it takes "
                         "{'policy': {name: array}}, as get_parameters() returns)")
    if SB3_OPTIMIZER_KEY in params:
        warnings.warn("set_parameters: 'policy.optimizer' (torch's optimiser state) is "
                      "ignored; the critic optimisers keep their own state", UserWarning,
                      stacklevel=user_stacklevel())
    if "policy" not in params:
        if exact_match:
            raise ValueError("params: 'policy' is missing (exact_match=True)")
        return
    arrays = params["policy"]
    if not isinstance(arrays, Mapping):
        raise ValueError(f"params['policy']: expected a mapping of names to arrays, got "
                         f"{type(arrays).__name__}")
    expected = set(named_parameters(policy, critics))
    if exact_match and set(arrays) != expected:
        raise ValueError(f"params: missing {sorted(expected - set(arrays))}, unexpected "
                         f"{sorted(set(arrays) - expected)} (exact_match=True)")
    updates = {}  # id(network) -> (network, its new flat parameters)
    networks = named_networks(policy, critics)
    if getattr(policy, "recurrent", False):  # its own names (GRUPolicy.state_dict)
        if set(arrays) & set(policy.state_dict()):
            updates[id(policy)] = (policy, policy.params_from_named(arrays, require_all=False))
        networks = networks[1:]
    for network, hidden, output in networks:
        flat = network.get_params()
        if assign_named(network.layout, flat, arrays, hidden, output, require_all=False):
            updates[id(network)] = (network, flat)
    if "log_std" in arrays and policy.log_std.size and not getattr(policy, "recurrent", False):
        _, flat = updates.get(id(policy), (policy, policy.get_params()))
        flat[policy.n_mlp:] = mapping_entry_array(
            arrays, "log_std", policy.log_std_shape, "parameters").ravel()
        updates[id(policy)] = (policy, flat)
    for network, flat in updates.values():  # every array was checked: now change
        network.set_params(flat)


def read_model_file(path, algorithm_name: str, config_class,
                    signals_for: Callable[[Any], tuple[str, ...]],
                    overrides: dict[str, Any]):
    """Read a saved model and check it before anything is built.

    Returns ``(meta, arrays, config, observation_space, action_space)``: the file's metadata
    and arrays, its config with ``overrides`` applied (only fields that do not shape the
    networks may be overridden), and its spaces. The networks' sizes follow from the config
    and spaces and are checked against the arrays here, so a few bytes declaring huge
    networks cost nothing (``signals_for(config)``: the signals with a critic). Every problem
    raises ValueError naming the file.
    """
    meta, arrays = load_archive(path)
    if meta.get("algorithm") != algorithm_name:
        saved = str(meta.get("algorithm"))[:100]
        raise ValueError(f"{path}: not a fasttrpo {algorithm_name} model "
                         f"(algorithm={saved!r}); load it with {saved}.load, or with "
                         "fasttrpo.algorithms.load_model, which reads the algorithm from "
                         "the file")
    fixed = sorted(set(overrides) & config_class.network_fields())
    if fixed:
        raise ValueError(f"{', '.join(fixed)}: cannot be changed when loading, they shape "
                         "the saved networks or their state")
    try:
        saved = meta["config"] if "config" in meta else meta["hyperparams"]  # format 1
        if not isinstance(saved, dict):
            raise ValueError(f"config: expected a JSON object, got {type(saved).__name__}")
        config = config_class.from_dict({**saved, **overrides}, source=str(path))
        obs_space = space_from_json(meta["observation_space"])
        act_space = space_from_json(meta["action_space"])
        expected = expected_param_sizes(config, obs_space, act_space, signals_for(config))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: model metadata is incomplete or invalid ({err})") from err
    for name, size in expected.items():
        if name not in arrays:
            raise ValueError(f"{path}: model file lacks array {name!r}")
        if arrays[name].shape != (size,):
            raise ValueError(f"{path}: array {name!r} has shape {arrays[name].shape}, but "
                             f"the saved config and spaces make ({size},)")
    return meta, arrays, config, obs_space, act_space


def model_meta(algorithm_name: str, config: dict[str, Any], spaces, num_timesteps: int,
               n_updates: int, env_id: str | None, rng: np.random.Generator,
               noise_streams: NoiseStreams, algorithm_state: dict[str, Any]) -> dict[str, Any]:
    """Return the saved file's JSON metadata.

    A value without a JSON form raises TypeError here, before the file is touched.
    """
    meta = {
        "algorithm": algorithm_name,
        "config": config,
        "observation_space": space_to_json(spaces[0]),
        "action_space": space_to_json(spaces[1]),
        "num_timesteps": int(num_timesteps),
        "env_id": env_id,
        "n_updates": int(n_updates),
        "rng_state": rng.bit_generator.state,
        "noise_streams": noise_streams.state_dict(),
        "algorithm_state": algorithm_state,
    }
    json.dumps(meta)
    return meta


def restore_networks(saved: SavedState, policy, value_functions: Mapping[str, Any],
                     vf_fitters: Mapping[str, Any], normalizers) -> None:
    """Set the networks, the critics' optimisers and the normalisers from a `SavedState`.

    ``normalizers`` is ``(obs_normalizer, reward_scaler)``, each None when unused.
    """
    policy.set_params(saved.policy_params)
    for signal, critic in value_functions.items():
        critic.set_params(saved.critic_params[signal])
        vf_fitters[signal].load_state_dict(saved.optimizer_states[signal])
    obs_normalizer, reward_scaler = normalizers
    if obs_normalizer is not None:
        obs_normalizer.load_state_dict(saved.normalizer_states["obs_rms"])
    if reward_scaler is not None and saved.normalizer_states["ret_rms"]:
        reward_scaler.load_state_dict(saved.normalizer_states["ret_rms"])
