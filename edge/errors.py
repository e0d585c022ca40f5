"""The base of every error a person can act on; the CLI prints its message and exits non-zero."""


class GoatEdgeError(Exception):
    pass
