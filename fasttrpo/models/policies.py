"""MLP policies with hand-written gradients and Fisher-vector products.

Each policy is a thin wrapper over the Numba kernels in ``fasttrpo.kernels``: it owns the flat
parameter vector (layout in DESIGN.md section 3), validates inputs and reuses buffers.
"""

from collections.abc import Mapping, Sequence

import numpy as np

import fasttrpo._cython.forward as cy_forward
from fasttrpo.foundation.heads import (
    BERNOULLI,
    CATEGORICAL,
    GAUSSIAN,
    GAUSSIAN_SDE,
    extra_param_count,
    head_name,
)
from fasttrpo.foundation.masking import check_action_masks, mask_logits
from fasttrpo.foundation.validation import float_array, index_array, mapping_entry_array
from fasttrpo.kernels import distributions, mlp
from fasttrpo.models.linearization import Linearization, LinearizationBuffers
from fasttrpo.models.nets import ForwardBuffers, MLPLayout, check_sizes
from fasttrpo.models.parameters import flat_from_named, named_from_flat

POLICY_OUTPUT_GAIN = 0.01  # sb3's orthogonal gain of the action layer


class MLPPolicy:
    """Base class: an MLP ``obs -> distribution parameters`` plus an output distribution.

    Subclasses set the head (``GAUSSIAN``, ``GAUSSIAN_SDE``, ``CATEGORICAL``, ``BERNOULLI``
    of ``fasttrpo.foundation.heads``) and the action format (``as_actions``). Do not instantiate
    directly.

    Attributes
    ----------
    layout : MLPLayout, the network's structure.
    kernel_layout : KernelLayout, the structure and head as the kernels take it.
    head_kernels : HeadKernels, the distribution kernels of the head
        (``fasttrpo.kernels.distributions.head_kernels``).
    n_mlp, num_params : int, MLP parameters and all parameters (MLP, then ``log_std``).
    head : int; nvec : (k,) int64 (categorical block sizes, else empty).
    """

    head: int = -1

    def __init__(
        self,
        obs_dim: int,
        out_dim: int,
        hidden_sizes: Sequence[int],
        activation: str,
        dtype,
        seed: int | None,
        nvec: Sequence[int] | np.ndarray = (),
        n_extra: int = 0,
        initialize: bool = True,
    ) -> None:
        self.layout = MLPLayout(obs_dim, hidden_sizes, out_dim, activation, dtype)
        self.dtype = self.layout.dtype
        self.obs_dim = self.layout.in_dim
        self.hidden_sizes = self.layout.hidden_sizes
        self.activation = self.layout.activation_name
        self.kernel_layout = self.layout.kernel_layout(self.head, nvec)
        self.head_kernels = distributions.head_kernels(self.head)
        self.nvec = self.kernel_layout.nvec
        self.n_mlp = self.layout.num_params
        self.num_params = self.n_mlp + n_extra
        self._params = np.zeros(self.num_params, dtype=self.dtype)
        if initialize:  # loading skips it: its cost grows as width^3, the file's as width^2
            rng = np.random.default_rng(seed)
            self._params[: self.n_mlp] = self.layout.init_params(POLICY_OUTPUT_GAIN, rng)
        self._buffers: ForwardBuffers | None = None
        # Linearisation buffers, reused across updates: fresh multi-MB arrays every update
        # cost more in page faults than the forward pass itself (glibc returns them to the OS)
        self._lin_buffers: LinearizationBuffers | None = None
        self._act_buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __getstate__(self) -> dict:
        """Pickle the structure and parameters only; scratch buffers are rebuilt on demand.

        A trained policy's linearisation buffers hold several arrays of batch size: a copy
        sent to a Ray worker carries none of them.
        """
        state = self.__dict__.copy()
        state.update(_buffers=None, _lin_buffers=None, _act_buffers={})
        return state

    # ---- parameters -------------------------------------------------------------------
    def get_params(self) -> np.ndarray:
        """Copy of the flat parameter vector, shape (num_params,)."""
        return self._params.copy()

    def set_params(self, params) -> None:
        """Set the flat parameter vector; ``params``: (num_params,) finite reals."""
        self._params[:] = float_array("params", params, self.dtype, (self.num_params,))

    @property
    def log_std(self) -> np.ndarray:
        """Gaussian log standard deviations (gSDE: the exploration matrix's; else empty)."""
        return self._params[self.n_mlp :]

    @property
    def log_std_shape(self) -> tuple[int, ...]:
        """Shape of ``log_std`` in sb3's ``state_dict``: (act_dim,); gSDE (Z, act_dim) or (Z, 1)."""
        return (self.num_params - self.n_mlp,)

    # ---- sb3's state_dict -------------------------------------------------------------
    #: the prefixes of the policy's arrays in sb3's ``ActorCriticPolicy.state_dict()``
    SB3_HIDDEN, SB3_OUTPUT = "mlp_extractor.policy_net", "action_net"

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return the policy's parameters under sb3's names and shapes (copies).

        ``mlp_extractor.policy_net.<2k>.weight`` (fan_out, fan_in) and ``.bias``,
        ``action_net.weight`` / ``.bias``, ``log_std`` (Gaussian and gSDE heads). sb3's
        ``model.policy.state_dict()`` also holds the critic (``value_net``, ...): in fasttrpo
        the critics are networks of their own (``model.get_parameters()`` has them all).
        """
        named = named_from_flat(self.layout, self.get_params(), self.SB3_HIDDEN,
                                self.SB3_OUTPUT)
        if self.log_std.size:
            named["log_std"] = self.log_std.reshape(self.log_std_shape).copy()
        return named

    def load_state_dict(self, state_dict, strict: bool = True) -> None:
        """Set the parameters from `state_dict`'s names (sb3's, torch tensors as arrays).

        ``strict=True``: exactly the policy's names; False: other names (an sb3 state dict's
        critic, say) are ignored, the policy's must all be there. Everything is checked
        (names, shapes, finite values) before the parameters change; ValueError names the
        array.
        """
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"state_dict: expected a mapping of name to array, got "
                             f"{type(state_dict).__name__}")
        expected = set(self.state_dict())
        missing, unexpected = expected - set(state_dict), set(state_dict) - expected
        if missing or (strict and unexpected):
            raise ValueError(f"state_dict: missing {sorted(missing)}"
                             + (f", unexpected {sorted(unexpected)} (strict=True)"
                                if strict and unexpected else ""))
        arrays = {name: np.asarray(getattr(value, "numpy", lambda v=value: v)())
                  for name, value in state_dict.items() if name in expected}
        flat = self.get_params()
        flat[: self.n_mlp] = flat_from_named(self.layout, arrays, self.SB3_HIDDEN,
                                             self.SB3_OUTPUT, flat.dtype)
        if self.log_std.size:
            flat[self.n_mlp :] = mapping_entry_array(arrays, "log_std", self.log_std_shape,
                                                     "state_dict").ravel()
        self.set_params(flat)

    # ---- input checks ---------------------------------------------------------------
    def _obs(self, obs, name: str = "obs", batch_mean: bool = False) -> np.ndarray:
        obs = float_array(name, obs, self.dtype, (None, self.obs_dim))
        if batch_mean and obs.shape[0] == 0:  # a mean over no rows is undefined, not 0 or NaN
            raise ValueError(f"{name}: needs at least one row for a mean over the batch")
        return obs

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """Validate actions for ``n_rows`` observations and return them as the kernels take them.

        Parameters
        ----------
        actions : array-like in the head's action format (see the subclass).
        n_rows : int, the number of observations they belong to.

        Returns
        -------
        (n_rows, action_width) C-contiguous array of the policy dtype (class indices and 0/1
        as floats for the discrete heads).

        Raises
        ------
        ValueError
            Naming ``actions``: wrong shape, non-finite or out-of-range values.
        """
        raise NotImplementedError

    def _vector(self, name: str, value, length: int) -> np.ndarray:
        return float_array(name, value, self.dtype, (length,))

    def as_masks(self, masks, n_rows: int, name: str = "action_masks") -> np.ndarray | None:
        """Check action masks of ``n_rows`` states: (n_rows, sum(nvec)) bool, None if None.

        `fasttrpo.foundation.masking.check_action_masks` (ValueError naming the fix).
        """
        return None if masks is None else check_action_masks(
            masks, self.nvec, n_rows, head_name(self.head), name)

    def _eval_buffers(self, n_rows: int) -> ForwardBuffers:
        self._buffers = ForwardBuffers.reuse(self.layout, self._buffers, n_rows)
        return self._buffers

    # ---- acting (Cython, no JIT) -------------------------------------------------------
    @property
    def action_width(self) -> int:
        """Columns of an action row: act_dim (Gaussian), 1 (categorical), k (multi), n (binary)."""
        return int(self.nvec.size) if self.head == CATEGORICAL else self.layout.out_dim

    def act(self, obs, deterministic: bool = False, rng: np.random.Generator | None = None,
            masks=None):
        """Actions for ``obs`` (N, obs_dim): samples, or the mean / mode if ``deterministic``.

        Returns (N, action_width) floats (class indices for discrete heads). Runs the compiled
        Cython forward pass; ``rng`` supplies the noise (a fresh default generator if None).
        ``masks``: action masks (N, sum(nvec)) of the categorical head, or None (`as_masks`).
        """
        obs = self._obs(obs)
        masks = self.as_masks(masks, obs.shape[0])
        out = np.empty((obs.shape[0], self.action_width), dtype=self.dtype)
        return self.act_into(obs, deterministic, rng or np.random.default_rng(), out,
                             masks=masks)

    def act_into(self, obs: np.ndarray, deterministic: bool, rng, out: np.ndarray,
                 noise: np.ndarray | None = None, row_invariant: bool = False,
                 masks: np.ndarray | None = None) -> np.ndarray:
        """``act`` on validated, C-contiguous ``obs`` of the policy dtype, written to ``out``.

        ``noise`` (N, noise_width) of the policy dtype, as `draw_noise` fills it: the noise to
        act with (a sampler holds gSDE's exploration matrices for several steps); None draws
        fresh noise from ``rng``. Unused when ``deterministic``. ``row_invariant``: each
        row's action is the same bits whatever the number of rows (one BLAS call per row and
        layer; the samplers use it so that envs split over workers act as in one process).
        ``masks``: checked action masks (`as_masks`) or None; masked actions are never drawn.
        """
        n_rows = obs.shape[0]
        buffers = self._act_buffers.get(n_rows)
        if buffers is None:
            work = np.empty(cy_forward.work_size(self.layout.layer_sizes, n_rows), self.dtype)
            fresh = np.empty((n_rows, self.noise_width), dtype=self.dtype)
            buffers = self._act_buffers[n_rows] = (work, fresh)
        work, fresh = buffers
        if noise is None:
            noise = fresh if deterministic else self.draw_noise(rng, fresh)
        cy_forward.act(
            self._params, self.layout.layer_sizes, self.layout.activation, self.head,
            self.nvec, obs, noise, out, work, deterministic, row_invariant,
            None if masks is None else masks.view(np.uint8),
        )
        return out

    def rollout_actor(self, obs_rows: np.ndarray, batch_obs: np.ndarray,
                      batch_actions: np.ndarray) -> cy_forward.RolloutActor:
        """`act_into` for a whole rollout, bound once: ``actor.step(t, draw)`` per vector step.

        ``step`` copies ``obs_rows`` (E, obs_dim) into ``batch_obs[t]`` and writes the samples
        for them to ``batch_actions[t]`` (both (T, E, ...) of the policy dtype), acting with
        row ``draw`` of the noise given to ``actor.set_noise`` (D, E, noise_width): the same
        bits as ``act_into(obs_rows, False, None, batch_actions[t], noise[draw],
        row_invariant=True)`` at about a third of the cost for a few envs. The actor reads the
        current parameters at each step.
        """
        work = np.empty(cy_forward.work_size(self.layout.layer_sizes, len(obs_rows)),
                        self.dtype)
        return cy_forward.RolloutActor(self._params, self.layout.layer_sizes,
                                       self.layout.activation, self.head, self.nvec, obs_rows,
                                       batch_obs, batch_actions, work)

    @property
    def noise_width(self) -> int:
        """Noise values per observation of one action: ``action_width`` (gSDE: Z * act_dim)."""
        return self.action_width

    def draw_noise(self, rng: np.random.Generator, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (..., noise_width) of the policy dtype with acting noise; returns it.

        N(0, 1) for the Gaussian head, U[0, 1) for the discrete heads (gSDE: exploration
        matrices). Both samplers draw through this method, in the same order.
        """
        # numpy needs dtype= to fill a float32 buffer
        if self.head == GAUSSIAN:
            rng.standard_normal(out=out, dtype=out.dtype)
        else:
            rng.random(out=out, dtype=out.dtype)
        return out

    def noise_schedule(self, n_steps: int) -> np.ndarray:
        """Which noise draw each step of a rollout acts with, (n_steps,) int64.

        A sampler draws anew (`draw_noise`, one row per env) at step 0 and wherever the
        index changes: here every step (gSDE: every ``sde_sample_freq`` steps).
        """
        return np.arange(n_steps, dtype=np.int64)

    # ---- distribution ----------------------------------------------------------------
    def forward(self, obs) -> np.ndarray:
        """Compute the distribution parameters (N, out_dim) for ``obs`` (N, obs_dim).

        These are the Gaussian means, or the logits (categorical, Bernoulli).
        """
        obs = self._obs(obs)
        return self._forward(self._params, obs).copy()

    def _forward(self, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        buffers = self._eval_buffers(obs.shape[0])
        mlp.forward(params, self.kernel_layout, obs, buffers.hidden, buffers.dact, buffers.out,
                    0, obs.shape[0])
        return buffers.out

    @staticmethod
    def _finite(name: str, value):
        """``value``, or a ValueError when it holds NaN / inf (a saturated distribution)."""
        if not np.isfinite(value).all():
            raise ValueError(f"{name}: not finite ({np.asarray(value).ravel()[:4]}...): the "
                             "distribution is saturated (probabilities or densities "
                             "underflow in the policy dtype) or the parameters are not finite")
        return value

    def log_prob(self, obs, actions, masks=None) -> np.ndarray:
        """``log pi(actions | obs)`` (N,), masked by ``masks``; ValueError where not finite."""
        obs = self._obs(obs)
        actions = self.as_actions(actions, obs.shape[0])
        masks = self.as_masks(masks, obs.shape[0])
        out = mask_logits(self._forward(self._params, obs), masks)
        log_prob = np.empty(obs.shape[0], dtype=self.dtype)
        self.head_kernels.log_prob(self.kernel_layout, out,
                                   self._eval_buffers(obs.shape[0]).latent(obs), self.log_std,
                                   actions, log_prob)
        return self._finite("log_prob", log_prob)

    def entropy(self, obs, masks=None) -> float:
        """Mean entropy of ``pi(.|s)`` over the batch ``obs`` (N, obs_dim), masked by ``masks``."""
        obs = self._obs(obs, batch_mean=True)
        out = mask_logits(self._forward(self._params, obs), self.as_masks(masks, obs.shape[0]))
        return float(self._finite("entropy", self.head_kernels.mean_entropy(
            self.kernel_layout, out, self._eval_buffers(obs.shape[0]).latent(obs), self.log_std)))

    def mean_kl(self, obs, old_params, masks=None) -> float:
        """``mean_s KL(pi_old(.|s) || pi(.|s))``, ``pi_old`` at ``old_params``; both masked."""
        obs = self._obs(obs, batch_mean=True)
        old_params = self._vector("old_params", old_params, self.num_params)
        masks = self.as_masks(masks, obs.shape[0])
        old_out = mask_logits(self._forward(old_params, obs).copy(), masks)
        old_latent = self._eval_buffers(obs.shape[0]).latent(obs).copy()
        out = mask_logits(self._forward(self._params, obs), masks)
        return float(self._finite("mean_kl", self.head_kernels.mean_kl(
            self.kernel_layout, old_out, old_latent, old_params[self.n_mlp :], out,
            self._eval_buffers(obs.shape[0]).latent(obs), self.log_std)))

    def surrogate_grad(self, obs, actions, advantages, old_log_prob,
                       masks=None) -> tuple[float, np.ndarray]:
        """Surrogate ``L = mean(exp(logp - old_log_prob) * advantages)`` and ``dL/dtheta``.

        Returns ``(L, grad)`` with ``grad`` of shape (num_params,); ``masks`` as `linearize`.
        """
        value, grad = self.linearize(obs, masks).surrogate_grad(actions, advantages,
                                                                old_log_prob)
        self._finite("surrogate_grad", grad)
        return float(self._finite("surrogate", value)), grad

    def fisher_vector_product(self, obs, vector, masks=None) -> np.ndarray:
        """Compute ``F v`` for ``vector`` (num_params,) at the current parameters.

        ``F`` is the Hessian of ``mean KL(pi_current || pi_theta)`` at the current parameters.
        No damping is added.

        Computes the forward pass each call; use ``linearize(obs).fvp`` to reuse it.
        """
        return self._finite("fisher_vector_product", self.linearize(obs, masks).fvp(vector))

    def linearize(self, obs, masks=None) -> "Linearization":
        """Cache the forward pass at the current parameters on ``obs`` for gradients and FVPs.

        ``masks`` (`as_masks`; None: no masking): the action masks of the states ``obs``,
        applied to the logits at the linearisation point and at every line-search candidate.
        The returned `Linearization` owns the policy's linearisation buffers until the next
        call (which makes it stale: its methods then raise ValueError).
        """
        obs = self._obs(obs, batch_mean=True)
        masks = self.as_masks(masks, obs.shape[0])
        self._lin_buffers = LinearizationBuffers.reuse(self, self._lin_buffers, obs.shape[0])
        return Linearization(self, obs, self._lin_buffers, masks)


class GaussianMLPPolicy(MLPPolicy):
    """Diagonal Gaussian policy with a state-independent ``log_std`` (for ``Box`` actions).

    ``pi(a|s) = N(a; mu_theta(s), diag(exp(2 log_std)))``; the flat parameters are the MLP's
    followed by ``log_std`` (act_dim,), initialised to ``log_std_init``.

    Parameters
    ----------
    obs_dim, act_dim : int
    hidden_sizes : sequence of int, default (64, 64)
    activation : {"tanh", "relu"}, default "tanh"
    dtype : np.float32 (default) or np.float64
    seed : int or None, seeds the orthogonal initialisation
    log_std_init : float, default 0.0
    initialize : bool, default True
        False leaves the MLP parameters at zero (for parameters set right after, as ``load``
        does: the orthogonal initialisation costs O(width^3)).
    """

    head = GAUSSIAN

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        dtype=np.float32,
        seed: int | None = None,
        log_std_init: float = 0.0,
        initialize: bool = True,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden_sizes, activation, dtype, seed,
                         n_extra=self._log_std_size(obs_dim, act_dim, hidden_sizes),
                         initialize=initialize)
        self.act_dim = self.layout.out_dim
        if not np.isfinite(log_std_init):
            raise ValueError(f"log_std_init: must be finite, got {log_std_init}")
        self._params[self.n_mlp :] = log_std_init

    def _log_std_size(self, obs_dim, act_dim, hidden_sizes) -> int:
        (act_dim,) = check_sizes("act_dim", [act_dim], allow_empty=False)
        return act_dim

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """Validate ``actions`` (n_rows, act_dim) and return them in the policy dtype.

        The result is C-contiguous; ValueError on a wrong shape or NaN/inf values.
        """
        return float_array("actions", actions, self.dtype, (n_rows, self.act_dim))


