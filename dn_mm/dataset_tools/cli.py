"""The one ``main()`` of the dataset converters in ``tools/dataset_converters/``.

Each converter raises its own error class (a ``ValueError`` whose message names
the offending path or option); the command line prints it as argparse does for
a bad option and exits with status 2, so the caller sees one convention for
every converter.
"""
import argparse
from typing import Callable, Optional, Sequence, Type


def run_converter(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]],
                  convert: Callable[[argparse.Namespace], dict], error: Type[Exception],
                  describe: Callable[[dict, argparse.Namespace], str]) -> int:
    """Parse ``argv``, run ``convert(args)`` and print ``describe(summary, args)``.

    ``error`` raised by ``convert`` becomes ``parser.error`` (usage, message,
    exit status 2). Returns 0 on success.
    """
    args = parser.parse_args(argv)
    try:
        summary = convert(args)
    except error as e:
        parser.error(str(e))
    print(describe(summary, args))
    return 0
