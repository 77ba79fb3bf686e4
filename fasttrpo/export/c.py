"""C export: a self-contained C99 ``.c`` + ``.h`` pair computing the deterministic action.

The weights are ``static const float`` arrays; the code allocates nothing (stack buffers of
the widest layer) and needs only ``math.h`` (``tanhf``; link with ``-lm``). It computes what
``TRPO.predict(obs, deterministic=True)`` computes, in float32 (the normalisation in double,
as ``predict``), and writes every action component as a float:

* Box: the Gaussian mean clipped to the bounds, flattened row-major;
* Discrete: the class index plus the space's ``start`` (``1.0f`` for class 1);
* MultiDiscrete: one class index (plus ``start``) per sub-action;
* MultiBinary: ``0.0f`` / ``1.0f`` per bit (``logit > 0``).

Discrete and MultiDiscrete policies also get ``<name>_act_masked(obs, mask, action)``: the
first argmax over the valid classes only (``mask``: ``sum(nvec)`` bytes, 0 for an invalid
action, the sub-actions' masks concatenated, as ``predict``'s ``action_masks``);
``<name>_act`` is it with no mask.

Observations are read as floats: a Box observation flattened row-major, or for a Discrete
space one float holding the value (``2.0f``); it is one-hot encoded, and a value outside the
space encodes as all zeros.
"""

import functools
import json
import os
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fasttrpo.foundation.portable import write_atomically
from fasttrpo.runtime import Policy

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# the C standard library's headers: a policy header of one of these names would be included
# instead of the library's wherever its folder is on the include path (-I)
_STANDARD_HEADERS = frozenset({
    "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits",
    "locale", "math", "setjmp", "signal", "stdalign", "stdarg", "stdatomic", "stdbool",
    "stddef", "stdint", "stdio", "stdlib", "stdnoreturn", "string", "tgmath", "threads",
    "time", "uchar", "wchar", "wctype"})


