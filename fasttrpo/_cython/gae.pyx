"""Generalized Advantage Estimation (GAE) over a time-major rollout batch.

Compiler directives (boundscheck, wraparound, ... ) are set once in setup.py.
"""

from cython cimport floating


cdef void _gae_core(
    const floating[:, ::1] rewards,
    const floating[:, ::1] values,
    const floating[:, ::1] next_values,
    const unsigned char[:, ::1] terminated,
    const unsigned char[:, ::1] dones,
    floating gamma,
    floating gae_lambda,
    floating[:, ::1] advantages_out,
    floating[:, ::1] returns_out,
) noexcept nogil:
    cdef Py_ssize_t T = rewards.shape[0]
    cdef Py_ssize_t E = rewards.shape[1]
    cdef Py_ssize_t t, e
    cdef floating gl = gamma * gae_lambda
    cdef floating delta, not_term, not_done, adv_next

    # Loop order: t outer (backwards), e inner. Arrays are (T, E) C-order, so the
    # inner loop walks one contiguous row of E elements per array, and the E
    # recursions are independent (no loop-carried dependency across e), which
    # lets the compiler vectorise it. The carry A_{t+1} is read back from row
    # t+1 of advantages_out (just written, still in cache), so no per-env scratch
    # is needed. With e outer, every access would stride by E elements and each
    # iteration would depend on the previous one.
    if T == 0:
        return
    for t in range(T - 1, -1, -1):
        for e in range(E):
            not_term = 1 - <floating>terminated[t, e]
            not_done = 1 - <floating>dones[t, e]
            # A_T = 0: nothing to carry past the end of the batch.
            if t == T - 1:
                adv_next = 0
            else:
                adv_next = advantages_out[t + 1, e]
            # delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
            delta = rewards[t, e] + gamma * not_term * next_values[t, e] - values[t, e]
            # A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
            advantages_out[t, e] = delta + gl * not_done * adv_next
            # value target: R_t = A_t + V(s_t)
            returns_out[t, e] = advantages_out[t, e] + values[t, e]


cdef _check_shape(name, Py_ssize_t r, Py_ssize_t c, Py_ssize_t T, Py_ssize_t E):
    if r != T or c != E:
        raise ValueError(
            f"{name} has shape ({r}, {c}), expected ({T}, {E}) like rewards"
        )


def compute_gae(
    const floating[:, ::1] rewards not None,
    const floating[:, ::1] values not None,
    const floating[:, ::1] next_values not None,
    const unsigned char[:, ::1] terminated not None,
    const unsigned char[:, ::1] dones not None,
    double gamma,
    double gae_lambda,
    floating[:, ::1] advantages_out not None,
    floating[:, ::1] returns_out not None,
):
    r"""GAE(gamma, lambda) advantages and value targets, written in place.

    Time-major layout: ``T`` steps of ``E`` parallel environments. For each env
    ``e``, backwards over ``t``:

    .. math::

        \delta_t &= r_t + \gamma (1 - \mathrm{term}_t) V'_t - V(s_t) \\
        A_t &= \delta_t + \gamma\lambda (1 - \mathrm{done}_t) A_{t+1},
            \quad A_T = 0 \\
        R_t &= A_t + V(s_t)

    where ``V'_t = next_values[t]`` is the value of the observation that
    followed step ``t``. Termination zeroes the bootstrap; truncation
    (``done`` but not ``term``) keeps it, bootstrapping from the final
    observation, and both cut the recursion.

    Parameters
    ----------
    rewards : ndarray of float32 or float64, shape (T, E), C-contiguous
        ``r_t``.
    values : ndarray, same dtype, shape (T, E), C-contiguous
        ``V(s_t)``.
    next_values : ndarray, same dtype, shape (T, E), C-contiguous
        Value of the observation that followed step ``t``: ``V(s_{t+1})``
        inside an episode, ``V(final observation)`` when the episode was
        truncated at ``t``, ignored when it terminated at ``t``, and
        ``V(last observation)`` in the last row of the batch.
    terminated : ndarray of uint8, shape (T, E), C-contiguous
        (a bool array is rejected by the buffer check: pass ``b.view(np.uint8)``).
        1 where the episode terminated at step ``t`` (true end: no bootstrap).
    dones : ndarray of uint8, shape (T, E), C-contiguous
        ``terminated | truncated``: 1 where the episode ended at step ``t``.
    gamma : float
        Discount factor.
    gae_lambda : float
        GAE lambda.
    advantages_out : ndarray, same dtype, shape (T, E), C-contiguous
        Output: ``A_t``.
    returns_out : ndarray, same dtype, shape (T, E), C-contiguous
        Output: ``A_t + V(s_t)``. Must not alias ``advantages_out``.

    Raises
    ------
    ValueError
        If an array's shape differs from ``rewards.shape`` (the message names
        the argument). Dtype/contiguity mismatches raise ``TypeError`` or
        ``ValueError`` from Cython's buffer checks.

    Notes
    -----
    Arithmetic is done in the arrays' dtype; ``gamma`` and ``gae_lambda`` are
    cast to it. The GIL is released during the computation.
    """
    cdef Py_ssize_t T = rewards.shape[0]
    cdef Py_ssize_t E = rewards.shape[1]
    _check_shape("values", values.shape[0], values.shape[1], T, E)
    _check_shape("next_values", next_values.shape[0], next_values.shape[1], T, E)
    _check_shape("terminated", terminated.shape[0], terminated.shape[1], T, E)
    _check_shape("dones", dones.shape[0], dones.shape[1], T, E)
    _check_shape(
        "advantages_out", advantages_out.shape[0], advantages_out.shape[1], T, E
    )
    _check_shape("returns_out", returns_out.shape[0], returns_out.shape[1], T, E)
    with nogil:
        _gae_core(
            rewards, values, next_values, terminated, dones,
            <floating>gamma, <floating>gae_lambda, advantages_out, returns_out,
        )
