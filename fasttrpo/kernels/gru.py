"""GRU kernels: forward through time, BPTT (VJP through time), JVP through time.

The network: an MLP encoder whose linear output layer is the GRU's input projection, a GRU
layer (PyTorch's equations, gate order r, z, n) and a linear head to distribution parameters.
For row ``t`` of a sequence, with ``hp = h_{t-1}`` (``h0`` of the sequence at its first row)::

    gi  = enc(x_t) @ W_ih + b_ih            (3H)  mlp.forward: layer_sizes [obs, e.., 3H]
    gh  = hp @ W_hh + b_hh                  (3H)
    r   = sigmoid(gi_r + gh_r)
    z   = sigmoid(gi_z + gh_z)
    n   = tanh(gi_n + r * gh_n)
    h_t = (1 - z) * n + z * hp  = n + z * (hp - n)
    out = h_t @ W_out + b_out               (D)   Gaussian means or logits

``gi`` of every row is one batched product (the encoder's last layer): only ``gh`` is
sequential. Flat parameters (``theta``, (P,))::

    [encoder MLP incl. W_ih (E, 3H), b_ih (3H,) | W_hh (H, 3H), b_hh (3H,) |
     W_out (H, D), b_out (D,) | log_std (A,) (Gaussian head only)]

each ``W`` row-major ``(fan_in, fan_out)``; columns of the ``3H`` blocks in gate order
``[r | z | n]``. A torch ``nn.GRU``'s ``weight_ih_l0`` is ``W_ih.T``, ``weight_hh_l0``
is ``W_hh.T``, ``bias_ih_l0 = b_ih``, ``bias_hh_l0 = b_hh``.

Packed batch (no padding): ``obs`` (T, obs_dim), ``seq_starts`` (S+1,) int64 row offsets,
strictly increasing from 0 to T (sequence ``s`` is rows ``seq_starts[s]:seq_starts[s+1]``),
``h0`` (S, H) the hidden state before each sequence's first row (data: no gradient flows into
it). ``blocks`` (B+1,) int64: sequence offsets of the sequence blocks (`sequence_blocks`),
the unit of parallel work. A block's partial gradient goes to ``partials[b]`` and the blocks
are summed in block order (``policy.sum_blocks``): the results do not depend on the threads.

``layout`` is a `GRULayout`; ``cache`` a `GRUCache` (written by the forward pass, read by
the JVP and VJP), ``work`` a `GRUWork` (scratch of the JVP and VJP). All float arrays share
one dtype and are C-contiguous.
"""

from typing import NamedTuple

import numpy as np
from numba import prange
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from fasttrpo.kernels import INTERNAL, distributions, kernel, mlp, parallel_variant

#: the fewest rows of a sequence block (whole sequences are grouped until they reach it);
#: the same 64 as ``policy.ROW_BLOCK``, for the same reason (small BLAS calls)
MIN_BLOCK_ROWS = 64


class GRULayout(NamedTuple):
    """The structure of a GRU policy network, as the kernels take it.

    Its first five fields are a ``fasttrpo.models.nets.KernelLayout``'s, of the encoder MLP
    ``[obs_dim, e_1, .., e_K, 3H]`` and the output distribution, so the ``mlp`` and
    ``distributions`` kernels take a `GRULayout` as they take that (flat, not nested: Numba's
    parallel loops refuse a tuple of arrays inside a tuple).

    Attributes
    ----------
    layer_sizes, activation, n_mlp, head, nvec : the encoder's and the head's, as
        ``KernelLayout`` (``n_mlp``: the encoder's parameter count, ``W_ih`` and ``b_ih``
        included).
    hidden_size : int, H.
    out_dim : int, D (distribution parameters per row).
    n_net : int, parameters of the whole network (encoder, GRU, head), before ``log_std``.
    """

    layer_sizes: np.ndarray
    activation: int
    n_mlp: int
    head: int
    nvec: np.ndarray
    hidden_size: int
    out_dim: int
    n_net: int


