"""The command line's arguments: ``fasttrpo train / eval / export / plot`` and their options.

``build_parser`` declares every option once (rl-baselines3-zoo's names beside fasttrpo's, so
``python -m rl_zoo3.train`` command lines run as they are); `split_train_overrides` separates
``train``'s own options from the ``--key value`` hyperparameter overrides; the count types
refuse what is not a whole number before anything runs. `fasttrpo.cli` runs the commands.
"""

import argparse
import os
import textwrap
from collections.abc import Callable


class UsageError(Exception):
    """A problem with the command line itself (a missing option, a missing extra)."""


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
ZOO_EVAL_FREQ, ZOO_EVAL_EPISODES, FINAL_EVAL_EPISODES = 25_000, 5, 10


def _count(text: str) -> int:
    """Parse a step count for argparse; accepts ``100000`` as well as ``1e5``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    from fasttrpo.foundation.config_checks import MAX_COUNT

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
    from fasttrpo.config import ALGORITHM_CONFIGS, ConstrainedConfig, OnPolicyConfig

    CONSTRAINED = [name for name, config in ALGORITHM_CONFIGS.items()  # noqa: N806
                   if issubclass(config, ConstrainedConfig)]
    PRESETS = [name for name, config in ALGORITHM_CONFIGS.items()  # noqa: N806
               if not issubclass(config, ConstrainedConfig) and name != "trpo"]

    sections: list[tuple[str, type[OnPolicyConfig]]] = [
        ("TRPO hyperparameters (--key value; they override --hyperparams):",
         ALGORITHM_CONFIGS["trpo"]),
        ("the constrained algorithms (--algo " + ", ".join(CONSTRAINED) + ") add:",
         ConstrainedConfig),
        *((f"--algo {algo} adds:", ALGORITHM_CONFIGS[algo]) for algo in CONSTRAINED + PRESETS)]
    lines: list[str] = []
    trpo_fields = set(ALGORITHM_CONFIGS["trpo"].field_names())
    constrained_fields = set(ConstrainedConfig.field_names())
    for title, config_class in sections:
        lines.append(title)
        # each hyperparameter listed once: TRPO's in its section, the constrained ones in
        # theirs, the rest under their algorithm (a preset's cost_limit too: its own doc)
        shown = trpo_fields if config_class is ConstrainedConfig or not issubclass(
            config_class, ConstrainedConfig) else constrained_fields
        if config_class is ALGORITHM_CONFIGS["trpo"]:
            shown = set()
        for name, _, default, doc in config_class.field_docs():
            # a hyperparameter with an option of its own (--verbose, --seed, ...) is
            # described there
            if name in shown or f"--{name}" in _TRAIN_VALUE_OPTIONS or \
                    f"--{name.replace('_', '-')}" in _TRAIN_VALUE_OPTIONS:
                continue
            lines.append(f"  --{name} (default {default!r})")
            lines.extend(textwrap.wrap(doc, width=90, initial_indent=" " * 6,
                                       subsequent_indent=" " * 6))
    return "\n".join(lines)


def build_parser(runners: dict[str, Callable]) -> argparse.ArgumentParser:
    """Return the parser of ``fasttrpo``.

    ``runners`` maps train / eval / export / plot to the functions that run them
    (``args.func``).
    """
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
        description="Train TRPO or a constrained algorithm (--algo) on a gymnasium "
                    "environment (the fasttrpo/ safety ids included). Extra '--key value' "
                    "pairs are "
                    "hyperparameters (e.g. --n_steps 1024 --gamma 0.99 --policy_kwargs "
                    "\"dict(net_arch=[64, 64])\"); they override --hyperparams.")
    train.add_argument("env_id", metavar="ENV_ID", nargs="?", default=None,
                       help="gymnasium environment id (or --env ENV_ID, rl-zoo3 style)")
    train.add_argument("--env", dest="env", default=None, metavar="ENV_ID",
                       help="rl-zoo3 style: the env id, with the zoo's defaults (the shipped "
                            "trpo.yml, evaluations every 25000 steps, the zoo's log layout)")
    from fasttrpo.config import ALGORITHM_CONFIGS

    constrained = [name for name, config in ALGORITHM_CONFIGS.items()
                   if "cost_limit" in config.field_names()]
    train.add_argument("--algo", default="trpo", choices=tuple(ALGORITHM_CONFIGS),
                       help=f"algorithm (default trpo); {', '.join(constrained)} need an env "
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
    train.set_defaults(func=runners["train"])

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
    evaluate.set_defaults(func=runners["eval"])

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
    export.set_defaults(func=runners["export"])

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
    plot.set_defaults(func=runners["plot"])
    return parser


def _is_key_value(token: str) -> bool:
    """Whether ``token`` is an rl-zoo3 ``key:value`` override (not a file such as c:/x.yml)."""
    key, sep, _ = token.partition(":")
    return bool(sep) and key.isidentifier() and not token.endswith((".yml", ".yaml")) \
        and not os.path.exists(token)


def split_train_overrides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Separate ``train``'s own arguments from ``--key value`` hyperparameter overrides.

    rl-zoo3's ``-params`` / ``--hyperparams key:value ...`` pairs become ``--key value``
    overrides too; rl-zoo3 flags fasttrpo does not offer raise a `UsageError`.
    """
    known: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name = token.split("=", 1)[0]
        if name in _ZOO_UNSUPPORTED:
            raise UsageError(f"{name}: rl-zoo3's option is not supported by fasttrpo train")
        if name in ("-params", "--hyperparams") and (
                name == "-params" or (i + 1 < len(tokens) and _is_key_value(tokens[i + 1]))):
            i += 1
            while i < len(tokens) and not tokens[i].startswith("-"):
                if not _is_key_value(tokens[i]):
                    raise UsageError(f"{name}: expected key:value pairs, got {tokens[i]!r}")
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
