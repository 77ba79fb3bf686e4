r"""The ``fasttrpo`` command: train, evaluate, export and plot TRPO, CPO and TRPO-Lagrangian.

``train`` trains on a gymnasium environment, ``eval`` evaluates a saved model, ``export``
writes its policy for deployment, ``plot`` draws learning curves from training logs.

Examples
--------
::

    fasttrpo train CartPole-v1 --hyperparams trpo.yml --seed 0 --save cartpole
    fasttrpo train fasttrpo/SafetyPointVelocity-v0 --algo cpo --cost_limit 10 \
        --timesteps 2e4 --n-envs 2 --n_steps 500 --save point_cpo
    fasttrpo train Pendulum-v1 --timesteps 1e5 --n-envs 2 --gamma 0.9 --save pendulum \
        --policy_kwargs "dict(net_arch=[64, 64], activation_fn=nn.Tanh)"
    fasttrpo eval cartpole.zip --env CartPole-v1 --episodes 10
    fasttrpo export cartpole.zip --format npz --output cartpole_policy.npz
    fasttrpo export cartpole.zip --format c --output build/cartpole   # cartpole.c + .h
    fasttrpo train --algo trpo --env CartPole-v1 -n 50000 -f logs --eval-freq 10000 \
        -params n_critic_updates:10 gamma:0.98        # python -m rl_zoo3.train's flags
    fasttrpo plot logs/trpo --output curves.png

Unrecognised ``--key value`` pairs given to ``train`` are hyperparameters of the algorithm
chosen with ``--algo``; they override the entry read with ``--hyperparams`` (an
rl-baselines3-zoo style YAML file), as rl-zoo3's ``-params key:value`` pairs do. ``eval``
and ``export`` read the algorithm (and ``eval`` the env id) from the file.

``train`` with ``--env`` (instead of the ENV_ID argument) works as ``python -m
rl_zoo3.train``: the hyperparameters come from ``-conf`` or the shipped ``trpo.yml`` (its
``default:`` entry for unlisted ids), evaluations every 25000 steps, and the run is logged
in the zoo's layout (`fasttrpo.zoo.layout`). Without ``--save``, ``train`` writes that layout
under ``-f/--log-folder`` (default ``logs``) and prints where; with ``--save PATH`` the
model goes to PATH and ``--log-folder`` is the folder of its logs.
"""

import argparse
import importlib
import importlib.util
import os
import shlex
import shutil
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np

from fasttrpo.logs.serialization import resolve_load_path
from fasttrpo.zoo.hyperparams import (
    ZOO_DEFAULT_KEY,
    parse_cli_overrides,
    zoo_entry,
    zoo_to_trpo_kwargs,
)

__all__ = ["main"]


class _UsageError(Exception):
    """A problem with the command line itself (a missing option, a missing extra)."""


# Errors caused by the user's input (paths, hyperparameters, env ids): reported in one line
# on stderr with exit code 2 (``--traceback`` shows the traceback). Anything else is a bug
# and keeps its traceback.
_USER_ERRORS = (_UsageError, ValueError, TypeError, OSError, gym.error.Error)
# ``train`` options that take a value / take none; every other ``--key`` is a hyperparameter
_TRAIN_VALUE_OPTIONS = {"--algo", "--timesteps", "--seed", "--save", "--hyperparams", "--n-envs",
                        "--n_envs", "--verbose", "--log-folder", "--log_folder",
                        "--eval-episodes", "--eval_episodes",
                        # rl-zoo3's train flags
                        "--env", "--n-timesteps", "--eval-freq", "--eval_freq",
                        "--tensorboard-log", "--tensorboard_log", "--conf-file", "--save-freq",
                        "--n-eval-envs", "--num-threads", "--log-interval", "--vec-env",
                        "--device"}
