"""A trained ``TRPO`` model as a ``fasttrpo.runtime.Policy``.

This is the one description every exporter (npz, ONNX, C) writes out.
"""

import numpy as np

from fasttrpo.foundation.heads import activation_name, head_name
from fasttrpo.runtime import Policy


def policy_from_model(model) -> Policy:
    """Return the deterministic-and-stochastic acting part of ``model`` as a runtime `Policy`.

    Parameters
    ----------
    model : fasttrpo.TRPO
        A trained (or loaded) model. Its observation statistics are frozen into the policy.

    Returns
    -------
    fasttrpo.runtime.Policy
        Holds copies of the policy parameters, the spaces and the normalisation statistics;
        it computes the same actions as ``model.predict``.
    """
    from fasttrpo.models.spaces import space_to_json

    net = model.policy
    normalizer = model.obs_normalizer
    obs_mean = obs_std = None
    clip_obs = 0.0
    if normalizer is not None:
        obs_mean = np.array(normalizer.mean, dtype=np.float64)
        obs_std = normalizer.std  # sqrt(var + epsilon), the normaliser's own
        clip_obs = float(normalizer.clip_obs)
    recurrent = getattr(net, "recurrent", False)  # a GRU policy: the encoder's layout
    layout = net.encoder if recurrent else net.layout
    return Policy(
        space_to_json(model.observation_space), space_to_json(model.action_space),
        layer_sizes=layout.layer_sizes, activation=activation_name(layout.activation),
        head=head_name(net.head), nvec=net.nvec, params=net.get_params(),
        obs_mean=obs_mean, obs_std=obs_std, clip_obs=clip_obs,
        gru_hidden_size=net.hidden_size if recurrent else 0,
    )
