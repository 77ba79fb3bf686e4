"""Action masking with envs (issue 26, item 4): the samplers read each state's mask
(``action_masks()`` or ``info["action_mask"]``) and keep it in the batch, TRPO learns an env
whose valid actions change every step without ever choosing an invalid one (the env raises),
``predict`` / ``evaluate_policy`` / save and load, Ray workers, Box actions refused and the
exports (runtime, ONNX, C) against ``predict`` under masks.
"""

import shutil
import subprocess
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from masking_cases import (
    TINY,
    GameOverEnv,
    MaskedChoiceEnv,
    MaskedMultiEnv,
    MethodMaskedChoiceEnv,
    blocks,
    random_masks,
)

from fasttrpo import TRPO, runtime
from fasttrpo.evaluation import evaluate_policy
from fasttrpo.export.model import policy_from_model
from fasttrpo.models.policies import CategoricalMLPPolicy
from fasttrpo.models.spaces import ActionCodec, ObsEncoder
from fasttrpo.rollout import RolloutBatch, VectorEnvSampler
from fasttrpo.rollout.streams import NoiseStreams

from conftest import require


@pytest.mark.parametrize("info_masks", [False, True], ids=["method", "info"])
def test_sampler_stores_the_masks_of_each_row(info_masks):
    cls = MaskedChoiceEnv if info_masks else MethodMaskedChoiceEnv
    envs = [cls(info_masks=info_masks, length=100) for _ in range(2)]
    venv = gym.vector.SyncVectorEnv([lambda e=e: e for e in envs],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    policy = CategoricalMLPPolicy(4, 4, (8,), seed=0)
    sampler = VectorEnvSampler(venv, ObsEncoder.for_space(venv.single_observation_space),
                               ActionCodec.for_space(venv.single_action_space))
    batch = RolloutBatch(20, 2, 4, 1, np.float32)
    sampler.reset(seed=3)
    assert sampler.mask_source == ("info" if info_masks else "method")
    assert sampler.collect(policy, batch, NoiseStreams(0, 2))
    for e, env in enumerate(envs):
        np.testing.assert_array_equal(batch.action_masks[:, e], np.stack(env.seen_masks[:20]))
    chosen = batch.actions[..., 0].astype(int)
    assert np.take_along_axis(batch.action_masks, chosen[..., None], 2).all()


@pytest.mark.optional_deps
def test_ray_workers_carry_the_masks_as_one_sampler_does(monkeypatch):
    ray = require("ray")
    from fasttrpo.rollout import RaySampler

    # the workers unpickle the env factories by reference: this folder on their path
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    try:
        for factory in (MethodMaskedChoiceEnv, partial(MaskedChoiceEnv, info_masks=True)):
            kwargs = dict(TINY, seed=3)
            venv = gym.vector.SyncVectorEnv([factory] * 4,
                                            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
            single = TRPO("MlpPolicy", venv, **kwargs).learn(3 * 64 * 4)
            sampler = RaySampler(factory, n_workers=2, envs_per_worker=2)
            remote = TRPO("MlpPolicy", sampler, **kwargs).learn(3 * 64 * 4)  # env raises on
            sampler.close()  # an invalid action: the workers acted with the masks
            # the update used the masks too: the same parameters as one sampler's run
            np.testing.assert_array_equal(remote.policy.get_params(),
                                          single.policy.get_params())
            assert list(remote.ep_info_buffer) == list(single.ep_info_buffer)
    finally:
        ray.shutdown()


def test_box_policy_on_a_masking_env_is_refused():
    class BoxMasked(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

        def reset(self, *, seed=None, options=None):
            return np.zeros(2, np.float32), {}

        def step(self, action):
            return np.zeros(2, np.float32), 0.0, False, False, {}

        def action_masks(self):
            return np.ones(1, bool)

    model = TRPO("MlpPolicy", BoxMasked(), seed=0, **TINY)
    with pytest.raises(ValueError, match=r"env action_masks: action masks apply to Discrete"):
        model.learn(64)
    with pytest.raises(ValueError, match="action_masks: action masks apply to Discrete"):
        model.predict(np.zeros(2), action_masks=np.ones(1, bool))


@pytest.mark.parametrize("info_masks", [False, True], ids=["method", "info"])
def test_trpo_learns_a_masked_env_without_an_invalid_action(info_masks, tmp_path):
    cls = MaskedChoiceEnv if info_masks else MethodMaskedChoiceEnv
    env = gym.vector.SyncVectorEnv([lambda i=i: cls(info_masks=info_masks) for i in range(2)],
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    model = TRPO("MlpPolicy", env, seed=0, n_steps=128, batch_size=64,
                 policy_kwargs=dict(net_arch=[16]), n_critic_updates=5, target_kl=0.05)
    probe = MethodMaskedChoiceEnv()
    obs, masks = [], []
    for seed in range(200):
        probe.reset(seed=seed)
        obs.append(probe._draw())
        masks.append(probe.action_masks())
    obs, masks = np.stack(obs), np.stack(masks)
    targets = obs.argmax(axis=1)

    def greedy_hits():
        actions, _ = model.predict(obs, deterministic=True, action_masks=masks)
        assert masks[np.arange(len(obs)), actions].all()
        return np.mean(actions == targets)

    before = greedy_hits()
    model.learn(2048)  # the env raises on an invalid action
    after = greedy_hits()
    assert after >= 0.95 and after > before
    # predict with masks: never an invalid action, single observation too
    for row, mask in zip(obs[:20], masks[:20]):
        action, _ = model.predict(row, deterministic=False, action_masks=mask)
        assert mask[action]
    # evaluate_policy passes the masks as sb3-contrib's does (the env raises otherwise)
    mean, _ = evaluate_policy(model, cls(info_masks=info_masks), n_eval_episodes=3)
    assert mean >= 0.9 * 16
    vector = gym.vector.SyncVectorEnv([lambda: cls(info_masks=info_masks)] * 2)
    assert evaluate_policy(model, vector, n_eval_episodes=4)[0] >= 0.9 * 16

    class Unmasked:  # a model whose predict takes no masks gets none (sb3's PPO, say)
        def predict(self, obs, deterministic=True):  # (no TypeError for action_masks=)
            return model.predict(obs, deterministic=deterministic)

    assert evaluate_policy(Unmasked(), cls(info_masks=info_masks), n_eval_episodes=2)[0] > 0
    # save / load: unaffected, the same masked predictions
    model.save(tmp_path / "masked")
    loaded = TRPO.load(tmp_path / "masked")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True, action_masks=masks)[0],
                                  model.predict(obs, deterministic=True, action_masks=masks)[0])


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_the_final_states_empty_mask_is_never_used(mode):
    # NEXT_STEP: the step after the end resets the env and ignores the action, so the final
    # state's mask (all False here) is not checked; SAME_STEP never shows the final state
    autoreset = gym.vector.AutoresetMode(mode)
    env = gym.vector.SyncVectorEnv([lambda: GameOverEnv(length=5)] * 2, autoreset_mode=autoreset)
    model = TRPO("MlpPolicy", env, seed=0, **TINY)
    model.learn(128)
    assert len(model.ep_info_buffer) >= 20


@pytest.mark.optional_deps
def test_sb3_vec_env_masks_through_env_method():
    vec_env = require("stable_baselines3.common.vec_env")
    env = vec_env.DummyVecEnv([lambda: MethodMaskedChoiceEnv(length=8)] * 2)
    model = TRPO("MlpPolicy", env, seed=0, **TINY)
    model.learn(128)  # the env raises on an invalid action
    assert len(model.ep_info_buffer) >= 10


def test_the_models_vec_env_view_gives_masks_through_env_method():
    # MaskablePPO's loop on a VecEnv: masks = np.stack(env.env_method("action_masks")) (what
    # sb3-contrib's get_action_masks does), then model.predict(obs, action_masks=masks)
    venv = gym.vector.SyncVectorEnv([MethodMaskedChoiceEnv] * 2,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    model = TRPO("MlpPolicy", venv, seed=0, **TINY)
    env = model.get_env()
    obs = env.reset()
    for _ in range(40):
        masks = np.stack(env.env_method("action_masks"))
        assert masks.shape == (2, 4)
        actions, _ = model.predict(obs, action_masks=masks)
        assert masks[np.arange(2), actions].all()
        obs, *_ = env.step(actions)  # the env raises on an invalid action
    assert env.get_attr("length", indices=1) == [16]


def test_trpo_on_a_multidiscrete_masked_env():
    model = TRPO("MlpPolicy", MaskedMultiEnv(), seed=0, **TINY)
    model.learn(256)  # the env raises on an invalid action
    assert model.num_timesteps == 256
    env = MaskedMultiEnv()
    obs, _ = env.reset(seed=1)
    for _ in range(30):
        action, _ = model.predict(obs, action_masks=env.action_masks())
        obs, *_ = env.step(action)  # raises on an invalid action


# ---- exports ------------------------------------------------------------------------------
def masked_model(kind):
    env = MethodMaskedChoiceEnv() if kind == "discrete" else MaskedMultiEnv()
    model = TRPO("MlpPolicy", env, seed=0, **TINY)
    rng = np.random.default_rng(5)
    params = model.policy.get_params().astype(np.float64)
    params[: model.policy.n_mlp] += rng.standard_normal(model.policy.n_mlp)
    model.policy.set_params(params)
    obs = rng.uniform(-1, 1, (300, model.encoder.obs_dim)).astype(np.float32)
    masks = random_masks(model.policy.nvec, len(obs), rng)
    return model, obs, masks


@pytest.mark.parametrize("kind", ["discrete", "multidiscrete"])
def test_runtime_agrees_with_predict_under_masks(kind, tmp_path):
    model, obs, masks = masked_model(kind)
    (path,) = model.export(tmp_path / "policy.npz")
    policy = runtime.load(path)
    expected, _ = model.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(policy.act(obs, action_masks=masks), expected)
    assert not np.array_equal(policy.act(obs), expected)  # the masks changed something
    sampled = policy.act(obs, deterministic=False, rng=np.random.default_rng(0),
                         action_masks=masks)
    predicted, _ = model.predict(obs, deterministic=False, action_masks=masks)
    for actions in (sampled, predicted):
        actions = np.asarray(actions).reshape(len(obs), -1)
        for i, (a, _) in enumerate(blocks(model.policy.nvec)):
            assert masks[np.arange(len(obs)), a + actions[:, i]].all()
    np.testing.assert_array_equal(policy.act(obs[0], action_masks=masks[0]), expected[0])
    with pytest.raises(ValueError, match="expected shape"):
        policy.act(obs, action_masks=masks[:, 1:])


@pytest.mark.parametrize("kind", ["discrete", "multidiscrete"])
def test_onnx_agrees_with_predict_under_masks(kind, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, obs, masks = masked_model(kind)
    (path,) = model.export(tmp_path / "policy.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"obs": obs, "action_mask": masks})
    expected, _ = model.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(got, expected)
    (plain,) = session.run(None, {"obs": obs})  # the mask input is optional
    np.testing.assert_array_equal(plain, model.predict(obs, deterministic=True)[0])
    assert not np.array_equal(plain, got)


CC = shutil.which("cc") or shutil.which("gcc")


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("kind", ["discrete", "multidiscrete"])
def test_c_export_agrees_with_predict_under_masks(kind, tmp_path):
    import ctypes

    model, obs, masks = masked_model(kind)
    source, header = model.export(tmp_path / "masked", format="c")
    assert "masked_act_masked" in header.read_text()
    library = tmp_path / "libmasked.so"
    subprocess.run([CC, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2",
                    "-shared", "-fPIC", str(source), "-o", str(library), "-lm"], check=True,
                   capture_output=True, timeout=120)
    lib = ctypes.CDLL(str(library))
    act_masked = lib.masked_act_masked
    act_masked.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    width = len(model.policy.nvec)
    expected, _ = model.predict(obs, deterministic=True, action_masks=masks)
    got = np.empty((len(obs), width), np.float32)
    mask_bytes = np.ascontiguousarray(masks, dtype=np.uint8)
    for r in range(len(obs)):
        act_masked(obs[r].ctypes.data, mask_bytes[r].ctypes.data, got[r].ctypes.data)
    np.testing.assert_array_equal(got.reshape(np.shape(expected)), expected)
    policy = policy_from_model(model)
    assert policy.head == "categorical"
