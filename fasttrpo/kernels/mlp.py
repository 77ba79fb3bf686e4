"""MLP kernels: forward pass with cached activations, forward-mode JVP, backward VJP.

Parameter layout (contract, DESIGN.md section 3): ``theta = [W0, b0, W1, b1, ..., WL, bL]``,
each ``W_l`` of shape ``(fan_in, fan_out)`` stored row-major and each ``b_l`` of shape
``(fan_out,)``; layer ``l`` computes ``z_l = h_{l-1} @ W_l + b_l`` and hidden layers apply an
elementwise activation ``h_l = act(z_l)``. The output layer is linear.

Shared argument conventions of every kernel here:

- ``layout``: a ``fasttrpo.models.nets.KernelLayout``; these kernels read ``layout.layer_sizes``,
  (L+2,) int64 ``[in_dim, h_1, ..., h_L, out_dim]``, and ``layout.activation`` (``TANH`` or
  ``RELU`` of ``fasttrpo.foundation.heads``).
- ``hidden`` / ``dact`` / ``tangent``: 1-D buffers of length ``N * sum(h_1..h_L)`` holding one
  ``(N, h_l)`` C-contiguous block per hidden layer, back to back (see ``hidden_block``).
  ``hidden`` holds ``h_l``, ``dact`` holds ``act'(z_l)`` (``1 - h_l**2`` for tanh, ``h_l > 0``
  for relu) and ``tangent`` is scratch for the JVP tangents and the backward deltas.
- ``scratch``: 1-D buffer of length ``N * max(h_1, ..., h_L, out_dim)``.

The elementwise steps (bias, activation, tangent combination) are loops inside the three
kernels rather than helper functions: every compiled helper is one more Numba compilation
(and one more re-optimisation in each caller) on a cold start.

All arrays share one float dtype (float32 or float64) and are C-contiguous.
"""

import math

import numpy as np
from numba import types
from numba.extending import overload

from fasttrpo.foundation import tanh
from fasttrpo.foundation.heads import TANH
from fasttrpo.kernels import INTERNAL, kernel


@kernel(**INTERNAL)
def layer_params(params, layer_sizes, layer):
    """Return views ``(W, b)`` of layer ``layer`` inside the flat vector ``params``."""
    offset = 0
    for i in range(layer):
        offset += layer_sizes[i] * layer_sizes[i + 1] + layer_sizes[i + 1]
    fan_in = layer_sizes[layer]
    fan_out = layer_sizes[layer + 1]
    weight = params[offset : offset + fan_in * fan_out].reshape((fan_in, fan_out))
    bias = params[offset + fan_in * fan_out : offset + fan_in * fan_out + fan_out]
    return weight, bias


@kernel(**INTERNAL)
def hidden_block(buffer, layer_sizes, n_rows, hidden_index):
    """View ``(n_rows, h_k)`` of hidden layer ``k = hidden_index`` (1-based) in ``buffer``."""
    offset = 0
    for k in range(1, hidden_index):
        offset += n_rows * layer_sizes[k]
    width = layer_sizes[hidden_index]
    return buffer[offset : offset + n_rows * width].reshape((n_rows, width))


@kernel(**INTERNAL)
def latent_features(layout, obs, hidden):
    """View ``(N, Z)`` of the latent features ``z(s)``: the last hidden layer's activations.

    The input ``obs`` itself when the MLP has no hidden layer. gSDE's exploration noise is
    ``z(s) @ E`` (``fasttrpo.kernels.distributions``); ``hidden`` is the buffer ``forward``
    filled from ``obs``.
    """
    layer_sizes = layout.layer_sizes
    n_hidden = layer_sizes.shape[0] - 2
    if n_hidden == 0:
        return obs
    return hidden_block(hidden, layer_sizes, obs.shape[0], n_hidden)


def _tanh(x):
    # tanh|x| = (1 - e) / (1 + e) with e = exp(-2|x|) in (0, 1]: no overflow, absolute error
    # ~1 ulp, and the loop vectorises (math.tanh / np.tanh do not: llvmlite has no SVML), 4x
    e = math.exp(-2.0 * abs(x))
    magnitude = (1.0 - e) / (1.0 + e)
    return magnitude if x >= 0.0 else -magnitude


_F32 = np.float32


