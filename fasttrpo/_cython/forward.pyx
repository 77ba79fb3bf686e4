"""Batched MLP forward pass and action sampling for rollouts (no JIT needed).

Parameter layout (the project contract): a flat vector
``[W0, b0, W1, b1, ..., WL, bL]``; ``Wl`` has shape ``(fan_in, fan_out)``
stored row-major, ``bl`` has shape ``(fan_out,)``. Layer ``l`` computes
``h @ Wl + bl``; the activation follows every layer except the last. A
Gaussian policy appends ``log_std`` (``act_dim`` entries) after the MLP part;
a gSDE policy ``Z * act_dim`` or ``Z`` entries (``Z`` the last hidden size).

``layer_sizes`` is an int64 array ``[in_dim, h1, ..., out_dim]`` (length
``L + 2`` for ``L`` hidden layers). Activation and head codes are those of
``fasttrpo.foundation.heads`` (tanh 0, relu 1; Gaussian 0, categorical 1, Bernoulli 2,
gSDE 3).

Scratch buffer ``work`` (1-D, same dtype as ``params``), laid out as::

    [ ping: B * max_hidden | pong: B * max_hidden | net_out: B * out_dim ]

``ping``/``pong`` hold hidden activations alternately; ``net_out`` holds the
network output for :func:`act`. :func:`work_size` returns the total length.

Compiler directives (boundscheck, wraparound, ...) are set once in setup.py.
"""

from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf
from libc.stdint cimport int64_t, uint8_t, uintptr_t
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv

from fasttrpo.foundation import heads, masking
# The codes of fasttrpo.foundation.heads as C ints, assigned once at import, so nogil code reads them
cdef int _ACT_TANH = heads.TANH
cdef int _ACT_RELU = heads.RELU
cdef int _HEAD_GAUSSIAN = heads.GAUSSIAN
cdef int _HEAD_CATEGORICAL = heads.CATEGORICAL
cdef int _HEAD_BERNOULLI = heads.BERNOULLI
cdef int _HEAD_GAUSSIAN_SDE = heads.GAUSSIAN_SDE
# internal: the output layer applies no activation (bias only); activation codes are >= 0
cdef int _ACT_NONE = -1

cdef int _INT_MAX = 2147483647   # BLAS (LP64) dimensions are C ints
# the logit of an action an action mask rules out (fasttrpo.foundation.masking.MASKED_LOGIT)
cdef double _MASKED_LOGIT = masking.MASKED_LOGIT


# ---------------------------------------------------------------------------
# nogil cores
# ---------------------------------------------------------------------------

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


include "tanh_rational.pxi"  # Eigen's float tanh, generated from fasttrpo/foundation/tanh.py


cdef inline floating _tanh(floating x) noexcept nogil:
    cdef floating e, magnitude
    if floating is float:
        return _tanh_rational(x)
    # float64: tanh|x| = (1 - e) / (1 + e), e = exp(-2|x|): no overflow, ~1 ulp absolute
    e = _exp(-2 * (x if x >= 0 else -x))
    magnitude = (1 - e) / (1 + e)
    return magnitude if x >= 0 else -magnitude


cdef inline void _gemm_rowmajor(
    int n_rows, int n_in, int n_out,
    const floating* H, const floating* W, floating* C,
) noexcept nogil:
    # C = H @ W with H (n_rows, n_in), W (n_in, n_out), C (n_rows, n_out), all
    # row-major. BLAS is column-major, and a row-major (r, c) array read
    # column-major is its transpose, so compute C^T = W^T @ H^T:
    #   m = n_out, n = n_rows, k = n_in; A = W (lda = n_out),
    #   B = H (ldb = n_in), C (ldc = n_out), no transposes.
    cdef char trans = b'N'
    cdef floating one = 1
    cdef floating zero = 0
    if floating is float:
        sgemm(&trans, &trans, &n_out, &n_rows, &n_in, &one,
              <float*>W, &n_out, <float*>H, &n_in, &zero, C, &n_out)
    else:
        dgemm(&trans, &trans, &n_out, &n_rows, &n_in, &one,
              <double*>W, &n_out, <double*>H, &n_in, &zero, C, &n_out)


