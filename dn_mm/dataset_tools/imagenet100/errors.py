"""The error of the ImageNet-100 preparation: bad input, named by path or option."""


class PrepareError(ValueError):
    """Invalid input; the message names the offending path/parameter."""