_TRAIN_FLAGS = {"-h", "--help", "--traceback", "--progress", "--uuid", "--save-replay-buffer"}
# rl-zoo3 train flags fasttrpo does not offer: a clear error instead of a hyperparameter error
_ZOO_UNSUPPORTED = {"--optimize-hyperparameters", "-optimize", "--trained-agent", "-i",
                    "--env-kwargs", "--eval-env-kwargs", "--n-trials", "--max-total-trials",
                    "--n-jobs", "--sampler", "--pruner", "--n-startup-trials", "--n-evaluations",
                    "--storage", "--study-name", "--trial-id", "--track", "--wandb-project-name",
                    "--wandb-entity", "--wandb-group", "-tags", "--wandb-tags",
                    "--optimization-log-path", "--no-optim-plots",
                    "--truncate-last-trajectory"}
# the zoo's defaults, used when train is called with --env
_ZOO_EVAL_FREQ, _ZOO_EVAL_EPISODES, _FINAL_EVAL_EPISODES = 25_000, 5, 10


def _count(text: str) -> int:
    """Parse a step count for argparse; accepts ``100000`` as well as ``1e5``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    from fasttrpo.config import MAX_COUNT

    if not value.is_integer() or not 0 <= value <= MAX_COUNT:  # is_integer: False for inf, NaN
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, {MAX_COUNT}], got "
                                         f"{text[:100]!r}")
    return int(value)


def _signed_count(text: str) -> int:
    """Parse a count for the zoo's flags, where -1 means "not set" (rl-zoo3's convention).

    Other negative values are refused, as ``--timesteps`` refuses them (``-n -5`` used to
    train the file's budget without a word).
    """
    try:
        if float(text) == -1:
            return -1
    except ValueError:
        pass
    return _count(text)


def _hyperparameter_help() -> str:
    """List every algorithm's hyperparameters, defaults and docs, from `fasttrpo.config`."""
    from fasttrpo.config import ALGORITHM_CONFIGS, ConstrainedConfig

    sections = [("TRPO hyperparameters (--key value; they override --hyperparams):",
                 ALGORITHM_CONFIGS["trpo"]),
                ("--algo cpo and --algo trpo_lagrangian add:", ConstrainedConfig),
                *((f"--algo {algo} adds:", ALGORITHM_CONFIGS[algo])
                  for algo in ("cpo", "trpo_lagrangian"))]
    lines: list[str] = []
    shown: set[str] = set()
    for title, config_class in sections:
        lines.append(title)
        for name, _, default, doc in config_class.field_docs():
            # listed once: a hyperparameter with an option of its own (--verbose, --seed, ...)
            # is described there
            if name in shown or f"--{name}" in _TRAIN_VALUE_OPTIONS or \
                    f"--{name.replace('_', '-')}" in _TRAIN_VALUE_OPTIONS:
                continue
            lines.append(f"  --{name} (default {default!r})")
            lines.extend(textwrap.wrap(doc, width=90, initial_indent=" " * 6,
                                       subsequent_indent=" " * 6))
        if config_class is not ALGORITHM_CONFIGS["trpo_lagrangian"]:
            shown |= set(ConstrainedConfig.field_names()) & set(config_class.field_names())
    return "\n".join(lines)


def _build_parser() -> argparse.ArgumentParser:
    from fasttrpo import __version__

    parser = argparse.ArgumentParser(
        prog="fasttrpo", allow_abbrev=False,
        description="Fast TRPO on the CPU: train an agent, evaluate a saved one, export its "
                    "policy.",
        epilog="Run 'fasttrpo COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands")

    train = commands.add_parser(
        "train", allow_abbrev=False, help="train an agent (and save it with --save)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_hyperparameter_help(),
        description="Train TRPO, CPO or TRPO-Lagrangian on a gymnasium environment (the "
                    "fasttrpo/ safety ids included). Extra '--key value' pairs are "
                    "hyperparameters (e.g. --n_steps 1024 --gamma 0.99 --policy_kwargs "
                    "\"dict(net_arch=[64, 64])\"); they override --hyperparams.")
    train.add_argument("env_id", metavar="ENV_ID", nargs="?", default=None,
                       help="gymnasium environment id (or --env ENV_ID, rl-zoo3 style)")
    train.add_argument("--env", dest="env", default=None, metavar="ENV_ID",
                       help="rl-zoo3 style: the env id, with the zoo's defaults (the shipped "
                            "trpo.yml, evaluations every 25000 steps, the zoo's log layout)")
    train.add_argument("--algo", default="trpo",
                       choices=("trpo", "cpo", "trpo_lagrangian"),
                       help="algorithm (default trpo); cpo and trpo_lagrangian need an env "
                            "that reports info['cost']")
    train.add_argument("--timesteps", type=_count, default=None, metavar="N",
                       help="environment steps to train for (default: the hyperparameter "
                            "file's n_timesteps; required without --hyperparams)")
    train.add_argument("-n", "--n-timesteps", dest="n_timesteps", type=_signed_count,
                       default=-1, metavar="N", help="rl-zoo3's name of --timesteps (-1: the "
                       "file's)")
    train.add_argument("--seed", type=int, default=None,
                       help="random seed (default or -1: random)")
    train.add_argument("--save", default=None, metavar="PATH",
                       help="where to save the model ('.zip' is appended without a suffix); "
                            "without it the zoo's layout is written under -f/--log-folder")
    train.add_argument("--hyperparams", default=None, metavar="FILE.yml",
                       help="rl-baselines3-zoo style YAML file (e.g. the zoo's trpo.yml); "
                            "'-params' / '--hyperparams key:value ...' (rl-zoo3) override "
                            "hyperparameters instead")
    train.add_argument("-conf", "--conf-file", dest="conf_file", default=None,
                       metavar="FILE.yml", help="rl-zoo3's name of --hyperparams FILE.yml")
    train.add_argument("--n-envs", "--n_envs", dest="n_envs", type=int, default=None,
                       metavar="K", help="parallel environments (default: the file's, or 1)")
    train.add_argument("--verbose", type=int, default=None, metavar="V",
                       help="0: silent, 1: progress table (default 1)")
    train.add_argument("-f", "--log-folder", "--log_folder", dest="log_folder", default=None,
                       metavar="DIR", help="with --save: the folder of the training logs "
                       "(progress.csv, <rank>.monitor.csv, evaluations.npz); without: the "
                       "root of the zoo layout DIR/<algo>/<env>_<k>/ (default: logs)")
    train.add_argument("--eval-episodes", "--eval_episodes", dest="eval_episodes",
                       type=_count, default=None, metavar="K",
                       help="episodes per evaluation: periodic ones (default 5) and the "
                            "deterministic one after training (default 10; 0: none)")
    train.add_argument("--eval-freq", "--eval_freq", dest="eval_freq", type=_signed_count,
                       default=None, metavar="N",
                       help="evaluate every N env steps, into evaluations.npz (default: "
                            "25000 with --env, else none; <= 0: none)")
    train.add_argument("-tb", "--tensorboard-log", "--tensorboard_log", dest="tensorboard_log",
                       default=None, metavar="DIR",
                       help="TensorBoard logs in DIR/<env>/<ALGO>_<k> (as rl-zoo3)")
    train.add_argument("-P", "--progress", action="store_true",
                       help="show a progress bar (needs tqdm)")
    train.add_argument("--save-freq", dest="save_freq", type=_signed_count, default=-1,
                       metavar="N", help="save a checkpoint every N env steps (<= 0: none)")
    train.add_argument("--log-interval", dest="log_interval", type=_signed_count, default=-1,
                       metavar="K", help="iterations between two log dumps (-1: every one)")
    train.add_argument("--num-threads", dest="num_threads", type=_signed_count, default=-1,
                       metavar="K", help="n_threads of the model (-1: its default)")
    train.add_argument("--gym-packages", dest="gym_packages", nargs="+", default=[],
                       metavar="MODULE", help="modules to import first (they register envs)")
    train.add_argument("-uuid", "--uuid", action="store_true",
                       help="append a unique id to the zoo run folder's name")
    for flag, what in (("--device", "fasttrpo runs on the CPU"),
                       ("--vec-env", "fasttrpo steps its envs in one process"),
                       ("--n-eval-envs", "evaluations use one env")):
        train.add_argument(flag, default=None, help=f"rl-zoo3's; ignored ({what})")
    train.add_argument("--save-replay-buffer", action="store_true",
                       help="rl-zoo3's; ignored (TRPO has no replay buffer)")
    train.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "eval", allow_abbrev=False, help="evaluate a saved model",
        description="Evaluate a saved model and print its mean episode reward.")
    evaluate.add_argument("path", metavar="PATH", help="model file (with or without '.zip')")
    evaluate.add_argument("--env", default=None, metavar="ENV_ID",
                          help="gymnasium environment id (default: the one the model was "
                               "trained on, saved in its file)")
    evaluate.add_argument("--episodes", type=_count, default=10, metavar="K",
                          help="number of episodes (default 10)")
    evaluate.add_argument("--seed", type=int, default=None,
                          help="seed the environment (and sampling with --stochastic)")
    evaluate.add_argument("--stochastic", action="store_true",
                          help="sample actions instead of taking the deterministic ones")
    evaluate.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    evaluate.set_defaults(func=_eval)

    export = commands.add_parser(
        "export", allow_abbrev=False, help="export a saved model's policy for deployment",
        description="Write the deterministic policy of a saved model (observation "
                    "normalisation and action clipping included) as an .npz for the "
                    "numpy-only fasttrpo.runtime, an ONNX graph, or a C99 source + header.")
    export.add_argument("path", metavar="MODEL",
                        help="model file (with or without '.zip'), or a policy .npz")
    export.add_argument("--format", choices=("npz", "onnx", "c"), default=None,
                        help="output format (default: from the --output suffix, else npz)")
    export.add_argument("--output", "-o", required=True, metavar="PATH",
                        help="output file; 'c' writes PATH.c and PATH.h")
    export.add_argument("--name", default=None,
                        help="C symbol prefix / ONNX graph name (default: the file stem)")
    export.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    export.set_defaults(func=_export)

    plot = commands.add_parser(
        "plot", allow_abbrev=False, help="draw learning curves from training logs",
        description="Draw the learning curves of the runs under each LOGDIR (every folder "
                    "holding <rank>.monitor.csv files: a log folder, or the zoo layout "
                    "LOGDIR/trpo/<env>_<k>/): episode return, and episode cost when "
                    "reported, against environment steps and wall time, to a PNG. Needs "
                    "matplotlib (pip install \"fasttrpo[plot]\").")
    plot.add_argument("logdirs", metavar="LOGDIR", nargs="+", help="folders with training logs")
    plot.add_argument("--output", "-o", default="learning_curves.png", metavar="FILE.png",
                      help="image to write (default learning_curves.png)")
    plot.add_argument("--window", type=_count, default=100, metavar="K",
                      help="episodes averaged per point (default 100, as ep_rew_mean)")
    plot.add_argument("--title", default=None, help="figure title")
    plot.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    plot.set_defaults(func=_plot)
    return parser


