"""keras.utils.Progbar: Keras 3's progress bar, character for character (keras_compat.md 4.6)."""

import math
import os
import re
import sys
import time

from tensorflux.keras.utils import io_utils

__all__ = ["Progbar"]

_BAR = "\u2501"  # '━', Keras 3's bar glyph


def _mean(value):
    """Keras applies np.mean to non-float values; this does the same without NumPy."""
    if isinstance(value, (int, bool)):
        return float(value)
    if isinstance(value, (list, tuple)):
        items = [_mean(v) for v in value]
        return sum(items) / len(items)
    if type(value).__name__ == "ndarray":  # e.g. a vector a custom train_step logs
        return float(value.mean())
    if hasattr(value, "numpy") and getattr(value, "shape", ()) != ():
        from tensorflux.ops import reduction

        return float(reduction.reduce_mean(value))
    return float(value)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def dynamic_display():
    """Whether the bar redraws in place: on a terminal or in a notebook.

    Keras also redraws on any POSIX system, which fills log files and CI output with
    backspaces and colour codes; tensorflux prints one plain line per epoch there instead.
    """
    stdout = sys.stdout
    return ((hasattr(stdout, "isatty") and stdout.isatty()) or "ipykernel" in sys.modules
            or "PYCHARM_HOSTED" in os.environ)


class Progbar:
    """Displays a progress bar.

    Values named in `stateful_metrics` are shown as given; others are averaged over the steps
    seen (pass `stateless_metrics` to invert that default, as ProgbarLogger does).

    >>> from tensorflux.keras.utils import Progbar
    >>> bar = Progbar(target=2, verbose=2)
    >>> bar.update(1, [("loss", 1.0)])
    >>> bar.target
    2
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Only one of `stateful_metrics` or `stateless_metrics` can be provided. "
                "`stateful_metrics` is used to make metrics stateless by default (with an "
                "exclusion list), while `stateless_metrics` is used to make metrics stateful "
                "by default (with an exclusion list).")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateful_metrics is not None:
            self.stateful_metrics = set(stateful_metrics)
            self.stateless_metrics = None
        elif stateless_metrics is not None:
            self.stateful_metrics = None
            self.stateless_metrics = set(stateless_metrics)
        else:
            self.stateful_metrics = set()
            self.stateless_metrics = None
        self._dynamic_display = dynamic_display()
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_at_epoch_start = self._start
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        """Updates the bar to step `current` with `(name, value)` pairs for the last step."""
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        self._accumulate(current, values or [], finalize)
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            if not self._dynamic_display and not finalize:
                return  # plain output: one line when the epoch ends, nothing in between
            self._draw(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            io_utils.print_msg(self._epoch_line(current, now, time_per_unit), line_break=False)
        self._last_update = now

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)

    def _accumulate(self, current, values, finalize):
        for k, v in values:
            if k not in self._values_order:
                self._values_order.append(k)
            if self.stateful_metrics is not None:
                stateless = k not in self.stateful_metrics
            else:
                stateless = k in self.stateless_metrics
            if not stateless or finalize:
                self._values[k] = [v, 1]
                continue
            value_base = max(current - self._seen_so_far, 1)
            if k not in self._values:
                self._values[k] = [v * value_base, value_base]
            else:
                self._values[k][0] += v * value_base
                self._values[k][1] += value_base

    def _average(self, k):
        values, count = self._values[k]
        if not isinstance(values, float):
            values = _mean(values)
        return values / max(1, count)

    def _draw(self, current, now, time_per_unit, finalize):
        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        special_char_len = 0
        if self.target is not None and self.target > 0:
            numdigits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{f'%{numdigits}d/%d' % (current, self.target)}\x1b[0m "
            special_char_len += 8
            prog_width = int(self.width * float(current) / self.target)
            if prog_width > 0:
                bar += f"\x1b[32m{_BAR * prog_width}\x1b[0m"
                special_char_len += 9
            bar += f"\x1b[37m{_BAR * (self.width - prog_width)}\x1b[0m"
            special_char_len += 9
        else:
            bar = f"{int(current):7d}/Unknown"
        message += bar
        if self.target is not None and self.target > 0 and not finalize:
            info = f" \x1b[1m{_format_eta(time_per_unit * (self.target - current))}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        special_char_len += 8
        info += _format_time(time_per_unit, self.unit_name)
        for k in self._values_order:
            avg = self._average(k)
            info += f" - {k}: {avg:.4f}" if abs(avg) > 1e-3 else f" - {k}: {avg:.4e}"
        message += info
        total_width = len(bar) + len(info) - special_char_len
        if not self._dynamic_display:
            # A log file or a pipe: no cursor moves, no colours, one clean line.
            io_utils.print_msg(_ANSI.sub("", message).lstrip("\n") + "\n", line_break=False)
            return
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        io_utils.print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def _epoch_line(self, current, now, time_per_unit):
        numdigits = int(math.log10(self.target)) + 1
        info = f"{f'%{numdigits}d/%d' % (current, self.target)} - {now - self._start:.0f}s"
        info += f" -{_format_time(time_per_unit, self.unit_name)}"
        for k in self._values_order:
            avg = self._average(k)
            # Keras tests `avg > 1e-3` here, without abs(): negative values print as %e.
            info += f" - {k}: {avg:.4f}" if avg > 1e-3 else f" - {k}: {avg:.4e}"
        return info + "\n"

    def _estimate_step_duration(self, current, now):
        """Seconds per step; the first (tracing) step is left out once there are others."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


def _format_eta(eta):
    if eta > 3600:
        return f"{int(eta // 3600)}:{int((eta % 3600) // 60):02d}:{int(eta % 60):02d}"
    if eta > 60:
        return f"{int(eta // 60)}:{int(eta % 60):02d}"
    return f"{int(eta)}s"


def _format_time(time_per_unit, unit_name):
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"
