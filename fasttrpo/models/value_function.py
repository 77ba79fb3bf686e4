"""State-value MLP with an analytic mean-squared-error gradient."""

from collections.abc import Sequence

import numpy as np

from fasttrpo.foundation.validation import float_array
from fasttrpo.kernels import mlp
from fasttrpo.kernels.value import mse_loss_grad
from fasttrpo.models.nets import ForwardBuffers, MLPLayout

VALUE_OUTPUT_GAIN = 1.0  # sb3's orthogonal gain of the value layer


class ValueFunction:
    """MLP ``V(s)``: ``obs_dim -> hidden_sizes -> 1``, orthogonally initialised.

    Parameters
    ----------
    obs_dim : int
    hidden_sizes : sequence of int, default (64, 64)
    activation : {"tanh", "relu"}, default "tanh"
    dtype : np.float32 (default) or np.float64
    seed : int or None
    initialize : bool, default True
        False leaves the parameters at zero (``load`` sets them right after).

    Attributes
    ----------
    layout : MLPLayout; kernel_layout : KernelLayout (head ``NO_HEAD``).
    num_params : int
    """

    def __init__(
        self,
        obs_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        dtype=np.float32,
        seed: int | None = None,
        initialize: bool = True,
    ) -> None:
        self.layout = MLPLayout(obs_dim, hidden_sizes, 1, activation, dtype)
        self.dtype = self.layout.dtype
        self.obs_dim = self.layout.in_dim
        self.num_params = self.layout.num_params
        self.kernel_layout = self.layout.kernel_layout()
        # load skips the initialisation (O(width^3)) of parameters it sets right after
        self._params = (self.layout.init_params(VALUE_OUTPUT_GAIN, np.random.default_rng(seed))
                        if initialize else np.zeros(self.num_params, dtype=self.dtype))
        self._buffers: ForwardBuffers | None = None

    def get_params(self) -> np.ndarray:
        """Copy of the flat parameter vector, (num_params,)."""
        return self._params.copy()

    def set_params(self, params) -> None:
        """Set the flat parameters; ``params``: (num_params,) finite reals."""
        self._params[:] = float_array("params", params, self.dtype, (self.num_params,))

    @property
    def params(self) -> np.ndarray:
        """The live flat parameter vector, (num_params,), C-contiguous, of the model dtype.

        Not a copy: for optimisers that update the parameters in place (``value_fit``).
        Anything written must stay finite; use ``set_params`` to have it checked.
        """
        return self._params

    def _obs(self, obs) -> np.ndarray:
        return float_array("obs", obs, self.dtype, (None, self.obs_dim))

    def predict(self, obs) -> np.ndarray:
        """``V(s)`` for ``obs`` (N, obs_dim); returns (N,)."""
        obs = self._obs(obs)
        buffers = self._buffers = ForwardBuffers.reuse(self.layout, self._buffers, obs.shape[0])
        mlp.forward(self._params, self.kernel_layout, obs, buffers.hidden, buffers.dact,
                    buffers.out, 0, obs.shape[0])
        return buffers.out[:, 0].copy()

    def loss_grad(self, obs, targets, params=None) -> tuple[float, np.ndarray]:
        """Loss ``mean((V(s) - targets)^2)`` and its gradient (num_params,).

        ``params`` evaluates at other parameters than the current ones.
        """
        obs = self._obs(obs)
        targets = float_array("targets", targets, self.dtype, (obs.shape[0],))
        params = self._params if params is None else float_array(
            "params", params, self.dtype, (self.num_params,)
        )
        buffers = self._buffers = ForwardBuffers.reuse(self.layout, self._buffers, obs.shape[0])
        grad = np.empty(self.num_params, dtype=self.dtype)
        loss = mse_loss_grad(
            params, self.kernel_layout, obs, targets, buffers.hidden, buffers.dact,
            buffers.tangent, buffers.out, grad,
        )
        return float(loss), grad
