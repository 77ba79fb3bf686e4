"""Fitting the value function to its regression targets (step 6 of the update, DESIGN.md).

Two optimisers, both updating ``ValueFunction`` parameters in place:

- ``AdamValueFitter``: minibatch Adam epochs, as sb3-contrib's TRPO critic update
  (``n_critic_updates`` passes over a shuffled rollout in chunks of ``batch_size``; Adam with
  ``eps=1e-5`` as sb3's policy optimiser). All epochs run in one compiled call.
- ``LBFGSValueFitter``: full-batch L-BFGS, as Schulman's modular_rl
  (``scipy.optimize.fmin_l_bfgs_b`` with ``maxiter=25``).
"""

import numpy as np

from fasttrpo.foundation.validation import float_array
from fasttrpo.kernels.value import adam_minibatch_epochs, mse_loss_grad
from fasttrpo.models.nets import ForwardBuffers
from fasttrpo.models.value_function import ValueFunction


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _positive_float(name: str, value, allow_zero: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a number, got {value!r}") from err
    if not np.isfinite(value) or value < 0.0 or (value == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return value


def _check_value_function(value_function) -> ValueFunction:
    if not isinstance(value_function, ValueFunction):
        raise ValueError(  # noqa: TRY004 (project convention: bad arguments raise ValueError)
            f"value_function: expected a fasttrpo ValueFunction, "
            f"got {type(value_function).__name__}"
        )
    return value_function


def _regression_data(value_function: ValueFunction, obs, targets):
    """Validate ``obs`` (N, obs_dim) and ``targets`` (N,); return them C-contiguous, model dtype."""
    obs = float_array("obs", obs, value_function.dtype, (None, value_function.obs_dim))
    targets = float_array("targets", targets, value_function.dtype, (obs.shape[0],))
    if obs.shape[0] == 0:
        raise ValueError("obs: needs at least one row")
    return obs, targets


class AdamValueFitter:
    """Minibatch Adam epochs on ``mean (V(s) - target)^2`` (sb3-contrib TRPO critic).

    Parameters
    ----------
    value_function : ValueFunction
        Fitted in place.
    learning_rate : float, default 1e-3
        May be changed between fits (e.g. by a schedule).
    n_epochs : int, default 10
        Passes over the data per ``fit`` (sb3-contrib's ``n_critic_updates``).
    batch_size : int, default 128
    eps : float, default 1e-5
        Adam's epsilon; sb3 builds its policy Adam with ``eps=1e-5``.
    betas : (float, float), default (0.9, 0.999)

    Attributes
    ----------
    m, v : (P,) arrays of the value-function dtype, Adam's moment estimates.
    step : int, Adam steps taken (drives the bias correction).
    """

    def __init__(self, value_function: ValueFunction, learning_rate: float = 1e-3,
                 n_epochs: int = 10, batch_size: int = 128, eps: float = 1e-5,
                 betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.value_function = _check_value_function(value_function)
        self.learning_rate = _positive_float("learning_rate", learning_rate)
        self.n_epochs = _positive_int("n_epochs", n_epochs)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.eps = _positive_float("eps", eps, allow_zero=True)
        try:
            beta1, beta2 = (float(b) for b in betas)
        except (TypeError, ValueError) as err:
            raise ValueError(f"betas: expected two numbers in [0, 1), got {betas!r}") from err
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {betas!r}")
        self.betas = (beta1, beta2)
        n_params, dtype = value_function.num_params, value_function.dtype
        self.m = np.zeros(n_params, dtype=dtype)
        self.v = np.zeros(n_params, dtype=dtype)
        self.step = 0
        self._grad = np.empty(n_params, dtype=dtype)
        self._rows = 0  # capacity of the minibatch buffers below
        self._buffers: ForwardBuffers | None = None
        self._obs_batch: np.ndarray | None = None
        self._target_batch: np.ndarray | None = None

    def _ensure_buffers(self, rows: int) -> None:
        if rows <= self._rows:
            return
        vf = self.value_function
        self._buffers = ForwardBuffers(vf.layout, rows)
        self._obs_batch = np.empty((rows, vf.obs_dim), dtype=vf.dtype)
        self._target_batch = np.empty(rows, dtype=vf.dtype)
        self._rows = rows

    def fit(self, obs, targets, rng=None) -> float:
        """Run ``n_epochs`` shuffled passes of minibatch Adam; returns the mean minibatch loss.

        Parameters
        ----------
        obs : (N, obs_dim) array.
        targets : (N,) array.
        rng : numpy Generator or seed
            Draws one permutation of ``range(N)`` per epoch (``rng.permutation``).
        """
        vf = self.value_function
        obs, targets = _regression_data(vf, obs, targets)
        rng = np.random.default_rng(rng)
        n_rows = obs.shape[0]
        batch_indices = np.empty((self.n_epochs, n_rows), dtype=np.int64)
        for epoch in range(self.n_epochs):
            batch_indices[epoch] = rng.permutation(n_rows)
        self._ensure_buffers(min(self.batch_size, n_rows))
        buffers = self._buffers
        assert buffers is not None  # made by _ensure_buffers
        beta1, beta2 = self.betas
        mean_loss, step = adam_minibatch_epochs(
            vf.params, vf.kernel_layout, obs, targets,
            batch_indices, self.batch_size, self.learning_rate, beta1, beta2, self.eps,
            self.m, self.v, self.step, self._obs_batch, self._target_batch,
            buffers.hidden, buffers.dact, buffers.tangent, buffers.out, self._grad,
        )
        self.step = int(step)
        return float(mean_loss)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Adam state: ``m``, ``v`` (P,) and ``step`` () int64, as copies."""
        return {"m": self.m.copy(), "v": self.v.copy(), "step": np.array(self.step, np.int64)}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` output; ValueError naming a missing or bad key.

        An empty dict (e.g. the state of an L-BFGS fitter) resets Adam to its initial state.
        """
        n_params, dtype = self.value_function.num_params, self.value_function.dtype
        if not state:
            self.m[:] = 0.0
            self.v[:] = 0.0
            self.step = 0
            return
        for key in ("m", "v", "step"):
            if key not in state:
                raise ValueError(f"{key}: missing from the optimizer state (keys: {sorted(state)})")
        m = float_array("m", state["m"], dtype, (n_params,))
        v = float_array("v", state["v"], dtype, (n_params,))
        if (v < 0).any():
            raise ValueError("v: contains negative value(s)")
        step = np.asarray(state["step"])
        if step.shape != () or step.dtype.kind not in "iu" or step < 0:
            raise ValueError(f"step: expected a non-negative integer scalar, got {step!r}")
        self.m[:] = m
        self.v[:] = v
        self.step = int(step)


class LBFGSValueFitter:
    """Full-batch L-BFGS on ``mean (V(s) - target)^2 + l2_reg * |theta|^2`` (modular_rl).

    Parameters
    ----------
    value_function : ValueFunction
        Fitted in place.
    max_iter : int, default 25
        L-BFGS iterations per ``fit`` (modular_rl's ``maxiter=25``).
    l2_reg : float, default 0.0
        Weight of the squared-norm penalty on all parameters.

    The compiled loss/gradient runs in the value-function dtype; scipy works in float64.
    """

    def __init__(self, value_function: ValueFunction, max_iter: int = 25,
                 l2_reg: float = 0.0) -> None:
        self.value_function = _check_value_function(value_function)
        self.max_iter = _positive_int("max_iter", max_iter)
        self.l2_reg = _positive_float("l2_reg", l2_reg, allow_zero=True)
        self._buffers: ForwardBuffers | None = None

    def fit(self, obs, targets, rng=None) -> float:
        """Minimise from the current parameters; returns the final mean-squared error.

        ``rng`` is unused (the fit is deterministic); it keeps the Adam fitter's signature.
        """
        vf = self.value_function
        obs, targets = _regression_data(vf, obs, targets)
        from scipy.optimize import minimize  # ~0.4 s to import: only this fitter needs it

        layout = vf.kernel_layout
        buffers = self._buffers = ForwardBuffers.reuse(vf.layout, self._buffers, obs.shape[0])
        theta = np.empty(vf.num_params, dtype=vf.dtype)  # scipy's x in the model dtype
        grad = np.empty(vf.num_params, dtype=vf.dtype)
        l2 = self.l2_reg

        def mse_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            theta[:] = x
            loss = mse_loss_grad(theta, layout, obs, targets, buffers.hidden, buffers.dact,
                                 buffers.tangent, buffers.out, grad)
            return float(loss), grad.astype(np.float64)

        def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            loss, g = mse_and_grad(x)
            # f = mse + l2 |x|^2,  df/dx = dmse/dx + 2 l2 x
            return loss + l2 * float(x @ x), g + (2.0 * l2) * x

        x0 = vf.get_params().astype(np.float64)
        f0 = objective(x0)[0]
        result = minimize(objective, x0, jac=True, method="L-BFGS-B",
                          options={"maxiter": self.max_iter})
        x = np.asarray(result.x, dtype=np.float64)
        if np.isfinite(x).all() and np.isfinite(result.fun) and result.fun <= f0:
            vf.set_params(x)
        else:  # never leave worse or non-finite parameters behind
            x = x0
        return mse_and_grad(x)[0]

    def state_dict(self) -> dict[str, np.ndarray]:
        """L-BFGS keeps no state between fits: ``{}``."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore; any entries (e.g. a former Adam state) are ignored."""
