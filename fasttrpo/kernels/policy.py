"""Policy-level kernels: the surrogate, the Fisher-vector product.

The surrogate gradient is ``distributions.log_prob`` -> ``surrogate`` ->
``distributions.log_prob_grad`` -> ``mlp.vjp`` and a line-search evaluation is
``mlp.forward`` -> ``distributions.log_prob`` -> ``surrogate`` -> ``distributions.mean_kl``,
composed in Python (``policies.Linearization``): a compiled composition would be one more
large Numba compilation on a cold start for a few microseconds of dispatch saved. The
Fisher-vector product composes ``mlp.jvp``, ``distributions.apply_fisher`` and ``mlp.vjp``
here, since conjugate gradient (``cg.py``) calls it in its compiled loop. Common arguments:

- ``params``: (P,) float; ``params[:layout.n_mlp]`` is the MLP, ``params[layout.n_mlp:]`` is
  the Gaussian ``log_std`` (empty for discrete heads).
- ``layout``: a ``fasttrpo.models.nets.KernelLayout``: the MLP (``layer_sizes``, ``activation``, see
  ``mlp.py``), ``n_mlp`` and the output distribution (``head``, ``nvec``, see
  ``distributions.py``).
- ``obs``: (N, obs_dim); ``actions``: (N, A); ``hidden``, ``dact``, ``tangent``,
  ``scratch``: MLP buffers (see ``mlp.py``); ``out``, ``dist``, ``dout``: (N, D). All arrays
  share the policy's float dtype and are C-contiguous.

The Fisher-vector product reads the activations and the output Fisher weights cached once per
update (``hidden``, ``dact``, ``dist``: ``mlp.forward`` then ``distributions.fisher_weights``
at the linearisation point), so conjugate gradient never recomputes the forward pass.
"""

import numpy as np
from numba import prange

from fasttrpo.kernels import distributions, kernel, mlp, parallel_variant


@kernel
def surrogate(log_prob, old_log_prob, advantages, weights):
    """Surrogate ``L = mean_n exp(logp_n - old_logp_n) * A_n`` and ``dL/dlogp`` per sample.

    Parameters
    ----------
    log_prob, old_log_prob : (N,) float, ``log pi_theta(a|s)`` and ``log pi_old(a|s)``.
    advantages : (N,) float.
    weights : (N,) float, written with ``dL/dlogp_n = ratio_n * A_n / N`` (the weights of
        ``distributions.log_prob_grad`` for the surrogate gradient).

    Returns
    -------
    float, ``L`` (accumulated in float64).
    """
    n_rows = log_prob.shape[0]
    total = 0.0
    for n in range(n_rows):
        ratio = np.exp(log_prob[n] - old_log_prob[n])  # pi(a|s) / pi_old(a|s)
        total += ratio * advantages[n]
        weights[n] = ratio * advantages[n] / n_rows
    return total / n_rows


#: rows per block of the Fisher-vector product. Fixed, whatever the thread count: each block's
#: partial ``J^T M J v`` is summed in block order, so the result is bit-identical on 1 or k
#: threads. 64 rows: OpenBLAS runs products this small in its lock-free small-matrix path;
#: from 128 rows (Haswell kernels) or 256 (SkylakeX) its level-3 driver serialises calls from
#: concurrent threads, and two threads ran 10-30x slower than one (measured, BENCHMARKS.md
#: "Threads"). The serial cost of 64-row blocks: +7 % (SkylakeX) to +33 % (Haswell) on CG.
ROW_BLOCK = 64


