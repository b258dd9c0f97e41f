"""UserError: the one exception type the CLI turns into a one-line message and exit 1.

Every module raises a subclass of it for bad input (a bad spec, an unknown baseline, a
missing dataset...); anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input from the user: the message says what was wrong and how to fix it."""
