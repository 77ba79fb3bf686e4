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
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from fasttrpo.logs.serialization import resolve_load_path
from fasttrpo.zoo.arguments import (
    FINAL_EVAL_EPISODES,
    ZOO_EVAL_EPISODES,
    ZOO_EVAL_FREQ,
    UsageError,
    build_parser,
    split_train_overrides,
)
from fasttrpo.zoo.hyperparams import (
    ZOO_DEFAULT_KEY,
    parse_cli_overrides,
    zoo_entry,
    zoo_to_trpo_kwargs,
)

__all__ = ["main"]


# Errors caused by the user's input (paths, hyperparameters, env ids): reported in one line
# on stderr with exit code 2 (``--traceback`` shows the traceback). Anything else is a bug
# and keeps its traceback.
_USER_ERRORS = (UsageError, ValueError, TypeError, OSError, gym.error.Error)
def _evaluate(model, env_id: str, episodes: int, deterministic: bool,
              seed: int | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Episode rewards and costs (NaN without costs) of ``model``; ``seed`` seeds the env.

    A model with several costs gets them one per column, (episodes, k), read as it trains,
    and their names (else no names).
    """
    from fasttrpo.evaluation import evaluate_policy

    signals = tuple(getattr(model, "cost_signals", ()))
    several: dict[str, Any] = {"cost_keys": signals} if len(signals) > 1 else {}
    rewards, _, costs = evaluate_policy(model, env_id, n_eval_episodes=episodes,
                                        deterministic=deterministic, return_episode_rewards=True,
                                        return_episode_costs=True, seed=seed, **several)
    return (np.asarray(rewards, dtype=np.float64), np.asarray(costs, dtype=np.float64),
            tuple(several.get("cost_keys", ())))


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
                raise UsageError(f"--env {env_id}: its {name} is {got}, but {path} {on}; "
                                  f"evaluate it on {trained or 'an env with those spaces'}")
    finally:
        env.close()


def _print_rewards(results: tuple[np.ndarray, np.ndarray, tuple[str, ...]],
                   deterministic: bool) -> None:
    rewards, costs, cost_names = results
    mode = "deterministic" if deterministic else "stochastic"
    print(f"mean reward: {rewards.mean():.2f} +/- {rewards.std():.2f} "
          f"over {len(rewards)} episodes ({mode})")
    print("episode rewards: " + ", ".join(f"{r:.2f}" for r in rewards))
    if costs.ndim == 2:  # several costs: one line each
        for name, cost in zip(cost_names, costs.T, strict=True):
            if not np.isnan(cost).all():
                print(f"mean episode cost ({name}): {np.nanmean(cost):.2f} +/- "
                      f"{np.nanstd(cost):.2f}")
    elif not np.isnan(costs).all():
        print(f"mean episode cost: {np.nanmean(costs):.2f} +/- {np.nanstd(costs):.2f}")


def _read_hyperparams(args: argparse.Namespace, env_id: str, zoo_style: bool) -> dict:
    """Return the hyperparameter file's entry for ``env_id`` ({} without a file)."""
    if args.hyperparams and args.conf_file:
        raise UsageError("--hyperparams FILE and -conf/--conf-file name the same file: "
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
        raise UsageError(str(err)) from err
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
    from fasttrpo.callbacks import BaseCallback, CheckpointCallback, EvalCallback

    callbacks: list[BaseCallback] = []
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
        raise UsageError(f"ENV_ID {args.env_id!r} and --env {args.env!r} differ: give one")
    env_id = args.env or args.env_id
    if env_id is None:
        raise UsageError("the env id is required: fasttrpo train ENV_ID (or --env ENV_ID)")
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
        raise UsageError("--timesteps is required (or a --hyperparams file with n_timesteps)")
    kwargs["n_envs"] = args.n_envs if args.n_envs is not None else run["n_envs"]
    if kwargs["n_envs"] < 1:
        raise UsageError(f"--n-envs: expected >= 1, got {kwargs['n_envs']}")
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
        ZOO_EVAL_FREQ if zoo_style else 0)
    given = args.eval_episodes
    callbacks = _train_callbacks(args, env_id, kwargs["n_envs"], eval_freq,
                                 ZOO_EVAL_EPISODES if given is None else given,
                                 kwargs.get("log_folder"), run_folder)

    if args.progress:
        try:
            import tqdm  # noqa: F401
        except ImportError:
            raise UsageError('--progress needs tqdm: pip install "fasttrpo[progress]"') \
                from None
    # by default a progress bar where one can be drawn (a terminal, tqdm installed) and the
    # tables are off
    progress = args.progress or (kwargs["verbose"] == 0 and sys.stderr.isatty()
                                 and importlib.util.find_spec("tqdm") is not None)
    learn_kwargs: dict[str, Any] = dict(callback=callbacks or None, progress_bar=progress)
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
    final_episodes = FINAL_EVAL_EPISODES if given is None else given
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
        raise UsageError("--episodes: expected >= 1")

    from fasttrpo.algorithms import load_model

    model = load_model(path)
    env_id = args.env or getattr(model, "env_id", None)
    if env_id is None:
        raise UsageError(f"--env is required: {path} does not record the env it was trained "
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
        raise UsageError(str(err)) from err
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _plot(args: argparse.Namespace, override_tokens: list[str]) -> int:
    from fasttrpo.zoo.plot import plot_learning_curves

    if args.window < 1:
        raise UsageError("--window: expected >= 1")
    try:
        written = plot_learning_curves(args.logdirs, args.output, window=args.window,
                                       title=args.title)
    except ImportError as err:  # matplotlib missing: the message says what to install
        raise UsageError(str(err)) from err
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
            known, override_tokens = split_train_overrides(tokens[1:])
        except UsageError as err:
            print(f"fasttrpo train: error: {err}", file=sys.stderr)
            return 2
        tokens = ["train", *known]
    parser = build_parser({"train": _train, "eval": _eval, "export": _export, "plot": _plot})
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