class MultiCategoricalMLPPolicy(MLPPolicy):
    """Independent categoricals over ``k`` discrete sub-actions (``MultiDiscrete`` spaces).

    The network outputs the concatenated logits, ``sum(nvec)`` of them.

    Parameters
    ----------
    obs_dim : int
    nvec : sequence of int, the number of classes of each sub-action
    hidden_sizes, activation, dtype, seed, initialize : as ``GaussianMLPPolicy``
    """

    head = CATEGORICAL

    def __init__(
        self,
        obs_dim: int,
        nvec: Sequence[int],
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        dtype=np.float32,
        seed: int | None = None,
        initialize: bool = True,
    ) -> None:
        counts = np.asarray(nvec)
        if (counts.ndim != 1 or counts.size == 0 or counts.dtype.kind not in "iu"
                or (counts < 1).any()):
            raise ValueError(
                f"nvec: expected a non-empty sequence of positive integers, got {counts!r}"
            )
        super().__init__(obs_dim, int(counts.sum()), hidden_sizes, activation, dtype, seed,
                         nvec=counts, initialize=initialize)

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """Validate class indices ``actions`` (n_rows, k) and return them in the policy dtype.

        Each ``actions[:, i]`` must be a whole number in ``[0, nvec[i])``; ValueError
        otherwise or on a wrong shape.
        """
        indices = index_array("actions", actions, (n_rows, len(self.nvec)), self.nvec)
        return indices.astype(self.dtype)


