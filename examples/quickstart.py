"""The README's quick start: train CartPole-v1 with the zoo's hyperparameters, act, save, load."""

import gymnasium as gym

from fasttrpo import TRPO

model = TRPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=512, batch_size=512,
             gae_lambda=0.98, cg_damping=1e-3, n_critic_updates=20, seed=0, verbose=1)
model.learn(100_000)
obs, _ = gym.make("CartPole-v1").reset(seed=0)
action, _ = model.predict(obs, deterministic=True)
model.save("cartpole")                      # one .zip: hyperparameters, weights, statistics
model = TRPO.load("cartpole", env="CartPole-v1")   # env only needed to keep training
