"""Compiled per-step work of the navigation tasks: sensors, pseudo-lidar, distances, costs.

One Numba kernel, `observe`, reads ``MjData``'s arrays after ``mj_forward`` and writes the
observation (the robot's observed sensors, then the goal's, hazards' and vases' lidar) and the
scalars the reward and costs need; no Python object is made per step.
"""

import math

from fasttrpo.envs.navigation.robots import SENSOR_QUAT2MAT
from fasttrpo.envs.navigation.world import (
    HAZARD_COST,
    HAZARD_SIZE,
    LIDAR_BINS,
    VASE_VELOCITY_COST,
    VASE_VELOCITY_THRESHOLD,
)
from fasttrpo.kernels import kernel

__all__ = ["agent_contacts", "circle_reward", "clip_into", "count_contacts", "observe",
           "observe_groups", "quat2mat", "read_sensors"]


@kernel(inline="always")
def quat2mat(q, out, off):
    """Write the rotation matrix of quaternion ``q[0:4]`` (w, x, y, z) to ``out[off:off + 9]``.

    Row-major; MuJoCo's ``mju_quat2Mat`` (safety-gymnasium's ``quat2mat``), its identity
    fast path included.
    """
    if q[0] == 1.0 and q[1] == 0.0 and q[2] == 0.0 and q[3] == 0.0:
        for i in range(9):
            out[off + i] = 0.0
        out[off], out[off + 4], out[off + 8] = 1.0, 1.0, 1.0
        return
    q00, q01, q02, q03 = q[0] * q[0], q[0] * q[1], q[0] * q[2], q[0] * q[3]
    q11, q12, q13 = q[1] * q[1], q[1] * q[2], q[1] * q[3]
    q22, q23, q33 = q[2] * q[2], q[2] * q[3], q[3] * q[3]
    out[off] = q00 + q11 - q22 - q33
    out[off + 4] = q00 - q11 + q22 - q33
    out[off + 8] = q00 - q11 - q22 + q33
    out[off + 1] = 2.0 * (q12 - q03)
    out[off + 2] = 2.0 * (q13 + q02)
    out[off + 3] = 2.0 * (q12 + q03)
    out[off + 5] = 2.0 * (q23 - q01)
    out[off + 6] = 2.0 * (q13 - q02)
    out[off + 7] = 2.0 * (q23 + q01)


@kernel(inline="always")
def _lidar_point(agent, mat, px, py, out, off, max_dist, exp_gain):
    """Add one object at world ``(px, py)`` to the 16-bin pseudo-lidar ``out[off:off + 16]``.

    safety-gymnasium's ``_obs_lidar_pseudo`` with aliasing: the egocentric XY of the object
    (its Z taken as 0), its bin by angle, ``max(0, max_dist - d) / max_dist`` (``max_dist <=
    0``: ``exp(-exp_gain d)``) kept as a maximum in the bin and, weighted by the position in
    the bin, in both neighbours.
    """
    two_pi = 2.0 * math.pi
    bin_size = two_pi / LIDAR_BINS
    wx, wy, wz = px - agent[0], py - agent[1], -agent[2]
    ex = wx * mat[0] + wy * mat[3] + wz * mat[6]
    ey = wx * mat[1] + wy * mat[4] + wz * mat[7]
    dist = math.sqrt(ex * ex + ey * ey)
    angle = math.atan2(ey, ex)
    if angle < 0.0:
        angle += two_pi
    if angle >= two_pi:  # a tiny negative angle rounds up to 2 pi: the same direction as 0
        angle -= two_pi
    b = int(angle / bin_size)
    if max_dist > 0.0:
        sensor = max(0.0, max_dist - dist) / max_dist
    else:
        sensor = math.exp(-exp_gain * dist)
    out[off + b] = max(out[off + b], sensor)
    alias = (angle - bin_size * b) / bin_size
    bp, bm = off + (b + 1) % LIDAR_BINS, off + (b - 1) % LIDAR_BINS
    out[bp] = max(out[bp], alias * sensor)
    out[bm] = max(out[bm], (1.0 - alias) * sensor)


@kernel(inline="always")
def read_sensors(sensordata, sensor_plan, obs):
    """Write the observed sensors to ``obs[:n]`` and return ``n`` (see `observe`)."""
    off = 0
    for s in range(sensor_plan.shape[0]):
        adr, dim = sensor_plan[s, 0], sensor_plan[s, 1]
        if sensor_plan[s, 2] == SENSOR_QUAT2MAT:
            quat2mat(sensordata[adr:adr + 4], obs, off)
            off += 9
        else:
            for i in range(dim):
                obs[off + i] = sensordata[adr + i]
            off += dim
    return off


