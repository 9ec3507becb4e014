"""The error every sub-command raises for a problem the user can fix (main prints it)."""


class CliError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""