cdef inline void _gemv_rowmajor(
    int n_in, int n_out, const floating* h, const floating* W, floating* c,
) noexcept nogil:
    # c = h @ W for one row h (n_in,), W (n_in, n_out) row-major: read column-major, W is
    # W^T (n_out, n_in) with lda = n_out, so c = W^T h is gemv without transpose. A GEMM of
    # one row costs several times more on some OpenBLAS kernels (Haswell float32).
    cdef char trans = b'N'
    cdef floating one = 1
    cdef floating zero = 0
    cdef int inc = 1
    if floating is float:
        sgemv(&trans, &n_out, &n_in, &one, <float*>W, &n_out, <float*>h, &inc, &zero, c, &inc)
    else:
        dgemv(&trans, &n_out, &n_in, &one, <double*>W, &n_out, <double*>h, &inc, &zero, c,
              &inc)


cdef inline void _bias_activation(
    Py_ssize_t n_rows, Py_ssize_t n_out, floating* C, const floating* b,
    int activation,
) noexcept nogil:
    # C[r, :] = act(C[r, :] + b), in place (fused pass after the gemm).
    cdef Py_ssize_t r, j
    cdef floating v
    cdef floating* row
    for r in range(n_rows):
        row = C + r * n_out
        if activation == _ACT_TANH:
            for j in range(n_out):
                row[j] = _tanh(row[j] + b[j])
        elif activation == _ACT_RELU:
            for j in range(n_out):
                v = row[j] + b[j]
                row[j] = v if v > 0 else 0
        else:
            for j in range(n_out):
                row[j] = row[j] + b[j]


cdef void _mlp_core(
    const floating* params, const int64_t* sizes, Py_ssize_t n_layers,
    int activation, const floating* obs, Py_ssize_t n_rows, floating* out,
    floating* ping, floating* pong, bint gemv=False,
) noexcept nogil:
    # h_0 = obs; h_{l+1} = act(h_l @ W_l + b_l); out = h_L @ W_L + b_L.
    # gemv: one row (n_rows == 1) through BLAS's matrix-vector product.
    cdef Py_ssize_t l, off = 0, n_in, n_out
    cdef const floating* W
    cdef const floating* b
    cdef const floating* src = obs
    cdef floating* dst
    cdef int act
    if n_rows == 0:
        return
    for l in range(n_layers):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        W = params + off
        off += n_in * n_out
        b = params + off
        off += n_out
        if l == n_layers - 1:
            dst = out
            act = _ACT_NONE
        else:
            dst = ping if l % 2 == 0 else pong
            act = activation
        if gemv:
            _gemv_rowmajor(<int>n_in, <int>n_out, src, W, dst)
        else:
            _gemm_rowmajor(<int>n_rows, <int>n_in, <int>n_out, src, W, dst)
        _bias_activation(n_rows, n_out, dst, b, act)
        src = dst


cdef void _gaussian_sample(
    const floating* mean, const floating* log_std, const floating* noise,
    floating* actions, Py_ssize_t n_rows, Py_ssize_t act_dim, bint deterministic,
) noexcept nogil:
    # a = mu + exp(log_std) * eps,  eps ~ N(0, I) supplied by the caller;
    # a = mu when deterministic.
    cdef Py_ssize_t r, j, i
    for r in range(n_rows):
        for j in range(act_dim):
            i = r * act_dim + j
            if deterministic:
                actions[i] = mean[i]
            else:
                actions[i] = mean[i] + _exp(log_std[j]) * noise[i]


cdef void _sde_sample(
    const floating* mean, const floating* latent, const floating* explore,
    floating* actions, Py_ssize_t n_rows, Py_ssize_t latent_dim, Py_ssize_t act_dim,
    bint deterministic,
) noexcept nogil:
    # gSDE: a_j = mu_j + sum_i z_i E_ij, z the latent features (B, Z) and E row r's
    # exploration matrix (Z, act_dim) row-major, supplied by the caller already scaled by
    # std; a = mu when deterministic.
    cdef Py_ssize_t r, j, i
    cdef floating acc
    cdef const floating* z
    cdef const floating* e
    for r in range(n_rows):
        z = latent + r * latent_dim
        e = explore + r * latent_dim * act_dim
        for j in range(act_dim):
            if deterministic:
                actions[r * act_dim + j] = mean[r * act_dim + j]
            else:
                acc = 0
                for i in range(latent_dim):
                    acc += z[i] * e[i * act_dim + j]
                actions[r * act_dim + j] = mean[r * act_dim + j] + acc


