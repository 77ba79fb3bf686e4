"""Fuzz: damaged and crafted model archives and policy files.

Each case mutates a valid file (bytes flipped, cut or appended; a member replaced, removed or
added; a ``.npy`` header rewritten; a metadata value replaced by a hostile one) and loads it.
The documented outcomes are a model or policy that works, or a ValueError; anything else
fails with the seed and case index. A model that loads must predict and save a file that
loads again (a model must never save what it cannot load).
"""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

from fasttrpo import TRPO, TRPOLagrangian, runtime

from fuzzing import Tally, dumps, hostile_value, n_cases, rng
from toy_envs import CounterEnv, MatchEnv

TINY = dict(n_steps=16, batch_size=8, n_critic_updates=1, seed=0,
            policy_kwargs=dict(net_arch=[4]))


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_zip(path, members: list[tuple[str, bytes]], compression: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the mutations
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, data in members:
                archive.writestr(name, data)


def _npy(shape, descr: str, n_bytes: int, generator) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + generator.bytes(n_bytes)


def _paths(tree, prefix=()):
    """Every (path, value) in a JSON tree, containers included."""
    yield prefix, tree
    items = (tree.items() if isinstance(tree, dict)
             else enumerate(tree) if isinstance(tree, list) else ())
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _mutate_meta(meta: dict, generator) -> tuple[dict, str]:
    meta = json.loads(json.dumps(meta))
    paths = [p for p, _ in _paths(meta) if p]
    path = paths[int(generator.integers(len(paths)))]
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and generator.random() < 0.2:
        del parent[path[-1]]
        return meta, f"meta: deleted {path}"
    parent[path[-1]] = value = hostile_value(generator)
    return meta, f"meta: {path} = {str(value)[:80]}"


def mutate(data: bytes, members: dict[str, bytes], meta: dict | None, generator,
           compression: int) -> tuple[bytes | list, str]:
    """A damaged version of a file: raw bytes, or a list of zip members to write."""
    kind = int(generator.integers(8 if meta is not None else 7))
    names = list(members)
    name = names[int(generator.integers(len(names)))]
    if kind == 0:  # flip bytes anywhere
        out = bytearray(data)
        for _ in range(int(generator.integers(1, 8))):
            out[int(generator.integers(len(out)))] ^= int(generator.integers(1, 256))
        return bytes(out), "bytes flipped"
    if kind == 1:
        cut = int(generator.integers(len(data)))
        return data[:cut], f"cut at {cut}"
    if kind == 2:
        return data + generator.bytes(int(generator.integers(1, 64))), "bytes appended"
    out = dict(members)
    if kind == 3:  # a member's content damaged (the zip's CRC then agrees with it)
        body = bytearray(out[name])
        if body and generator.random() < 0.5:
            for _ in range(int(generator.integers(1, 4))):
                body[int(generator.integers(len(body)))] ^= int(generator.integers(1, 256))
        else:
            body = body[: int(generator.integers(len(body) + 1))]
        out[name] = bytes(body)
        return list(out.items()), f"member {name} damaged"
    if kind == 4:  # a crafted .npy header: any shape and dtype, any amount of data
        shape = tuple(int(generator.choice([0, 1, 3, 7, 2**31, 2**40]))
                      for _ in range(int(generator.integers(0, 3))))
        descr = str(generator.choice(["<f4", "<f8", "<i8", "|b1", "<U3", "|O", "<c16"]))
        out[name if name.endswith(".npy") else "policy/params.npy"] = _npy(
            shape, descr, int(generator.integers(0, 64)), generator)
        return list(out.items()), f"npy header {shape} {descr}"
    if kind == 5:
        del out[name]
        return list(out.items()), f"member {name} removed"
    if kind == 6:
        extra = str(generator.choice(["extra.npy", "notes.txt", "dir/", name]))
        return [*out.items(), (extra, generator.bytes(16))], f"member {extra} added"
    meta, description = _mutate_meta(meta, generator)
    out["meta.json"] = dumps(meta).encode()
    return list(out.items()), description


def _write(path, mutated, compression) -> None:
    if isinstance(mutated, bytes):
        path.write_bytes(mutated)
    else:
        _write_zip(path, mutated, compression)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return [
        (TRPO, TRPO("MlpPolicy", MatchEnv("box"), normalize_obs=True, normalize_reward=True,
                    **TINY).learn(16).save(folder / "box")),
        (TRPO, TRPO("MlpPolicy", "FrozenLake-v1", vf_optimizer="lbfgs", **TINY)
         .save(folder / "discrete")),
        (TRPOLagrangian, TRPOLagrangian("MlpPolicy", CounterEnv(cost_scale=0.5), **TINY)
         .learn(16).save(folder / "lagrangian")),
    ]


def _loaded_model_works(cls, model, folder) -> None:
    obs = model.observation_space.sample()
    action, _ = model.predict(obs, deterministic=True)
    assert model.action_space.contains(np.asarray(action, dtype=model.action_space.dtype)) or \
        model.action_space.shape == np.shape(action), action
    cls.load(model.save(folder / "again"))  # what loads saves a file that loads


def test_fuzz_model_archives(models, tmp_path):
    seed = 1501
    generator, tally = rng(seed), Tally("model archives", seed)
    for index in range(n_cases(120)):
        cls, source = models[index % len(models)]
        members = _members(source)
        mutated, description = mutate(source.read_bytes(), members,
                                      json.loads(members["meta.json"]), generator,
                                      zipfile.ZIP_DEFLATED)
        path = tmp_path / f"case{index}.zip"
        _write(path, mutated, zipfile.ZIP_DEFLATED)

        def case(cls=cls, path=path):
            model = cls.load(path)
            _loaded_model_works(cls, model, tmp_path)

        tally.run(index, f"{source.name}: {description}", case)
        path.unlink()
    tally.report()
    assert tally.counts.get("ValueError", 0) > tally.total // 2  # the mutations do damage


@pytest.fixture(scope="module")
def policies(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("policies")
    return [cls.load(path).export(folder / f"{path.stem}.npz")[0] for cls, path in models]


def test_fuzz_policy_files(policies, tmp_path):
    seed = 1502
    generator, tally = rng(seed), Tally("policy files", seed)
    for index in range(n_cases(80)):
        source = policies[index % len(policies)]
        mutated, description = mutate(source.read_bytes(), _members(source), None, generator,
                                      zipfile.ZIP_STORED)
        path = tmp_path / f"case{index}.npz"
        _write(path, mutated, zipfile.ZIP_STORED)

        def case(path=path):
            policy = runtime.load(path)
            shape = policy.obs_shape
            obs = np.zeros(shape) if shape else policy.obs_start
            assert np.all(np.isfinite(policy.act(obs)))

        tally.run(index, f"{source.name}: {description}", case)
        path.unlink()
    tally.report()
    assert tally.counts.get("ValueError", 0) > tally.total // 2
