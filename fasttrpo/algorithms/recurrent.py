"""What the algorithms do differently for a recurrent policy (``"MlpGruPolicy"``).

The learn loop, the update and the step are the feed-forward ones: the sampler carries each
env's hidden state (`fasttrpo.rollout.gym_sampler.VectorEnvSampler.policy_state`), the batch
preparation packs the policy rows as sequences (`fasttrpo.rollout.sequences`) and the TRPO
step linearises the GRU policy on them (`fasttrpo.steps.trpo.trpo_step`'s ``sequences``).
Here: ``predict``'s state handling (sb3-contrib's ``RecurrentPPO.predict``) and the checks
that refuse what a GRU policy does not support.
"""

from __future__ import annotations

import numpy as np

from fasttrpo.models.recurrent import GRUPolicy

__all__ = ["check_sampler", "check_supported", "predict_rows"]


def predict_rows(policy: GRUPolicy, rows: np.ndarray, state, episode_start,
                 deterministic: bool, rng: np.random.Generator, action_masks=None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One step of ``policy`` for N observation rows: ``(actions (N, width), state (N, H))``.

    sb3-contrib's ``RecurrentPPO.predict`` semantics: ``state`` None is the zero state (an
    episode start); ``episode_start`` (N,) bools reset those rows' states to zero first;
    the returned state is what the next call takes. ``state`` (N, H) (or (H,) for one row).
    """
    policy.as_masks(action_masks, rows.shape[0])  # refused: no masked GRU heads
    n_rows, hidden = rows.shape[0], policy.hidden_size
    if state is None:
        state = policy.initial_state(n_rows)
    else:
        state = np.asarray(state)
        if state.shape == (hidden,) and n_rows == 1:
            state = state[None]
        if state.shape != (n_rows, hidden):
            raise ValueError(f"state: expected shape ({n_rows}, {hidden}) (one hidden state "
                             f"of the GRU per observation; None for episode starts), got "
                             f"{state.shape}")
    if episode_start is not None:
        episode_start = np.asarray(episode_start, dtype=bool).reshape(-1)
        if episode_start.shape != (n_rows,):
            raise ValueError(f"episode_start: expected {n_rows} booleans (one per "
                             f"observation), got shape {episode_start.shape}")
    return policy.act(rows, state, deterministic, rng, episode_start=episode_start)


def check_supported(name: str) -> None:
    """Refuse an operation a GRU policy does not support yet (ValueError with the alternative)."""
    raise ValueError(f"{name}: not supported with a recurrent policy (MlpGruPolicy) yet; use "
                     f"save/load, which store the GRU, or an MlpPolicy model")


def check_sampler(sampler) -> None:
    """Refuse a sampler that cannot carry a GRU state (the compiled ones)."""
    if not getattr(sampler, "supports_recurrent", False):
        raise ValueError(f"sampler: {type(sampler).__name__} cannot run a recurrent policy "
                         "(MlpGruPolicy): it acts without a hidden state; use a gymnasium "
                         "env (VectorEnvSampler, or a RaySampler of gymnasium envs), "
                         "compiled=False")