cdef void _categorical_sample(
    floating* logits, const int64_t* nvec, Py_ssize_t k, Py_ssize_t out_dim,
    const floating* noise, floating* actions, Py_ssize_t n_rows,
    bint deterministic, const uint8_t* mask,
) noexcept nogil:
    # For each row r and sub-space j (logits z = logits[r, start:start + n_j]):
    #   mask (NULL: none): z_i <- MASKED_LOGIT where mask[r, start + i] == 0
    #   deterministic: a = argmax_i z_i (first maximum)
    #   else: p = softmax(z); a = min{ i : sum_{l <= i} p_l > u },  u ~ U[0, 1)
    # Overwrites ``logits`` with exp(z - max z) (it is scratch).
    cdef Py_ssize_t r, j, i, n, start, choice, last_pos
    cdef floating* z
    cdef floating m, tot, target, cum
    for r in range(n_rows):
        if mask != NULL:
            for i in range(out_dim):
                if mask[r * out_dim + i] == 0:
                    logits[r * out_dim + i] = <floating>_MASKED_LOGIT
        start = 0
        for j in range(k):
            n = nvec[j]
            z = logits + r * out_dim + start
            start += n
            # m = max_i z_i, argmax in `choice`
            m = z[0]
            choice = 0
            for i in range(1, n):
                if z[i] > m:
                    m = z[i]
                    choice = i
            if not deterministic:
                # unnormalised probabilities, stable: exp(z_i - max z) <= 1
                tot = 0
                last_pos = 0
                for i in range(n):
                    z[i] = _exp(z[i] - m)
                    tot += z[i]
                    if z[i] > 0:
                        last_pos = i
                # inverse CDF on the unnormalised scale: cum_i > u * sum(p).
                # Strict '>' never picks a zero-probability category; if
                # rounding leaves every cum_i <= u * tot (u close to 1), fall
                # back to the last category with positive probability.
                target = noise[r * k + j] * tot
                choice = last_pos
                cum = 0
                for i in range(n):
                    cum += z[i]
                    if cum > target:
                        choice = i
                        break
            actions[r * k + j] = <floating>choice


cdef void _bernoulli_sample(
    const floating* logits, const floating* noise, floating* actions,
    Py_ssize_t n_rows, Py_ssize_t k, bint deterministic,
) noexcept nogil:
    # deterministic: a = [z > 0];  else: a = [u < sigmoid(z)],  u ~ U[0, 1)
    cdef Py_ssize_t i
    cdef floating z, p, ez
    for i in range(n_rows * k):
        z = logits[i]
        if deterministic:
            actions[i] = 1 if z > 0 else 0
        else:
            # sigmoid(z) without overflow: exp of a non-positive number only
            if z >= 0:
                p = 1 / (1 + _exp(-z))
            else:
                ez = _exp(z)
                p = ez / (1 + ez)
            actions[i] = 1 if noise[i] < p else 0


# ---------------------------------------------------------------------------
# Python-facing shims (cheap shape checks, then release the GIL)
# ---------------------------------------------------------------------------

cdef Py_ssize_t _check_layer_sizes(const int64_t[::1] layer_sizes) except -1:
    """Validate layer_sizes; return the number of MLP parameters."""
    cdef Py_ssize_t i, n_params = 0
    if layer_sizes.shape[0] < 2:
        raise ValueError(
            "layer_sizes must have at least 2 entries [in_dim, ..., out_dim], "
            f"got {layer_sizes.shape[0]}"
        )
    for i in range(layer_sizes.shape[0]):
        if layer_sizes[i] < 1 or layer_sizes[i] > _INT_MAX:
            raise ValueError(
                f"layer_sizes[{i}] = {layer_sizes[i]} must be in [1, 2**31 - 1]"
            )
    for i in range(layer_sizes.shape[0] - 1):
        n_params += layer_sizes[i] * layer_sizes[i + 1] + layer_sizes[i + 1]
    return n_params


cdef Py_ssize_t _max_hidden(const int64_t[::1] layer_sizes):
    cdef Py_ssize_t i, m = 0
    for i in range(1, layer_sizes.shape[0] - 1):
        if layer_sizes[i] > m:
            m = layer_sizes[i]
    return m


