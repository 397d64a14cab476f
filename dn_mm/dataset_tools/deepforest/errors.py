"""The error of the deepforest converter: bad input, named by path or option."""


class DeepForestError(ValueError):
    """Invalid input or too little data; the message names the offending path/parameter."""
