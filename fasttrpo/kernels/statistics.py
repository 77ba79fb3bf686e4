"""Running statistics (sb3's ``RunningMeanStd`` and ``VecNormalize``), compiled.

The one implementation: `fasttrpo.models.normalize` calls it from Python and the compiled
rollout (`fasttrpo.rollout.compiled`) from inside its kernel.

The arithmetic is numpy's, to the last bit, so statistics learnt by sb3 or by either sampler
transfer unchanged: a (B, D) batch's moments are column sums taken row by row (what
``np.add.reduce(axis=0)`` does), a vector's are numpy's pairwise sums (`pairwise_sum`, what
``np.add.reduce`` does on one contiguous axis), and `combine_moments` folds them in with the
parallel algorithm of Chan et al. in the order of ``RunningMeanStd.update_from_moments``.
Shapes: ``rows`` (B, D) float64, ``mean``, ``var`` (D,) float64, ``count`` (1,) float64,
``scratch`` (2, D) float64; all C-contiguous.
"""

import math

import numpy as np

from fasttrpo.kernels import kernel

__all__ = ["combine_moments", "normalize_row", "normalize_rows", "pairwise_sum",
           "update_row_stats", "update_vector_stats"]


@kernel
def block_sum(values, start, stop):
    # numpy's pairwise_sum for a block of at most 128 values: 8 running sums, then a tree
    n = stop - start
    if n < 8:
        total = 0.0
        for i in range(start, stop):
            total += values[i]
        return total
    partial = np.empty(8)
    for j in range(8):
        partial[j] = values[start + j]
    i = 8
    while i < n - n % 8:
        for j in range(8):
            partial[j] += values[start + i + j]
        i += 8
    total = ((partial[0] + partial[1]) + (partial[2] + partial[3])
             + ((partial[4] + partial[5]) + (partial[6] + partial[7])))
    for k in range(start + i, stop):
        total += values[k]
    return total


@kernel
def split_half(start, stop):
    half = (stop - start) // 2
    return start + half - half % 8


@kernel
def pairwise_sum(values):
    """``np.add.reduce(values)`` of a contiguous float64 vector, to the last bit.

    numpy sums blocks of up to 128 values with `block_sum` and halves longer ranges (at a
    multiple of 8), adding the halves' sums; that recursion is evaluated here with an
    explicit stack (Numba cannot cache recursive functions). The reward statistics use it,
    so they match ``fasttrpo.models.normalize``'s for any number of envs.
    """
    low, high = np.empty(64, np.int64), np.empty(64, np.int64)
    left_sum, left_done = np.empty(64), np.zeros(64, np.bool_)
    top = 0
    low[0], high[0] = 0, values.shape[0]
    while True:
        if high[top] - low[top] > 128:  # descend into the left half
            middle = split_half(low[top], high[top])
            top += 1
            low[top], high[top], left_done[top] = low[top - 1], middle, False
            continue
        value = block_sum(values, low[top], high[top])
        while True:  # climb: a finished left half starts its right sibling
            if top == 0:
                return value
            top -= 1
            if not left_done[top]:
                left_sum[top], left_done[top] = value, True
                middle = split_half(low[top], high[top])
                top += 1
                low[top], high[top], left_done[top] = middle, high[top - 1], False
                break
            value = left_sum[top] + value


@kernel
def combine_moments(mean, var, count, batch_mean, batch_var, n):
    """Fold a batch's ``(batch_mean, batch_var, n)`` into ``(mean, var, count[0])`` in place.

    Chan et al., in the order of sb3's ``RunningMeanStd.update_from_moments``; returns False,
    nothing changed, if the result would not be finite.
    """
    total = count[0] + n
    finite = True
    for j in range(mean.shape[0]):
        delta = batch_mean[j] - mean[j]
        new_var = (var[j] * count[0] + batch_var[j] * n
                   + delta * delta * count[0] * n / total) / total
        finite = finite and np.isfinite(new_var) and np.isfinite(mean[j] + delta * n / total)
    if not finite:
        return False
    for j in range(mean.shape[0]):
        delta = batch_mean[j] - mean[j]
        var[j] = (var[j] * count[0] + batch_var[j] * n
                  + delta * delta * count[0] * n / total) / total
        mean[j] = mean[j] + delta * n / total
    count[0] = total
    return True


@kernel
def update_row_stats(rows, mean, var, count, scratch):
    """``RunningMeanStd.update`` with the B rows of ``rows`` (B, D); ``scratch`` (2, D).

    Column sums row by row, as ``np.add.reduce(axis=0)``; afterwards ``scratch`` holds the
    batch's mean and variance. False, nothing changed, if the result would not be finite.
    """
    n_rows, dim = rows.shape
    batch_mean, batch_var = scratch[0], scratch[1]
    for j in range(dim):
        batch_mean[j] = rows[0, j]
    for i in range(1, n_rows):
        for j in range(dim):
            batch_mean[j] += rows[i, j]
    for j in range(dim):
        batch_mean[j] /= n_rows
        dev = rows[0, j] - batch_mean[j]
        batch_var[j] = dev * dev
    for i in range(1, n_rows):
        for j in range(dim):
            dev = rows[i, j] - batch_mean[j]
            batch_var[j] += dev * dev
    for j in range(dim):
        batch_var[j] /= n_rows
    return combine_moments(mean, var, count, batch_mean, batch_var, n_rows)


@kernel(inline="always")
def normalize_row(raw, row, mean, var, epsilon, clip, normalize, out, out_row):
    """Write ``clip((raw[row] - mean) / sqrt(var + eps), -clip, clip)`` to ``out[out_row]``.

    In float64, then out's dtype; a plain copy when not ``normalize``. 2-D arrays and row
    indices, not row views: a view costs reference counting per call.
    """
    for j in range(raw.shape[1]):
        if normalize:
            z = (raw[row, j] - mean[j]) / math.sqrt(var[j] + epsilon)
            out[out_row, j] = min(max(z, -clip), clip)
        else:
            out[out_row, j] = raw[row, j]


@kernel
def update_vector_stats(values, mean, var, count, scratch):
    """``RunningMeanStd.update`` of shape () with a vector of B samples ``values`` (B,).

    ``mean``, ``var``, ``count`` (1,); ``scratch`` (B,). False, nothing changed, if the
    result would not be finite.
    """
    n = values.shape[0]
    batch_mean = np.empty(1)
    batch_var = np.empty(1)
    batch_mean[0] = pairwise_sum(values) / n
    for i in range(n):
        dev = values[i] - batch_mean[0]
        scratch[i] = dev * dev
    batch_var[0] = pairwise_sum(scratch) / n
    if not np.isfinite(batch_var[0]):
        return False
    return combine_moments(mean, var, count, batch_mean, batch_var, n)


@kernel
def normalize_rows(obs, mean, std, clip, out):
    """``out = clip((obs - mean) / std, -clip, clip)`` row by row, in float64; (R, D) arrays."""
    n_rows, dim = obs.shape
    for i in range(n_rows):
        for j in range(dim):
            z = (obs[i, j] - mean[j]) / std[j]
            out[i, j] = min(max(z, -clip), clip)
