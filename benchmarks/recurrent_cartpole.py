"""Recurrent TRPO on CartPole without velocities (issue 26): a GRU policy against an MLP one.

``fasttrpo/CartPoleNoVel-v1`` (CartPole-v1 with the velocities zeroed: the MLP cannot tell
which way the pole moves). Same hyperparameters for both: 4 envs x 512 steps, batch 256,
``target_kl`` 0.02, one hidden layer of 32 (the GRU: encoder 32, GRU 32). Reported per seed:
the mean return of ``--episodes`` deterministic evaluation episodes (`evaluate_policy`, which
carries the GRU state) before and after ``--steps`` steps, and the wall time of ``learn``::

    python -m benchmarks.recurrent_cartpole [--steps 100000] [--seeds 0 1 2 3 4]
        [--recurrent-ppo]

``--recurrent-ppo`` adds sb3-contrib's ``RecurrentPPO`` with rl-zoo's ``ppo_lstm.yml`` entry
for CartPoleNoVel-v1 (8 envs x 32 steps, LSTM 64 for the actor and the critic, 20 epochs),
torch on one thread, evaluated by sb3's ``evaluate_policy`` (which carries the LSTM state).
"""

import argparse
import time

import numpy as np

from fasttrpo import TRPO
from fasttrpo.evaluation import evaluate_policy

ENV = "fasttrpo/CartPoleNoVel-v1"
COMMON = dict(n_envs=4, n_steps=512, batch_size=256, target_kl=0.02)
POLICIES = {"MlpGruPolicy": dict(gru_hidden_size=32, net_arch=[32]),
            "MlpPolicy": dict(net_arch=[32])}


def run(policy: str, seed: int, steps: int, episodes: int) -> tuple[float, float, float]:
    """``(return before, return after, learn seconds)`` of one seed."""
    model = TRPO(policy, ENV, seed=seed, policy_kwargs=POLICIES[policy], **COMMON)
    before, _ = evaluate_policy(model, ENV, n_eval_episodes=episodes, seed=1000 + seed)
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    after, _ = evaluate_policy(model, ENV, n_eval_episodes=episodes, seed=1000 + seed)
    return before, after, seconds


def run_recurrent_ppo(seed: int, steps: int, episodes: int) -> tuple[float, float]:
    """``(return after, learn seconds)`` of sb3-contrib's RecurrentPPO, rl-zoo's settings."""
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy as sb3_evaluate

    from fasttrpo.envs.ids import register_if_fasttrpo_id

    torch.set_num_threads(1)
    register_if_fasttrpo_id(ENV)

    def linear(value: float):
        return lambda progress: progress * value

    model = RecurrentPPO(
        "MlpLstmPolicy", make_vec_env(ENV, n_envs=8, seed=seed), n_steps=32, batch_size=256,
        gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=linear(1e-3),
        clip_range=linear(0.2), seed=seed,
        policy_kwargs=dict(ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64,
                           enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64])))
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    after, _ = sb3_evaluate(model, make_vec_env(ENV, n_envs=1, seed=1000 + seed),
                            n_eval_episodes=episodes, deterministic=True)
    return float(after), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--recurrent-ppo", action="store_true")
    args = parser.parse_args()
    print(f"| policy | seed | return before | return after {args.steps:.0e} steps | learn s |")
    print("|---|---|---|---|---|")
    for policy in POLICIES:
        afters = []
        for seed in args.seeds:
            before, after, seconds = run(policy, seed, args.steps, args.episodes)
            afters.append(after)
            print(f"| {policy} | {seed} | {before:.1f} | {after:.1f} | {seconds:.1f} |",
                  flush=True)
        print(f"| {policy} | mean | | {np.mean(afters):.1f} +/- {np.std(afters):.1f} | |",
              flush=True)
    if args.recurrent_ppo:
        for seed in args.seeds:
            after, seconds = run_recurrent_ppo(seed, args.steps, args.episodes)
            print(f"| sb3-contrib RecurrentPPO | {seed} | | {after:.1f} | {seconds:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
