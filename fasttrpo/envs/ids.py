"""fasttrpo's gymnasium env ids ("fasttrpo/..."): registered on first use.

``import fasttrpo.envs`` registers them (and imports the safety tasks); everything that takes
an env id calls `register_if_fasttrpo_id` first, so ``gym.make("fasttrpo/...")`` works
without that import and ``import fasttrpo`` stays light. The envs layer.
"""

__all__ = ["register_if_fasttrpo_id"]


def register_if_fasttrpo_id(env_id: str) -> None:
    """Register `fasttrpo.envs`' ids when ``env_id`` is one of them ("fasttrpo/...")."""
    if env_id.startswith("fasttrpo/"):
        import fasttrpo.envs  # noqa: F401 (importing registers the ids)