class CategoricalMLPPolicy(MultiCategoricalMLPPolicy):
    """Categorical policy over ``n_actions`` classes (``Discrete`` spaces).

    Actions are integer arrays of shape (N,) (or (N, 1)).

    Parameters
    ----------
    obs_dim, n_actions : int
    hidden_sizes, activation, dtype, seed, initialize : as ``GaussianMLPPolicy``
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        dtype=np.float32,
        seed: int | None = None,
        initialize: bool = True,
    ) -> None:
        super().__init__(obs_dim, [n_actions], hidden_sizes, activation, dtype, seed,
                         initialize=initialize)
        self.n_actions = int(n_actions)

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """Validate class indices ``actions`` (n_rows,) or (n_rows, 1) and return (n_rows, 1).

        The indices must be whole numbers in ``[0, n_actions)``; the result is in the policy
        dtype. ValueError otherwise or on a wrong shape.
        """
        # (N,) as gymnasium gives them, or (N, 1) as a rollout buffer stores them
        shape = (n_rows, 1) if np.ndim(actions) == 2 else (n_rows,)
        indices = index_array("actions", actions, shape, self.nvec)
        return indices.astype(self.dtype).reshape(n_rows, 1)


class BernoulliMLPPolicy(MLPPolicy):
    """Independent Bernoulli actions, one logit each (``MultiBinary`` spaces).

    Parameters
    ----------
    obs_dim, n_binary : int
    hidden_sizes, activation, dtype, seed, initialize : as ``GaussianMLPPolicy``
    """

    head = BERNOULLI

    def __init__(
        self,
        obs_dim: int,
        n_binary: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        dtype=np.float32,
        seed: int | None = None,
        initialize: bool = True,
    ) -> None:
        super().__init__(obs_dim, n_binary, hidden_sizes, activation, dtype, seed,
                         initialize=initialize)
        self.n_binary = self.layout.out_dim

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """Validate 0/1 ``actions`` (n_rows, n_binary) and return them in the policy dtype.

        ValueError on a wrong shape or a value other than 0 or 1.
        """
        upper = np.full(self.n_binary, 2, dtype=np.int64)
        return index_array("actions", actions, (n_rows, self.n_binary), upper).astype(self.dtype)


def sde_log_std_size(latent_dim: int, act_dim: int, full_std: bool) -> int:
    """Count gSDE's ``log_std`` parameters: ``latent_dim * act_dim``, or ``latent_dim``."""
    return extra_param_count("gsde", act_dim, latent_dim, full_std)