class GRUCache(NamedTuple):
    """What the forward pass keeps for the JVP and the VJP (T rows).

    ``enc_hidden``, ``enc_dact``: the encoder's hidden activations and their derivatives
    (``mlp.py``'s flat buffers); ``gi`` (T, 3H) input gates; ``hprev`` (T, H) ``h_{t-1}``;
    ``hidden`` (T, H) ``h_t``; ``gates`` (T, 4H) ``[r | z | gh_n | n]``; ``out`` (T, D).
    """

    enc_hidden: np.ndarray
    enc_dact: np.ndarray
    gi: np.ndarray
    hprev: np.ndarray
    hidden: np.ndarray
    gates: np.ndarray
    out: np.ndarray


class GRUWork(NamedTuple):
    """Scratch of the JVP and VJP (T rows).

    ``enc_tangent``, ``enc_scratch``: ``mlp.py``'s ``tangent`` and ``scratch``;
    ``gate_tangent`` (T, 3H): ``d gi`` (JVP) or ``dL/d gi`` (VJP); ``recur_tangent`` (T, 3H):
    ``d gh`` or ``dL/d gh``; ``state_tangent`` (T, H): ``d h_t`` or ``dL/d h_t``.
    """

    enc_tangent: np.ndarray
    enc_scratch: np.ndarray
    gate_tangent: np.ndarray
    recur_tangent: np.ndarray
    state_tangent: np.ndarray


@kernel
def sequence_blocks(seq_starts, min_rows):
    """Group whole sequences into blocks of at least ``min_rows`` rows (the last may have fewer).

    Returns (B+1,) int64 sequence offsets: block ``b`` is sequences ``blocks[b]:blocks[b+1]``.
    A function of ``seq_starts`` alone, never of the thread count.
    """
    n_seq = seq_starts.shape[0] - 1
    bounds = np.empty(n_seq + 1, dtype=np.int64)
    bounds[0] = 0
    n_blocks = 0
    for s in range(n_seq):
        if seq_starts[s + 1] - seq_starts[bounds[n_blocks]] >= min_rows or s == n_seq - 1:
            n_blocks += 1
            bounds[n_blocks] = s + 1
    return bounds[: n_blocks + 1].copy()


@kernel(**INTERNAL)
def recurrent_params(params, layout):
    """Return views ``(W_hh (H, 3H), b_hh (3H,), W_out (H, D), b_out (D,))`` inside ``params``."""
    hidden, out_dim = layout.hidden_size, layout.out_dim
    start = layout.n_mlp
    w_hh = params[start : start + hidden * 3 * hidden].reshape((hidden, 3 * hidden))
    start += hidden * 3 * hidden
    b_hh = params[start : start + 3 * hidden]
    start += 3 * hidden
    w_out = params[start : start + hidden * out_dim].reshape((hidden, out_dim))
    start += hidden * out_dim
    return w_hh, b_hh, w_out, params[start : start + out_dim]


def _half(array):
    """``0.5`` in ``array``'s dtype, a compile-time constant (float32 stays float32)."""
    return 0.5


@overload(_half, jit_options={"error_model": "numpy", **INTERNAL})
def _half_typed(array):
    half = as_dtype(array.dtype).type(0.5)
    return lambda array: half


@kernel(**INTERNAL)
def add_vector_matrix(vec, mat, out):
    """``out += vec @ mat``: ``vec`` (I,), ``mat`` (I, J), ``out`` (J,); a fixed order.

    Four rows of ``mat`` per pass over ``out`` (a quarter of the loads and stores of one
    row at a time; the inner loop vectorises): measured 1.3 ms for 2048 steps of 64 x 192 in
    float32, against 1.9 ms row by row and 1.2 ms for a BLAS call per step.
    """
    n_in, n_out = mat.shape
    i = 0
    while i + 4 <= n_in:
        a, b, c, d = vec[i], vec[i + 1], vec[i + 2], vec[i + 3]
        row_a, row_b, row_c, row_d = mat[i], mat[i + 1], mat[i + 2], mat[i + 3]
        for j in range(n_out):
            out[j] += a * row_a[j] + b * row_b[j] + c * row_c[j] + d * row_d[j]
        i += 4
    while i < n_in:
        a, row_a = vec[i], mat[i]
        for j in range(n_out):
            out[j] += a * row_a[j]
        i += 1


