"""MLP structure: flat parameter layout, orthogonal initialisation, cached buffers."""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from fasttrpo.foundation.heads import NO_HEAD, activation_code
from fasttrpo.foundation.validation import check_dtype


class KernelLayout(NamedTuple):
    """Everything a kernel needs to know of a network's structure, as one value.

    Built once per model (``MLPLayout.kernel_layout``) and passed to every kernel in
    ``fasttrpo.kernels``. A plain named tuple of arrays and ints, so Numba types it, caches
    the kernels compiled for it, and compiles each kernel once per float dtype whatever the
    sizes, activation or head (those are read at run time).

    Attributes
    ----------
    layer_sizes : (L+2,) int64, C-contiguous, ``[in_dim, h_1, ..., h_L, out_dim]``.
    activation : int, ``fasttrpo.foundation.heads.TANH`` or ``RELU``.
    n_mlp : int, number of MLP parameters; a policy's parameters beyond them are the
        Gaussian ``log_std``.
    head : int, ``fasttrpo.foundation.heads`` code of the output distribution (``NO_HEAD``
        for a value function).
    nvec : (k,) int64, C-contiguous, classes per categorical block (empty unless categorical).
    """

    layer_sizes: np.ndarray
    activation: int
    n_mlp: int
    head: int
    nvec: np.ndarray


def check_sizes(name: str, sizes: Sequence[int], allow_empty: bool) -> tuple[int, ...]:
    """Validate layer sizes and return them as a tuple of Python ints.

    Parameters
    ----------
    name : str
        Name of the argument, used in error messages.
    sizes : sequence of int
        The sizes to check.
    allow_empty : bool
        Whether an empty sequence is accepted.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If an entry does not convert with ``int`` or is not positive, or if ``sizes`` is
        empty and ``allow_empty`` is false.
    """
    try:
        values = tuple(int(s) for s in sizes)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name}: expected a sequence of positive integers, got {sizes!r}"
        ) from err
    if any(s <= 0 for s in values) or (not values and not allow_empty):
        raise ValueError(f"{name}: expected positive integers, got {sizes!r}")
    return values


def orthogonal(shape: tuple[int, int], gain: float, rng: np.random.Generator) -> np.ndarray:
    """Orthogonal matrix of ``shape`` scaled by ``gain`` (as torch.nn.init.orthogonal_)."""
    rows, cols = shape
    flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # make the decomposition unique, hence uniformly distributed
    if rows < cols:
        q = q.T
    return gain * q[:rows, :cols]