class GaussianSDEMLPPolicy(GaussianMLPPolicy):
    """Gaussian policy with generalized state-dependent exploration (gSDE, ``Box`` actions).

    As sb3's ``StateDependentNoiseDistribution`` (``use_expln=False``,
    ``learn_features=False``): the action is ``a = mu_theta(s) + z(s) @ E`` where ``z(s)``
    (Z,) is the last hidden layer (the observation without hidden layers) and ``E`` (Z,
    act_dim) an exploration matrix with ``E_ij ~ N(0, std_ij^2)``, ``std = exp(log_std)``,
    drawn anew every ``sde_sample_freq`` steps of a rollout (-1: once per rollout; each env
    its own). Per state the action is Gaussian with variance
    ``var_j(s) = sum_i z_i(s)^2 std_ij^2 + 1e-6``: that density is what the update uses,
    with ``z`` treated as data (detached), as in sb3; see ``docs/design.md``.

    Parameters
    ----------
    obs_dim, act_dim, hidden_sizes, activation, dtype, seed, initialize
        As `GaussianMLPPolicy`.
    log_std_init : float, default 0.0
        Initial value of every ``log_std`` (sb3's policies default to 0).
    full_std : bool, default True
        One ``log_std`` per (latent unit, action) pair, ``(Z * act_dim,)`` stored row-major;
        False: one per latent unit, ``(Z,)``, shared by every action dimension.
    sde_sample_freq : int, default -1
        Steps between two exploration matrices in a rollout; <= 0: one per rollout.
    """

    head = GAUSSIAN_SDE

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        dtype=np.float32,
        seed: int | None = None,
        log_std_init: float = 0.0,
        full_std: bool = True,
        sde_sample_freq: int = -1,
        initialize: bool = True,
    ) -> None:
        if not isinstance(full_std, (bool, np.bool_)):
            raise ValueError(f"full_std: expected True or False, got {full_std!r}")
        self.full_std = bool(full_std)
        self.sde_sample_freq = int(sde_sample_freq)
        super().__init__(obs_dim, act_dim, hidden_sizes, activation, dtype, seed,
                         log_std_init=log_std_init, initialize=initialize)
        self.latent_dim = int(self.layout.layer_sizes[-2])

    def _log_std_size(self, obs_dim, act_dim, hidden_sizes) -> int:
        (act_dim,) = check_sizes("act_dim", [act_dim], allow_empty=False)
        hidden = check_sizes("hidden_sizes", hidden_sizes, allow_empty=True)
        latent_dim = hidden[-1] if hidden else check_sizes("obs_dim", [obs_dim], False)[0]
        return sde_log_std_size(latent_dim, act_dim, self.full_std)

    @property
    def log_std_shape(self) -> tuple[int, ...]:
        """sb3's gSDE ``log_std`` shape: (Z, act_dim) with ``full_std``, else (Z, 1)."""
        return (self.latent_dim, self.act_dim if self.full_std else 1)

    @property
    def noise_width(self) -> int:
        """Entries of one exploration matrix, ``Z * act_dim``."""
        return self.latent_dim * self.act_dim

    def exploration_std(self) -> np.ndarray:
        """``std_ij = exp(log_std)`` as (Z * act_dim,) row-major, of the policy dtype."""
        std = np.exp(self.log_std)
        return std if self.full_std else np.repeat(std, self.act_dim)

    def draw_noise(self, rng: np.random.Generator, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (..., Z * act_dim) with exploration matrices ``E = std * eps``.

        ``eps ~ N(0, 1)`` from ``rng``; each row of ``out`` is one matrix (Z, act_dim),
        row-major. Returns ``out``.
        """
        rng.standard_normal(out=out, dtype=out.dtype)
        out *= self.exploration_std()
        return out

    def noise_schedule(self, n_steps: int) -> np.ndarray:
        """``t // sde_sample_freq`` for step ``t`` (all 0 when ``sde_sample_freq <= 0``)."""
        steps = np.arange(n_steps, dtype=np.int64)
        return steps // self.sde_sample_freq if self.sde_sample_freq > 0 else 0 * steps