def _tanh_f32(x):
    # Eigen's float tanh (fasttrpo/foundation/tanh.py: its constants and form): pure float32
    # arithmetic, so the loop vectorises 8 wide (the exp form above costs ~4 ns an element,
    # this well under 1). The Cython acting forward runs the same (tanh_rational.pxi).
    bound = _F32(tanh.BOUND)
    x = min(max(x, -bound), bound)
    x2 = x * x
    p = x2 * _F32(tanh.P[0]) + _F32(tanh.P[1])
    p = x2 * p + _F32(tanh.P[2])
    p = x2 * p + _F32(tanh.P[3])
    p = x2 * p + _F32(tanh.P[4])
    p = x2 * p + _F32(tanh.P[5])
    p = x2 * p + _F32(tanh.P[6])
    q = x2 * _F32(tanh.Q[0]) + _F32(tanh.Q[1])
    q = x2 * q + _F32(tanh.Q[2])
    q = x2 * q + _F32(tanh.Q[3])
    return x * p / q


def fast_tanh(x):
    """Compute tanh in Numba kernels: the float32 rational form for float32, else the exp form."""
    return math.tanh(x)


@overload(fast_tanh, jit_options={"error_model": "numpy", **INTERNAL})
def _fast_tanh_typed(x):
    # chosen at compile time from the argument's type; the chosen (plain Python) function is
    # compiled as the implementation, one compilation per float type
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _tanh_f32
    return _tanh


@kernel
def forward(params, layout, obs, hidden, dact, out, row_start, row_stop):
    """Forward pass that caches every hidden activation and its derivative.

    On rows ``row_start:row_stop`` of the batch only (the whole batch: ``0, N``): rows are
    independent, so disjoint row blocks may run on different threads.

    Parameters
    ----------
    params : (P,) float, C-contiguous; only the MLP part is read.
    layout : KernelLayout (``layer_sizes``, ``activation``).
    obs : (N, in_dim) float, C-contiguous.
    hidden, dact : (N * sum(hidden sizes),) float; the rows' entries written.
    out : (N, out_dim) float; the rows written with the network output.
    row_start, row_stop : int, the rows.
    """
    layer_sizes = layout.layer_sizes
    n_total = obs.shape[0]
    n_rows = row_stop - row_start
    n_layers = layer_sizes.shape[0] - 1
    h_prev = obs[row_start:row_stop]
    for layer in range(n_layers):
        weight, bias = layer_params(params, layer_sizes, layer)
        if layer == n_layers - 1:
            rows_out = out[row_start:row_stop]
            np.dot(h_prev, weight, rows_out)  # out = h W + b
            for i in range(n_rows):
                for j in range(rows_out.shape[1]):
                    rows_out[i, j] += bias[j]
        else:
            z = hidden_block(hidden, layer_sizes, n_total, layer + 1)[row_start:row_stop]
            d_act = hidden_block(dact, layer_sizes, n_total, layer + 1)[row_start:row_stop]
            np.dot(h_prev, weight, z)
            # h = act(z + b) in place; dact = act'(z + b) from h alone
            for i in range(n_rows):
                for j in range(z.shape[1]):
                    pre = z[i, j] + bias[j]
                    if layout.activation == TANH:
                        h = fast_tanh(pre)
                        z[i, j] = h
                        d_act[i, j] = 1.0 - h * h
                    elif pre > 0.0:  # relu
                        z[i, j] = pre
                        d_act[i, j] = 1.0
                    else:
                        z[i, j] = 0.0
                        d_act[i, j] = 0.0
            h_prev = z