@kernel
def forward_block(params, layout, obs, seq_starts, h0, cache, seq_lo, seq_hi):
    """Forward through time of sequences ``seq_lo:seq_hi``, filling ``cache`` on their rows."""
    hid = layout.hidden_size
    r0, r1 = seq_starts[seq_lo], seq_starts[seq_hi]
    w_hh, b_hh, w_out, b_out = recurrent_params(params, layout)
    # gi = enc(x) W_ih + b_ih for every row at once
    mlp.forward(params, layout, obs, cache.enc_hidden, cache.enc_dact, cache.gi, r0, r1)
    half = _half(cache.gates)  # sigmoid(x) = (1 + tanh(x / 2)) / 2, in the arrays' dtype
    for s in range(seq_lo, seq_hi):
        first = seq_starts[s]
        for t in range(first, seq_starts[s + 1]):
            hp = cache.hprev[t]
            previous = h0[s] if t == first else cache.hidden[t - 1]
            for k in range(hid):  # hp = h_{t-1}, or h0 at the sequence's first row
                hp[k] = previous[k]
            g = cache.gates[t]
            for j in range(3 * hid):  # gh = hp W_hh + b_hh into g[:3H]
                g[j] = b_hh[j]
            add_vector_matrix(hp, w_hh, g[: 3 * hid])
            # one short loop per formula over 1-D views (few pointers: each one vectorises;
            # one loop for all was 40x slower in float32)
            gi, h = cache.gi[t], cache.hidden[t]
            rz, gi_rz = g[: 2 * hid], gi[: 2 * hid]
            for k in range(2 * hid):  # [r, z] = sigmoid(gi_rz + gh_rz), in place
                rz[k] = half + half * mlp.fast_tanh(half * (gi_rz[k] + rz[k]))
            r, z, gh_n, n = g[:hid], g[hid : 2 * hid], g[2 * hid : 3 * hid], g[3 * hid :]
            gi_n = gi[2 * hid :]
            for k in range(hid):  # n = tanh(gi_n + r gh_n); g[2H:3H] keeps gh_n
                n[k] = mlp.fast_tanh(gi_n[k] + r[k] * gh_n[k])
            for k in range(hid):  # h_t = (1 - z) n + z h_{t-1}
                h[k] = n[k] + z[k] * (hp[k] - n[k])
    _head_forward(cache.hidden, w_out, b_out, cache.out, r0, r1)


@kernel(**INTERNAL)
def _head_forward(states, weight, bias, out, r0, r1):
    # out = h W + b, by hand: D is narrow (DESIGN.md: a row loop beats BLAS there)
    for t in range(r0, r1):
        for j in range(out.shape[1]):
            out[t, j] = bias[j]
        for i in range(states.shape[1]):
            h_i = states[t, i]
            for j in range(out.shape[1]):
                out[t, j] += h_i * weight[i, j]


@kernel(**INTERNAL)
def jvp_block(params, layout, obs, seq_starts, cache, work, direction, dout, seq_lo, seq_hi):
    """Forward-mode ``dout = (d out / d theta) direction`` on the rows of ``seq_lo:seq_hi``.

    Tangents carried through time (``d h0 = 0``)::

        d gi  = mlp.jvp (encoder and input projection)
        d gh  = hp dW_hh + db_hh + d hp W_hh
        d r   = r (1 - r) (d gi_r + d gh_r);   d z = z (1 - z) (d gi_z + d gh_z)
        d n   = (1 - n^2) (d gi_n + d r gh_n + r d gh_n)
        d h_t = (1 - z) d n + d z (hp - n) + z d hp
        d out = h dW_out + d h W_out + db_out
    """
    hid = layout.hidden_size
    r0, r1 = seq_starts[seq_lo], seq_starts[seq_hi]
    w_hh, _, w_out, _ = recurrent_params(params, layout)
    dw_hh, db_hh, dw_out, db_out = recurrent_params(direction, layout)
    gate_t, recur_t, state_t = work.gate_tangent, work.recur_tangent, work.state_tangent
    one = _half(dout) + _half(dout)  # 1 in the arrays' dtype
    mlp.jvp(params, layout, obs, cache.enc_hidden, cache.enc_dact, direction,
            work.enc_tangent, work.enc_scratch, gate_t, r0, r1)
    np.dot(cache.hprev[r0:r1], dw_hh, recur_t[r0:r1])  # hp dW_hh, every row at once
    for s in range(seq_lo, seq_hi):
        first = seq_starts[s]
        for t in range(first, seq_starts[s + 1]):
            dgh = recur_t[t]
            for j in range(3 * hid):
                dgh[j] += db_hh[j]
            if t > first:  # + d hp W_hh (d h0 = 0)
                add_vector_matrix(state_t[t - 1], w_hh, dgh)
            g, dgi, hp, dh = cache.gates[t], gate_t[t], cache.hprev[t], state_t[t]
            r, z, gh_n, n = g[:hid], g[hid : 2 * hid], g[2 * hid : 3 * hid], g[3 * hid :]
            rz = g[: 2 * hid]
            for k in range(2 * hid):  # [d r, d z] = s (1 - s) (d gi + d gh), into d gh[:2H]
                dgh[k] = rz[k] * (one - rz[k]) * (dgi[k] + dgh[k])
            dr, dz, dgh_n, dn = dgh[:hid], dgh[hid : 2 * hid], dgh[2 * hid :], dgi[2 * hid :]
            for k in range(hid):  # d n = (1 - n^2)(d gi_n + d r gh_n + r d gh_n), into d gi_n
                dn[k] = (one - n[k] * n[k]) * (dn[k] + dr[k] * gh_n[k] + r[k] * dgh_n[k])
            for k in range(hid):  # d h = (1 - z) d n + d z (hp - n) (+ z d hp below)
                dh[k] = (one - z[k]) * dn[k] + dz[k] * (hp[k] - n[k])
            if t > first:
                dhp = state_t[t - 1]
                for k in range(hid):
                    dh[k] += z[k] * dhp[k]
    _head_forward(cache.hidden, dw_out, db_out, dout, r0, r1)  # h dW_out + db_out
    for t in range(r0, r1):  # + d h W_out
        for i in range(hid):
            dh_i = state_t[t, i]
            for j in range(dout.shape[1]):
                dout[t, j] += dh_i * w_out[i, j]