@kernel
def observe_groups(sensordata, xpos, xmat, sensor_plan, agent_body, lidar_bodies, lidar_ptr,
                   lidar_blank, goal_body, hazard_body, n_hazards, hazard_size, max_dist,
                   exp_gain, obs, scalars):
    """Fill the observation of any task: sensors, then one lidar per object kind.

    Parameters
    ----------
    sensordata, xpos, xmat, sensor_plan, agent_body, max_dist, exp_gain
        As in `observe`.
    lidar_bodies : ndarray of int64, shape (n_bodies,)
        The body ids each lidar sees, the kinds one after the other in observation order.
    lidar_ptr : ndarray of int64, shape (n_kinds + 1,)
        Kind ``k`` is ``lidar_bodies[lidar_ptr[k]:lidar_ptr[k + 1]]`` and its lidar is
        ``obs[n_sensor_obs + 16 k:][:16]``.
    lidar_blank : ndarray of bool, shape (n_kinds,)
        Kinds whose lidar reads all zeros this step (the buttons while their timer runs).
    goal_body, hazard_body, n_hazards : int
        The body whose XY distance goes to ``scalars[0]`` (-1: none) and the hazards
        (consecutive from ``hazard_body``) whose cost goes to ``scalars[1]``.
    hazard_size : float
        The hazards' radius.
    obs : ndarray, shape (n_sensor_obs + 16 n_kinds,)
    scalars : ndarray, shape (2,)
        Written: XY distance to ``goal_body``; ``sum (size - d)`` over the hazards within
        their radius.
    """
    off = read_sensors(sensordata, sensor_plan, obs)
    for i in range(off, obs.shape[0]):
        obs[i] = 0.0
    agent = xpos[agent_body]
    mat = xmat[agent_body]
    for k in range(lidar_ptr.shape[0] - 1):
        if not lidar_blank[k]:
            for j in range(lidar_ptr[k], lidar_ptr[k + 1]):
                b = lidar_bodies[j]
                _lidar_point(agent, mat, xpos[b, 0], xpos[b, 1], obs, off, max_dist, exp_gain)
        off += LIDAR_BINS
    if goal_body >= 0:
        scalars[0] = math.sqrt((xpos[goal_body, 0] - agent[0]) ** 2
                               + (xpos[goal_body, 1] - agent[1]) ** 2)
    hazard_cost = 0.0
    for h in range(hazard_body, hazard_body + n_hazards):
        d = math.sqrt((xpos[h, 0] - agent[0]) ** 2 + (xpos[h, 1] - agent[1]) ** 2)
        if d <= hazard_size:
            hazard_cost += HAZARD_COST * (hazard_size - d)
    scalars[1] = hazard_cost


@kernel
def observe(sensordata, xpos, xmat, qvel, sensor_plan, agent_body, goal_body, hazard_body,
            n_hazards, vase_body, n_vases, vase_dof, max_dist, exp_gain, obs, scalars):
    """Fill the observation and the distances and raw costs of one step.

    Parameters
    ----------
    sensordata, qvel : ndarray, shape (nsensordata,) and (nv,)
        ``MjData`` arrays after ``mj_forward``.
    xpos : ndarray, shape (nbody, 3)
    xmat : ndarray, shape (nbody, 9)
    sensor_plan : ndarray of int64, shape (n_observed, 3)
        Per observed sensor, in observation order: its ``sensordata`` address, its dimension
        and how it is observed (``SENSOR_COPY``: as is; ``SENSOR_QUAT2MAT``: 9 floats).
    agent_body, goal_body, hazard_body, vase_body : int
        Body ids (hazards and vases consecutive from their first id).
    n_hazards, n_vases : int
    vase_dof : int
        The first vase's first dof; vase ``i``'s linear velocity is ``qvel[vase_dof + 6 i:][:3]``.
    max_dist, exp_gain : float
        Lidar range (``<= 0``: exponential falloff with gain ``exp_gain``).
    obs : ndarray, shape (n_sensor_obs + 16 (1 + (n_hazards > 0) + (n_vases > 0)),)
        Written: the sensor values, then the goal's, hazards' and vases' lidar.
    scalars : ndarray, shape (3,)
        Written: XY distance to the goal, ``sum (0.2 - d)`` over the hazards within 0.2 and
        the summed speed of the vases moving at ``>= 1e-4`` m/s.
    """
    off = 0
    for s in range(sensor_plan.shape[0]):
        adr, dim = sensor_plan[s, 0], sensor_plan[s, 1]
        if sensor_plan[s, 2] == SENSOR_QUAT2MAT:
            quat2mat(sensordata[adr:adr + 4], obs, off)
            off += 9
        else:
            for i in range(dim):
                obs[off + i] = sensordata[adr + i]
            off += dim
    for i in range(off, obs.shape[0]):
        obs[i] = 0.0
    agent = xpos[agent_body]
    mat = xmat[agent_body]
    gx, gy = xpos[goal_body, 0], xpos[goal_body, 1]
    _lidar_point(agent, mat, gx, gy, obs, off, max_dist, exp_gain)
    scalars[0] = math.sqrt((gx - agent[0]) ** 2 + (gy - agent[1]) ** 2)
    off += LIDAR_BINS
    hazard_cost = 0.0
    for h in range(hazard_body, hazard_body + n_hazards):
        hx, hy = xpos[h, 0], xpos[h, 1]
        _lidar_point(agent, mat, hx, hy, obs, off, max_dist, exp_gain)
        d = math.sqrt((hx - agent[0]) ** 2 + (hy - agent[1]) ** 2)
        if d <= HAZARD_SIZE:
            hazard_cost += HAZARD_COST * (HAZARD_SIZE - d)
    scalars[1] = hazard_cost
    if n_hazards > 0:
        off += LIDAR_BINS
    speed = 0.0
    for v in range(n_vases):
        _lidar_point(agent, mat, xpos[vase_body + v, 0], xpos[vase_body + v, 1], obs, off,
                     max_dist, exp_gain)
        a = vase_dof + 6 * v
        s = math.sqrt(qvel[a] ** 2 + qvel[a + 1] ** 2 + qvel[a + 2] ** 2)
        if s >= VASE_VELOCITY_THRESHOLD:
            speed += VASE_VELOCITY_COST * s
    scalars[2] = speed


