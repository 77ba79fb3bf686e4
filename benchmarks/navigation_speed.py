"""Steps per second of the navigation tasks against the MuJoCo floor, on one core.

For each task (``fasttrpo/Safety{Point,Car}{Goal,Button,Push,Circle}{0,1,2}-v0``; ``--tasks``
picks some) and each of ``--repeats`` runs:

- ``env``: ``env.step`` of the env class with a random policy (actions drawn beforehand,
  uniform in [-1, 1]^2), resetting when an episode ends;
- ``gym``: the same through ``gym.make`` (its wrappers) with ``action_space.sample()``;
- ``floor``: ``mujoco.mj_step(m, d, nstep=10)`` alone on the env's own model and data with the
  same actions (the frame skip of every task is 10), after one reset; with gremlins (Button
  levels 1, 2) ten ``mj_step`` calls, each after moving the mocaps as the task must;
- ``floor+fwd``: the floor plus the ``mj_forward`` the env (and safety-gymnasium) runs after
  the 10 steps for its sensors and contacts.

Times are CPU time of this process (``time.process_time``): the machine is shared, and wall
time counts the other jobs' turns on the core. Prints a markdown table of medians with the CPU
model and the load average, and writes the raw figures to ``--out`` (JSON) if given.

Run pinned to one core (the first run compiles the Numba kernels; ``NUMBA_CACHE_DIR`` keeps
them)::

    taskset -c 0 python -m benchmarks.navigation_speed --steps 20000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from benchmarks.cpu import cpu_model

TASKS = [f"fasttrpo/Safety{robot}{task}{level}-v0" for task in ("Goal", "Button", "Push", "Circle")
         for robot in ("Point", "Car") for level in (0, 1, 2)]




def load_average() -> str:
    """``uptime``'s load averages (1, 5, 15 min)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(env_id: str, steps: int, seed: int) -> dict[str, float]:
    """Steps per second of one run: env, gym, floor and floor+fwd (see the module docstring)."""
    import gymnasium as gym
    import mujoco

    import fasttrpo.envs  # noqa: F401  (registers the ids)

    wrapped = gym.make(env_id)
    env = wrapped.unwrapped
    actions = np.random.default_rng(seed).uniform(-1.0, 1.0, (steps, 2))
    out = {}
    env.reset(seed=seed)
    t = time.process_time()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    out["env"] = steps / (time.process_time() - t)
    wrapped.action_space.seed(seed)
    wrapped.reset(seed=seed)
    t = time.process_time()
    for _ in range(steps):
        _, _, terminated, truncated, _ = wrapped.step(wrapped.action_space.sample())
        if terminated or truncated:
            wrapped.reset()
    out["gym"] = steps / (time.process_time() - t)
    m, d = env.model, env.data
    travel = 0.35   # gremlins.py via button_level1.py
    for name, forward in (("floor", False), ("floor+fwd", True)):
        env.reset(seed=seed)
        mocap_pos = d.mocap_pos
        t = time.process_time()
        for a in actions:
            d.ctrl[:] = a
            if m.nmocap:
                for _ in range(10):
                    phase = d.time
                    mocap_pos[:, 0] = np.sin(phase) * travel
                    mocap_pos[:, 1] = np.cos(phase) * travel
                    mujoco.mj_step(m, d)
            else:
                mujoco.mj_step(m, d, nstep=10)
            if forward:
                mujoco.mj_forward(m, d)
        out[name] = steps / (time.process_time() - t)
    return out


def main(argv: list[str] | None = None) -> None:
    """Measure every task ``--repeats`` times and print the table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20000, help="env steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per task (median)")
    parser.add_argument("--tasks", nargs="*", default=TASKS)
    parser.add_argument("--out", default=None, help="JSON file for the raw figures")
    args = parser.parse_args(argv)
    measure(args.tasks[0], 200, 0)   # warm-up: Numba kernels, MuJoCo's first model
    load_before = load_average()
    raw: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.repeats):    # interleaved, so a busy spell hits every task alike
        for i, env_id in enumerate(args.tasks):
            raw.setdefault(env_id, []).append(measure(env_id, args.steps, i))
    load_after = load_average()
    cols = ("env", "gym", "floor", "floor+fwd")
    print(f"CPU: {cpu_model()}; affinity {sorted(os.sched_getaffinity(0))}; load average "
          f"(1, 5, 15 min) {load_before} before, {load_after} after; {args.steps} steps x "
          f"{args.repeats} runs, medians of CPU time")
    print()
    print("| task | env steps/s | gym.make steps/s | floor (mj_step x10) | floor + mj_forward "
          "| env / floor |")
    print("|---|---|---|---|---|---|")
    for env_id, runs in raw.items():
        med = {c: statistics.median(r[c] for r in runs) for c in cols}
        print(f"| {env_id.split('/')[1]} | {med['env']:,.0f} | {med['gym']:,.0f} | "
              f"{med['floor']:,.0f} | {med['floor+fwd']:,.0f} | "
              f"{med['env'] / med['floor']:.2f} |")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"cpu": cpu_model(), "load_before": load_before,
                       "load_after": load_after, "steps": args.steps, "runs": raw}, f,
                      indent=1)


if __name__ == "__main__":
    main()