@kernel
def vjp_block(params, layout, obs, seq_starts, cache, work, delta_out, grad, seq_lo, seq_hi):
    """Backward through time: ``grad[:n_net] = (d out / d theta)^T delta_out`` on the block.

    ``delta_out`` (T, D): the cotangent of ``out`` (holding any 1/N); its block rows are read
    and ``grad`` (P,) is written (its ``n_net`` network entries) with their sum. BPTT, per
    row from the last of each sequence to its first, ``dh`` the cotangent of ``h_t`` (from the
    head, plus from row ``t+1``)::

        dh     = delta_out W_out^T (+ carried);  dW_out = sum h^T delta_out
        d a_n  = dh (1 - z) (1 - n^2)               (a_n = gi_n + r gh_n)
        d a_z  = dh (hp - n) z (1 - z);  d a_r = d a_n gh_n r (1 - r)
        d gi   = [d a_r, d a_z, d a_n];  d gh = [d a_r, d a_z, d a_n r]
        d hp  += dh z + d gh W_hh^T                 (dropped at the first row: h0 is data)
        dW_hh  = sum hp^T d gh;  db_hh = sum d gh;  encoder: mlp.vjp with d gi
    """
    hid = layout.hidden_size
    three = 3 * hid
    r0, r1 = seq_starts[seq_lo], seq_starts[seq_hi]
    w_hh, _, w_out, _ = recurrent_params(params, layout)
    gw_hh, gb_hh, gw_out, gb_out = recurrent_params(grad, layout)
    gate_t, recur_t, state_t = work.gate_tangent, work.recur_tangent, work.state_tangent
    one = _half(delta_out) + _half(delta_out)  # 1 in the arrays' dtype
    w_hh_t = np.empty((three, hid), dtype=w_hh.dtype)  # W_hh^T: d gh W_hh^T as axpy rows
    for i in range(hid):
        for j in range(three):
            w_hh_t[j, i] = w_hh[i, j]
    gw_out[:, :] = 0.0
    gb_out[:] = 0.0
    for t in range(r0, r1):  # head: dh = delta W_out^T, dW_out += h^T delta, db_out += delta
        for i in range(hid):
            acc = 0.0
            h_i = cache.hidden[t, i]
            for j in range(delta_out.shape[1]):
                acc += delta_out[t, j] * w_out[i, j]
                gw_out[i, j] += h_i * delta_out[t, j]
            state_t[t, i] = acc
        for j in range(delta_out.shape[1]):
            gb_out[j] += delta_out[t, j]
    for s in range(seq_lo, seq_hi):
        first = seq_starts[s]
        for t in range(seq_starts[s + 1] - 1, first - 1, -1):
            g, hp, dh = cache.gates[t], cache.hprev[t], state_t[t]
            dgi, dgh = gate_t[t], recur_t[t]
            r, z, gh_n, n = g[:hid], g[hid : 2 * hid], g[2 * hid : 3 * hid], g[3 * hid :]
            da_r, da_z, da_n = dgi[:hid], dgi[hid : 2 * hid], dgi[2 * hid :]
            for k in range(hid):  # one loop per formula: each vectorises
                da_n[k] = dh[k] * (one - z[k]) * (one - n[k] * n[k])
            for k in range(hid):
                da_z[k] = dh[k] * (hp[k] - n[k]) * z[k] * (one - z[k])
            for k in range(hid):
                da_r[k] = da_n[k] * gh_n[k] * r[k] * (one - r[k])
            for k in range(2 * hid):  # d gh = [d a_r, d a_z, d a_n r]
                dgh[k] = dgi[k]
            for k in range(hid):
                dgh[2 * hid + k] = da_n[k] * r[k]
            if t > first:
                dhp = state_t[t - 1]
                for k in range(hid):
                    dhp[k] += dh[k] * z[k]
                add_vector_matrix(dgh, w_hh_t, dhp)  # + d gh W_hh^T
    np.dot(cache.hprev[r0:r1].T, recur_t[r0:r1], gw_hh)  # dW_hh = sum_t hp^T d gh
    gb_hh[:] = 0.0
    for t in range(r0, r1):
        for j in range(three):
            gb_hh[j] += recur_t[t, j]
    mlp.vjp(params, layout, obs, cache.enc_hidden, cache.enc_dact, gate_t,
            work.enc_tangent, grad, r0, r1)


