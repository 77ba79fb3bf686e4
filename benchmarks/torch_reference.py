"""A PyTorch reference TRPO update with the same maths and hyperparameters as fasttrpo's.

Written the way good PyTorch TRPO code is written (sb3-contrib, Spinning Up, tianshou): the
Fisher-vector product is the double backprop of the mean KL (``FVP_DOUBLE_BACKPROP``); a
second variant (``FVP_FUNC``) uses ``torch.func``: the Gauss-Newton form ``J^T M J v`` with
one ``vjp`` linearisation per update and a ``jvp`` per product (the same algorithm as
fasttrpo's analytic kernels, expressed in torch).

Identical to ``fasttrpo.steps.trpo`` / ``AdamValueFitter`` by construction, so that a test
(``test_reference_equivalence.py``) checks the two agree to float tolerance:

- parameters are one flat vector ``[W0, b0, ..., WL, bL(, log_std)]``, W of shape
  (fan_in, fan_out) (a layer is ``h @ W + b``); the network reads views of it, so gradients
  come out flat with no concatenation;
- surrogate ``L = mean(exp(logp - old_logp) * A)``, KL = ``mean KL(pi_old || pi_theta)``;
- conjugate gradient on ``F + damping I`` from x = 0, ``x^T F x`` undamped from CG's own
  residuals (``x.b - x.r - damping x.x``: no extra FVP);
- step ``sqrt(2 max_kl / x^T F x) x``; backtracking by ``shrink`` up to ``ls_iters`` times,
  accepting the first finite candidate with ``kl <= max_kl`` and ``L > L_old``;
- value fit: ``n_epochs`` shuffled passes of minibatch Adam (``eps=1e-5``) on the MSE.

Nothing here is timed differently from fasttrpo: the benchmark calls the same entry points.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jvp, vjp

FVP_DOUBLE_BACKPROP = "double_backprop"
FVP_FUNC = "func"
GAUSSIAN, CATEGORICAL = "gaussian", "categorical"
_LOG_2PI = math.log(2.0 * math.pi)


def _layer_slices(layer_sizes):
    """(W offset, W shape, b offset, b size) of each layer in the flat vector."""
    slices, offset = [], 0
    for fan_in, fan_out in itertools.pairwise(layer_sizes):
        w = (offset, (fan_in, fan_out))
        offset += fan_in * fan_out
        slices.append((w, (offset, fan_out)))
        offset += fan_out
    return slices, offset


class FlatMLP:
    """``in -> hidden -> out`` MLP evaluated on views of a flat parameter tensor."""

    def __init__(self, layer_sizes, activation: str = "tanh") -> None:
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.slices, self.num_params = _layer_slices(self.layer_sizes)
        self.act = {"tanh": torch.tanh, "relu": torch.relu}[activation]

    def __call__(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        last = len(self.slices) - 1
        for i, ((w_off, w_shape), (b_off, b_size)) in enumerate(self.slices):
            w = theta[w_off : w_off + w_shape[0] * w_shape[1]].view(w_shape)
            b = theta[b_off : b_off + b_size]
            x = torch.addmm(b, x, w)
            if i != last:
                x = self.act(x)
        return x


@dataclass
class StepInfo:
    accepted: bool
    surrogate_before: float
    surrogate_after: float
    kl: float
    x_fisher_x: float
    cg_iterations: int
    line_search_steps: int
    step_fraction: float


class TorchTRPO:
    """The reference update: ``policy_step``, ``value_fit`` and ``update`` (both).

    Parameters
    ----------
    obs_dim, out_dim : int; ``out_dim`` = act_dim (Gaussian) or n_actions (categorical).
    hidden_sizes : tuple of int (policy and value network alike).
    head : "gaussian" or "categorical".
    activation : "tanh" or "relu".
    dtype : torch.float32 or torch.float64.
    fvp : FVP_DOUBLE_BACKPROP or FVP_FUNC.
    max_kl, cg_max_steps, cg_damping, shrink, ls_iters : the policy step (sb3-contrib defaults).
    learning_rate, n_epochs, batch_size : the value fit (sb3-contrib defaults).
    """

    def __init__(self, obs_dim, out_dim, hidden_sizes=(64, 64), head=GAUSSIAN,
                 activation="tanh", dtype=torch.float32, fvp=FVP_DOUBLE_BACKPROP,
                 max_kl=0.01, cg_max_steps=15, cg_damping=0.1, shrink=0.8, ls_iters=10,
                 learning_rate=1e-3, n_epochs=10, batch_size=128, normalize_advantage=True):
        if head not in (GAUSSIAN, CATEGORICAL):
            raise ValueError(f"head: {head!r}")
        if fvp not in (FVP_DOUBLE_BACKPROP, FVP_FUNC):
            raise ValueError(f"fvp: {fvp!r}")
        self.head, self.dtype, self.fvp_kind = head, dtype, fvp
        self.pi_net = FlatMLP((obs_dim, *hidden_sizes, out_dim), activation)
        self.vf_net = FlatMLP((obs_dim, *hidden_sizes, 1), activation)
        self.n_mlp = self.pi_net.num_params
        self.num_params = self.n_mlp + (out_dim if head == GAUSSIAN else 0)
        self.max_kl, self.cg_max_steps, self.cg_damping = max_kl, cg_max_steps, cg_damping
        self.shrink, self.ls_iters = shrink, ls_iters
        self.learning_rate, self.n_epochs, self.batch_size = learning_rate, n_epochs, batch_size
        self.normalize_advantage = normalize_advantage
        self.adam: torch.optim.Adam | None = None
        self.theta_v: torch.Tensor | None = None

    # ---- distributions -------------------------------------------------------------------
    def _log_prob(self, out, log_std, actions):
        if self.head == GAUSSIAN:
            z = (actions - out) * torch.exp(-log_std)
            return -0.5 * (z * z).sum(1) - log_std.sum() - 0.5 * out.shape[1] * _LOG_2PI
        return torch.log_softmax(out, 1).gather(1, actions.view(-1, 1)).view(-1)

    def _mean_kl(self, old_out, old_log_std, out, log_std):
        """mean KL(pi_old || pi), old quantities constants."""
        if self.head == GAUSSIAN:
            var = torch.exp(2.0 * log_std)
            diff = old_out - out
            per_dim = (log_std - old_log_std) + (torch.exp(2.0 * old_log_std) + diff * diff) / (
                2.0 * var) - 0.5
            return per_dim.sum(1).mean()
        old_logp = torch.log_softmax(old_out, 1)
        return (torch.exp(old_logp) * (old_logp - torch.log_softmax(out, 1))).sum(1).mean()

    def _split(self, theta):
        return theta[: self.n_mlp], theta[self.n_mlp :]

    # ---- the policy step -----------------------------------------------------------------
    def _conjugate_gradient(self, fvp, b, residual_tol=1e-10):
        damping = self.cg_damping
        x = torch.zeros_like(b)
        r = b.clone()
        p = b.clone()
        r_dot_r = float(r @ r)
        n_iter = 0
        for _ in range(self.cg_max_steps):
            if r_dot_r < residual_tol:
                break
            a_p = fvp(p).add_(p, alpha=damping)
            p_a_p = float(p @ a_p)
            if not p_a_p > 0.0:
                break
            alpha = r_dot_r / p_a_p
            x.add_(p, alpha=alpha)
            r.add_(a_p, alpha=-alpha)
            new_r_dot_r = float(r @ r)
            p.mul_(new_r_dot_r / r_dot_r).add_(r)
            r_dot_r = new_r_dot_r
            n_iter += 1
        x_fisher_x = float(x @ b) - float(x @ r) - damping * float(x @ x)
        return x, x_fisher_x, n_iter

    @staticmethod
    def _double_backprop_fvp(theta, kl):
        """F v = d/dtheta (grad KL . v): the graph of grad KL is built once, kept, and
        differentiated again for every product (sb3-contrib, Spinning Up, tianshou)."""
        (grad_kl,) = torch.autograd.grad(kl, theta, create_graph=True)

        def fvp(v):
            (hv,) = torch.autograd.grad(grad_kl @ v, theta, retain_graph=True)
            return hv

        return fvp

    def fvp_closure(self, theta, obs):
        """``v -> F v`` at ``theta`` on ``obs`` (undamped), as the policy step builds it."""
        if self.fvp_kind == FVP_FUNC:
            return self._func_fvp(theta, obs)
        theta = theta.detach().requires_grad_(True)
        theta_mlp, log_std = self._split(theta)
        out = self.pi_net(theta_mlp, obs)
        kl = self._mean_kl(out.detach(), log_std.detach(), out, log_std)
        return self._double_backprop_fvp(theta, kl)

    def _func_fvp(self, theta, obs):
        """F v = J^T M J v / N via torch.func: one vjp linearisation, a jvp per product."""
        theta_mlp, log_std = self._split(theta.detach())
        net = self.pi_net

        def f(t):
            return net(t, obs)

        out, vjp_fn = vjp(f, theta_mlp)
        n_rows = obs.shape[0]
        if self.head == GAUSSIAN:
            weights = torch.exp(-2.0 * log_std) / n_rows  # diag(1/sigma^2) / N
        else:
            probs = torch.softmax(out.detach(), 1)

        def fvp(v):
            _, jv = jvp(f, (theta_mlp,), (v[: self.n_mlp],))
            if self.head == GAUSSIAN:
                (g,) = vjp_fn(jv * weights)
                return torch.cat((g, 2.0 * v[self.n_mlp :]))  # log_std block: 2 I
            m_jv = probs * (jv - (probs * jv).sum(1, keepdim=True))
            (g,) = vjp_fn(m_jv / n_rows)
            return g

        return fvp

    def policy_step(self, theta, obs, actions, advantages, old_log_prob=None):
        """One TRPO step from flat ``theta`` (not modified); returns ``(new_theta, StepInfo)``.

        ``advantages`` are used as given (``update`` normalises them first).
        """
        theta = theta.detach().requires_grad_(True)
        theta_mlp, log_std = self._split(theta)
        out = self.pi_net(theta_mlp, obs)
        log_prob = self._log_prob(out, log_std, actions)
        if old_log_prob is None:
            old_log_prob = log_prob.detach()
        surrogate = (torch.exp(log_prob - old_log_prob) * advantages).mean()
        old_out, old_log_std = out.detach(), log_std.detach()
        if self.fvp_kind == FVP_DOUBLE_BACKPROP:
            kl = self._mean_kl(old_out, old_log_std, out, log_std)
            (grad,) = torch.autograd.grad(surrogate, theta, retain_graph=True)
            fvp = self._double_backprop_fvp(theta, kl)
        else:
            (grad,) = torch.autograd.grad(surrogate, theta)
            fvp = self._func_fvp(theta, obs)
        surrogate_before = float(surrogate.detach())
        direction, x_fisher_x, cg_iterations = self._conjugate_gradient(fvp, grad)
        info = StepInfo(False, surrogate_before, surrogate_before, 0.0, x_fisher_x,
                        cg_iterations, 0, 0.0)
        theta = theta.detach()
        if not (x_fisher_x > 0.0 and math.isfinite(x_fisher_x)):
            return theta.clone(), info
        full_step = math.sqrt(2.0 * self.max_kl / x_fisher_x) * direction
        fraction = 1.0
        with torch.no_grad():
            for attempt in range(1, self.ls_iters + 1):
                candidate = theta + fraction * full_step
                c_mlp, c_log_std = self._split(candidate)
                c_out = self.pi_net(c_mlp, obs)
                c_surrogate = float(
                    (torch.exp(self._log_prob(c_out, c_log_std, actions) - old_log_prob)
                     * advantages).mean())
                c_kl = float(self._mean_kl(old_out, old_log_std, c_out, c_log_std))
                info.line_search_steps = attempt
                if (math.isfinite(c_surrogate) and math.isfinite(c_kl)
                        and bool(torch.isfinite(candidate).all())
                        and c_kl <= self.max_kl and c_surrogate > surrogate_before):
                    info.accepted, info.surrogate_after = True, c_surrogate
                    info.kl, info.step_fraction = c_kl, fraction
                    return candidate, info
                fraction *= self.shrink
        return theta.clone(), info

    # ---- the value fit -------------------------------------------------------------------
    def set_value_params(self, theta_v: torch.Tensor) -> None:
        """(Re)start the value fit from ``theta_v`` with a fresh Adam (``eps=1e-5``)."""
        self.theta_v = theta_v.detach().clone().requires_grad_(True)
        # fused: torch's fastest CPU Adam here (~8% faster than the default for-loop one)
        self.adam = torch.optim.Adam([self.theta_v], lr=self.learning_rate, eps=1e-5, fused=True)

    def value_fit(self, obs, returns, batch_indices=None) -> float:
        """``n_epochs`` passes of minibatch Adam on mean (V - returns)^2; returns the mean loss.

        ``batch_indices``: (n_epochs, N) int64 tensor of permutations (drawn with
        ``torch.randperm`` if None).
        """
        n_rows = obs.shape[0]
        net, theta_v, adam, batch = self.vf_net, self.theta_v, self.adam, self.batch_size
        total, count = 0.0, 0
        for epoch in range(self.n_epochs):
            perm = torch.randperm(n_rows) if batch_indices is None else batch_indices[epoch]
            for start in range(0, n_rows, batch):
                idx = perm[start : start + batch]
                pred = net(theta_v, obs[idx]).view(-1)
                loss = torch.nn.functional.mse_loss(pred, returns[idx])
                adam.zero_grad(set_to_none=True)
                loss.backward()
                adam.step()
                total += loss.item()
                count += 1
        return total / max(count, 1)

    # ---- one update ----------------------------------------------------------------------
    def update(self, theta, obs, actions, advantages, returns, old_log_prob=None):
        """Advantage normalisation, one policy step, the value fit (GAE is done by the caller,
        as in sb3-contrib's ``train()``). Returns ``(new_theta, StepInfo, value_loss)``."""
        if self.normalize_advantage and advantages.numel() > 1:
            # population std, as fasttrpo (numpy's default); sb3-contrib uses the unbiased one
            advantages = (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)
        new_theta, info = self.policy_step(theta, obs, actions, advantages, old_log_prob)
        value_loss = self.value_fit(obs, returns)
        return new_theta, info, value_loss


def to_torch(array, dtype=None) -> torch.Tensor:
    """A torch tensor sharing memory with ``array`` where possible."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor if dtype is None else tensor.to(dtype)


def torch_dtype(np_dtype) -> torch.dtype:
    return torch.float64 if np.dtype(np_dtype) == np.float64 else torch.float32