def _is_key_value(token: str) -> bool:
    """Whether ``token`` is an rl-zoo3 ``key:value`` override (not a file such as c:/x.yml)."""
    key, sep, _ = token.partition(":")
    return bool(sep) and key.isidentifier() and not token.endswith((".yml", ".yaml")) \
        and not os.path.exists(token)


def _split_train_overrides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Separate ``train``'s own arguments from ``--key value`` hyperparameter overrides.

    rl-zoo3's ``-params`` / ``--hyperparams key:value ...`` pairs become ``--key value``
    overrides too; rl-zoo3 flags fasttrpo does not offer raise a `_UsageError`.
    """
    known: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name = token.split("=", 1)[0]
        if name in _ZOO_UNSUPPORTED:
            raise _UsageError(f"{name}: rl-zoo3's option is not supported by fasttrpo train")
        if name in ("-params", "--hyperparams") and (
                name == "-params" or (i + 1 < len(tokens) and _is_key_value(tokens[i + 1]))):
            i += 1
            while i < len(tokens) and not tokens[i].startswith("-"):
                if not _is_key_value(tokens[i]):
                    raise _UsageError(f"{name}: expected key:value pairs, got {tokens[i]!r}")
                key, _, value = tokens[i].partition(":")
                overrides.extend([f"--{key}", value])
                i += 1
            continue
        takes_value = "=" not in token and i + 1 < len(tokens)
        if token.startswith("--") and name not in _TRAIN_VALUE_OPTIONS | _TRAIN_FLAGS:
            # a hyperparameter: its value is the next token, even one like -2, unless that
            # is another --option (parse_cli_overrides then reports the missing value)
            has_value = takes_value and not tokens[i + 1].startswith("--")
            overrides.extend(tokens[i : i + 2] if has_value else tokens[i : i + 1])
            i += 2 if has_value else 1
            continue
        if name in _TRAIN_VALUE_OPTIONS and takes_value:
            known.extend(tokens[i : i + 2])
            i += 2
            continue
        known.append(token)
        i += 1
    return known, overrides


def _evaluate(model, env_id: str, episodes: int, deterministic: bool,
              seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Episode rewards and costs (NaN without costs) of ``model``; ``seed`` seeds the env."""
    from fasttrpo.evaluation import evaluate_policy

    rewards, _, costs = evaluate_policy(model, env_id, n_eval_episodes=episodes,
                                        deterministic=deterministic, return_episode_rewards=True,
                                        return_episode_costs=True, seed=seed)
    return np.asarray(rewards, dtype=np.float64), np.asarray(costs, dtype=np.float64)


