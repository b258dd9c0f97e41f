"""`python -m scalesearch` and the `scalesearch` program: signal handlers first, then the CLI.

The CLI's imports (torch, optuna, pandas) take seconds, and a SIGTERM, SIGHUP or Ctrl-C
in them used to end the process by the signal (143, 129) or with a traceback.  `run`
installs handlers before anything heavy is imported: a signal that lands while the CLI
loads says so in one line and exits 130, as an interrupted command does (nothing has been
written yet).  They stay: a signal between the imports and a command's own handlers
(processes.signals_as_interrupt, which take over and then restore these) unwinds as
Ctrl-C does, and `cli.main` turns that into exit 130.
"""

import os
import signal
import sys

EARLY_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _early(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run() -> None:
    for s in EARLY_SIGNALS:
        signal.signal(s, _early)
    try:
        from scalesearch.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("scalesearch: interrupted while starting; nothing was written\n")
        sys.stderr.flush()
        os._exit(130)
    main()


if __name__ == "__main__":
    run()
