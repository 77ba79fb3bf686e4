r"""Action masks of the categorical head: the one check and the one masking rule.

An action mask says which actions are valid in a state, as sb3-contrib's ``MaskablePPO``
takes it: for ``Discrete(n)`` a row of ``n`` booleans; for ``MultiDiscrete(nvec)`` the
concatenation of one such row per sub-action, ``sum(nvec)`` booleans. The masked policy is
the softmax over the valid actions only:

.. math::

    \pi_m(a|s) = \frac{m_a e^{z_a}}{\sum_b m_b e^{z_b}}

computed by replacing the logits of invalid actions with `MASKED_LOGIT` before every use
(`mask_logits`): its exponential underflows to exactly 0 after the max-shift of a
log-sum-exp, so probabilities, log-likelihoods, entropy, KL and the Fisher
``diag(p) - p p^T`` are those of the renormalised softmax, and a replaced logit has no
gradient (the masked distribution does not depend on it). The models, the Cython acting
forward (which reads the same constant), the numpy runtime and the exporters all follow this
rule. Numpy and the standard library only (the runtime imports it).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MASKED_LOGIT", "MASK_INFO_KEY", "MASK_METHOD", "check_action_masks",
           "mask_logits"]

#: the env method that returns the current state's action mask (sb3-contrib's name)
MASK_METHOD = "action_masks"
#: the info key of an env that reports the mask of the state it returns in its info instead
MASK_INFO_KEY = "action_mask"

#: the logit an invalid action gets (sb3-contrib's ``MaskableCategorical`` uses -1e8 too):
#: finite, so ``0 * (log p - log q)`` stays 0 in a KL, and far enough below any real logit
#: that ``exp(MASKED_LOGIT - max)`` is 0 in float32 and float64
MASKED_LOGIT = -1e8


def check_action_masks(masks, nvec, n_rows: int, head: str = "categorical",
                       name: str = "action_masks") -> np.ndarray:
    """Validate action masks for ``n_rows`` states; return them as (n_rows, sum(nvec)) bool.

    Parameters
    ----------
    masks : array-like of bool or 0/1
        (n_rows, sum(nvec)), or (sum(nvec),) for a single state (``n_rows == 1``); for
        ``MultiDiscrete`` the per-sub-action masks concatenated (sb3-contrib's layout), also
        accepted as (n_rows, k, n) (one state: (k, n)) when every ``nvec`` entry is ``n``.
    nvec : sequence of int
        Classes per sub-action (``[n]`` for ``Discrete(n)``).
    n_rows : int
        The number of states the masks belong to.
    head : str
        The policy's head name; only ``"categorical"`` takes masks.
    name : str
        The argument named in errors.

    Returns
    -------
    (n_rows, sum(nvec)) C-contiguous bool array.

    Raises
    ------
    ValueError
        A mask for a head other than categorical (Box, MultiBinary actions), a wrong
        shape, values other than 0/1, or a state with no valid action in some sub-action;
        the message names the problem and the fix.
    """
    if head != "categorical":
        raise ValueError(f"{name}: action masks apply to Discrete and MultiDiscrete action "
                         f"spaces only; this policy's head is {head!r}: pass "
                         f"{name}=None (or use an env without action_masks())")
    nvec = np.asarray(nvec, dtype=np.int64).reshape(-1)
    width = int(nvec.sum())
    array = np.asarray(masks)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected booleans (or 0/1), got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[0] == n_rows and array.shape[1] * array.shape[2] == width \
            and (nvec == array.shape[2]).all():
        array = array.reshape(n_rows, width)
    elif n_rows == 1 and (array.ndim == 1 or (
            array.ndim == 2 and array.shape[0] * array.shape[1] == width
            and (nvec == array.shape[1]).all())):
        array = array.reshape(1, -1)
    if array.shape != (n_rows, width):
        raise ValueError(
            f"{name}: expected shape ({n_rows}, {width}) (one row per observation: "
            f"{' + '.join(map(str, nvec))} booleans, the sub-actions' masks concatenated), "
            f"got {array.shape}")
    if array.dtype.kind != "b":
        if not np.isin(array, (0, 1)).all():
            raise ValueError(f"{name}: expected booleans or 0/1, got other values")
        array = array.astype(bool)
    array = np.ascontiguousarray(array)
    start = 0
    for i, n in enumerate(nvec):
        empty = ~array[:, start:start + n].any(axis=1)
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            where = f"sub-action {i} of " if len(nvec) > 1 else ""
            raise ValueError(
                f"{name}: row {row} allows no action in {where}the action space (an all-False "
                "mask); every state needs at least one valid action: fix the env's "
                "action_masks() (or info['action_mask']) for that state")
        start += n
    return array


def mask_logits(logits: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
    """Set ``logits[n, j] = MASKED_LOGIT`` where ``masks[n, j]`` is False, in place.

    ``logits`` (N, sum(nvec)) float, ``masks`` (N, sum(nvec)) bool (`check_action_masks`) or
    None (nothing to do). Returns ``logits``.
    """
    if masks is not None:
        np.copyto(logits, MASKED_LOGIT, where=~masks)
    return logits
