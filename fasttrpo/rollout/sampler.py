"""The ``Sampler`` protocol: how an on-policy algorithm gets its batches.

An algorithm never steps environments itself. It asks its sampler to ``reset`` (once, seeded)
and then to ``collect`` one `RolloutBatch` per iteration with the current policy. A sampler
may step gymnasium vector envs from Python (`VectorEnvSampler`), run the whole rollout in
compiled code, or spread envs over remote workers; the algorithms do not change.

What a sampler must do with a batch (``RolloutBatch``'s attribute docs give the shapes):

- ``obs[t]``: the normalised observation rows the policy acted on; ``actions[t]``: the policy
  samples (``policy.act_into(obs_rows, False, None, out, noise, row_invariant=True)``, its
  per-rollout form ``policy.rollout_actor``, or an equivalent that draws the same
  distribution), with env ``i``'s noise row drawn from its own
  stream ``i`` of the `NoiseStreams` passed in (``policy.draw_noise``, through
  ``streams.draw`` or `RolloutNoise`) at step 0 and wherever
  ``policy.noise_schedule(n_steps)`` changes (every step, except for gSDE, whose exploration
  matrices are held for ``sde_sample_freq`` steps); ``last_obs``: the observation after the
  last step;
- every signal of ``batch.signals`` per step (``"reward"`` after the model's reward scaling);
- ``terminated``, ``dones`` and ``valid`` per step, and ``final_obs`` for truncations whose
  next row already belongs to the next episode;
- ``finished_episodes``: one ``{"r": raw return, "l": length}`` per episode that ended, with
  ``"c"``: its summed cost, when the env reports one;
- a ``"cost"`` signal, when the batch has one, from every transition (a clear ValueError
  when the env does not report costs);
- for an env that gives action masks: ``batch.use_action_masks(sum(nvec))`` once, then each
  row's mask in ``action_masks[t]`` (the masks the policy acted with, ``act_into(...,
  masks=)``); otherwise ``batch.use_action_masks(None)``, so an update never reads stale
  masks.

Two optional members: ``attach(encoder, codec, obs_normalizer, reward_scaler, dtype)``, called
by ``set_sampler`` to hand a sampler built without the model (`RaySampler`) the model's
observation encoding, action conversion and normalisers; and ``timings``, a mapping of names to
seconds of the last ``collect`` that the learn loop logs as ``time/<name>``.

``collect``'s ``on_step`` may be None (``learn`` passes None when nothing listens per step,
and then counts the steps after the rollout). ``collect`` may run while the last update's
critic fits run on a worker thread (``n_threads >= 2``): it must not read or change the
critics or the model's ``rng``.
"""

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from fasttrpo.rollout.batch import RolloutBatch
from fasttrpo.rollout.streams import NoiseStreams

__all__ = ["Sampler"]


@runtime_checkable
class Sampler(Protocol):
    """What `fasttrpo.algorithms.OnPolicyAlgorithm` needs from a sampler.

    Attributes
    ----------
    num_envs : int
        Environments stepped in parallel: a batch holds ``n_steps`` x ``num_envs`` rows.
    observation_space, action_space : gymnasium.Space
        The spaces of one environment.
    """

    num_envs: int
    observation_space: Any
    action_space: Any

    def reset(self, seed: int | None = None) -> None:
        """Start new episodes in every env; ``seed`` seeds the envs (None: continue)."""

    def collect(self, policy, batch: RolloutBatch, streams: NoiseStreams,
                on_step: Callable[[], bool] | None = None) -> bool:
        """Fill ``batch`` (``batch.n_steps`` steps of every env) acting with ``policy``.

        ``streams`` draws the action noise, env ``i``'s from stream ``i`` (the model owns
        them); ``on_step()`` is called after every vector step and
        returning False stops early. Returns False when stopped early (the batch is then
        incomplete and must not be used for an update), True otherwise.
        """

    def close(self) -> None:
        """Release the environments (and workers)."""
