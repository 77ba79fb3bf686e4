"""GRU policies: an MLP encoder, a GRU layer and a linear head, over packed sequences.

The maths and the flat parameter layout are in ``fasttrpo.kernels.gru`` (and
``docs/design.md``, "Recurrent policies"). A batch is a set of sequences packed without
padding: ``obs`` (T, obs_dim), ``seq_starts`` (S+1,) row offsets, strictly increasing from 0
to T, and ``h0`` (S, H), each sequence's hidden state before its first row. A rollout's batch
is each env's segment split at its episode starts; a sequence starting an episode has
``h0 = 0``, the others the state the env carried into the segment.

The public contract is the MLP policies' (``num_params``, ``get_params``, ``set_params``,
``log_prob``, ``mean_kl``, ``surrogate_grad``, ``fisher_vector_product``, ``linearize``),
each taking ``(obs, seq_starts, h0)`` where those take ``obs``; acting carries the state:
``act(obs, state) -> (actions, state)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from fasttrpo.foundation.heads import CATEGORICAL, GAUSSIAN
from fasttrpo.foundation.threads import PARALLEL_MIN_ROWS, parallel_kernels
from fasttrpo.foundation.validation import float_array, index_array, mapping_entry_array
from fasttrpo.kernels import cg, distributions, gru
from fasttrpo.kernels.policy import sum_blocks, surrogate
from fasttrpo.models.nets import MLPLayout, check_sizes, orthogonal
from fasttrpo.models.parameters import named_slices
from fasttrpo.models.policies import POLICY_OUTPUT_GAIN

__all__ = ["CategoricalGRUPolicy", "GaussianGRUPolicy", "GRUPolicy", "RecurrentLinearization",
           "SequenceBatch"]


class SequenceBatch(NamedTuple):
    """A validated packed batch of sequences.

    ``obs`` (T, obs_dim), ``seq_starts`` (S+1,) int64, ``h0`` (S, H), and ``blocks`` (B+1,)
    int64, the sequence blocks (`gru.sequence_blocks`).
    """

    obs: np.ndarray
    seq_starts: np.ndarray
    h0: np.ndarray
    blocks: np.ndarray

    @property
    def n_rows(self) -> int:
        """T, the rows of all sequences."""
        return self.obs.shape[0]


def _run_blocks(serial, parallel, batch: SequenceBatch, *args) -> None:
    """Run a block loop of ``gru``: its parallel variant when worth it, else the serial one."""
    worth_it = batch.n_rows >= PARALLEL_MIN_ROWS and batch.blocks.shape[0] > 2
    with parallel_kernels(worth_it) as use_parallel:
        (parallel if use_parallel else serial)(*args)


class GRUBuffers:
    """Arrays of one forward pass (``cache``) and of the JVP / VJP (``work``) on T rows."""

    def __init__(self, policy: GRUPolicy, n_rows: int) -> None:
        encoder, hid, dtype = policy.encoder, policy.hidden_size, policy.dtype

        def rows(width: int) -> np.ndarray:
            return np.empty((n_rows, width), dtype=dtype)

        self.n_rows = n_rows
        self.cache = gru.GRUCache(encoder.hidden_buffer(n_rows), encoder.hidden_buffer(n_rows),
                                  rows(3 * hid), rows(hid), rows(hid), rows(4 * hid),
                                  rows(policy.out_dim))
        self.work = gru.GRUWork(encoder.hidden_buffer(n_rows), encoder.scratch_buffer(n_rows),
                                rows(3 * hid), rows(3 * hid), rows(hid))

    @classmethod
    def reuse(cls, policy: GRUPolicy, buffers: GRUBuffers | None, n_rows: int) -> GRUBuffers:
        """``buffers`` if it fits ``n_rows``, else fresh ones."""
        if buffers is not None and buffers.n_rows == n_rows:
            return buffers
        return cls(policy, n_rows)


class GRUPolicy:
    """Base class: ``obs -> MLP encoder -> GRU -> linear head -> distribution``.

    Do not instantiate directly (`GaussianGRUPolicy`, `CategoricalGRUPolicy`).

    Attributes
    ----------
    encoder : MLPLayout ``[obs_dim, *encoder_sizes, 3 * hidden_size]`` (its last layer is the
        GRU's input projection ``W_ih``, ``b_ih``).
    kernel_layout : gru.GRULayout; hidden_size, out_dim : int.
    n_net : int, network parameters; num_params : int, with ``log_std``.
    """

    head: int = -1
    #: the samplers and the algorithms carry a hidden state for this policy
    recurrent = True

    def __init__(self, obs_dim: int, out_dim: int, hidden_size: int,
                 encoder_sizes: Sequence[int], activation: str, dtype, seed: int | None,
                 nvec: Sequence[int] = (), n_extra: int = 0) -> None:
        (hid,) = check_sizes("hidden_size", [hidden_size], allow_empty=False)
        (out_dim,) = check_sizes("out_dim", [out_dim], allow_empty=False)
        self.encoder = MLPLayout(obs_dim, encoder_sizes, 3 * hid, activation, dtype)
        self.dtype, self.obs_dim = self.encoder.dtype, self.encoder.in_dim
        self.hidden_size, self.out_dim = hid, out_dim
        self.n_net = self.encoder.num_params + 3 * hid * hid + 3 * hid + hid * out_dim + out_dim
        self.num_params = self.n_net + n_extra
        self.kernel_layout = gru.GRULayout(*self.encoder.kernel_layout(self.head, nvec), hid,
                                           out_dim, self.n_net)
        self.nvec = self.kernel_layout.nvec
        self._params = np.zeros(self.num_params, dtype=self.dtype)
        self._params[: self.n_net] = self._initial_params(np.random.default_rng(seed))
        self._buffers: dict[str, GRUBuffers | None] = {"point": None, "candidate": None}
        self._lin: RecurrentLinearization | None = None

    def __getstate__(self) -> dict:
        """Pickle the structure and parameters only (a copy sent to a worker has no buffers)."""
        state = self.__dict__.copy()
        state.update(_buffers={"point": None, "candidate": None}, _lin=None)
        return state

    def _initial_params(self, rng: np.random.Generator) -> np.ndarray:
        # encoder hidden layers orthogonal (gain sqrt 2, sb3's); the GRU as torch's nn.GRU,
        # uniform in +-1/sqrt(H); the head orthogonal with sb3's policy output gain 0.01
        hid, bound = self.hidden_size, 1.0 / np.sqrt(self.hidden_size)
        encoder = self.encoder.init_params(1.0, rng)
        n_ih = int(self.encoder.layer_sizes[-2]) * 3 * hid + 3 * hid
        encoder[-n_ih:] = rng.uniform(-bound, bound, n_ih)
        recurrent = rng.uniform(-bound, bound, 3 * hid * hid + 3 * hid)
        head = orthogonal((self.out_dim, hid), POLICY_OUTPUT_GAIN, rng).T.ravel()
        return np.concatenate([encoder, recurrent, head, np.zeros(self.out_dim)])

    # ---- parameters ------------------------------------------------------------------
    def get_params(self) -> np.ndarray:
        """Copy of the flat parameter vector, (num_params,) (layout: ``kernels/gru.py``)."""
        return self._params.copy()

    def set_params(self, params) -> None:
        """Set the flat parameter vector; ``params``: (num_params,) finite reals."""
        self._params[:] = float_array("params", params, self.dtype, (self.num_params,))

    @property
    def log_std(self) -> np.ndarray:
        """Gaussian log standard deviations (empty for the categorical head)."""
        return self._params[self.n_net :]

    # ---- named parameters (torch's names for the GRU, sb3's for the rest) ---------------
    #: prefix of the encoder's hidden layers, and the GRU's and the head's names
    NAMED_ENCODER, NAMED_GRU, NAMED_HEAD = "gru_encoder", "gru_actor", "action_net"

    def _named_slices(self) -> list[tuple[str, tuple[int, ...], int]]:
        """``(name, torch shape, flat offset)`` of every array; weights are stored transposed.

        The encoder's hidden layers ``gru_encoder.<2k>.weight`` / ``.bias``, the GRU as
        torch's ``nn.GRU`` (``gru_actor.weight_ih_l0`` (3H, E) = ``W_ih.T``, ``bias_ih_l0``,
        ``weight_hh_l0`` (3H, H), ``bias_hh_l0``), the head ``action_net.weight`` (D, H) and
        ``.bias``, then ``log_std`` (Gaussian).
        """
        renamed = {f"{self.NAMED_GRU}.weight": f"{self.NAMED_GRU}.weight_ih_l0",
                   f"{self.NAMED_GRU}.bias": f"{self.NAMED_GRU}.bias_ih_l0"}
        slices = [(renamed.get(name, name), shape, offset) for name, shape, offset in
                  named_slices(self.encoder, self.NAMED_ENCODER, self.NAMED_GRU)]
        hid, out, offset = self.hidden_size, self.out_dim, self.encoder.num_params
        for name, shape in ((f"{self.NAMED_GRU}.weight_hh_l0", (3 * hid, hid)),
                            (f"{self.NAMED_GRU}.bias_hh_l0", (3 * hid,)),
                            (f"{self.NAMED_HEAD}.weight", (out, hid)),
                            (f"{self.NAMED_HEAD}.bias", (out,)),
                            ("log_std", (self.num_params - self.n_net,))):
            if shape[0]:
                slices.append((name, shape, offset))
                offset += int(np.prod(shape))
        return slices

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return the parameters under torch's names and shapes (copies; `_named_slices`)."""
        named = {}
        for name, shape, offset in self._named_slices():
            size = int(np.prod(shape))
            named[name] = self._params[offset:offset + size].reshape(shape[::-1]).T.copy()
        return named

    def params_from_named(self, arrays, require_all: bool = True) -> np.ndarray:
        """Return a new flat parameter vector with ``arrays`` (`state_dict` names) written in.

        Every array is checked (shape, finite values) first; a missing one raises a
        ValueError with ``require_all``, else keeps its current value.
        """
        flat = self.get_params()
        for name, shape, offset in self._named_slices():
            if name not in arrays and not require_all:
                continue
            value = mapping_entry_array(arrays, name, shape, "parameters")
            flat[offset:offset + value.size] = value.T.ravel()
        return flat

    def initial_state(self, n_envs: int) -> np.ndarray:
        """Zero hidden states, (n_envs, hidden_size): the state at an episode start."""
        return np.zeros((int(n_envs), self.hidden_size), dtype=self.dtype)

    # ---- inputs ----------------------------------------------------------------------
    def sequence_batch(self, obs, seq_starts, h0) -> SequenceBatch:
        """Validate a packed batch (see the module docstring); ValueError naming the input."""
        obs = float_array("obs", obs, self.dtype, (None, self.obs_dim))
        starts = np.asarray(seq_starts)
        if starts.ndim != 1 or starts.size < 2 or starts.dtype.kind not in "iu":
            raise ValueError(f"seq_starts: expected (S+1,) integers with S >= 1, got "
                             f"{starts.dtype} {starts.shape}")
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        if starts[0] != 0 or starts[-1] != obs.shape[0] or (np.diff(starts) <= 0).any():
            raise ValueError(f"seq_starts: must rise strictly from 0 to {obs.shape[0]} (rows of "
                             f"obs), got {starts[:4]}...{starts[-1]}")
        h0 = float_array("h0", h0, self.dtype, (starts.size - 1, self.hidden_size))
        return SequenceBatch(obs, starts, h0, gru.sequence_blocks(starts, gru.MIN_BLOCK_ROWS))

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """Actions for ``n_rows`` rows as the kernels take them, (n_rows, width) floats."""
        raise NotImplementedError

    # ---- distribution ----------------------------------------------------------------
    def _forward(self, params: np.ndarray, batch: SequenceBatch, slot: str) -> GRUBuffers:
        buffers = self._buffers[slot] = GRUBuffers.reuse(self, self._buffers[slot],
                                                          batch.n_rows)
        _run_blocks(gru.forward_blocks, gru.forward_blocks_parallel, batch, params,
                    self.kernel_layout, batch.obs, batch.seq_starts, batch.h0, batch.blocks,
                    buffers.cache)
        return buffers

    def forward(self, obs, seq_starts, h0) -> tuple[np.ndarray, np.ndarray]:
        """Distribution parameters (T, out_dim) and hidden states ``h_t`` (T, H) of a batch."""
        cache = self._forward(self._params, self.sequence_batch(obs, seq_starts, h0),
                              "candidate").cache
        return cache.out.copy(), cache.hidden.copy()

    def log_prob(self, obs, seq_starts, h0, actions) -> np.ndarray:
        """``log pi(actions | history)``, (T,)."""
        batch = self.sequence_batch(obs, seq_starts, h0)
        actions = self.as_actions(actions, batch.n_rows)
        out = self._forward(self._params, batch, "candidate").cache.out
        log_prob = np.empty(batch.n_rows, dtype=self.dtype)
        distributions.log_prob(self.kernel_layout, out, out[:, :0], self.log_std, actions,
                               log_prob)
        return log_prob

    def mean_kl(self, obs, seq_starts, h0, old_params) -> float:
        """``mean_t KL(pi_old(.|history_t) || pi_current(.|history_t))`` over the T rows."""
        batch = self.sequence_batch(obs, seq_starts, h0)
        old = float_array("old_params", old_params, self.dtype, (self.num_params,))
        old_out = self._forward(old, batch, "candidate").cache.out.copy()
        out = self._forward(self._params, batch, "candidate").cache.out
        empty = out[:, :0]  # no gSDE features
        return float(distributions.mean_kl(self.kernel_layout, old_out, empty,
                                           old[self.n_net :], out, empty, self.log_std))

    def surrogate_grad(self, obs, seq_starts, h0, actions, advantages, old_log_prob
                       ) -> tuple[float, np.ndarray]:
        """``(L, dL/dtheta)``, ``L = mean(exp(logp - old_log_prob) * advantages)``, by BPTT."""
        return self.linearize(obs, seq_starts, h0).surrogate_grad(actions, advantages,
                                                                  old_log_prob)

    def fisher_vector_product(self, obs, seq_starts, h0, vector) -> np.ndarray:
        """``F vector`` (num_params,): the Hessian of the mean KL at the current parameters.

        ``J^T M J v / T`` by a JVP then a VJP through time; no damping.
        """
        return self.linearize(obs, seq_starts, h0).fvp(vector)

    def linearize(self, obs, seq_starts, h0) -> RecurrentLinearization:
        """Cache the forward pass at the current parameters for gradients, FVPs and CG."""
        batch = self.sequence_batch(obs, seq_starts, h0)
        self._lin = RecurrentLinearization(self, batch, self._forward(self._params, batch,
                                                                      "point"))
        return self._lin

    # ---- acting ----------------------------------------------------------------------
    @property
    def action_width(self) -> int:
        """Columns of an action row: act_dim (Gaussian), 1 (categorical)."""
        return 1 if self.head == CATEGORICAL else self.out_dim

    @property
    def noise_width(self) -> int:
        """Noise values per observation of one action (``action_width``)."""
        return self.action_width

    def draw_noise(self, rng: np.random.Generator, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (..., noise_width): N(0, 1) (Gaussian) or U[0, 1) (categorical)."""
        if self.head == GAUSSIAN:
            rng.standard_normal(out=out, dtype=out.dtype)
        else:
            rng.random(out=out, dtype=out.dtype)
        return out

    def noise_schedule(self, n_steps: int) -> np.ndarray:
        """Which noise draw each step of a rollout acts with: a new one every step."""
        return np.arange(n_steps, dtype=np.int64)

    def as_masks(self, masks, n_rows: int, name: str = "action_masks") -> None:
        """None; action masks are refused (ValueError): no masked GRU heads yet."""
        if masks is not None:
            raise ValueError(f"{name}: action masking is not supported with a recurrent "
                             "policy (MlpGruPolicy); use MlpPolicy for masked actions")
        return None

    def act(self, obs, state, deterministic: bool = False,
            rng: np.random.Generator | None = None, episode_start=None
            ) -> tuple[np.ndarray, np.ndarray]:
        """One step for each of N envs: ``(actions (N, width), next state (N, H))``.

        ``state`` (N, H) is each env's hidden state; rows where ``episode_start`` (N,) is
        true are reset to zero first (sb3-contrib's ``predict`` convention).
        """
        obs = float_array("obs", obs, self.dtype, (None, self.obs_dim))
        n_envs = obs.shape[0]
        state = float_array("state", state, self.dtype, (n_envs, self.hidden_size)).copy()
        if episode_start is not None:
            state[np.asarray(episode_start, dtype=bool).reshape(n_envs)] = 0.0
        noise = np.empty((n_envs, self.noise_width), dtype=self.dtype)
        if not deterministic:
            self.draw_noise(rng or np.random.default_rng(), noise)
        actions = np.empty((n_envs, self.action_width), dtype=self.dtype)
        return actions, self.step_into(obs, state, actions, None if deterministic else noise)

    def step_into(self, obs: np.ndarray, state: np.ndarray, out: np.ndarray,
                 noise: np.ndarray | None) -> np.ndarray:
        """One step on validated rows: actions into ``out`` (N, action_width); the next state.

        ``obs`` (N, obs_dim) and ``state`` (N, H) of the policy dtype; ``noise`` (N,
        noise_width) as `draw_noise` fills it (a sampler's per-env streams), None for the
        deterministic action (the mean, the most likely class). Each row is a one-row
        sequence, so an env's action does not depend on the others.
        """
        n_envs = obs.shape[0]
        batch = self.sequence_batch(obs, np.arange(n_envs + 1), state)
        cache = self._forward(self._params, batch, "candidate").cache
        self._sample_into(cache.out, noise, out)
        return cache.hidden.copy()

    def _sample_into(self, dist_out: np.ndarray, noise: np.ndarray | None,
                     out: np.ndarray) -> None:
        raise NotImplementedError


class RecurrentLinearization:
    """A GRU policy linearised at fixed parameters on one packed batch.

    Holds the forward pass (``cache``) and the output Fisher weights, so the surrogate
    gradient, every Fisher-vector product, CG and the line-search evaluations reuse them.
    Made by `GRUPolicy.linearize`; stale (ValueError) once the policy is linearised again.
    """

    def __init__(self, policy: GRUPolicy, batch: SequenceBatch, buffers: GRUBuffers) -> None:
        self.policy, self.batch, self.buffers = policy, batch, buffers
        self.obs = batch.obs
        self.params = policy.get_params()
        n_rows, out_dim = batch.n_rows, policy.out_dim
        self.dist = np.empty((n_rows, out_dim), dtype=policy.dtype)
        self.dout = np.empty_like(self.dist)
        self.partials = np.empty((batch.blocks.shape[0] - 1, policy.num_params), policy.dtype)
        self._empty = self.dist[:, :0]  # the gSDE features the distribution kernels take
        distributions.fisher_weights(policy.kernel_layout, buffers.cache.out, self._empty,
                                     self.params[policy.n_net :], self.dist)

    def _check_current(self) -> None:
        if self.policy._lin is not self:
            raise ValueError("linearization: stale; the policy was linearised again since, "
                             "call policy.linearize(...) anew")

    def _rows(self, name: str, value) -> np.ndarray:
        return float_array(name, value, self.policy.dtype, (self.batch.n_rows,))

    @property
    def out(self) -> np.ndarray:
        """Distribution parameters at the linearisation point, (T, out_dim)."""
        self._check_current()
        return self.buffers.cache.out

    def _log_prob(self, out, log_std, actions) -> np.ndarray:
        log_prob = np.empty(self.batch.n_rows, dtype=self.policy.dtype)
        distributions.log_prob(self.policy.kernel_layout, out, self._empty, log_std,
                               actions, log_prob)
        return log_prob

    def log_prob(self, actions) -> np.ndarray:
        """``log pi(actions | history)`` at the linearisation point, (T,)."""
        self._check_current()
        actions = self.policy.as_actions(actions, self.batch.n_rows)
        return self._log_prob(self.out, self.params[self.policy.n_net :], actions)

    def surrogate_grad(self, actions, advantages, old_log_prob) -> tuple[float, np.ndarray]:
        """``(L, dL/dtheta)`` of the surrogate at the linearisation point (BPTT)."""
        self._check_current()
        policy, batch, buffers = self.policy, self.batch, self.buffers
        actions = policy.as_actions(actions, batch.n_rows)
        advantages = self._rows("advantages", advantages)
        old_log_prob = self._rows("old_log_prob", old_log_prob)
        layout, log_std = policy.kernel_layout, self.params[policy.n_net :]
        grad = np.empty(policy.num_params, dtype=policy.dtype)
        weights = np.empty(batch.n_rows, dtype=policy.dtype)
        # logp -> L and dL/dlogp -> dL/d(out, log_std) -> dL/dtheta (backward through time)
        log_prob = self._log_prob(self.out, log_std, actions)
        value = surrogate(log_prob, old_log_prob, advantages, weights)
        distributions.log_prob_grad(layout, self.out, self._empty, log_std, actions,
                                    weights, self.dout, grad[policy.n_net :])
        _run_blocks(gru.vjp_blocks, gru.vjp_blocks_parallel, batch, self.params, layout,
                    batch.obs, batch.seq_starts, buffers.cache, buffers.work, batch.blocks,
                    self.dout, self.partials)
        sum_blocks(self.partials, policy.n_net, grad)  # in block order
        return float(value), grad

    def fvp_into(self, vector: np.ndarray, result: np.ndarray) -> np.ndarray:
        """Write ``result = F vector`` for validated (num_params,) arrays of the policy dtype."""
        policy, batch, buffers = self.policy, self.batch, self.buffers
        _run_blocks(gru.fisher_blocks, gru.fisher_blocks_parallel, batch, self.params,
                    policy.kernel_layout, batch.obs, batch.seq_starts, buffers.cache,
                    buffers.work, batch.blocks, self.dist, vector, self.dout, self.partials)
        sum_blocks(self.partials, policy.n_net, result)  # in block order
        # state-independent log_std: Fisher block 2 I, no cross terms with the mean
        result[policy.n_net :] = 2.0 * vector[policy.n_net :]
        return result

    def fvp(self, vector) -> np.ndarray:
        """``F vector`` (num_params,), without damping."""
        self._check_current()
        vector = float_array("vector", vector, self.policy.dtype, (self.policy.num_params,))
        return self.fvp_into(vector, np.empty_like(vector))

    def conjugate_gradient(self, rhs, damping: float, max_iter: int,
                           residual_tol: float = 1e-10) -> tuple[np.ndarray, float, int]:
        """Solve ``(F + damping I) x = rhs`` from ``x = 0``: ``(x, x^T F x, n_iter)``.

        ``fasttrpo.kernels.cg``'s iteration, each product by `fvp_into`.
        """
        self._check_current()
        policy = self.policy
        rhs = float_array("rhs", rhs, policy.dtype, (policy.num_params,))
        if not damping >= 0.0 or int(max_iter) < 1:
            raise ValueError(f"damping >= 0 and max_iter >= 1 needed, got {damping}, {max_iter}")
        x = np.empty_like(rhs)
        work = np.empty((3, policy.num_params), dtype=policy.dtype)
        x_fisher_x, n_iter = cg.conjugate_gradient_driven(
            self.fvp_into, rhs, float(damping), int(max_iter), float(residual_tol), x, work)
        return x, float(x_fisher_x), int(n_iter)

    def surrogates_and_kl(self, params, actions, advantages, old_log_prob
                          ) -> tuple[np.ndarray, float]:
        """Line-search evaluation: ``(L_k(params) for each row of advantages (K, T), mean KL)``.

        The KL is ``mean_t KL(pi_point || pi_params)``, each side through its own GRU states.
        """
        return self.candidate_evaluator(actions, advantages, old_log_prob)(params)

    def candidate_evaluator(self, actions, advantages, old_log_prob
                            ) -> Callable[[np.ndarray], tuple[np.ndarray, float]]:
        """Check a batch once; return ``evaluate(params) -> (surrogates (K,), mean KL)``.

        As ``Linearization.candidate_evaluator``, so ``steps.trpo.backtracking_line_search``
        takes this linearisation unchanged.
        """
        self._check_current()
        policy, batch = self.policy, self.batch
        actions = policy.as_actions(actions, batch.n_rows)
        rows = [self._rows("advantages", row) for row in np.atleast_2d(np.asarray(advantages))]
        old_log_prob = self._rows("old_log_prob", old_log_prob)
        weights = np.empty(batch.n_rows, dtype=policy.dtype)

        def evaluate(params) -> tuple[np.ndarray, float]:
            self._check_current()
            params = np.ascontiguousarray(params, dtype=policy.dtype)
            if params.shape != (policy.num_params,):
                raise ValueError(f"params: expected shape ({policy.num_params},), got "
                                 f"{params.shape}")
            out = policy._forward(params, batch, "candidate").cache.out
            log_std = params[policy.n_net :]
            log_prob = self._log_prob(out, log_std, actions)
            surrogates = np.array([surrogate(log_prob, old_log_prob, row, weights)
                                   for row in rows])
            kl = distributions.mean_kl(policy.kernel_layout, self.out, self._empty,
                                       self.params[policy.n_net :], out, self._empty, log_std)
            return surrogates, float(kl)

        return evaluate


class GaussianGRUPolicy(GRUPolicy):
    """Diagonal Gaussian GRU policy with a state-independent ``log_std`` (``Box`` actions).

    ``pi(a_t | o_1..o_t) = N(a_t; mu_theta(h_t), diag(exp(2 log_std)))``, ``h_t`` the GRU
    state (Cho et al. 2014, PyTorch's equations). Parameters: the network's, then
    ``log_std`` (act_dim,).

    Parameters
    ----------
    obs_dim, act_dim : int
    hidden_size : int, default 64, the GRU's H.
    encoder_sizes : sequence of int, default (64,), the MLP before the GRU (may be empty).
    activation : {"tanh", "relu"}, default "tanh", the encoder's.
    dtype : np.float32 (default) or np.float64
    seed : int or None; log_std_init : float, default 0.0
    """

    head = GAUSSIAN

    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int = 64,
                 encoder_sizes: Sequence[int] = (64,), activation: str = "tanh",
                 dtype=np.float32, seed: int | None = None, log_std_init: float = 0.0) -> None:
        (act_dim,) = check_sizes("act_dim", [act_dim], allow_empty=False)
        super().__init__(obs_dim, act_dim, hidden_size, encoder_sizes, activation, dtype, seed,
                         n_extra=act_dim)
        self.act_dim = act_dim
        if not np.isfinite(log_std_init):
            raise ValueError(f"log_std_init: must be finite, got {log_std_init}")
        self._params[self.n_net :] = log_std_init

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """``actions`` (n_rows, act_dim) as a C-contiguous array of the policy dtype."""
        return float_array("actions", actions, self.dtype, (n_rows, self.act_dim))

    def _sample_into(self, dist_out, noise, out) -> None:
        if noise is None:
            out[:] = dist_out
        else:
            out[:] = dist_out + np.exp(self.log_std) * noise  # a = mu + sigma eps


class CategoricalGRUPolicy(GRUPolicy):
    """Categorical GRU policy over ``n_actions`` classes (``Discrete`` actions).

    Parameters
    ----------
    obs_dim, n_actions : int
    hidden_size, encoder_sizes, activation, dtype, seed : as `GaussianGRUPolicy`.
    """

    head = CATEGORICAL

    def __init__(self, obs_dim: int, n_actions: int, hidden_size: int = 64,
                 encoder_sizes: Sequence[int] = (64,), activation: str = "tanh",
                 dtype=np.float32, seed: int | None = None) -> None:
        (n_actions,) = check_sizes("n_actions", [n_actions], allow_empty=False)
        super().__init__(obs_dim, n_actions, hidden_size, encoder_sizes, activation, dtype,
                         seed, nvec=[n_actions])
        self.n_actions = n_actions

    def as_actions(self, actions, n_rows: int) -> np.ndarray:
        """Class indices (n_rows,) or (n_rows, 1) in ``[0, n_actions)``, as (n_rows, 1) floats."""
        shape = (n_rows, 1) if np.ndim(actions) == 2 else (n_rows,)
        indices = index_array("actions", actions, shape, self.nvec)
        return indices.astype(self.dtype).reshape(n_rows, 1)

    def _sample_into(self, dist_out, noise, out) -> None:
        if noise is None:
            out[:, 0] = dist_out.argmax(axis=1)
            return
        # inverse CDF of softmax(logits): the first class whose cumulative mass exceeds u
        weights = np.exp(dist_out - dist_out.max(axis=1, keepdims=True))
        cumulative = np.cumsum(weights, axis=1)
        targets = noise[:, :1] * cumulative[:, -1:]
        choice = (cumulative <= targets).sum(axis=1)
        out[:, 0] = np.minimum(choice, self.n_actions - 1)
