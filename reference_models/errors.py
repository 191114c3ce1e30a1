"""The errors of reference_models that a command reports to its user as a line and an exit code, not as a bug.

Anything else raised here (a plain ValueError included) is a bug of the harness. harness/commands/errors.py maps these two
to their exit codes, beside the harness's own.
"""


class InputError(ValueError):
    """A value given to the harness that cannot make a benchmark: a data directory, a forget set the data cannot hold,
    a model that does not fit the data, a device that is not here. The message names the value and what to give instead."""


class CacheDamaged(RuntimeError):
    """Files of the reference cache do not match its manifest (and rebuilding was not allowed), or its secret is not one."""
