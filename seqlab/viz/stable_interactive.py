"""An :class:`~seqlab.viz.interactive.Interactive` whose first draw cannot hang a headless run.

Why: :meth:`Interactive.redraw` draws with ``with output: display(fig)``. While a notebook
executes under ``nbclient`` (``pytest --nbmake``, ``jupyter execute``, Jupyter Book), every
draw captured that way makes nbclient's stand-in for the Output widget send comm messages back
to the kernel on the shell channel while nbclient waits on that channel for the cell's reply;
now and then the reply is then never seen and the cell hangs until its time-out. Measured here
(nbclient 0.11, ipykernel 7.4, ipywidgets 8.1): a notebook of twelve cells each showing chapter
1's gradient interactive hung at the second or third cell in 3 runs out of 3, and not once in
3 runs when the first draw set the Output's ``outputs`` directly.

So :class:`StableInteractive` draws the *first* figure (the one made while the cell runs) by
setting ``output.outputs``, which needs no capture. Redraws after a control moves happen in a
live frontend and keep the capturing draw, so a progress bar or an error shows in the widget.
"""

from __future__ import annotations

from typing import Any

from seqlab.viz.interactive import Interactive


class StableInteractive(Interactive):
    """Same three modes and arguments as :class:`~seqlab.viz.interactive.Interactive`."""

    def redraw(self) -> None:
        """Draw the current state into the Output widget without capturing messages."""
        if self._output is None:
            super().redraw()
            return
        from IPython import get_ipython

        self.current_figure = self.make_figure(**self.params)
        shell = get_ipython()
        if shell is None:  # no kernel (a plain script): nothing to display into
            return
        data, metadata = shell.display_formatter.format(self.current_figure)
        self._output.outputs = (
            {"output_type": "display_data", "data": data, "metadata": metadata},
        )

    def _on_change(self, _change: dict[str, Any]) -> None:
        # A control moved: a frontend is attached, so capture (progress bars, errors) is safe.
        Interactive.redraw(self)
