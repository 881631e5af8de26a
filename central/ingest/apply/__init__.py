"""Applying a vetted, deduplicated batch: one module per message kind, listed in :mod:`.registry`."""