def _check_eval_env(model, env_id: str, path) -> None:
    """Refuse an env whose spaces differ from the model's, naming the env it was trained on."""
    from fasttrpo.envs.ids import register_if_fasttrpo_id

    register_if_fasttrpo_id(env_id)
    env = gym.make(env_id)
    try:
        for name in ("observation_space", "action_space"):
            got, want = getattr(env, name), getattr(model, name)
            if got != want:
                trained = getattr(model, "env_id", None)
                on = f"was trained on {trained} ({name} {want})" if trained else \
                    f"has {name} {want}"
                raise _UsageError(f"--env {env_id}: its {name} is {got}, but {path} {on}; "
                                  f"evaluate it on {trained or 'an env with those spaces'}")
    finally:
        env.close()


def _print_rewards(results: tuple[np.ndarray, np.ndarray], deterministic: bool) -> None:
    rewards, costs = results
    mode = "deterministic" if deterministic else "stochastic"
    print(f"mean reward: {rewards.mean():.2f} +/- {rewards.std():.2f} "
          f"over {len(rewards)} episodes ({mode})")
    print("episode rewards: " + ", ".join(f"{r:.2f}" for r in rewards))
    if not np.isnan(costs).all():
        print(f"mean episode cost: {np.nanmean(costs):.2f} +/- {np.nanstd(costs):.2f}")


