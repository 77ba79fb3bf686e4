"""ONNX export: one graph from an observation batch to the deterministic action.

The graph is built with the ``onnx`` package (no torch). Needs the ``export`` extra:
``pip install "fasttrpo[export]"``.

The graph computes what ``TRPO.predict(obs, deterministic=True)`` computes:

* input ``obs``: float32 ``(batch, *obs_shape)`` for a Box observation space, int64
  ``(batch,)`` for a Discrete one (one-hot encoded in the graph by a ``Gather`` from an
  identity matrix; values must lie in the space), float32 ``(batch, raw_obs_dim)`` for a
  Dict one: its entries in key order in the flat layout of
  ``fasttrpo.runtime.Policy.flatten_obs`` (a Discrete entry as one value, one-hot encoded in
  the graph);
* observation normalisation ``clip((x - mean) / std, -clip_obs, clip_obs)`` in float64, with
  the frozen statistics, as ``predict`` does;
* the MLP (``MatMul``, ``Add``, ``Tanh`` / ``Relu``) in float32 (a float64 policy is rounded
  to float32);
* output ``action``: Box means clipped to the bounds (``Max`` / ``Min``) in the space's dtype
  and shape; int64 class indices (first maximum, plus the space's ``start``) of shape
  ``(batch,)`` for Discrete and ``(batch, k)`` for MultiDiscrete; int8 ``logit > 0`` for
  MultiBinary;
* Discrete and MultiDiscrete: a second, optional input ``action_mask``, bool
  ``(batch, sum(nvec))`` (the sub-actions' masks concatenated, as ``predict``'s
  ``action_masks``); invalid actions' logits become ``MASKED_LOGIT`` (``Where``) before the
  argmax. Its default (an initializer of the same name, one all-True row that broadcasts)
  masks nothing, so feeding ``obs`` alone still works.
* a recurrent policy (``policy.recurrent``): the MLP is the encoder (its output
  ``gi = enc(x)``), then one GRU step (PyTorch's equations, gates r, z, n) from the input
  ``state`` float32 ``(batch, H)`` (default: one zero row that broadcasts, an episode
  start), then the head; the next state is the second output ``state_out`` ``(batch, H)``:
  feed it back as ``state`` (zero the rows whose episode starts), as ``predict``'s state.
"""

import os
from pathlib import Path

import numpy as np

from fasttrpo.foundation.masking import MASKED_LOGIT
from fasttrpo.runtime import FORMAT_VERSION, Policy

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17: readable by onnxruntime >= 1.13


def _require_onnx():
    try:
        import onnx
    except ImportError as err:
        raise ImportError('ONNX export needs the onnx package: pip install "fasttrpo[export]" '
                          "(or pip install onnx)") from err
    return onnx


class _GraphBuilder:
    """Collects nodes and initialisers with unique names."""

    def __init__(self, onnx) -> None:
        self.onnx = onnx
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self._name(prefix)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        output = output or self._name(op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [output], **attrs))
        return output


def _gru_step(g: _GraphBuilder, policy: Policy, gi: str) -> str:
    """One GRU step from the input ``state``: the next state, written to ``state_out``.

    ``gh = h W_hh + b_hh``; ``r = sig(gi_r + gh_r)``, ``z = sig(gi_z + gh_z)``,
    ``n = tanh(gi_n + r gh_n)``; ``h' = n + z (h - n)``.
    """
    f32, hid = np.float32, policy.gru_hidden_size
    gh = g.op("Add", [g.op("MatMul", ["state", g.const("W_hh", policy.w_hh.astype(f32))]),
                      g.const("b_hh", policy.b_hh.astype(f32))])

    def gate(source: str, k: int) -> str:
        return g.op("Slice", [source, g.const("starts", np.array([k * hid])),
                              g.const("ends", np.array([(k + 1) * hid])),
                              g.const("axes", np.array([1]))])

    r = g.op("Sigmoid", [g.op("Add", [gate(gi, 0), gate(gh, 0)])])
    z = g.op("Sigmoid", [g.op("Add", [gate(gi, 1), gate(gh, 1)])])
    n = g.op("Tanh", [g.op("Add", [gate(gi, 2), g.op("Mul", [r, gate(gh, 2)])])])
    return g.op("Add", [n, g.op("Mul", [z, g.op("Sub", ["state", n])])], output="state_out")


