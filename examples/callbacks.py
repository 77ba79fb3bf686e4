"""Callbacks: evaluate during training, keep the best model, stop at a reward threshold."""

import gymnasium as gym

from fasttrpo import TRPO
from fasttrpo.callbacks import BaseCallback, EvalCallback, StopTrainingOnRewardThreshold


class PrintIterations(BaseCallback):
    """A callback of your own: sb3's hooks, here the end of every rollout."""

    def _on_rollout_end(self) -> bool:
        print(f"{self.model.num_timesteps} steps, {len(self.model.ep_info_buffer)} episodes")
        return True


stop = StopTrainingOnRewardThreshold(reward_threshold=475, verbose=1)
evaluation = EvalCallback(gym.make("CartPole-v1"), eval_freq=2048, n_eval_episodes=5,
                          best_model_save_path="best_cartpole", callback_on_new_best=stop)
model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=512, batch_size=512,
             gae_lambda=0.98, cg_damping=1e-3, n_critic_updates=20, seed=0)
model.learn(100_000, callback=[evaluation, PrintIterations()])
print(f"stopped after {model.num_timesteps} steps; best model in best_cartpole/")