@kernel
def n_row_blocks(n_rows):
    """Blocks of `ROW_BLOCK` rows that cover ``n_rows`` (the first dimension of ``partials``)."""
    return max(1, (n_rows + ROW_BLOCK - 1) // ROW_BLOCK)


# The row-block kernels below are each compiled twice from one source: serially (``prange`` is
# ``range``) and as a `parallel_variant` (the blocks on Numba's threads). A block's arithmetic
# is the same in both, so the results are bit-identical. Serial kernels call serial ones only;
# Python picks the variant (``models/policies.py``).

def _forward_blocks(params, layout, obs, hidden, dact, out):
    """``mlp.forward`` of every row, one `ROW_BLOCK`-row block at a time.

    The block size is fixed so that a row's result never depends on the thread count (BLAS
    may round a row differently with the number of rows in the product).
    """
    n_rows = obs.shape[0]
    for block in prange(n_row_blocks(n_rows)):
        start = block * ROW_BLOCK
        mlp.forward(params, layout, obs, hidden, dact, out, start,
                    min(start + ROW_BLOCK, n_rows))


def _vjp_blocks(params, layout, obs, hidden, dact, delta_out, tangent, partials):
    """``partials[b] = J_b^T delta_out_b`` for each block ``b`` of `ROW_BLOCK` rows.

    `sum_blocks` adds them up in block order.
    """
    n_rows = obs.shape[0]
    for block in prange(partials.shape[0]):
        start = block * ROW_BLOCK
        mlp.vjp(params, layout, obs, hidden, dact, delta_out, tangent, partials[block], start,
                min(start + ROW_BLOCK, n_rows))


def _fisher_blocks(params, layout, obs, hidden, dact, dist, vector, tangent, scratch, dout,
                   partials):
    """``partials[b] = J_b^T M_b J_b vector / N`` for each block ``b`` of `ROW_BLOCK` rows."""
    n_rows = obs.shape[0]
    for block in prange(partials.shape[0]):
        start = block * ROW_BLOCK
        stop = min(start + ROW_BLOCK, n_rows)
        # J v: forward-mode through the MLP
        mlp.jvp(params, layout, obs, hidden, dact, vector, tangent, scratch, dout, start, stop)
        # M J v / N: Fisher of the output distribution, per sample
        distributions.apply_fisher(layout, dist[start:stop], dout[start:stop], 1.0 / n_rows)
        # J^T (M J v) / N over the block: backward pass
        mlp.vjp(params, layout, obs, hidden, dact, dout, tangent, partials[block], start, stop)


forward_blocks = kernel(_forward_blocks)
forward_blocks_parallel = parallel_variant(forward_blocks)
vjp_blocks = kernel(_vjp_blocks)
vjp_blocks_parallel = parallel_variant(vjp_blocks)
fisher_blocks = kernel(_fisher_blocks)
# inlined, so that the parallel Fisher-vector product and conjugate gradient hold the parallel
# loop in their own code (Numba warns about a parallel function with none)
fisher_blocks_parallel = parallel_variant(fisher_blocks, inline="always")


@kernel
def sum_blocks(partials, n_mlp, result):
    """``result[:n_mlp] = sum_b partials[b, :n_mlp]``, the blocks added in block order."""
    for j in range(n_mlp):
        result[j] = partials[0, j]
    for block in range(1, partials.shape[0]):
        for j in range(n_mlp):
            result[j] += partials[block, j]


@kernel(inline="always")
def fisher_vector_product(
    params, layout, obs, hidden, dact, dist, vector, tangent, scratch, dout, partials, result,
):
    """Write the Fisher-vector product ``F vector`` (P,) into ``result`` (P,).

    ``F`` is the Hessian of mean KL(pi_params || pi_theta) at ``theta = params``, computed as
    ``J^T M J v / N`` (Gauss-Newton form, exact at this point). The ``log_std`` block is the
    state-independent Gaussian's, ``2 I``; for gSDE the caller overwrites it with
    ``distributions.sde_log_std_fisher`` (``models/linearization.py``), so this kernel and
    conjugate gradient hold no gSDE code (compiled by every run, used by few).

    Row blocks of `ROW_BLOCK` rows: ``partials`` ((`n_row_blocks` (N), P)) receives each
    block's ``J^T M J v / N`` (in `fisher_vector_product_parallel`: on Numba's threads, by
    `fisher_blocks_parallel`), then the blocks are summed in block order, so the result does
    not depend on the threads.

    No damping is added. Reads the linearisation cache (``hidden``, ``dact``, ``dist``).
    Inlined into ``conjugate_gradient`` at compile time (one compilation fewer on a cold
    start).
    """
    n_mlp = layout.n_mlp
    fisher_blocks(params, layout, obs, hidden, dact, dist, vector, tangent, scratch, dout,
                  partials)
    sum_blocks(partials, n_mlp, result)  # in block order
    # state-independent log_std: Fisher block 2 I, no cross terms with the mean
    for j in range(n_mlp, params.shape[0]):
        result[j] = 2.0 * vector[j]


fisher_vector_product_parallel = parallel_variant(
    fisher_vector_product, calls={"fisher_blocks": fisher_blocks_parallel})
