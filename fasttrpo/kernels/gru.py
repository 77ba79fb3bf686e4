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

import math
from typing import NamedTuple

import numpy as np
from numba import prange

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


@kernel(**INTERNAL)
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@kernel
def forward_block(params, layout, obs, seq_starts, h0, cache, seq_lo, seq_hi):
    """Forward through time of sequences ``seq_lo:seq_hi``, filling ``cache`` on their rows."""
    hid = layout.hidden_size
    r0, r1 = seq_starts[seq_lo], seq_starts[seq_hi]
    w_hh, b_hh, w_out, b_out = recurrent_params(params, layout)
    # gi = enc(x) W_ih + b_ih for every row at once
    mlp.forward(params, layout, obs, cache.enc_hidden, cache.enc_dact, cache.gi, r0, r1)
    for s in range(seq_lo, seq_hi):
        for t in range(seq_starts[s], seq_starts[s + 1]):
            hp = cache.hprev[t]
            for k in range(hid):  # hp = h_{t-1}, or h0 at the sequence's first row
                hp[k] = h0[s, k] if t == seq_starts[s] else cache.hidden[t - 1, k]
            g = cache.gates[t]
            for j in range(3 * hid):  # gh = hp W_hh + b_hh into g[:3H]
                g[j] = b_hh[j]
            for i in range(hid):
                hp_i = hp[i]
                for j in range(3 * hid):
                    g[j] += hp_i * w_hh[i, j]
            gi, h = cache.gi[t], cache.hidden[t]
            for k in range(hid):
                r = _sigmoid(gi[k] + g[k])
                z = _sigmoid(gi[hid + k] + g[hid + k])
                n = mlp.fast_tanh(gi[2 * hid + k] + r * g[2 * hid + k])
                g[k], g[hid + k], g[3 * hid + k] = r, z, n  # g[2H:3H] keeps gh_n
                h[k] = n + z * (hp[k] - n)  # h_t = (1 - z) n + z h_{t-1}
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
                for i in range(hid):
                    dhp_i = state_t[t - 1, i]
                    for j in range(3 * hid):
                        dgh[j] += dhp_i * w_hh[i, j]
            g, dgi, hp, dh = cache.gates[t], gate_t[t], cache.hprev[t], state_t[t]
            for k in range(hid):
                r, z, ghn, n = g[k], g[hid + k], g[2 * hid + k], g[3 * hid + k]
                dr = r * (1.0 - r) * (dgi[k] + dgh[k])
                dz = z * (1.0 - z) * (dgi[hid + k] + dgh[hid + k])
                dn = (1.0 - n * n) * (dgi[2 * hid + k] + dr * ghn + r * dgh[2 * hid + k])
                carried = z * state_t[t - 1, k] if t > first else 0.0
                dh[k] = (1.0 - z) * dn + dz * (hp[k] - n) + carried
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
            for k in range(hid):
                r, z, ghn, n = g[k], g[hid + k], g[2 * hid + k], g[3 * hid + k]
                da_n = dh[k] * (1.0 - z) * (1.0 - n * n)
                da_z = dh[k] * (hp[k] - n) * z * (1.0 - z)
                da_r = da_n * ghn * r * (1.0 - r)
                dgi[k], dgi[hid + k], dgi[2 * hid + k] = da_r, da_z, da_n
                dgh[k], dgh[hid + k], dgh[2 * hid + k] = da_r, da_z, da_n * r
            if t > first:
                dhp = state_t[t - 1]
                for k in range(hid):
                    dhp[k] += dh[k] * g[hid + k]
                for j in range(three):
                    dgh_j = dgh[j]
                    for i in range(hid):
                        dhp[i] += dgh_j * w_hh_t[j, i]
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