def c_identifier(text: str) -> str:
    """Make a C identifier from ``text`` (a file stem): other characters become ``_``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text) or "policy"
    return name if not name[0].isdigit() else f"p_{name}"


def c_file_stem(text: str) -> str:
    """Make a file stem that ``#include "<stem>.h"`` can name and no standard header shadows.

    Characters other than letters, digits, ``_``, ``-`` and ``.`` become ``_`` (a quote or a
    backslash would end or escape the include's string), and the name of a C standard header
    (``math``, ``stdio``, ...) gets a ``_policy`` suffix.
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip(".") or "policy"
    return f"{stem}_policy" if stem.lower() in _STANDARD_HEADERS else stem


def _float_literal(value) -> str:
    """Shortest literal that reads back as the same float32 (``0.1f``, ``-1e-05f``)."""
    value = np.float32(value)
    if np.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    text = str(value)
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + "f"


def _double_literal(value) -> str:
    text = repr(float(value))
    return text if any(c in text for c in ".e") else text + ".0"


def _array(kind: str, name: str, values, literal, per_line: int = 8) -> str:
    values = np.asarray(values).reshape(-1)
    items = [literal(v) for v in values]
    lines = [", ".join(items[i: i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n    ".join(lines)
    return f"static const {kind} {name}[{len(items)}] = {{\n    {body}\n}};\n"


def _describe(space: dict, limit: int = 160) -> str:
    """JSON of a space for a comment; large Box bounds are left out."""
    text = json.dumps(space)
    if len(text) > limit:
        text = json.dumps({k: v for k, v in space.items() if k not in ("low", "high")})
    return text.replace("*/", "* /")


def _header(policy: Policy, name: str) -> str:
    guard = f"{name.upper()}_H"
    obs_size = policy.raw_obs_dim
    action_size = int(np.prod(policy.action_shape, dtype=np.int64))
    kind = policy.action_space["type"]
    encoding = {
        "Box": "the Gaussian mean clipped to the Box bounds, flattened row-major",
        "Discrete": "one float: the class index plus the space's start (1.0f = class 1)",
        "MultiDiscrete": "one float per sub-action: its class index plus the space's start",
        "MultiBinary": "one float per bit: 1.0f if its logit > 0, else 0.0f",
    }[kind]
    described = {"Discrete": "1 float, the Discrete value",
                 "MultiDiscrete": "{} floats, the MultiDiscrete values"}
    if policy.obs_segments:
        entries = [f"{segment.key} ("
                   + described.get(segment.kind, "{} floats").format(segment.raw_size) + ")"
                   for segment in policy.obs_segments]
        obs_text = ("the Dict entries in key order: " + ", ".join(entries)
                    + " (a Discrete value outside its space encodes as all zeros)")
    elif policy.observation_space["type"] == "MultiDiscrete":
        obs_text = (f"{obs_size} floats, the MultiDiscrete values (each one-hot encoded; a "
                    "value outside its component's classes encodes as all zeros)")
    elif obs_size == 1 and policy.observation_space["type"] == "Discrete":
        obs_text = ("one float holding the Discrete value (one-hot encoded; a value outside "
                    "the space encodes as all zeros)")
    else:
        obs_text = "the Box observation as floats, flattened row-major"
    sizes = " -> ".join(map(str, policy.layer_sizes))
    state_arg, state_doc, state_define, batch_doc = "", "", "", ""
    if policy.recurrent:  # the GRU's hidden state: read, then overwritten with the next one
        sizes += f" -> GRU({policy.gru_hidden_size}) -> {policy.out_dim}"
        state_arg, batch_doc = "float *state, ", f", state: n * {name.upper()}_STATE_SIZE floats"
        state_doc = (f"\n * state:  {name.upper()}_STATE_SIZE floats, the GRU's hidden state: "
                     "read, then\n *         replaced by the next one (set it to zeros at an "
                     "episode start).")
        state_define = (f"/* floats of the recurrent state per observation */\n"
                        f"#define {name.upper()}_STATE_SIZE {policy.gru_hidden_size}\n")
    masked_declaration = "" if kind not in ("Discrete", "MultiDiscrete") else f"""\
/* bytes read from mask per observation */
#define {name.upper()}_MASK_SIZE {int(policy.nvec.sum())}

/* {name}_act with an action mask: the most likely valid class of each sub-action.
 * mask: {name.upper()}_MASK_SIZE bytes, 0 for an invalid action (the sub-actions' masks
 * concatenated, as TRPO.predict's action_masks); NULL: no mask. Each sub-action needs a
 * valid class (else class 0 is written). */
void {name}_act_masked(const float *obs, {state_arg}const unsigned char *mask, float *action);

"""
    return f"""\
/* {name}.h: a fasttrpo policy ({sizes}, {policy.activation}, {policy.head} head), generated
 * by `fasttrpo export --format c`. Deterministic action, as TRPO.predict(obs,
 * deterministic=True). C99; the .c file needs only math.h (link with -lm).
 *
 * Observation space: {_describe(policy.observation_space)}
 * Action space: {_describe(policy.action_space)}
 */
#ifndef {guard}
#define {guard}

#ifdef __cplusplus
extern "C" {{
#endif

/* floats read from obs per observation */
#define {name.upper()}_OBS_SIZE {obs_size}
/* floats written to action per observation */
#define {name.upper()}_ACTION_SIZE {action_size}
{state_define}
/* Deterministic action for one observation.
 * obs:    {name.upper()}_OBS_SIZE floats, {obs_text}.{state_doc}
 * action: {name.upper()}_ACTION_SIZE floats, {encoding}.
 * Reentrant; no allocation. */
void {name}_act(const float *obs, {state_arg}float *action);

{masked_declaration}\
/* {name}_act on n observations stored one after another (obs: n * {name.upper()}_OBS_SIZE
 * floats, action: n * {name.upper()}_ACTION_SIZE floats{batch_doc}). */
void {name}_act_batch(const float *obs, {state_arg}float *action, long n);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""


def _source(policy: Policy, name: str) -> str:
    n_layers = len(policy.weights)
    widest = max(*policy.layer_sizes, policy.out_dim)
    state_arg, state = ("float *state, ", "state, ") if policy.recurrent else ("", "")
    parts = [(f'/* {name}.c: generated by fasttrpo; see {name}.h. Do not edit. */\n'
              f'#include <math.h>\n#include "{name}.h"\n\n')]
    for layer, (w, b) in enumerate(zip(policy.weights, policy.biases)):
        fan_in, fan_out = w.shape
        parts.append(f"/* layer {layer}: W ({fan_in}, {fan_out}) row-major, b ({fan_out},) */\n")
        parts.append(_array("float", f"{name}_w{layer}", w, _float_literal))
        parts.append(_array("float", f"{name}_b{layer}", b, _float_literal))
    if policy.recurrent:
        hid, out = policy.gru_hidden_size, policy.out_dim
        parts.append(f"/* GRU: W_hh ({hid}, {3 * hid}), b_hh; head: W_out ({hid}, {out}), "
                     "b_out */\n")
        for array, values in (("w_hh", policy.w_hh), ("b_hh", policy.b_hh),
                              ("w_out", policy.w_out), ("b_out", policy.b_out)):
            parts.append(_array("float", f"{name}_{array}", values, _float_literal))
    if policy.normalize_obs:
        parts.append("/* observation normalisation: clip((x - mean) / std, -clip, clip) */\n")
        parts.append(_array("double", f"{name}_obs_mean", policy.obs_mean, _double_literal, 4))
        parts.append(_array("double", f"{name}_obs_std", policy.obs_std, _double_literal, 4))
    kind = policy.action_space["type"]
    if kind == "Box":
        parts.append(_array("float", f"{name}_action_low", policy.action_low, _float_literal))
        parts.append(_array("float", f"{name}_action_high", policy.action_high, _float_literal))
    masked = kind in ("Discrete", "MultiDiscrete")
    signature = (f"{name}_act_masked(const float *obs, {state_arg}const unsigned char *mask, "
                 "float *action)" if masked else
                 f"{name}_act(const float *obs, {state_arg}float *action)")
    parts.append(f"""
void {signature}
{{
    float x[{widest}], y[{widest}];
    int i, j;
""")
    obs_dim = policy.obs_dim
    if policy.encoding_segments:  # Dict, MultiDiscrete: the flat layout into x, piecewise
        parts.append("    {  /* the observation's entries, in order */\n        long index;\n")
        raw_at = encoded_at = 0
        for segment in policy.encoding_segments:
            if segment.kind == "Discrete":
                parts.append(f"""\
        /* {segment.key}: one-hot of the Discrete value (start {segment.start}) */
        index = (long)obs[{raw_at}] - {segment.start}L;
        for (i = 0; i < {segment.encoded_size}; ++i) x[{encoded_at} + i] = 0.0f;
        if (index >= 0 && index < {segment.encoded_size}) x[{encoded_at} + index] = 1.0f;
""")
            else:
                parts.append(f"""        /* {segment.key}: {segment.raw_size} values */
        for (i = 0; i < {segment.raw_size}; ++i) x[{encoded_at} + i] = obs[{raw_at} + i];
""")
            raw_at += segment.raw_size
            encoded_at += segment.encoded_size
        parts.append("    }\n")
        source = "(double)x[i]"
    elif policy.observation_space["type"] == "Discrete":
        parts.append(f"""    {{  /* one-hot of the Discrete value (start {policy.obs_start}) */
        const long index = (long)obs[0] - {policy.obs_start}L;
        for (i = 0; i < {obs_dim}; ++i) x[i] = 0.0f;
        if (index >= 0 && index < {obs_dim}) x[index] = 1.0f;
    }}
""")
        source = "(double)x[i]"
    else:
        parts.append("" if policy.normalize_obs else
                     f"    for (i = 0; i < {obs_dim}; ++i) x[i] = obs[i];\n")
        source = "(double)obs[i]"
    if policy.normalize_obs:
        clip = _double_literal(policy.clip_obs)
        parts.append(f"""    for (i = 0; i < {obs_dim}; ++i) {{
        double z = ({source} - {name}_obs_mean[i]) / {name}_obs_std[i];
        if (z < -{clip}) z = -{clip};
        if (z > {clip}) z = {clip};
        x[i] = (float)z;
    }}
""")
    for layer, (w, _) in enumerate(zip(policy.weights, policy.biases)):
        # literal loop bounds let the compiler vectorise the inner loop (gcc -O2 too)
        fan_in, fan_out = w.shape
        hidden = layer < n_layers - 1
        if not hidden:
            post = "x[j] = y[j] + {b}[j];"
        elif policy.activation == "tanh":
            post = "x[j] = tanhf(y[j] + {b}[j]);"
        else:
            post = "{{ const float v = y[j] + {b}[j]; x[j] = v > 0.0f ? v : 0.0f; }}"
        post = post.format(b=f"{name}_b{layer}")
        formula = f"x W{layer} + b{layer}"
        formula = f"{policy.activation}({formula})" if hidden else formula
        parts.append(f"""    /* layer {layer}, {fan_in} -> {fan_out}: x = {formula} */
    for (j = 0; j < {fan_out}; ++j) y[j] = 0.0f;
    for (i = 0; i < {fan_in}; ++i) {{
        const float xi = x[i];
        const float *row = {name}_w{layer} + i * {fan_out};
        for (j = 0; j < {fan_out}; ++j) y[j] += xi * row[j];
    }}
    for (j = 0; j < {fan_out}; ++j) {post}
""")
    if policy.recurrent:
        parts.append(_gru_step(policy, name))
    out_dim = policy.out_dim
    if kind == "Box":
        parts.append(f"""    for (i = 0; i < {out_dim}; ++i) {{  /* clip to the Box bounds */
        float v = x[i];
        if (v < {name}_action_low[i]) v = {name}_action_low[i];
        if (v > {name}_action_high[i]) v = {name}_action_high[i];
        action[i] = v;
    }}
""")
    elif kind == "MultiBinary":
        parts.append(f"    for (i = 0; i < {out_dim}; ++i) "
                     "action[i] = x[i] > 0.0f ? 1.0f : 0.0f;\n")
    else:
        starts = np.atleast_1d(policy.action_start).tolist()
        offset = 0
        for j, n in enumerate(policy.nvec.tolist()):
            logits = f"{offset}..{offset + n - 1}"
            parts.append(f"""    {{  /* sub-action {j}: first argmax of valid logits {logits} */
        int best = -1;
        for (i = 0; i < {n}; ++i) {{
            if (mask && !mask[{offset} + i]) continue;
            if (best < 0 || x[{offset} + i] > x[{offset} + best]) best = i;
        }}
        if (best < 0) best = 0;  /* no valid class: the caller's error */
        action[{j}] = (float)(best + {starts[j]});
    }}
""")
            offset += n
    batch_state = (f"state + r * {name.upper()}_STATE_SIZE,\n                   "
                   if policy.recurrent else "")
    if masked:
        parts.append(f"""}}

void {name}_act(const float *obs, {state_arg}float *action)
{{
    {name}_act_masked(obs, {state}0, action);
""")
    parts.append(f"""}}

void {name}_act_batch(const float *obs, {state_arg}float *action, long n)
{{
    long r;
    for (r = 0; r < n; ++r)
        {name}_act(obs + r * {name.upper()}_OBS_SIZE, {batch_state}\
action + r * {name.upper()}_ACTION_SIZE);
}}
""")
    return "".join(parts)


def _gru_step(policy: Policy, name: str) -> str:
    """C of one GRU step from ``x = gi`` and ``state``, then the head into ``x``."""
    hid, out = policy.gru_hidden_size, policy.out_dim
    return f"""\
    {{  /* GRU: gh = h W_hh + b_hh; r = sig(gi_r + gh_r), z = sig(gi_z + gh_z),
        * n = tanh(gi_n + r gh_n); h' = n + z (h - n); then x = h' W_out + b_out */
        float gh[{3 * hid}], h[{hid}];
        for (j = 0; j < {3 * hid}; ++j) gh[j] = {name}_b_hh[j];
        for (i = 0; i < {hid}; ++i) {{
            const float hi = state[i];
            const float *row = {name}_w_hh + i * {3 * hid};
            for (j = 0; j < {3 * hid}; ++j) gh[j] += hi * row[j];
        }}
        for (j = 0; j < {hid}; ++j) {{
            const float r = 0.5f * (1.0f + tanhf(0.5f * (x[j] + gh[j])));
            const float z = 0.5f * (1.0f + tanhf(0.5f * (x[{hid} + j] + gh[{hid} + j])));
            const float n = tanhf(x[{2 * hid} + j] + r * gh[{2 * hid} + j]);
            h[j] = n + z * (state[j] - n);
        }}
        for (j = 0; j < {hid}; ++j) state[j] = h[j];
        for (j = 0; j < {out}; ++j) y[j] = 0.0f;
        for (i = 0; i < {hid}; ++i) {{
            const float hi = h[i];
            const float *row = {name}_w_out + i * {out};
            for (j = 0; j < {out}; ++j) y[j] += hi * row[j];
        }}
        for (j = 0; j < {out}; ++j) x[j] = y[j] + {name}_b_out[j];
    }}
"""


def to_c(policy: Policy, name: str = "policy") -> tuple[str, str]:
    """C99 source and header of ``policy``'s deterministic action.

    Parameters
    ----------
    policy : fasttrpo.runtime.Policy
    name : str, default "policy"
        A C identifier: the prefix of every symbol (``<name>_act``, ``<name>_act_batch``,
        ``<NAME>_OBS_SIZE``, ``<NAME>_ACTION_SIZE``) and the header's file name.

    Returns
    -------
    source, header : str
        The ``.c`` file (it includes ``"<name>.h"``) and the ``.h`` file.
    """
    if not _IDENTIFIER.match(name):
        raise ValueError(f"name: {name!r} is not a C identifier")
    return _source(policy, name), _header(policy, name)


def _write_utf8(handle: BinaryIO, text: str) -> None:
    handle.write(text.encode("utf-8"))


def export_c(policy: Policy, path: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Write ``<path>.c`` and ``<path>.h`` (a ``.c`` / ``.h`` suffix on ``path`` is dropped).

    Parameters
    ----------
    policy : fasttrpo.runtime.Policy
    path : str or os.PathLike
        The file name is made safe first (`c_file_stem`): ``build/my"policy`` writes
        ``build/my_policy.c``, ``build/math`` writes ``build/math_policy.c``.
    name : str, optional
        The symbol prefix (see `to_c`); by default the (safe) file stem made a C identifier.

    Returns
    -------
    list of pathlib.Path
        ``[source, header]``, the names actually written.
    """
    target = Path(os.fspath(path))
    if target.suffix in (".c", ".h"):
        target = target.with_suffix("")
    target = target.with_name(c_file_stem(target.name))
    name = c_identifier(target.name) if name is None else name
    source, header = to_c(policy, name)
    c_path, h_path = target.with_name(target.name + ".c"), target.with_name(target.name + ".h")
    if name != target.name:  # the source includes "<name>.h"
        source = source.replace(f'#include "{name}.h"', f'#include "{h_path.name}"', 1)
    for file, text in ((h_path, header), (c_path, source)):
        write_atomically(file, functools.partial(_write_utf8, text=text))
    return [c_path, h_path]
