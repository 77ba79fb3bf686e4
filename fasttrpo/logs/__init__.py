"""Logs and files: what a run writes and reads back.

The logger and its outputs (`logger`, `tensorboard`), the per-update log lines (`run_logs`),
sb3's Monitor files (`monitor`) and the model file format (`serialization`: JSON metadata and
arrays, nothing pickled). Imports the layers below (foundation to rollouts), never the
algorithms.
"""
