"""Keras's console output switch: print_msg writes to stdout, or to `logging` when interactive
logging is disabled (keras.config.disable_interactive_logging)."""

import logging
import sys

__all__ = ["disable_interactive_logging", "enable_interactive_logging",
           "is_interactive_logging_enabled", "print_msg"]

_state = {"interactive_logging": True}

# Keras's stand-ins when the console encoding cannot show the bar and arrow glyphs.
_ASCII_REPLACEMENTS = {"━": "=", "→": "->", "×": "x"}


def enable_interactive_logging():
    """Sends Keras's progress output to stdout (the default)."""
    _state["interactive_logging"] = True


def disable_interactive_logging():
    """Sends Keras's progress output to the `logging` module instead of stdout."""
    _state["interactive_logging"] = False


def is_interactive_logging_enabled():
    """Whether progress output goes to stdout.

    >>> from tensorflux.keras.utils import io_utils
    >>> io_utils.is_interactive_logging_enabled()
    True
    """
    return _state["interactive_logging"]


def print_msg(message, line_break=True):
    """Writes `message` to stdout and flushes (or logs it when interactive logging is off)."""
    message = str(message)
    if not is_interactive_logging_enabled():
        logging.getLogger("tensorflux.keras").info(message)
        return
    if line_break:
        message += "\n"
    try:
        sys.stdout.write(message)
    except UnicodeEncodeError:
        for glyph, ascii_text in _ASCII_REPLACEMENTS.items():
            message = message.replace(glyph, ascii_text)
        encoding = sys.stdout.encoding or "utf-8"
        sys.stdout.write(message.encode(encoding, errors="ignore").decode(encoding))
    sys.stdout.flush()