class MLPLayout:
    """Flat-parameter layout of an MLP ``in_dim -> hidden_sizes -> out_dim``.

    Parameters
    ----------
    in_dim, out_dim : int
    hidden_sizes : sequence of int (may be empty: a linear map)
    activation : str, ``"tanh"`` or ``"relu"``
    dtype : np.float32 or np.float64
    """

    def __init__(
        self, in_dim: int, hidden_sizes: Sequence[int], out_dim: int, activation: str, dtype
    ) -> None:
        (in_dim,) = check_sizes("obs_dim", [in_dim], allow_empty=False)
        (out_dim,) = check_sizes("out_dim", [out_dim], allow_empty=False)
        self.hidden_sizes = check_sizes("hidden_sizes", hidden_sizes, allow_empty=True)
        self.activation_name = str(activation)
        self.activation = activation_code(activation)
        self.dtype = check_dtype(dtype)
        self.layer_sizes = np.array((in_dim, *self.hidden_sizes, out_dim), dtype=np.int64)
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.num_params = int(
            sum(a * b + b for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        )

    def kernel_layout(self, head: int = NO_HEAD,
                      nvec: Sequence[int] | np.ndarray = ()) -> KernelLayout:
        """Return the ``KernelLayout`` of this MLP for an output head.

        ``head`` is a ``fasttrpo.foundation.heads`` code and ``nvec`` the categorical block sizes.
        """
        return KernelLayout(
            self.layer_sizes, int(self.activation), self.num_params, int(head),
            np.ascontiguousarray(nvec, dtype=np.int64).reshape(-1),
        )

    def init_params(self, output_gain: float, rng: np.random.Generator,
                    orthogonal_init: bool = True) -> np.ndarray:
        """Draw initial MLP parameters the way sb3 initialises its networks.

        ``orthogonal_init`` (sb3's ``ortho_init=True``): orthogonal weights with gain sqrt(2)
        on hidden layers and ``output_gain`` on the last, zero biases. Otherwise torch's
        default ``nn.Linear`` init (sb3's ``ortho_init=False``): weights and biases uniform in
        ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.
        """
        chunks = []
        n_layers = len(self.layer_sizes) - 1
        for layer, (fan_in, fan_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:])):
            fan_in, fan_out = int(fan_in), int(fan_out)
            if orthogonal_init:
                gain = output_gain if layer == n_layers - 1 else np.sqrt(2.0)
                # torch initialises Linear.weight (fan_out, fan_in); our W is its transpose
                chunks.append(orthogonal((fan_out, fan_in), gain, rng).T.ravel())
                chunks.append(np.zeros(fan_out))
            else:  # kaiming_uniform(a=sqrt(5)) and the bias rule of torch: bound 1/sqrt(fan_in)
                bound = 1.0 / np.sqrt(fan_in)
                chunks.append(rng.uniform(-bound, bound, (fan_out, fan_in)).T.ravel())
                chunks.append(rng.uniform(-bound, bound, fan_out))
        return np.concatenate(chunks).astype(self.dtype)

    def hidden_buffer(self, n_rows: int) -> np.ndarray:
        """Allocate an uninitialised flat buffer for the hidden activations of ``n_rows`` rows.

        Its shape is ``(n_rows * sum(hidden_sizes),)``, in the layout's dtype.
        """
        return np.empty(n_rows * int(sum(self.hidden_sizes)), dtype=self.dtype)

    def scratch_buffer(self, n_rows: int) -> np.ndarray:
        """Allocate an uninitialised flat scratch buffer for ``n_rows`` rows.

        Its shape is ``(n_rows * max(*hidden_sizes, out_dim),)``, in the layout's dtype:
        large enough for the outputs of any one layer.
        """
        return np.empty(n_rows * max((*self.hidden_sizes, self.out_dim)), dtype=self.dtype)


class ForwardBuffers:
    """Per-batch-size buffers of one forward pass (``hidden``, ``dact``, ``tangent``, ``out``)."""

    def __init__(self, layout: MLPLayout, n_rows: int) -> None:
        self.n_rows = n_rows
        self._hidden_sizes = layout.hidden_sizes
        self.hidden = layout.hidden_buffer(n_rows)
        self.dact = layout.hidden_buffer(n_rows)
        self.tangent = layout.hidden_buffer(n_rows)
        self.scratch = layout.scratch_buffer(n_rows)
        self.out = np.empty((n_rows, layout.out_dim), dtype=layout.dtype)

    def latent(self, obs: np.ndarray) -> np.ndarray:
        """View (n_rows, Z) of the last hidden layer of the forward pass of ``obs``.

        ``obs`` itself without hidden layers (``fasttrpo.kernels.mlp.latent_features``).
        """
        if not self._hidden_sizes:
            return obs
        width = self._hidden_sizes[-1]
        start = self.n_rows * (sum(self._hidden_sizes) - width)
        return self.hidden[start: start + self.n_rows * width].reshape(self.n_rows, width)

    @classmethod
    def reuse(cls, layout: MLPLayout, buffers: "ForwardBuffers | None", n_rows: int):
        """``buffers`` if it fits ``n_rows``, else fresh buffers."""
        if buffers is not None and buffers.n_rows == n_rows:
            return buffers
        return cls(layout, n_rows)