def mlp_num_params(layer_sizes):
    """Number of MLP parameters ``sum_l fan_in_l * fan_out_l + fan_out_l``.

    Parameters
    ----------
    layer_sizes : array-like of int, shape (L + 2,)
        ``[in_dim, h1, ..., out_dim]``.

    Returns
    -------
    int
    """
    # (no negative indices: wraparound is off module-wide)
    sizes = [int(s) for s in layer_sizes]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def work_size(layer_sizes, Py_ssize_t batch):
    """Length of the ``work`` buffer needed by :func:`mlp_forward` and :func:`act`.

    ``2 * batch * max(hidden sizes) + batch * out_dim`` (``max`` of no hidden
    layers is 0). :func:`mlp_forward` only uses the first
    ``2 * batch * max(hidden sizes)`` entries.

    Parameters
    ----------
    layer_sizes : array-like of int, shape (L + 2,)
        ``[in_dim, h1, ..., out_dim]``.
    batch : int
        Number of rows ``B`` to be processed per call.

    Returns
    -------
    int
    """
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2:
        raise ValueError("layer_sizes must have at least 2 entries")
    if batch < 0:
        raise ValueError(f"batch must be >= 0, got {batch}")
    n = len(sizes)
    max_hidden = max(sizes[1:n - 1], default=0)
    return 2 * batch * max_hidden + batch * sizes[n - 1]


cdef int _check_common(
    const floating[::1] params, const int64_t[::1] layer_sizes,
    Py_ssize_t n_params, const floating[:, ::1] obs, Py_ssize_t B,
) except -1:
    if B > _INT_MAX:
        raise ValueError(f"obs has {B} rows; at most 2**31 - 1 supported")
    if params.shape[0] < n_params:
        raise ValueError(
            f"params has length {params.shape[0]}, the MLP with layer_sizes "
            f"{list(layer_sizes)} needs >= {n_params}"
        )
    if obs.shape[1] != layer_sizes[0]:
        raise ValueError(
            f"obs has {obs.shape[1]} columns, expected in_dim = {layer_sizes[0]}"
        )
    return 0


cdef int _check_activation(int activation) except -1:
    if activation != _ACT_TANH and activation != _ACT_RELU:
        raise ValueError(
            f"activation must be {_ACT_TANH} (tanh) or {_ACT_RELU} (relu), got {activation}"
        )
    return 0


cdef int _check_2d(name, Py_ssize_t r, Py_ssize_t c, Py_ssize_t B, Py_ssize_t k) except -1:
    if r != B or c != k:
        raise ValueError(f"{name} has shape ({r}, {c}), expected ({B}, {k})")
    return 0


def mlp_forward(
    const floating[::1] params not None,
    const int64_t[::1] layer_sizes not None,
    int activation,
    const floating[:, ::1] obs not None,
    floating[:, ::1] out not None,
    floating[::1] work not None,
):
    """Batched MLP forward pass, ``out = f(obs)``, written in place.

    Hidden layer: ``h <- act(h @ W + b)``; output layer: ``out = h @ W + b``.
    The products use BLAS ``sgemm``/``dgemm``; the bias add and activation are
    fused in one pass after each product. Allocates nothing; releases the GIL.

    Parameters
    ----------
    params : ndarray of float32 or float64, shape (P,), C-contiguous
        ``[W0, b0, ..., WL, bL, (extra)]``; only the first
        ``mlp_num_params(layer_sizes)`` entries are read (P may be larger,
        e.g. a Gaussian policy's trailing ``log_std``).
    layer_sizes : ndarray of int64, shape (L + 2,), C-contiguous
        ``[in_dim, h1, ..., out_dim]``, every entry >= 1.
    activation : int
        ``fasttrpo.foundation.heads.TANH`` or ``RELU`` (after every layer but the last).
    obs : ndarray, same dtype as params, shape (B, in_dim), C-contiguous
        Input batch.
    out : ndarray, same dtype, shape (B, out_dim), C-contiguous
        Output: network output (e.g. Gaussian mean or logits).
    work : ndarray, same dtype, shape (W,), C-contiguous
        Scratch, ``W >= 2 * B * max(hidden sizes)``;
        ``work_size(layer_sizes, B)`` always suffices. Must not overlap
        ``obs`` or ``out``.

    Raises
    ------
    ValueError
        On any shape mismatch or invalid code (the message names the argument).
    """
    cdef Py_ssize_t n_params = _check_layer_sizes(layer_sizes)
    cdef Py_ssize_t n_layers = layer_sizes.shape[0] - 1
    cdef Py_ssize_t B = obs.shape[0]
    cdef Py_ssize_t half = B * _max_hidden(layer_sizes)
    cdef floating* ping
    cdef floating* pong
    _check_activation(activation)
    _check_common(params, layer_sizes, n_params, obs, B)
    if out.shape[0] != B or out.shape[1] != layer_sizes[n_layers]:
        raise ValueError(
            f"out has shape ({out.shape[0]}, {out.shape[1]}), "
            f"expected ({B}, {layer_sizes[n_layers]})"
        )
    if work.shape[0] < 2 * half:
        raise ValueError(f"work has length {work.shape[0]}, need >= {2 * half}")
    if B == 0:
        return
    # ping/pong are unused (and work may be empty) when there is no hidden layer
    ping = &work[0] if half > 0 else NULL
    pong = &work[half] if half > 0 else NULL
    with nogil:
        _mlp_core(&params[0], &layer_sizes[0], n_layers, activation, &obs[0, 0],
                  B, &out[0, 0], ping, pong)


