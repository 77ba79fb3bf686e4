"""The one vocabulary of output heads and activations: integer codes, names and aliases.

Every layer of fasttrpo speaks it: the Numba kernels (``fasttrpo.kernels``) and the Cython
acting forward (``fasttrpo._cython.forward``) branch on the integer codes; the policies, the
numpy runtime (``fasttrpo.runtime``) and the exporters (``fasttrpo.export``) use the names,
which are also what exported files store. This module imports the standard library only, so
that ``import fasttrpo.runtime`` stays numpy-only.

Heads (the output distribution of a policy network):

==============  ====  ===========================================================
name            code  network output per observation
==============  ====  ===========================================================
``gaussian``    0     mean of a diagonal Gaussian (``Box`` actions)
``categorical`` 1     concatenated logits of ``len(nvec)`` categoricals
                      (``Discrete``, ``MultiDiscrete``)
``bernoulli``   2     one logit per binary action (``MultiBinary``)
``gsde``        3     mean of a Gaussian whose variance depends on the state
                      through the last hidden layer (gSDE, ``Box`` actions)
==============  ====  ===========================================================

``NO_HEAD`` (-1) marks a network without an output distribution (the value function).

Activations (after every layer but the last): ``tanh`` (0), ``relu`` (1). Besides the names,
the torch spellings of sb3 / rl-baselines3-zoo ``policy_kwargs`` are accepted
(``"nn.Tanh"``, ``"torch.nn.ReLU"``, ...; case-insensitive) so that zoo hyperparameters load
without torch.

The codes are compiled into cached kernels: never renumber them.
"""

import operator

GAUSSIAN = 0
CATEGORICAL = 1
BERNOULLI = 2
GAUSSIAN_SDE = 3
NO_HEAD = -1

#: head names, indexed by code
HEAD_NAMES = ("gaussian", "categorical", "bernoulli", "gsde")

TANH = 0
RELU = 1

#: activation names, indexed by code
ACTIVATION_NAMES = ("tanh", "relu")

# lower-cased spelling -> code: the names and the torch class names (zoo / sb3 policy_kwargs)
_ACTIVATION_ALIASES = {
    f"{prefix}{name}": code
    for code, name in enumerate(ACTIVATION_NAMES)
    for prefix in ("", "nn.", "torch.nn.")
}


def activation_code(activation) -> int:
    """Integer code of an activation name.

    Parameters
    ----------
    activation : str
        ``"tanh"`` or ``"relu"``, or a torch spelling (``"nn.Tanh"``, ``"torch.nn.ReLU"``);
        case and surrounding spaces are ignored.

    Returns
    -------
    int
        ``TANH`` or ``RELU``.

    Raises
    ------
    ValueError
        For any other value, naming the argument and the supported spellings.
    """
    code = _ACTIVATION_ALIASES.get(str(activation).strip().lower())
    if code is None:
        raise ValueError(
            f"activation: unknown activation {activation!r}; supported: 'tanh', 'relu' "
            "(or the torch names 'nn.Tanh', 'nn.ReLU')"
        )
    return code


def activation_name(code: int) -> str:
    """Canonical name (``"tanh"``, ``"relu"``) of an activation code; ValueError if unknown."""
    return _name("activation", code, ACTIVATION_NAMES)


def head_code(head: str) -> int:
    """Integer code of a head name (one of `HEAD_NAMES`: ``"gaussian"``, ``"gsde"``, ...).

    Raises
    ------
    ValueError
        For any other value, naming the argument and the supported names.
    """
    if head not in HEAD_NAMES:
        raise ValueError(f"head: expected one of {HEAD_NAMES}, got {head!r}")
    return HEAD_NAMES.index(head)


def head_name(code: int) -> str:
    """Name of a head code (``GAUSSIAN`` -> ``"gaussian"`` ...); ValueError if unknown."""
    return _name("head", code, HEAD_NAMES)


def _name(kind: str, code, names: tuple[str, ...]) -> str:
    try:
        index = operator.index(code)  # ints and numpy integers
    except TypeError:
        index = -1
    if isinstance(code, bool) or not 0 <= index < len(names):
        raise ValueError(f"{kind}: unknown code {code!r}; expected 0..{len(names) - 1}")
    return names[index]


# ---- action space -> head -> parameter sizes: the one spec ----------------------------------
# Read by the policies, the algorithms' network spec and loader checks, the spaces' action
# codec, the numpy runtime and the exporters; over plain values (space kinds are gymnasium's
# class names, as the runtime's JSON stores them), so the runtime needs no gymnasium.

#: the head of each action-space kind (``Box`` with gSDE: ``"gsde"``)
SPACE_HEADS = {"Box": "gaussian", "Discrete": "categorical", "MultiDiscrete": "categorical",
               "MultiBinary": "bernoulli"}


def head_for_space(space_kind: str, use_sde: bool = False) -> str:
    """Name of the head for an action space of kind ``space_kind`` (``"Box"``, ...)."""
    if space_kind not in SPACE_HEADS:
        raise ValueError(f"action_space: {space_kind} is not supported; expected one of "
                         f"{tuple(SPACE_HEADS)}")
    if use_sde and space_kind != "Box":
        raise ValueError(f"use_sde: gSDE needs a Box action space, got {space_kind}")
    return "gsde" if use_sde else SPACE_HEADS[space_kind]


def extra_param_counts(head: str, out_dim: int, latent_dim: int) -> tuple[int, ...]:
    """Return the sizes the parameters after the MLP may have for ``head``, preferred first.

    ``gaussian``: its state-independent ``log_std`` (``out_dim``); ``gsde``: ``log_std`` per
    (latent unit, action) (``full_std``) or per latent unit (``latent_dim``: the last hidden
    layer's width, the observation's without hidden layers); the other heads have none.
    """
    head_code(head)
    if head == "gaussian":
        return (out_dim,)
    if head == "gsde":
        return (latent_dim * out_dim, latent_dim)
    return (0,)


def extra_param_count(head: str, out_dim: int, latent_dim: int, full_std: bool = True) -> int:
    """Parameters after the MLP for ``head`` (`extra_param_counts`; gSDE per ``full_std``)."""
    counts = extra_param_counts(head, out_dim, latent_dim)
    return counts[0] if full_std or head != "gsde" else counts[1]
