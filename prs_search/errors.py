"""The project's error types.

Everything a user can cause (bad input, missing data, an unreachable database or cluster) is raised
as a `PRSError` with a message that says what went wrong and what to do; the CLI turns it into one
line and exit code 2, the API into a 4xx JSON body.
"""


class PRSError(Exception):
    """Base class: a problem the user can fix, explained in one line."""


class ConfigError(PRSError, ValueError):
    """Invalid user input: an option, a schedule, a search space, a model preset."""


class ScheduleError(ConfigError):
    """A schedule that does not fit the model depth or the number of epochs."""


class DatasetError(PRSError):
    """An unknown dataset, or dataset files that are missing or malformed."""


class StoreError(PRSError):
    """The results database cannot be reached or used."""


class ClusterError(PRSError):
    """The Ray cluster cannot be reached or used."""
