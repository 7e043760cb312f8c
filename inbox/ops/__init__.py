"""The operations page (``/ops/``, staff only): the health of every channel's way in and out,
and replay of failed inbound events."""
