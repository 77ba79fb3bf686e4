"""Compiled (Cython) kernels: GAE and the rollout-time MLP forward pass."""
