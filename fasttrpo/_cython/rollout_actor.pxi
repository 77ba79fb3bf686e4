# RolloutActor: `act` with its arguments bound once per rollout (included by forward.pyx,
# whose `act`, `_act_each_row`, `_max_hidden` and `mlp_num_params` it uses).
cdef char* _address(array):
    # the data pointer of a C-contiguous numpy array (checked by the caller)
    return <char*><uintptr_t>array.__array_interface__["data"][0]


cdef class RolloutActor:
    """Acting through one rollout: one call per vector step (the gymnasium sampler's hot path).

    ``act(..., row_invariant=True)`` with its arguments bound once: checking and acquiring
    nine arrays costs more than the forward pass of a few rows, so the policy arrays, the
    observation rows and the batch's ``obs`` / ``actions`` are checked here, by `act`'s own
    checks, and held until the actor is dropped. The same bits as `act`.

    Parameters
    ----------
    params, layer_sizes, activation, head, nvec, work : as :func:`act` (``work`` sized for
        the E rows of ``obs_rows``). ``params`` is read at every step (updates show).
    obs_rows : (E, in_dim) array of the params dtype, C-contiguous
        The observations the envs act in, read at every step.
    batch_obs : (T, E, in_dim), batch_actions : (T, E, k), same dtype, C-contiguous
        A rollout's observation and action rows (`fasttrpo.rollout.RolloutBatch`).
    """

    cdef object _arrays  # the bound arrays, alive as long as the pointers below
    cdef bint _single
    cdef char* _params
    cdef const int64_t* _sizes
    cdef const int64_t* _nvec
    cdef char* _obs_rows
    cdef char* _batch_obs
    cdef char* _batch_actions
    cdef char* _work
    cdef char* _noise
    cdef Py_ssize_t _n_layers, _n_params, _k, _noise_width, _rows, _in_dim, _half, _out_dim
    cdef Py_ssize_t _steps, _draws, _itemsize
    cdef int _activation, _head

    def __init__(self, params, layer_sizes, int activation, int head, nvec, obs_rows,
                 batch_obs, batch_actions, work):
        import numpy as np
        arrays = [np.asarray(a) for a in (params, layer_sizes, obs_rows, batch_obs,
                                          batch_actions, work)]
        params, layer_sizes, obs_rows, batch_obs, batch_actions, work = arrays
        nvec = np.zeros(1, np.int64) if nvec is None else np.asarray(nvec)
        for name, array in (("batch_obs", batch_obs), ("batch_actions", batch_actions)):
            if array.dtype != params.dtype or not array.flags.c_contiguous or array.ndim != 3:
                raise ValueError(f"{name}: expected a C-contiguous (T, E, width) array of "
                                 f"{params.dtype}")
        if batch_obs.shape[1:] != obs_rows.shape or batch_actions.shape[:2] != batch_obs.shape[:2]:
            raise ValueError("batch_obs, batch_actions: shapes do not match obs_rows")
        # act's own checks of the policy arrays, the rows and the buffers (deterministic:
        # no noise yet; the actions go to a scratch copy)
        scratch = np.empty(batch_actions.shape[1:], dtype=params.dtype)
        act(params, layer_sizes, activation, head, nvec, obs_rows, None, scratch, work, True,
            True)
        self._arrays = (params, layer_sizes, nvec, obs_rows, batch_obs, batch_actions, work)
        self._single = params.dtype == np.float32
        self._itemsize = params.dtype.itemsize
        self._params = _address(params)
        self._sizes = <const int64_t*>_address(layer_sizes)
        self._nvec = <const int64_t*>_address(nvec)
        self._obs_rows = _address(obs_rows)
        self._batch_obs = _address(batch_obs)
        self._batch_actions = _address(batch_actions)
        self._work = _address(work)
        self._noise = NULL
        self._n_layers = layer_sizes.shape[0] - 1
        self._n_params = mlp_num_params(layer_sizes)
        self._activation, self._head = activation, head
        self._rows, self._in_dim = obs_rows.shape[0], obs_rows.shape[1]
        self._out_dim = layer_sizes[self._n_layers]
        self._k = batch_actions.shape[2]
        self._noise_width = (self._k * layer_sizes[self._n_layers - 1]
                             if head == _HEAD_GAUSSIAN_SDE else self._k)
        self._half = self._rows * _max_hidden(layer_sizes)
        self._steps = batch_obs.shape[0]
        self._draws = 0

    def set_noise(self, noise):
        """Act with ``noise`` (D, E, noise_width) of the params dtype, C-contiguous, from now on.

        Held until the next call; row ``draw`` of it is what `step` acts with.
        """
        import numpy as np
        noise = np.asarray(noise)
        if (noise.dtype.itemsize != self._itemsize or noise.dtype.kind != "f" or noise.ndim != 3
                or not noise.flags.c_contiguous
                or noise.shape[1:] != (self._rows, self._noise_width)):
            raise ValueError(f"noise: expected a C-contiguous (D, {self._rows}, "
                             f"{self._noise_width}) array of the params dtype")
        self._arrays = self._arrays[:7] + (noise,)
        self._noise = _address(noise) if noise.size else NULL
        self._draws = noise.shape[0]

    def step(self, Py_ssize_t t, Py_ssize_t draw, masks=None):
        """``batch_obs[t] = obs_rows``; ``batch_actions[t]`` = samples with noise row ``draw``.

        ``masks`` (optional): (E, out_dim) uint8 (or bool viewed as uint8), C-contiguous, the
        categorical head's action masks of the rows, as `act`'s ``mask``.
        """
        if not 0 <= t < self._steps or not 0 <= draw < self._draws:
            raise ValueError(f"step {t} / noise row {draw}: outside the rollout's {self._steps} "
                             f"steps / {self._draws} noise rows")
        cdef const uint8_t[:, ::1] mask_view
        cdef const uint8_t* mask_p = NULL
        if masks is not None:
            if self._head != _HEAD_CATEGORICAL:
                raise ValueError("masks: only the categorical head takes an action mask")
            mask_view = masks
            if mask_view.shape[0] != self._rows or mask_view.shape[1] != self._out_dim:
                raise ValueError(f"masks: expected shape ({self._rows}, {self._out_dim}), got "
                                 f"({mask_view.shape[0]}, {mask_view.shape[1]})")
            mask_p = &mask_view[0, 0]
        cdef Py_ssize_t row_bytes = self._rows * self._in_dim * self._itemsize
        cdef char* noise = self._noise + draw * self._rows * self._noise_width * self._itemsize
        cdef char* actions = self._batch_actions + t * self._rows * self._k * self._itemsize
        cdef Py_ssize_t net_out = 2 * self._half
        with nogil:
            memcpy(self._batch_obs + t * row_bytes, self._obs_rows, row_bytes)
            if self._single:
                _act_each_row(<const float*>self._params, self._sizes, self._n_layers,
                              self._activation, self._head, self._nvec, self._k,
                              self._n_params, <const float*>self._obs_rows,
                              <const float*>noise, self._noise_width, <float*>actions,
                              self._rows, <float*>self._work + net_out, <float*>self._work,
                              self._half, False, mask_p)
            else:
                _act_each_row(<const double*>self._params, self._sizes, self._n_layers,
                              self._activation, self._head, self._nvec, self._k,
                              self._n_params, <const double*>self._obs_rows,
                              <const double*>noise, self._noise_width, <double*>actions,
                              self._rows, <double*>self._work + net_out, <double*>self._work,
                              self._half, False, mask_p)