cdef void _act_rows(
    const floating* params, const int64_t* sizes, Py_ssize_t n_layers, int activation,
    int head, const int64_t* nvec, Py_ssize_t k, Py_ssize_t n_params, const floating* obs,
    const floating* noise, floating* actions, Py_ssize_t n_rows, floating* net_out,
    floating* ping, floating* pong, const floating* latent, bint deterministic,
    const uint8_t* mask, bint one_row=False,
) noexcept nogil:
    # net_out = MLP(obs): mean or logits, (n_rows, out_dim) row-major; then the head;
    # one_row: n_rows == 1 through gemv (the row-invariant path)
    cdef Py_ssize_t out_dim = sizes[n_layers]
    _mlp_core(params, sizes, n_layers, activation, obs, n_rows, net_out, ping, pong,
              one_row)
    if head == _HEAD_GAUSSIAN:
        _gaussian_sample(net_out, params + n_params, noise, actions, n_rows, out_dim,
                         deterministic)
    elif head == _HEAD_GAUSSIAN_SDE:
        _sde_sample(net_out, latent, noise, actions, n_rows, sizes[n_layers - 1], out_dim,
                    deterministic)
    elif head == _HEAD_CATEGORICAL:
        _categorical_sample(net_out, nvec, k, out_dim, noise, actions, n_rows,
                            deterministic, mask)
    else:
        _bernoulli_sample(net_out, noise, actions, n_rows, k, deterministic)