def to_onnx(policy: Policy, name: str = "fasttrpo_policy"):
    """Build the ONNX model of ``policy``'s deterministic action.

    Parameters
    ----------
    policy : fasttrpo.runtime.Policy
    name : str, default "fasttrpo_policy"
        The graph name.

    Returns
    -------
    onnx.ModelProto
        Opset 17, IR version 8; checked with ``onnx.checker``. Input ``obs``, output
        ``action`` (module docstring).
    """
    onnx = _require_onnx()
    helper, tensor = onnx.helper, onnx.TensorProto
    g = _GraphBuilder(onnx)
    f32 = np.float32

    # ---- observation -> encoded rows (N, obs_dim) -------------------------------------
    discrete_obs = policy.observation_space["type"] == "Discrete"
    norm = policy.normalize_obs
    if policy.encoding_segments:  # Dict, MultiDiscrete: the flat layout, encoded piecewise
        obs_input = helper.make_tensor_value_info("obs", tensor.FLOAT,
                                                  ["batch", policy.raw_obs_dim])
        pieces, at = [], 0
        for segment in policy.encoding_segments:
            piece = g.op("Slice", ["obs", g.const("start", np.array([at])),
                                   g.const("end", np.array([at + segment.raw_size])),
                                   g.const("axis", np.array([1]))])
            if segment.kind == "Discrete":  # one-hot: a row of the identity matrix
                index = g.op("Reshape", [g.op("Cast", [piece], to=tensor.INT64),
                                         g.const("rows", np.array([-1]))])
                if segment.start:
                    index = g.op("Sub", [index, g.const("start", np.array(segment.start))])
                table = np.eye(segment.encoded_size, dtype=np.float64 if norm else f32)
                piece = g.op("Gather", [g.const("one_hot_table", table), index], axis=0)
            elif norm:
                piece = g.op("Cast", [piece], to=tensor.DOUBLE)
            pieces.append(piece)
            at += segment.raw_size
        x = g.op("Concat", pieces, axis=1)
    elif discrete_obs:
        obs_input = helper.make_tensor_value_info("obs", tensor.INT64, ["batch"])
        index = "obs"
        if policy.obs_start:
            index = g.op("Sub", ["obs", g.const("obs_start", np.array(policy.obs_start))])
        table = np.eye(policy.obs_dim, dtype=np.float64 if norm else f32)
        x = g.op("Gather", [g.const("one_hot_table", table), index], axis=0)
    else:
        assert policy.obs_shape is not None  # None only for Dict observations (segments)
        obs_input = helper.make_tensor_value_info("obs", tensor.FLOAT,
                                                  ["batch", *policy.obs_shape])
        x = "obs"
        if policy.obs_shape != (policy.obs_dim,):
            x = g.op("Reshape", [x, g.const("obs_rows", np.array([-1, policy.obs_dim]))])
        if norm:
            x = g.op("Cast", [x], to=tensor.DOUBLE)
    if norm:
        # z = clip((x - mean) / std, -clip_obs, clip_obs), in float64 as predict does
        assert policy.obs_mean is not None and policy.obs_std is not None
        x = g.op("Sub", [x, g.const("obs_mean", policy.obs_mean)])
        x = g.op("Div", [x, g.const("obs_std", policy.obs_std)])
        x = g.op("Clip", [x, g.const("clip_low", np.array(-policy.clip_obs)),
                          g.const("clip_high", np.array(policy.clip_obs))])
        x = g.op("Cast", [x], to=tensor.FLOAT)

    # ---- MLP: h = act(h W + b) on hidden layers, linear output --------------------------
    last = len(policy.weights) - 1
    for layer, (w, b) in enumerate(zip(policy.weights, policy.biases)):
        x = g.op("MatMul", [x, g.const(f"W{layer}", w.astype(f32))])
        x = g.op("Add", [x, g.const(f"b{layer}", b.astype(f32))])
        if layer < last:
            x = g.op("Tanh" if policy.activation == "tanh" else "Relu", [x])
    recurrent_inputs, recurrent_outputs = [], []
    if policy.recurrent:  # x = gi; one GRU step, then the head h' W_out + b_out
        hid = policy.gru_hidden_size
        recurrent_inputs.append(helper.make_tensor_value_info("state", tensor.FLOAT,
                                                              ["state_rows", hid]))
        g.initializers.append(onnx.numpy_helper.from_array(np.zeros((1, hid), dtype=f32),
                                                           "state"))
        x = _gru_step(g, policy, x)
        recurrent_outputs.append(helper.make_tensor_value_info("state_out", tensor.FLOAT,
                                                               ["batch", hid]))
        x = g.op("Add", [g.op("MatMul", [x, g.const("W_out", policy.w_out.astype(f32))]),
                         g.const("b_out", policy.b_out.astype(f32))])

    # ---- head -> action -----------------------------------------------------------------
    kind = policy.action_space["type"]
    batch_shape = ["batch", *policy.action_shape]
    if kind == "Box":
        dtype = policy.action_dtype
        elem = helper.np_dtype_to_tensor_dtype(dtype)
        if dtype != f32:
            x = g.op("Cast", [x], to=elem)
        # clip(a, low, high); Clip takes scalar bounds only, Max / Min broadcast per column
        if np.isfinite(policy.action_low.reshape(-1)).any():
            x = g.op("Max", [x, g.const("action_low", policy.action_low.reshape(-1))])
        if np.isfinite(policy.action_high.reshape(-1)).any():
            x = g.op("Min", [x, g.const("action_high", policy.action_high.reshape(-1))])
    elif kind == "MultiBinary":
        elem = tensor.INT8
        x = g.op("Greater", [x, g.const("zero", np.zeros(1, dtype=f32))])
        x = g.op("Cast", [x], to=elem)
    else:
        elem = tensor.INT64
        width = int(policy.nvec.sum())
        mask_input = helper.make_tensor_value_info("action_mask", tensor.BOOL,
                                                   ["mask_rows", width])
        # the input's default: one all-True row (broadcast over the batch), no masking
        g.initializers.append(onnx.numpy_helper.from_array(np.ones((1, width), dtype=bool),
                                                           "action_mask"))
        x = g.op("Where", ["action_mask", x, g.const("masked_logit",
                                                     np.array(MASKED_LOGIT, dtype=f32))])
        columns = []
        start = 0
        for n in policy.nvec.tolist():
            block = x
            if n != policy.out_dim:
                block = g.op("Slice", [x, g.const("starts", np.array([start])),
                                       g.const("ends", np.array([start + n])),
                                       g.const("axes", np.array([1]))])
            start += n
            # first maximum, as numpy's argmax
            columns.append(g.op("ArgMax", [block], axis=1, keepdims=int(kind != "Discrete"),
                                select_last_index=0))
        x = columns[0] if len(columns) == 1 else g.op("Concat", columns, axis=1)
        offset = policy.action_start if kind == "MultiDiscrete" else policy.action_start[0]
        if np.any(offset):
            x = g.op("Add", [x, g.const("action_start", np.asarray(offset, dtype=np.int64))])
    if kind in ("Box", "MultiBinary") and len(policy.action_shape) != 1:
        x = g.op("Reshape", [x, g.const("action_shape", np.array([-1, *policy.action_shape]))])
    g.op("Identity", [x], output="action")
    action_output = helper.make_tensor_value_info("action", elem, batch_shape)

    inputs = [obs_input] if kind in ("Box", "MultiBinary") else [obs_input, mask_input]
    graph = helper.make_graph(g.nodes, name, inputs + recurrent_inputs,
                              [action_output, *recurrent_outputs], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fasttrpo", ir_version=IR_VERSION)
    model.doc_string = (f"fasttrpo policy {' -> '.join(map(str, policy.layer_sizes))} "
                        f"{policy.activation}, {policy.head} head: deterministic action")
    helper.set_model_props(model, {"fasttrpo_policy_format_version": str(FORMAT_VERSION),
                                   "observation_space": str(policy.observation_space),
                                   "action_space": str(policy.action_space)})
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(policy: Policy, path: str | os.PathLike, name: str = "fasttrpo_policy") -> Path:
    """Write the ONNX model of ``policy`` (see `to_onnx`) to ``path``.

    Parameters
    ----------
    policy : fasttrpo.runtime.Policy
    path : str or os.PathLike
        ".onnx" is appended when it has no suffix.
    name : str
        The graph name.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    target = Path(os.fspath(path))
    if target.suffix == "":
        target = target.with_name(target.name + ".onnx")
    model = to_onnx(policy, name=name)
    target.write_bytes(model.SerializeToString())
    return target