def _read_hyperparams(args: argparse.Namespace, env_id: str, zoo_style: bool) -> dict:
    """Return the hyperparameter file's entry for ``env_id`` ({} without a file)."""
    if args.hyperparams and args.conf_file:
        raise _UsageError("--hyperparams FILE and -conf/--conf-file name the same file: "
                          "give one")
    path = args.hyperparams or args.conf_file
    shipped = path is None
    if shipped:  # the zoo's trpo.yml, shipped as package data: works from any directory
        from fasttrpo.zoo.layout import default_hyperparams_file

        path = default_hyperparams_file()
    try:
        entry, key = zoo_entry(Path(path), env_id)
    except ImportError as err:  # PyYAML missing: the message says what to install
        if shipped and not zoo_style and args.timesteps is not None:
            _warn(f"the shipped zoo hyperparameters are not read ({err}); training with "
                  "fasttrpo's defaults")
            return {}
        raise _UsageError(str(err)) from err
    if key == ZOO_DEFAULT_KEY:
        print(f"hyperparameters: {path} has no entry for {env_id}; using its "
              f"'{ZOO_DEFAULT_KEY}' entry")
    return entry


def _warn(message: str) -> None:
    print(f"fasttrpo train: warning: {message}", file=sys.stderr)


def _train_callbacks(args: argparse.Namespace, env_id: str, n_envs: int, eval_freq: int,
                     eval_episodes: int, log_folder: str | None,
                     run_folder: Path | None) -> list:
    """EvalCallback (evaluations.npz, best_model) and CheckpointCallback as the zoo makes them."""
    from fasttrpo.callbacks import CheckpointCallback, EvalCallback

    callbacks = []
    if args.save_freq > 0:
        folder = run_folder or Path(log_folder or Path(args.save).absolute().parent)
        callbacks.append(CheckpointCallback(max(args.save_freq // n_envs, 1), folder,
                                            name_prefix="rl_model"))
    if eval_freq > 0 and eval_episodes > 0:
        callbacks.append(EvalCallback(
            env_id, n_eval_episodes=eval_episodes, eval_freq=max(eval_freq // n_envs, 1),
            best_model_save_path=None if run_folder is None else str(run_folder),
            log_path=log_folder, deterministic=True,
            verbose=1 if args.verbose is None else min(args.verbose, 1)))
    return callbacks


def _remove_if_unused(run_folder: Path | None, env_id: str) -> None:
    """Remove a zoo run folder that holds nothing but its config (training failed at once)."""
    from fasttrpo.zoo.layout import env_folder_name

    if run_folder is not None and run_folder.is_dir() and \
            {p.name for p in run_folder.iterdir()} <= {env_folder_name(env_id)}:
        shutil.rmtree(run_folder)


def _train(args: argparse.Namespace, override_tokens: list[str]) -> int:
    start = time.perf_counter()
    if args.env_id and args.env and args.env_id != args.env:
        raise _UsageError(f"ENV_ID {args.env_id!r} and --env {args.env!r} differ: give one")
    env_id = args.env or args.env_id
    if env_id is None:
        raise _UsageError("the env id is required: fasttrpo train ENV_ID (or --env ENV_ID)")
    for module in args.gym_packages:
        importlib.import_module(module)
    from fasttrpo.envs.ids import register_if_fasttrpo_id

    register_if_fasttrpo_id(env_id)
    gym.spec(env_id)  # an unknown id fails here, before any folder is made
    zoo_style = args.env is not None
    entry = _read_hyperparams(args, env_id, zoo_style)
    overrides = parse_cli_overrides(override_tokens)
    from fasttrpo.config import ALGORITHM_CONFIGS

    hyperparams = {**entry, **overrides}
    kwargs, run = zoo_to_trpo_kwargs(hyperparams, ALGORITHM_CONFIGS[args.algo])
    for warning in run["warnings"]:
        _warn(warning)
    for flag, value, what in (("--device", args.device, "fasttrpo runs on the CPU"),
                              ("--vec-env", args.vec_env, "the envs are stepped in one "
                               "process"),
                              ("--n-eval-envs", args.n_eval_envs, "evaluations use one env"),
                              ("--save-replay-buffer", args.save_replay_buffer or None,
                               "TRPO has no replay buffer")):
        if value is not None:
            _warn(f"{flag} is accepted for rl-zoo3 compatibility and ignored ({what})")
    timesteps = args.timesteps if args.timesteps is not None else (
        args.n_timesteps if args.n_timesteps > 0 else run["n_timesteps"])
    if timesteps is None:
        raise _UsageError("--timesteps is required (or a --hyperparams file with n_timesteps)")
    kwargs["n_envs"] = args.n_envs if args.n_envs is not None else run["n_envs"]
    if kwargs["n_envs"] < 1:
        raise _UsageError(f"--n-envs: expected >= 1, got {kwargs['n_envs']}")
    if args.seed is not None and args.seed < 0:  # the zoo's -1: a random seed, recorded
        args.seed = int(np.random.default_rng().integers(2**31 - 1))
    if args.seed is None and zoo_style:
        args.seed = int(np.random.default_rng().integers(2**31 - 1))
    if args.num_threads > 0:
        kwargs["n_threads"] = args.num_threads
    from fasttrpo.algorithms import ALGORITHMS

    # every value checked before anything is printed or created (the run folder)
    ALGORITHMS[args.algo].config_from_kwargs(
        {**kwargs, **{name: getattr(args, name) for name in ("seed", "verbose")
                      if getattr(args, name) is not None}})
    run_folder = None
    if args.save is None:  # the zoo's layout: LOGDIR/<algo>/<env>_<k>/
        from fasttrpo.zoo.layout import new_run_folder, write_run_config

        args.log_folder = args.log_folder or "logs"
        run_folder = new_run_folder(args.log_folder, args.algo, env_id, args.uuid)
        saved_args = {k: v for k, v in vars(args).items()
                      if k not in ("func", "traceback", "command_line")}
        write_run_config(run_folder, env_id, hyperparams, saved_args, args.command_line)
        args.log_folder = str(run_folder)
        print(f"Log path: {run_folder}")
    else:  # fail now rather than after training
        Path(args.save).absolute().parent.mkdir(parents=True, exist_ok=True)
    for name in ("seed", "verbose", "log_folder"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    if args.tensorboard_log:
        from fasttrpo.zoo.layout import env_folder_name

        kwargs["tensorboard_log"] = os.path.join(args.tensorboard_log, env_folder_name(env_id))
    kwargs.setdefault("verbose", 0)  # quiet: a progress bar and a summary; tables: --verbose 1
    eval_freq = args.eval_freq if args.eval_freq is not None else (
        _ZOO_EVAL_FREQ if zoo_style else 0)
    given = args.eval_episodes
    callbacks = _train_callbacks(args, env_id, kwargs["n_envs"], eval_freq,
                                 _ZOO_EVAL_EPISODES if given is None else given,
                                 kwargs.get("log_folder"), run_folder)

    if args.progress:
        try:
            import tqdm  # noqa: F401
        except ImportError:
            raise _UsageError('--progress needs tqdm: pip install "fasttrpo[progress]"') \
                from None
    # by default a progress bar where one can be drawn (a terminal, tqdm installed) and the
    # tables are off
    progress = args.progress or (kwargs["verbose"] == 0 and sys.stderr.isatty()
                                 and importlib.util.find_spec("tqdm") is not None)
    learn_kwargs = dict(callback=callbacks or None, progress_bar=progress)
    if args.log_interval > 0:
        learn_kwargs["log_interval"] = args.log_interval
    try:
        model = ALGORITHMS[args.algo](run["policy"], env_id, **kwargs)
        from fasttrpo.kernels import compile_seconds

        learn_start, compiled_before = time.perf_counter(), compile_seconds()
        model.learn(timesteps, **learn_kwargs)
        compiling = compile_seconds() - compiled_before
    except BaseException:
        _remove_if_unused(run_folder, env_id)
        raise
    learn_time = time.perf_counter() - learn_start
    if run_folder is not None:
        from fasttrpo.zoo.layout import env_folder_name

        print(f"saved model to {model.save(run_folder / env_folder_name(env_id))}")
    else:
        print(f"saved model to {model.save(args.save)}")
    final_episodes = _FINAL_EVAL_EPISODES if given is None else given
    if final_episodes > 0:
        results = _evaluate(model, env_id, final_episodes, True, kwargs.get("seed"))
        _print_rewards(results, deterministic=True)
    print(_time_summary(timesteps, learn_time, compiling, time.perf_counter() - start))
    return 0


def _time_summary(steps: int, learn_time: float, compiling: float, total_time: float) -> str:
    """``wall time: ...``: learn time, the kernels' compilation in it, steps/s without it."""
    compiling = min(max(compiling, 0.0), learn_time)
    training = max(learn_time - compiling, 1e-9)
    compiled = (f", of which {compiling:.1f} s compiling the kernels (first run only)"
                if compiling >= 0.05 else "")
    return (f"wall time: learn {learn_time:.2f} s{compiled}; {steps / training:.0f} steps/s "
            f"training; total {total_time:.2f} s")


def _eval(args: argparse.Namespace, override_tokens: list[str]) -> int:
    path = resolve_load_path(args.path)  # a clear error before importing the kernels
    if args.episodes < 1:
        raise _UsageError("--episodes: expected >= 1")

    from fasttrpo.algorithms import load_model

    model = load_model(path)
    env_id = args.env or getattr(model, "env_id", None)
    if env_id is None:
        raise _UsageError(f"--env is required: {path} does not record the env it was trained "
                          "on")
    if args.seed is not None and isinstance(getattr(model, "rng", None), np.random.Generator):
        model.rng = np.random.default_rng(args.seed)  # action sampling with --stochastic
    deterministic = not args.stochastic
    _check_eval_env(model, env_id, path)
    results = _evaluate(model, env_id, args.episodes, deterministic, args.seed)
    print(f"model: {path}, env: {env_id}")
    _print_rewards(results, deterministic)
    return 0


def _export(args: argparse.Namespace, override_tokens: list[str]) -> int:
    if Path(args.path).suffix == ".npz":  # a policy file: no need for the training stack
        source = args.path
    else:
        from fasttrpo.algorithms import load_model

        source = load_model(resolve_load_path(args.path))
    from fasttrpo.export import export

    try:
        written = export(source, args.output, format=args.format, name=args.name)
    except ImportError as err:  # the onnx package is missing: the message says what to install
        raise _UsageError(str(err)) from err
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _plot(args: argparse.Namespace, override_tokens: list[str]) -> int:
    from fasttrpo.zoo.plot import plot_learning_curves

    if args.window < 1:
        raise _UsageError("--window: expected >= 1")
    try:
        written = plot_learning_curves(args.logdirs, args.output, window=args.window,
                                       title=args.title)
    except ImportError as err:  # matplotlib missing: the message says what to install
        raise _UsageError(str(err)) from err
    print(f"wrote {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fasttrpo`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 for bad usage or bad input (bad path, bad
        hyperparameters, unknown environment; the message is printed on stderr, without a
        traceback), 130 if interrupted.
    """
    tokens = list(sys.argv[1:] if argv is None else argv)
    command_line = shlex.join(["fasttrpo", *tokens])
    override_tokens: list[str] = []
    if tokens and tokens[0] == "train":
        try:
            known, override_tokens = _split_train_overrides(tokens[1:])
        except _UsageError as err:
            print(f"fasttrpo train: error: {err}", file=sys.stderr)
            return 2
        tokens = ["train", *known]
    parser = _build_parser()
    try:
        args = parser.parse_args(tokens)
    except SystemExit as exit_:  # --help, or a usage error already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else 2
    args.command_line = command_line  # the zoo layout's command.txt
    command: Callable[[argparse.Namespace, list[str]], int] = args.func
    try:
        return command(args, override_tokens)
    except KeyboardInterrupt:
        print(f"fasttrpo {args.command}: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as err:
        if args.traceback:
            traceback.print_exc()
        print(f"fasttrpo {args.command}: error: {str(err) or repr(err)}", file=sys.stderr)
        return 2
    except MemoryError as err:  # sizes the hyperparameters ask for, beyond the machine's
        if args.traceback:
            traceback.print_exc()
        print(f"fasttrpo {args.command}: error: out of memory ({str(err) or 'MemoryError'}); "
              "use smaller n_steps, n_envs, batch_size or net_arch", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