def act(
    const floating[::1] params not None,
    const int64_t[::1] layer_sizes not None,
    int activation,
    int head,
    const int64_t[::1] nvec,
    const floating[:, ::1] obs not None,
    const floating[:, ::1] noise,
    floating[:, ::1] actions_out not None,
    floating[::1] work not None,
    bint deterministic=False,
    bint row_invariant=False,
    const uint8_t[:, ::1] mask=None,
):
    r"""Sample actions from an MLP policy: forward pass plus distribution head.

    Runs the MLP forward pass (as :func:`mlp_forward`) into the ``net_out``
    region of ``work`` and turns the network output into actions. All
    randomness comes from ``noise``, drawn by the caller (so one numpy
    Generator seeds everything). Allocates nothing; releases the GIL.

    Heads:

    - ``GAUSSIAN``, diagonal Gaussian. Network output = mean (B, act_dim);
      ``log_std`` = the last ``act_dim`` entries of ``params``, so
      ``len(params) == mlp_num_params(layer_sizes) + act_dim``.
      ``noise`` ~ N(0, 1), shape (B, act_dim).
      :math:`a = \mu + e^{\log\sigma} \epsilon`; deterministic: :math:`a = \mu`.
    - ``GAUSSIAN_SDE``, gSDE. Network output = mean (B, act_dim); the latent
      features ``z`` (B, Z) are the last hidden layer (``obs`` without hidden
      layers); ``params`` ends with ``Z * act_dim`` or ``Z`` ``log_std`` entries
      (unread). ``noise``: one exploration matrix ``E`` (Z, act_dim), row-major
      and scaled by ``std``, per row: shape (B, Z * act_dim).
      :math:`a = \mu + z E`; deterministic: :math:`a = \mu`.
    - ``CATEGORICAL``, categorical / multi-categorical. Network output = concatenated
      logits of ``k = len(nvec)`` sub-spaces, ``out_dim == sum(nvec)``.
      ``noise`` ~ U[0, 1), shape (B, k). Inverse-CDF sample of
      ``softmax(logits - max)``: :math:`a = \min\{i: \sum_{l \le i} p_l > u\}`;
      deterministic: argmax (first maximum).
    - ``BERNOULLI`` (MultiBinary). Network output = ``k = out_dim`` logits.
      ``noise`` ~ U[0, 1), shape (B, k). :math:`a = [u < \sigma(z)]`;
      deterministic: :math:`a = [z > 0]`.

    Parameters
    ----------
    params : ndarray of float32 or float64, shape (P,), C-contiguous
        Flat parameters (layout in the module docstring).
    layer_sizes : ndarray of int64, shape (L + 2,), C-contiguous
        ``[in_dim, h1, ..., out_dim]``.
    activation : int
        ``fasttrpo.foundation.heads.TANH`` or ``RELU``.
    head : int
        ``fasttrpo.foundation.heads.GAUSSIAN``, ``CATEGORICAL`` or ``BERNOULLI``.
    nvec : ndarray of int64, shape (k,), C-contiguous, or None
        Sub-space sizes for the categorical head (``[n]`` for a plain
        Discrete(n)), each >= 1; ignored (may be None) for the other heads.
    obs : ndarray, same dtype as params, shape (B, in_dim), C-contiguous
        Observations.
    noise : ndarray, same dtype, shape (B, act_dim), (B, Z * act_dim) or (B, k),
        C-contiguous, or None
        Caller-drawn noise (see heads above); ignored (may be None) when
        ``deterministic``.
    actions_out : ndarray, same dtype, shape (B, act_dim) or (B, k), C-contiguous
        Output actions. Heads 1 and 2 write integral values (category index,
        or 0/1) as floats; the caller casts.
    work : ndarray, same dtype, shape (W,), C-contiguous
        Scratch, ``W >= work_size(layer_sizes, B)``; must not overlap the
        other arrays.
    deterministic : bool, default False
        Return the mode instead of a sample.
    row_invariant : bool, default False
        Run the forward pass one row at a time, so that each row's actions are
        the same bits whatever the other rows and their number are. BLAS picks
        its kernels by the matrix sizes, and a GEMM over ``B`` rows rounds a row
        differently for different ``B`` (measured: OpenBLAS's Haswell float32
        kernels for most ``B`` < 64); the samplers set this so that envs split
        over workers act exactly as in one process. Costs one BLAS gemv per
        row and layer (measured at 8 rows of a 64x64 float32 MLP: ~5 us instead
        of ~4 us).
    mask : ndarray of uint8 (or bool viewed as uint8), shape (B, out_dim),
        C-contiguous, or None
        Categorical head only: the action mask, 0 where an action is invalid.
        Those logits become ``MASKED_LOGIT`` (``fasttrpo.foundation.masking``)
        before sampling, so they are never drawn (probability 0) nor chosen as
        the mode. The caller checks that every sub-space keeps a valid action.

    Raises
    ------
    ValueError
        On any shape mismatch or invalid code (the message names the argument).
    """
    cdef Py_ssize_t n_params = _check_layer_sizes(layer_sizes)
    cdef Py_ssize_t n_layers = layer_sizes.shape[0] - 1
    cdef Py_ssize_t out_dim = layer_sizes[n_layers]
    cdef Py_ssize_t B = obs.shape[0]
    cdef Py_ssize_t half = B * _max_hidden(layer_sizes)
    cdef Py_ssize_t k, j, r, total, noise_width
    cdef Py_ssize_t latent_dim = layer_sizes[n_layers - 1]
    cdef floating* net_out
    cdef const floating* latent = NULL
    cdef const floating* noise_p = NULL
    cdef const int64_t* nvec_p = NULL
    cdef const uint8_t* mask_p = NULL

    _check_activation(activation)
    _check_common(params, layer_sizes, n_params, obs, B)
    if head == _HEAD_GAUSSIAN:
        k = out_dim
        if params.shape[0] != n_params + out_dim:
            raise ValueError(
                f"params has length {params.shape[0]}; a Gaussian head needs "
                f"MLP ({n_params}) + log_std ({out_dim}) = {n_params + out_dim}"
            )
    elif head == _HEAD_CATEGORICAL:
        if nvec is None:
            raise ValueError("nvec is required for the categorical head")
        k = nvec.shape[0]
        if k < 1:
            raise ValueError("nvec must have at least one entry")
        total = 0
        for j in range(k):
            if nvec[j] < 1:
                raise ValueError(f"nvec[{j}] = {nvec[j]} must be >= 1")
            total += nvec[j]
        if total != out_dim:
            raise ValueError(f"sum(nvec) = {total} must equal out_dim = {out_dim}")
        nvec_p = &nvec[0]
    elif head == _HEAD_BERNOULLI:
        k = out_dim
    elif head == _HEAD_GAUSSIAN_SDE:
        k = out_dim
        if (params.shape[0] != n_params + latent_dim * out_dim
                and params.shape[0] != n_params + latent_dim):
            raise ValueError(
                f"params has length {params.shape[0]}; a gSDE head needs MLP ({n_params}) + "
                f"log_std ({latent_dim * out_dim} or {latent_dim})"
            )
    else:
        raise ValueError(
            f"head must be {_HEAD_GAUSSIAN}, {_HEAD_CATEGORICAL}, {_HEAD_BERNOULLI} or "
            f"{_HEAD_GAUSSIAN_SDE}, got {head}"
        )
    noise_width = latent_dim * out_dim if head == _HEAD_GAUSSIAN_SDE else k

    _check_2d("actions_out", actions_out.shape[0], actions_out.shape[1], B, k)
    if not deterministic:
        if noise is None:
            raise ValueError("noise is required unless deterministic=True")
        _check_2d("noise", noise.shape[0], noise.shape[1], B, noise_width)
    if work.shape[0] < 2 * half + B * out_dim:
        raise ValueError(
            f"work has length {work.shape[0]}, need >= {2 * half + B * out_dim}"
        )
    if mask is not None:
        if head != _HEAD_CATEGORICAL:
            raise ValueError("mask: only the categorical head takes an action mask")
        _check_2d("mask", mask.shape[0], mask.shape[1], B, out_dim)
    if B == 0:
        return
    if mask is not None:
        mask_p = &mask[0, 0]
    if not deterministic:
        noise_p = &noise[0, 0]
    net_out = &work[2 * half]
    # the last hidden layer (layer n_layers - 2) is written to ping when its index is even
    if n_layers == 1:
        latent = &obs[0, 0]
    elif (n_layers - 2) % 2 == 0:
        latent = &work[0]
    else:
        latent = &work[half]

    with nogil:
        if not row_invariant:
            _act_rows(&params[0], &layer_sizes[0], n_layers, activation, head, nvec_p, k,
                      n_params, &obs[0, 0], noise_p, &actions_out[0, 0], B, net_out,
                      &work[0], &work[half], latent, deterministic, mask_p)
        else:
            _act_each_row(&params[0], &layer_sizes[0], n_layers, activation, head, nvec_p, k,
                          n_params, &obs[0, 0], noise_p, noise_width, &actions_out[0, 0], B,
                          net_out, &work[0], half, deterministic, mask_p)


