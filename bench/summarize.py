"""Turn bench/run.sh output into the Markdown table used in bench/RESULTS.md.

bench/run.sh | tee run.txt && python bench/summarize.py run.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def main() -> None:
    text = Path(sys.argv[1]).read_text()
    print("| scenario | req/s | p50 | p99 |\n| --- | ---: | ---: | ---: |")
    for block in text.split("=== ")[1:]:
        name = block.splitlines()[0]
        rps = re.search(r"Requests/sec:\s+([\d.]+)", block)
        p50 = re.search(r"^\s+50%\s+(\S+)", block, re.MULTILINE)
        p99 = re.search(r"^\s+99%\s+(\S+)", block, re.MULTILINE)
        if rps and p50 and p99:
            print(f"| {name} | {float(rps.group(1)):,.0f} | {p50.group(1)} | {p99.group(1)} |")


if __name__ == "__main__":
    main()
