"""``python -m fasttrpo``: a demonstration TRPO update on synthetic data (issue 3's main job)."""

import time

import numpy as np

from fasttrpo.policies import GaussianMLPPolicy
from fasttrpo.trpo_step import trpo_step


def demo(n_updates: int = 5, seed: int = 0) -> None:
    """Run ``n_updates`` TRPO steps of an 11->64->64->3 Gaussian policy on a batch of 2048
    synthetic transitions whose advantage rewards actions close to a fixed linear map."""
    rng = np.random.default_rng(seed)
    policy = GaussianMLPPolicy(11, 3, (64, 64), seed=seed)
    target = rng.standard_normal((11, 3)) * 0.3
    obs = rng.standard_normal((2048, 11))
    for update in range(n_updates):
        t0 = time.perf_counter()
        mean = policy.forward(obs)
        actions = mean + np.exp(policy.log_std) * rng.standard_normal(mean.shape)
        # advantage: how much closer than the mean the sampled action is to the target map
        reward = -np.sum((actions - obs @ target) ** 2, axis=1)
        advantages = (reward - reward.mean()) / (reward.std() + 1e-8)
        info = trpo_step(policy, obs, actions, advantages, max_kl=0.01, cg_max_steps=10)
        error = np.mean(np.sum((policy.forward(obs) - obs @ target) ** 2, axis=1))
        print(
            f"update {update}: accepted={info.accepted} kl={info.kl:.4f} "
            f"surrogate {info.surrogate_before:+.4f} -> {info.surrogate_after:+.4f} "
            f"mean error {error:.3f} ({(time.perf_counter() - t0) * 1e3:.1f} ms)"
        )


if __name__ == "__main__":
    demo()
