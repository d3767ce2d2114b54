"""circ's exception: a model's diagnostics, rendered as ``circ`` prints them."""


class CircError(Exception):
    """A model that does not check, lower or run.

    ``str(e)`` is the rendered diagnostic (with the source line it points
    at); ``e.code`` is the exit code ``circ run`` gives for it (1: the model
    or its network, 2: a setting, a file or the output folder). A run that
    stopped early (a state became NaN) raises it too, with what it recorded
    up to then in ``e.result``.
    """

    def __init__(self, message: str, code: int = 1, result=None):
        super().__init__(message)
        self.message = message
        self.code = code
        #: For a run that stopped early (a state became NaN, the device
        #: failed): what it recorded up to then, as a circ.Result.
        self.result = result
