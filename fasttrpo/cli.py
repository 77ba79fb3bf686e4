r"""The ``fasttrpo`` command: train, evaluate and export TRPO, CPO and TRPO-Lagrangian agents.

``train`` trains on a gymnasium environment, ``eval`` evaluates a saved model, ``export``
writes its policy for deployment.

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

Unrecognised ``--key value`` pairs given to ``train`` are hyperparameters of the algorithm
chosen with ``--algo``; they override the entry read with ``--hyperparams`` (an
rl-baselines3-zoo style YAML file). ``eval`` and ``export`` read the algorithm from the file.
"""

import argparse
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np

from fasttrpo.hyperparams import load_zoo_hyperparams, parse_cli_overrides, zoo_to_trpo_kwargs
from fasttrpo.serialization import resolve_load_path

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
                        "--eval-episodes", "--eval_episodes"}
_TRAIN_FLAGS = {"-h", "--help", "--traceback"}


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
            if name in shown:
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
    train.add_argument("env_id", metavar="ENV_ID", help="gymnasium environment id")
    train.add_argument("--algo", default="trpo",
                       choices=("trpo", "cpo", "trpo_lagrangian"),
                       help="algorithm (default trpo); cpo and trpo_lagrangian need an env "
                            "that reports info['cost']")
    train.add_argument("--timesteps", type=_count, default=None, metavar="N",
                       help="environment steps to train for (default: the hyperparameter "
                            "file's n_timesteps; required without --hyperparams)")
    train.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    train.add_argument("--save", default=None, metavar="PATH",
                       help="where to save the model ('.zip' is appended without a suffix)")
    train.add_argument("--hyperparams", default=None, metavar="FILE.yml",
                       help="rl-baselines3-zoo style YAML file (e.g. the zoo's trpo.yml)")
    train.add_argument("--n-envs", "--n_envs", dest="n_envs", type=int, default=None,
                       metavar="K", help="parallel environments (default: the file's, or 1)")
    train.add_argument("--verbose", type=int, default=None, metavar="V",
                       help="0: silent, 1: progress table (default 1)")
    train.add_argument("--log-folder", "--log_folder", dest="log_folder", default=None,
                       metavar="DIR", help="folder for the training log (progress.csv)")
    train.add_argument("--eval-episodes", "--eval_episodes", dest="eval_episodes",
                       type=_count, default=10, metavar="K",
                       help="deterministic evaluation episodes after training (0: none)")
    train.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "eval", allow_abbrev=False, help="evaluate a saved model",
        description="Evaluate a saved model and print its mean episode reward.")
    evaluate.add_argument("path", metavar="PATH", help="model file (with or without '.zip')")
    evaluate.add_argument("--env", required=True, metavar="ENV_ID",
                          help="gymnasium environment id")
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
    return parser


def _split_train_overrides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Separate ``train``'s own arguments from ``--key value`` hyperparameter overrides."""
    known: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name = token.split("=", 1)[0]
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


def _print_rewards(results: tuple[np.ndarray, np.ndarray], deterministic: bool) -> None:
    rewards, costs = results
    mode = "deterministic" if deterministic else "stochastic"
    print(f"mean reward: {rewards.mean():.2f} +/- {rewards.std():.2f} "
          f"over {len(rewards)} episodes ({mode})")
    print("episode rewards: " + ", ".join(f"{r:.2f}" for r in rewards))
    if not np.isnan(costs).all():
        print(f"mean episode cost: {np.nanmean(costs):.2f} +/- {np.nanstd(costs):.2f}")


def _train(args: argparse.Namespace, override_tokens: list[str]) -> int:
    start = time.perf_counter()
    entry = {}
    if args.hyperparams:
        try:
            entry = load_zoo_hyperparams(Path(args.hyperparams), args.env_id)
        except ImportError as err:  # PyYAML missing: the message says what to install
            raise _UsageError(str(err)) from err
    overrides = parse_cli_overrides(override_tokens)
    from fasttrpo.config import ALGORITHM_CONFIGS

    kwargs, run = zoo_to_trpo_kwargs({**entry, **overrides}, ALGORITHM_CONFIGS[args.algo])
    for warning in run["warnings"]:
        print(f"fasttrpo train: warning: {warning}", file=sys.stderr)
    timesteps = args.timesteps if args.timesteps is not None else run["n_timesteps"]
    if timesteps is None:
        raise _UsageError("--timesteps is required (or a --hyperparams file with n_timesteps)")
    kwargs["n_envs"] = args.n_envs if args.n_envs is not None else run["n_envs"]
    if kwargs["n_envs"] < 1:
        raise _UsageError(f"--n-envs: expected >= 1, got {kwargs['n_envs']}")
    for name in ("seed", "verbose", "log_folder"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    kwargs.setdefault("verbose", 1)
    if args.save is not None:  # fail now rather than after training
        Path(args.save).absolute().parent.mkdir(parents=True, exist_ok=True)

    from fasttrpo.algorithms import ALGORITHMS

    model = ALGORITHMS[args.algo](run["policy"], args.env_id, **kwargs)
    learn_start = time.perf_counter()
    model.learn(timesteps)
    learn_time = time.perf_counter() - learn_start
    if args.save is not None:
        print(f"saved model to {model.save(args.save)}")
    if args.eval_episodes > 0:
        results = _evaluate(model, args.env_id, args.eval_episodes, True, kwargs.get("seed"))
        _print_rewards(results, deterministic=True)
    print(f"wall time: learn {learn_time:.2f} s ({timesteps / max(learn_time, 1e-9):.0f} "
          f"steps/s), total {time.perf_counter() - start:.2f} s")
    return 0


def _eval(args: argparse.Namespace, override_tokens: list[str]) -> int:
    path = resolve_load_path(args.path)  # a clear error before importing the kernels
    if args.episodes < 1:
        raise _UsageError("--episodes: expected >= 1")

    from fasttrpo.algorithms import load_model

    model = load_model(path)
    if args.seed is not None and isinstance(getattr(model, "rng", None), np.random.Generator):
        model.rng = np.random.default_rng(args.seed)  # action sampling with --stochastic
    deterministic = not args.stochastic
    results = _evaluate(model, args.env, args.episodes, deterministic, args.seed)
    print(f"model: {path}, env: {args.env}")
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
    override_tokens: list[str] = []
    if tokens and tokens[0] == "train":
        known, override_tokens = _split_train_overrides(tokens[1:])
        tokens = ["train", *known]
    parser = _build_parser()
    try:
        args = parser.parse_args(tokens)
    except SystemExit as exit_:  # --help, or a usage error already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else 2
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
