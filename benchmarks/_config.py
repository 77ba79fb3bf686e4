"""Sizes of the benchmark suites in each mode: ``smoke`` (CI: tiny, seconds), ``quick`` (a few
minutes, the headline configuration only) and ``full`` (everything the report shows).

The mode comes from ``pytest --bench-mode MODE`` (see ``conftest.py``) or the environment
variable ``FASTTRPO_BENCH_MODE``; default ``full``. ``FASTTRPO_BENCH_TORCH_THREADS`` (e.g.
``"1"`` or ``"1,2"``) overrides the torch thread counts measured.
"""

import os
from dataclasses import dataclass

MODES = ("smoke", "quick", "full")
MODE = os.environ.get("FASTTRPO_BENCH_MODE", "full")


def set_mode(mode: str) -> None:
    global MODE
    if mode not in MODES:
        raise ValueError(f"bench mode: one of {MODES}, got {mode!r}")
    MODE = mode


@dataclass(frozen=True)
class Net:
    """A policy network: ``obs_dim -> hidden -> out_dim`` (value network: same hidden, 1 out)."""

    head: str  # "gaussian" or "categorical"
    obs_dim: int
    hidden: tuple
    out_dim: int
    activation: str = "tanh"

    @property
    def name(self) -> str:
        kind = "gauss" if self.head == "gaussian" else "cat"
        return f"{kind} {self.obs_dim}-{'-'.join(map(str, self.hidden))}-{self.out_dim}"


HEADLINE = Net("gaussian", 11, (64, 64), 3)
WIDE = Net("gaussian", 17, (256, 256), 6)
CATEGORICAL = Net("categorical", 4, (64, 64), 2)


def _env_list(name: str, default):
    raw = os.environ.get(name)
    return tuple(int(x) for x in raw.split(",")) if raw else default


def update_cases():
    """(net, batch, dtype name) of the kernel / full-update suite."""
    if MODE == "smoke":
        nets = [Net("gaussian", 11, (16, 16), 3), Net("categorical", 4, (16, 16), 2)]
        return [(net, 256, dt) for net in nets for dt in ("float32", "float64")]
    if MODE == "quick":
        return [(net, 2048, "float32") for net in (HEADLINE, CATEGORICAL)]
    return [(net, n, dt) for net in (HEADLINE, WIDE, CATEGORICAL) for n in (2048, 16384)
            for dt in ("float32", "float64")]


def torch_threads(kernel: str):
    """Torch thread counts measured for a kernel ("fvp", "policy_step", "value_fit",
    "update", "scaling"); the report quotes the best. Two threads are measured for the full
    update and the scaling sweeps (the kernels' single-core figures explain them)."""
    default = (1,) if MODE == "smoke" or kernel not in ("update", "scaling") else (1, 2)
    return _env_list("FASTTRPO_BENCH_TORCH_THREADS", default)


def acting_envs():
    return (1, 8) if MODE == "smoke" else (1, 8, 64)


def acting_nets():
    if MODE == "smoke":
        return [Net("gaussian", 11, (16, 16), 3), Net("categorical", 4, (16, 16), 2)]
    return [HEADLINE, CATEGORICAL]


def scaling_cases():
    """(sweep, net, batch): batch sweep at 64x64, width sweep at N=2048; float32."""
    if MODE == "smoke":
        batches, widths, base_n = (128, 256), (8, 16), 256
    elif MODE == "quick":
        batches, widths, base_n = (512, 2048, 8192), (32, 64, 256), 2048
    else:
        batches, widths, base_n = (512, 2048, 8192, 32768, 65536), (32, 64, 128, 256, 512), 2048
    base_width = 16 if MODE == "smoke" else 64
    cases = [("batch", Net("gaussian", 11, (base_width, base_width), 3), n) for n in batches]
    cases += [("width", Net("gaussian", 11, (w, w), 3), base_n) for w in widths]
    return cases


def e2e_cases():
    """(env_id, library variant, seed, timesteps or None for the zoo's, n_steps override)."""
    variants = {
        "CartPole-v1": ("fasttrpo", "sb3-contrib"),
        "Pendulum-v1": ("fasttrpo", "sb3-contrib gSDE", "sb3-contrib no-gSDE"),
        "Hopper-v5": ("fasttrpo", "sb3-contrib"),
    }
    if MODE == "smoke":
        return [(env, lib, 0, 256, 64) for env, libs in variants.items() for lib in libs]
    if MODE == "quick":
        return [("CartPole-v1", lib, 0, None, None) for lib in variants["CartPole-v1"]]
    seeds = _env_list("FASTTRPO_BENCH_SEEDS", (0, 1, 2))
    return [(env, lib, seed, None, None) for env, libs in variants.items() for lib in libs
            for seed in seeds]


def time_budget():
    """(seconds per case, min rounds, max rounds) for the timing loops."""
    if MODE == "full":
        return 2.0, 5, 200
    return 0.5, 3, 50


def compiled_rollout_size():
    """(n_envs, vector steps per collect) of the compiled-vs-gymnasium rollout suite."""
    return (2, 16) if MODE == "smoke" else (8, 256)


def compiled_e2e_cases():
    """(seed, timesteps or None for the zoo's, n_steps override) of the compiled e2e suite."""
    if MODE == "smoke":
        return [(0, 256, 64)]
    if MODE == "quick":
        return [(0, None, None)]
    return [(seed, None, None) for seed in _env_list("FASTTRPO_BENCH_SEEDS", (0, 1, 2))]
