"""The submission sandbox: the parent's worker processes, their isolation and limits, and the protocol between them.

`parent` starts and talks to sandbox workers; `worker` (run as
`python -m harness.sandbox.worker`) is the only module that imports
participant code; `isolation` and `limits` hold it in; `protocol` and
`weights` carry runs and their results across; `tracebacks` points at the
participant's line. Nothing is re-exported here, so the worker imports no
more than it needs.
"""
