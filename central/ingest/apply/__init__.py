"""Applying a vetted, deduplicated batch: one module per message kind, listed in :mod:`.registry`.

A handler's contract: ``apply(batch, entries)`` gets every message of its kind(s) in the batch, in
arrival order, inside the batch's one transaction (:class:`.context.Batch`). It writes its rows,
changes a camera's or website's state only through ``batch.transitions``
(``central/storage/transitions.py``: periods, events, what to republish), cleans every string from the
agent with ``central/storage/text.py``, and raises on anything it cannot store: the writer then
retries each message alone and quarantines the one that fails (``store_error``), so a handler never
swallows an error. It does not commit, acknowledge or stage public state; ``store.py`` does.
"""