@kernel
def count_contacts(pairs, geom_kind, kind_a, kind_b):
    """Count the contacts between a geom of kind ``kind_a`` and one of kind ``kind_b``.

    Parameters
    ----------
    pairs : ndarray of int32, shape (ncon, 2)
        ``MjData.contact.geom`` (a strided view is fine).
    geom_kind : ndarray of int8, shape (ngeom,)
        A kind per geom id (0: none of interest).
    kind_a, kind_b : int

    Returns
    -------
    int
        ``sum_c 1[{kind(g1), kind(g2)} = {kind_a, kind_b}]``.
    """
    n = 0
    for c in range(pairs.shape[0]):
        k1, k2 = geom_kind[pairs[c, 0]], geom_kind[pairs[c, 1]]
        if (k1 == kind_a and k2 == kind_b) or (k1 == kind_b and k2 == kind_a):
            n += 1
    return n


@kernel
def agent_contacts(pairs, geom_kind, agent_kind, counts):
    """Count the contacts of an ``agent_kind`` geom with each other kind, into ``counts``.

    ``counts[k] = sum_c 1[{kind(g1), kind(g2)} = {agent_kind, k}]`` for ``k != agent_kind``
    (``pairs``, ``geom_kind`` as in `count_contacts`; ``counts`` of shape (n_kinds,) is
    zeroed first).
    """
    for k in range(counts.shape[0]):
        counts[k] = 0
    for c in range(pairs.shape[0]):
        k1, k2 = geom_kind[pairs[c, 0]], geom_kind[pairs[c, 1]]
        if k1 == agent_kind and k2 != agent_kind:
            counts[k2] += 1
        elif k2 == agent_kind and k1 != agent_kind:
            counts[k1] += 1


@kernel
def circle_reward(xpos, cvel, subtree_com, body, root, radius, factor):
    """Return the Circle task's reward for the robot body ``body`` (root body ``root``).

    ``factor ((-u y + v x) / r) / (1 + |r - radius|)`` with ``(x, y)`` the body's position,
    ``r`` its distance to the origin and ``(u, v)`` the velocity of its origin: MuJoCo's
    ``cvel = (w, v_c)`` is the body's spatial velocity at ``subtree_com[root]``, so
    ``v = v_c + w x (xpos - subtree_com[root])`` (``mj_objectVelocity``; safety-gymnasium's
    ``jacp @ qvel``).
    """
    rx = xpos[body, 0] - subtree_com[root, 0]
    ry = xpos[body, 1] - subtree_com[root, 1]
    rz = xpos[body, 2] - subtree_com[root, 2]
    wx, wy, wz = cvel[body, 0], cvel[body, 1], cvel[body, 2]
    u = cvel[body, 3] + wy * rz - wz * ry
    v = cvel[body, 4] + wz * rx - wx * rz
    x, y = xpos[body, 0], xpos[body, 1]
    r = math.sqrt(x * x + y * y)
    return ((-u * y + v * x) / r) / (1.0 + abs(r - radius)) * factor


@kernel
def clip_into(action, low, high, ctrl):
    """``ctrl[:] = clip(action, low, high)`` (``np.clip`` with ``out``; ~1 us less a call)."""
    for i in range(ctrl.shape[0]):
        ctrl[i] = min(max(action[i], low[i]), high[i])
