"""``Linearization``: a policy linearised at fixed parameters on one batch of observations.

Made by `fasttrpo.models.policies.MLPPolicy.linearize`, it caches the forward pass and the
output Fisher weights once, then serves everything one trust-region step needs from them: the
surrogate gradient, Fisher-vector products and conjugate gradient, and the line search's
candidate evaluations (validated once per line search, not per candidate). Its buffers
(`LinearizationBuffers`) are reused by the next linearisation of as many rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from fasttrpo.foundation.heads import GAUSSIAN_SDE
from fasttrpo.foundation.masking import mask_logits
from fasttrpo.foundation.threads import PARALLEL_MIN_ROWS, parallel_kernels
from fasttrpo.foundation.validation import float_array
from fasttrpo.kernels import cg, distributions
from fasttrpo.kernels import policy as policy_kernels
from fasttrpo.models.nets import ForwardBuffers

if TYPE_CHECKING:
    from fasttrpo.models.policies import MLPPolicy

__all__ = ["Linearization", "LinearizationBuffers"]


def _row_blocks(serial, parallel, *args) -> None:
    """Run a row-block kernel of `fasttrpo.kernels.policy` on the rows ``args[2]``.

    Its parallel variant when `parallel_kernels` allows it, else the serial one (same bits).
    """
    with parallel_kernels(args[2].shape[0] >= PARALLEL_MIN_ROWS) as use_parallel:
        (parallel if use_parallel else serial)(*args)


class LinearizationBuffers:
    """The arrays one `Linearization` computes into, reused by the next one on as many rows.

    Attributes
    ----------
    n_rows : int
    point : ForwardBuffers, the forward pass at the linearisation point (``out`` (N, D)
        holds the distribution parameters there).
    dist, dout : (N, D), the output Fisher weights and a cotangent scratch.
    candidate : ForwardBuffers, forward passes at line-search candidates.
    log_prob, weights : (N,), scratch (log-likelihoods, ``dL/dlogp``).
    cg_work : (3, P), conjugate-gradient scratch.
    partials : (blocks, P), the Fisher-vector product's partial sums per row block.
    owner : the `Linearization` the buffers currently belong to.
    """

    def __init__(self, policy: MLPPolicy, n_rows: int) -> None:
        self.n_rows = n_rows
        self.point = ForwardBuffers(policy.layout, n_rows)
        self.dist = np.empty_like(self.point.out)
        self.dout = np.empty_like(self.point.out)
        self.candidate = ForwardBuffers(policy.layout, n_rows)
        self.log_prob = np.empty(n_rows, dtype=policy.dtype)
        self.weights = np.empty(n_rows, dtype=policy.dtype)
        self.cg_work = np.empty((3, policy.num_params), dtype=policy.dtype)
        self.partials = np.empty((policy_kernels.n_row_blocks(n_rows), policy.num_params),
                                 dtype=policy.dtype)
        self.owner: Linearization | None = None

    @classmethod
    def reuse(cls, policy: MLPPolicy, buffers: "LinearizationBuffers | None", n_rows: int):
        """``buffers`` if it fits ``n_rows``, else fresh buffers for ``policy``."""
        if buffers is not None and buffers.n_rows == n_rows:
            return buffers
        return cls(policy, n_rows)


class Linearization:
    """A policy linearised at fixed parameters on a batch of observations.

    Holds the activations, their derivatives and the output Fisher weights, computed once, so
    that the surrogate gradient, every Fisher-vector product (and CG) and the line-search
    evaluations reuse them. Made by `MLPPolicy.linearize`.

    Parameters
    ----------
    policy : MLPPolicy
    obs : (N, obs_dim) array of the policy dtype, C-contiguous, already validated.
    buffers : LinearizationBuffers for N rows; this linearisation takes them over.
    masks : (N, sum(nvec)) bool or None, the checked action masks of the states ``obs``
        (categorical head; `MLPPolicy.as_masks`). The logits of invalid actions become
        ``MASKED_LOGIT`` after every forward pass (here and at each line-search candidate),
        so the log-likelihoods, the gradient, the Fisher weights (``p = 0`` there: ``M``'s
        rows and columns vanish) and the KL are all the masked distribution's.
    """

    def __init__(self, policy: MLPPolicy, obs: np.ndarray, buffers: LinearizationBuffers,
                 masks: np.ndarray | None = None) -> None:
        self.policy = policy
        self.obs = obs
        self.masks = masks
        self.params = policy.get_params()
        # the buffers belong to the latest linearisation; older ones must refuse to compute
        buffers.owner = self
        self.buffers = buffers
        point = buffers.point
        # forward pass caching the activations, then the output Fisher weights; two calls
        # rather than one composed kernel: one Numba compilation fewer on a cold start
        layout = policy.kernel_layout
        _row_blocks(policy_kernels.forward_blocks, policy_kernels.forward_blocks_parallel,
                    self.params, layout, obs, point.hidden, point.dact, point.out)
        mask_logits(point.out, masks)
        policy.head_kernels.fisher_weights(layout, point.out, point.latent(obs),
                                           self.params[policy.n_mlp :], buffers.dist)

    def _check_current(self) -> None:
        if self.buffers.owner is not self:
            raise ValueError(
                "linearization: stale; the policy was linearised again since (its buffers are "
                "reused), call policy.linearize(obs) anew"
            )

    def _rows(self, name: str, value) -> np.ndarray:
        return float_array(name, value, self.policy.dtype, (self.obs.shape[0],))

    def _vector(self, name: str, value) -> np.ndarray:
        return float_array(name, value, self.policy.dtype, (self.policy.num_params,))

    @property
    def out(self) -> np.ndarray:
        """Distribution parameters at the linearisation point, (N, out_dim)."""
        self._check_current()
        return self.buffers.point.out

    @property
    def latent(self) -> np.ndarray:
        """Latent features ``z(s)`` (last hidden layer) at the linearisation point, (N, Z)."""
        self._check_current()
        return self.buffers.point.latent(self.obs)

    def log_prob(self, actions) -> np.ndarray:
        """``log pi(actions | obs)`` at the linearisation point, (N,)."""
        self._check_current()
        policy = self.policy
        actions = policy.as_actions(actions, self.obs.shape[0])
        log_prob = np.empty(self.obs.shape[0], dtype=policy.dtype)
        policy.head_kernels.log_prob(policy.kernel_layout, self.out, self.latent,
                                     self.params[policy.n_mlp :], actions, log_prob)
        return log_prob

    def surrogate_grad(self, actions, advantages, old_log_prob) -> tuple[float, np.ndarray]:
        """``(L, dL/dtheta)`` of the surrogate at the linearisation point."""
        self._check_current()
        policy, buffers = self.policy, self.buffers
        actions = policy.as_actions(actions, self.obs.shape[0])
        advantages = self._rows("advantages", advantages)
        old_log_prob = self._rows("old_log_prob", old_log_prob)
        layout, point = policy.kernel_layout, buffers.point
        log_std = self.params[policy.n_mlp :]
        grad = np.empty(policy.num_params, dtype=policy.dtype)
        # logp -> L and dL/dlogp -> dL/d(out, log_std) -> dL/dtheta (backward through the MLP)
        latent = point.latent(self.obs)  # gSDE: z(s) held fixed (detached features)
        kernels = policy.head_kernels
        kernels.log_prob(layout, point.out, latent, log_std, actions, buffers.log_prob)
        value = policy_kernels.surrogate(buffers.log_prob, old_log_prob, advantages,
                                         buffers.weights)
        kernels.log_prob_grad(layout, point.out, latent, log_std, actions, buffers.weights,
                              buffers.dout, grad[policy.n_mlp :])
        # dL/dtheta of the MLP: per row block, summed in block order (fasttrpo.kernels.policy)
        _row_blocks(policy_kernels.vjp_blocks, policy_kernels.vjp_blocks_parallel,
                    self.params, layout, self.obs, point.hidden, point.dact, buffers.dout,
                    point.tangent, buffers.partials)
        policy_kernels.sum_blocks(buffers.partials, policy.n_mlp, grad)
        return float(value), grad

    def fvp(self, vector) -> np.ndarray:
        """``F vector`` (num_params,), without damping."""
        self._check_current()
        policy = self.policy
        vector = self._vector("vector", vector)
        result = np.empty(policy.num_params, dtype=policy.dtype)
        with parallel_kernels(self.obs.shape[0] >= PARALLEL_MIN_ROWS) as parallel:
            self._fisher_product(parallel)(vector, result)
        return result

    def _fisher_product(self, parallel: bool) -> Callable[[np.ndarray, np.ndarray], None]:
        """``product(v, out)``: writes ``F v`` into ``out`` (the parallel variant or not).

        gSDE: the ``log_std`` block is computed apart, by a kernel that only gSDE runs compile
        (``fasttrpo.kernels.distributions``), through ``var(s) = z(s)^2 @ std^2`` with the
        features ``z(s)`` detached; it overwrites the product's state-independent block.
        """
        policy, buffers, point = self.policy, self.buffers, self.buffers.point
        fvp = (policy_kernels.fisher_vector_product_parallel if parallel
               else policy_kernels.fisher_vector_product)
        n_mlp = policy.n_mlp
        head = (self.params, policy.kernel_layout, self.obs, point.hidden, point.dact,
                buffers.dist)
        tail = (point.tangent, point.scratch, buffers.dout, buffers.partials)
        if policy.head != GAUSSIAN_SDE:
            return lambda vector, out: fvp(*head, vector, *tail, out)
        latent, log_std, scale = point.latent(self.obs), self.params[n_mlp:], 1.0 / len(self.obs)

        def product(vector, out):
            fvp(*head, vector, *tail, out)
            distributions.sde_log_std_fisher(latent, buffers.dist, log_std, vector[n_mlp:],
                                             scale, out[n_mlp:])

        return product

    def conjugate_gradient(
        self, rhs, damping: float, max_iter: int, residual_tol: float = 1e-10
    ) -> tuple[np.ndarray, float, int]:
        """Solve ``(F + damping I) x = rhs`` from ``x = 0``; returns ``(x, x^T F x, n_iter)``.

        The Fisher-vector products run their row blocks on ``product_threads()`` threads
        (`fasttrpo.foundation.threads`) when the batch has at least ``PARALLEL_MIN_ROWS`` rows; the
        result is the same bit for bit on any number of threads.
        """
        self._check_current()
        policy, buffers = self.policy, self.buffers
        rhs = self._vector("rhs", rhs)
        if not damping >= 0.0:
            raise ValueError(f"damping: must be >= 0, got {damping}")
        if int(max_iter) < 1:
            raise ValueError(f"max_iter: must be >= 1, got {max_iter}")
        x = np.empty(policy.num_params, dtype=policy.dtype)
        point = buffers.point
        solve = (rhs, float(damping), int(max_iter), float(residual_tol), x, buffers.cg_work)
        with parallel_kernels(self.obs.shape[0] >= PARALLEL_MIN_ROWS) as parallel:
            if parallel or policy.head == GAUSSIAN_SDE:
                x_fisher_x, n_iter = cg.conjugate_gradient_driven(
                    self._fisher_product(parallel), *solve)
            else:  # the serial product compiled into the CG loop
                x_fisher_x, n_iter = cg.conjugate_gradient(
                    self.params, policy.kernel_layout, self.obs, point.hidden, point.dact,
                    buffers.dist, point.tangent, point.scratch, buffers.dout,
                    buffers.partials, *solve)
        return x, float(x_fisher_x), int(n_iter)

    def surrogate_and_kl(self, params, actions, advantages, old_log_prob) -> tuple[float, float]:
        """Line-search evaluation of candidate parameters against the linearisation point.

        Parameters
        ----------
        params : (num_params,) candidate parameters; non-finite values are allowed (they give
            non-finite results, for the caller to reject).
        actions, advantages, old_log_prob : as `surrogate_grad`.

        Returns
        -------
        (L(params), mean_s KL(pi_point(.|s) || pi_params(.|s))) : two floats.
        """
        surrogates, kl = self.surrogates_and_kl(
            params, actions, self._rows("advantages", advantages)[None], old_log_prob)
        return float(surrogates[0]), kl

    def surrogates_and_kl(self, params, actions, advantages, old_log_prob
                          ) -> tuple[np.ndarray, float]:
        """`surrogate_and_kl` for K advantage signals at once, sharing one forward pass.

        ``advantages`` is (K, N); returns ``(L_k(params) for each row, mean KL)``, a (K,)
        float64 array and a float (constrained steps evaluate the reward and the cost
        surrogates of a candidate together). A line search evaluating many candidates on one
        batch uses `candidate_evaluator`, which checks the batch once.
        """
        return self.candidate_evaluator(actions, advantages, old_log_prob)(params)

    def candidate_evaluator(self, actions, advantages, old_log_prob
                            ) -> Callable[[np.ndarray], tuple[np.ndarray, float]]:
        """Check a batch once; return ``evaluate(params) -> (surrogates (K,), mean KL)``.

        ``evaluate`` is `surrogates_and_kl` on this batch for any candidate parameters (only
        their shape is checked each time): the line search's validation happens once per
        update, at this boundary, not once per candidate.
        """
        self._check_current()
        policy = self.policy
        n_rows = self.obs.shape[0]
        actions = policy.as_actions(actions, n_rows)
        advantages = np.asarray(advantages)
        if advantages.ndim != 2 or advantages.shape[1] != n_rows:
            raise ValueError(f"advantages: expected shape (K, {n_rows}), got {advantages.shape}")
        rows = [float_array("advantages", row, policy.dtype, (n_rows,)) for row in advantages]
        old_log_prob = self._rows("old_log_prob", old_log_prob)

        def evaluate(params) -> tuple[np.ndarray, float]:
            self._check_current()
            params = np.ascontiguousarray(params, dtype=policy.dtype)
            if params.shape != (policy.num_params,):
                raise ValueError(f"params: expected shape ({policy.num_params},), got "
                                 f"{params.shape}")
            return self._candidate_surrogates_and_kl(params, actions, rows, old_log_prob)

        return evaluate

    def _candidate_surrogates_and_kl(self, params, actions, rows, old_log_prob
                                     ) -> tuple[np.ndarray, float]:
        # a forward pass at the candidate, then its surrogates and KL (arguments checked)
        policy, buffers = self.policy, self.buffers
        layout, candidate = policy.kernel_layout, buffers.candidate
        log_std = params[policy.n_mlp :]
        _row_blocks(policy_kernels.forward_blocks, policy_kernels.forward_blocks_parallel,
                    params, layout, self.obs, candidate.hidden, candidate.dact, candidate.out)
        mask_logits(candidate.out, self.masks)
        # gSDE: the candidate's own features z(s; params), as it would act
        latent = candidate.latent(self.obs)
        kernels = policy.head_kernels
        kernels.log_prob(layout, candidate.out, latent, log_std, actions, buffers.log_prob)
        surrogates = np.array([
            policy_kernels.surrogate(buffers.log_prob, old_log_prob, row, buffers.weights)
            for row in rows])
        kl = kernels.mean_kl(layout, self.out, self.latent, self.params[policy.n_mlp :],
                             candidate.out, latent, log_std)
        return surrogates, float(kl)
