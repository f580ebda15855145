"""The one exception type the engine raises for bad input."""


class CaffeError(Exception):
    """A net, weights file, solver or input that the engine cannot accept.

    Raised with one message that says what was wrong and where (file, line,
    layer, blob), so a user can fix the input without reading a traceback.
    """