# Block loops, each compiled serially (``prange`` is ``range``) and as a `parallel_variant`
# (blocks on Numba's threads): the same arithmetic per block, hence the same bits.

def _forward_blocks(params, layout, obs, seq_starts, h0, blocks, cache):
    """`forward_block` on every sequence block."""
    for b in prange(blocks.shape[0] - 1):
        forward_block(params, layout, obs, seq_starts, h0, cache, blocks[b], blocks[b + 1])


def _vjp_blocks(params, layout, obs, seq_starts, cache, work, blocks, delta_out, partials):
    """``partials[b] = J_b^T delta_out_b`` (network entries) for each sequence block ``b``."""
    for b in prange(blocks.shape[0] - 1):
        vjp_block(params, layout, obs, seq_starts, cache, work, delta_out, partials[b],
                  blocks[b], blocks[b + 1])


@kernel(**INTERNAL)
def fisher_block(params, layout, obs, seq_starts, cache, work, dist, vector, dout, partial,
                 seq_lo, seq_hi):
    """``partial = J^T M J vector / T`` (network entries) on the sequences ``seq_lo:seq_hi``.

    ``dist`` (T, D): the output Fisher weights (``distributions.fisher_weights``).
    """
    r0, r1 = seq_starts[seq_lo], seq_starts[seq_hi]
    # J v: forward mode through time
    jvp_block(params, layout, obs, seq_starts, cache, work, vector, dout, seq_lo, seq_hi)
    # M J v / T: the output distribution's Fisher, per row
    distributions.apply_fisher(layout, dist[r0:r1], dout[r0:r1], 1.0 / obs.shape[0])
    # J^T (M J v) / T: backward through time
    vjp_block(params, layout, obs, seq_starts, cache, work, dout, partial, seq_lo, seq_hi)


def _fisher_blocks(params, layout, obs, seq_starts, cache, work, blocks, dist, vector, dout,
                   partials):
    """`fisher_block` on every sequence block ``b``, into ``partials[b]``."""
    for b in prange(blocks.shape[0] - 1):
        fisher_block(params, layout, obs, seq_starts, cache, work, dist, vector, dout,
                     partials[b], blocks[b], blocks[b + 1])


forward_blocks = kernel(_forward_blocks)
forward_blocks_parallel = parallel_variant(forward_blocks)
vjp_blocks = kernel(_vjp_blocks)
vjp_blocks_parallel = parallel_variant(vjp_blocks)
fisher_blocks = kernel(_fisher_blocks)
fisher_blocks_parallel = parallel_variant(fisher_blocks)
