"""Numba kernels: pure functions over C-contiguous arrays and scalars.

``mlp``: forward / JVP / VJP of an MLP over a flat parameter vector. ``distributions``:
output-distribution maths. ``policy``: surrogate gradient, Fisher-vector product and
line-search evaluation. ``cg``: conjugate gradient. ``value``: value-function loss.
"""