cdef void _act_each_row(
    const floating* params, const int64_t* sizes, Py_ssize_t n_layers, int activation,
    int head, const int64_t* nvec, Py_ssize_t k, Py_ssize_t n_params, const floating* obs,
    const floating* noise, Py_ssize_t noise_width, floating* actions, Py_ssize_t n_rows,
    floating* net_out, floating* work, Py_ssize_t half, bint deterministic,
    const uint8_t* mask,
) noexcept nogil:
    # act's row_invariant path: one row per call; the ping-pong buffers (work, work + half)
    # hold one row, and the latent features of a row are where a one-row pass leaves them;
    # mask (NULL: none) holds out_dim values per row
    cdef Py_ssize_t r, in_dim = sizes[0], out_dim = sizes[n_layers]
    cdef const floating* latent
    cdef const floating* noise_row = NULL
    if n_layers == 1:
        latent = NULL  # the observation row itself, set per row below
    elif (n_layers - 2) % 2 == 0:
        latent = work
    else:
        latent = work + half
    for r in range(n_rows):
        if not deterministic:
            noise_row = noise + r * noise_width
        _act_rows(params, sizes, n_layers, activation, head, nvec, k, n_params,
                  obs + r * in_dim, noise_row,
                  actions + r * k, 1, net_out + r * out_dim, work, work + half,
                  obs + r * in_dim if n_layers == 1 else latent, deterministic,
                  NULL if mask == NULL else mask + r * out_dim, True)



# RolloutActor: act() bound for a rollout (the gymnasium sampler's per-step call), in a file
# of its own so that this module stays readable; it needs the fused cores above
include "rollout_actor.pxi"
