"""Keep the embedded PostgreSQL of a data directory running until interrupted (for the bench scripts).

python bench/pg_hold.py /tmp/bench-tickets   # prints the database URL, then waits
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from api.embedded import start_embedded, stop_embedded


def main() -> None:
    data_dir = Path(sys.argv[1])
    print(start_embedded(data_dir), flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    stop_embedded(data_dir)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
