"""Named parameter arrays in Stable-Baselines3's layout (``get_parameters`` / ``set_parameters``).

sb3's ``ActorCriticPolicy`` with an MLP keeps, in its ``state_dict``: the hidden layers of the
actor and the critic as ``mlp_extractor.policy_net.<2 l>`` and ``mlp_extractor.value_net.<2 l>``
(``Linear`` modules at even indices, the activations between them), the output layers
``action_net`` and ``value_net``, each with ``.weight`` of shape (fan_out, fan_in) and
``.bias``, and ``log_std`` for Gaussian actions. fasttrpo's flat vectors
(``[W0, b0, ..., WL, bL(, log_std)]``, each ``W`` of shape (fan_in, fan_out)) map onto those
names one to one, with the weights transposed, so the arrays read like sb3's and convert to its
tensors directly (``fasttrpo.interop.sb3``). A constrained algorithm's cost critic, which sb3
has not, is named ``mlp_extractor.cost_value_net.<2 l>`` / ``cost_value_net``.
"""

from collections.abc import Mapping

import numpy as np

from fasttrpo.foundation.validation import mapping_entry_array
from fasttrpo.models.nets import MLPLayout

__all__ = ["assign_named", "flat_from_named", "named_from_flat", "named_slices", "network_names"]


def network_names(layout: MLPLayout, hidden: str, output: str) -> list[tuple[str, str]]:
    """List ``(weight name, bias name)`` per layer: ``<hidden>.<2 l>``, then ``<output>``."""
    n_layers = len(layout.layer_sizes) - 1
    names = [f"{hidden}.{2 * layer}" for layer in range(n_layers - 1)] + [output]
    return [(f"{name}.weight", f"{name}.bias") for name in names]


def named_slices(layout: MLPLayout, hidden: str, output: str):
    """Yield ``(name, sb3 shape, offset)`` of every weight and bias in the flat vector.

    A weight of sb3 shape (fan_out, fan_in) is stored at ``offset`` as its transpose,
    (fan_in, fan_out) row-major; a bias (fan_out,) as it is.
    """
    offset = 0
    sizes = [int(s) for s in layout.layer_sizes]
    for (weight, bias), fan_in, fan_out in zip(network_names(layout, hidden, output),
                                               sizes[:-1], sizes[1:], strict=True):
        yield weight, (fan_out, fan_in), offset
        offset += fan_in * fan_out
        yield bias, (fan_out,), offset
        offset += fan_out


def named_from_flat(layout: MLPLayout, params: np.ndarray, hidden: str,
                    output: str) -> dict[str, np.ndarray]:
    """Name an MLP's flat parameters as sb3 does (weights as (fan_out, fan_in), copies)."""
    out = {}
    for name, shape, offset in named_slices(layout, hidden, output):
        size = int(np.prod(shape))
        out[name] = params[offset:offset + size].reshape(shape[::-1]).T.copy()
    return out


def assign_named(layout: MLPLayout, flat: np.ndarray, arrays: Mapping[str, np.ndarray],
                 hidden: str, output: str, require_all: bool = True) -> list[str]:
    """Write sb3-named ``arrays`` into the flat MLP parameters ``flat`` in place.

    With ``require_all`` every weight and bias must be given; without, those given are
    written and the others left. Returns the names written.

    Raises
    ------
    ValueError
        Naming the array that is missing (``require_all``), has another shape, or holds NaN
        / inf; ``flat`` may then be partly written (pass a copy).
    """
    written = []
    for name, shape, offset in named_slices(layout, hidden, output):
        if name in arrays or require_all:
            value = mapping_entry_array(arrays, name, shape, "parameters")
            flat[offset:offset + value.size] = value.T.reshape(-1)
            written.append(name)
    return written


def flat_from_named(layout: MLPLayout, arrays: Mapping[str, np.ndarray], hidden: str,
                    output: str, dtype) -> np.ndarray:
    """Rebuild the flat MLP parameters from sb3-named ``arrays`` (`named_from_flat` inverted).

    Raises
    ------
    ValueError
        Naming the array that is missing, has another shape, or holds NaN / inf.
    """
    flat = np.empty(layout.num_params, dtype=dtype)
    assign_named(layout, flat, arrays, hidden, output)
    return flat