@kernel(**INTERNAL)
def jvp(params, layout, obs, hidden, dact, direction, tangent, scratch, dout, row_start,
        row_stop):
    """Forward-mode Jacobian-vector product ``dout = (d out / d theta) @ direction``.

    On rows ``row_start:row_stop`` of the batch only (the whole batch: ``0, N``): rows are
    independent, so disjoint row blocks may run on different threads. Uses the activations
    cached by ``forward``; ``direction`` (P,) has the layout of ``params`` (only its MLP part is
    read). ``dout``: (N, out_dim), its rows written. ``tangent`` holds the rows' hidden
    tangents afterwards; ``scratch`` is used from row ``row_start`` of its
    ``(N, max width)`` view. Tangent of layer ``l``:
    ``t_l = act'(z_l) * (h_{l-1} dW_l + t_{l-1} W_l + db_l)`` (no ``act'`` on the output layer,
    no ``t_{l-1}`` term on the input layer).
    """
    layer_sizes = layout.layer_sizes
    n_total = obs.shape[0]
    n_rows = row_stop - row_start
    scratch_start = row_start * (scratch.shape[0] // n_total)
    n_layers = layer_sizes.shape[0] - 1
    h_prev = obs[row_start:row_stop]
    t_prev = h_prev  # the input has no tangent; never read for layer 0
    for layer in range(n_layers):
        weight, _ = layer_params(params, layer_sizes, layer)
        d_weight, d_bias = layer_params(direction, layer_sizes, layer)
        last = layer == n_layers - 1
        if last:
            dz = dout[row_start:row_stop]
        else:
            dz = hidden_block(tangent, layer_sizes, n_total, layer + 1)[row_start:row_stop]
        width = dz.shape[1]
        np.dot(h_prev, d_weight, dz)  # dz = h_{l-1} dW_l
        if layer == 0:
            if last:
                for i in range(n_rows):  # dz = x dW + db
                    for j in range(width):
                        dz[i, j] += d_bias[j]
            else:
                # dh = act'(z) * (x dW + db): the input x carries no tangent
                d_act = hidden_block(dact, layer_sizes, n_total, layer + 1)[row_start:row_stop]
                for i in range(n_rows):
                    for j in range(width):
                        dz[i, j] = d_act[i, j] * (dz[i, j] + d_bias[j])
        else:
            lin = scratch[scratch_start : scratch_start + n_rows * width].reshape((n_rows, width))
            np.dot(t_prev, weight, lin)  # t_{l-1} W_l
            if last:
                for i in range(n_rows):  # dz = h dW + (t W + db)
                    for j in range(width):
                        dz[i, j] += lin[i, j] + d_bias[j]
            else:
                d_act = hidden_block(dact, layer_sizes, n_total, layer + 1)[row_start:row_stop]
                for i in range(n_rows):  # dh = act'(z) * (h dW + t W + db)
                    for j in range(width):
                        dz[i, j] = d_act[i, j] * (dz[i, j] + lin[i, j] + d_bias[j])
        if not last:
            h_prev = hidden_block(hidden, layer_sizes, n_total, layer + 1)[row_start:row_stop]
            t_prev = dz


@kernel
def vjp(params, layout, obs, hidden, dact, delta_out, tangent, grad, row_start, row_stop):
    """Backward pass ``grad = (d out / d theta)^T @ delta_out`` over rows ``row_start:row_stop``.

    ``delta_out``: (N, out_dim) cotangent of the output (already holding any 1/N factor), of
    which those rows are read; ``grad``: (P,) written on its MLP part only, with the sum over
    those rows (the whole batch: ``0, N``; a row block's partial sum otherwise). The rows of
    ``tangent`` are overwritten with the deltas.
    """
    layer_sizes = layout.layer_sizes
    n_total = obs.shape[0]
    n_rows = row_stop - row_start
    n_layers = layer_sizes.shape[0] - 1
    delta = delta_out[row_start:row_stop]
    for layer in range(n_layers - 1, -1, -1):
        weight, _ = layer_params(params, layer_sizes, layer)
        g_weight, g_bias = layer_params(grad, layer_sizes, layer)
        if layer == 0:
            h_prev = obs[row_start:row_stop]
        else:
            h_prev = hidden_block(hidden, layer_sizes, n_total, layer)[row_start:row_stop]
        np.dot(h_prev.T, delta, g_weight)  # dL/dW_l = h_{l-1}^T delta_l
        g_bias[:] = 0.0  # dL/db_l = sum_n delta_l[n, :]
        for i in range(n_rows):
            for j in range(delta.shape[1]):
                g_bias[j] += delta[i, j]
        if layer > 0:
            delta_prev = hidden_block(tangent, layer_sizes, n_total, layer)[row_start:row_stop]
            d_act = hidden_block(dact, layer_sizes, n_total, layer)[row_start:row_stop]
            np.dot(delta, weight.T, delta_prev)  # delta_{l-1} = (delta_l W_l^T) * act'(z_{l-1})
            for i in range(n_rows):
                for j in range(delta_prev.shape[1]):
                    delta_prev[i, j] *= d_act[i, j]
            delta = delta_prev
