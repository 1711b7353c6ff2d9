"""`python -m digan` and the `digan` command: OpenMP's wait policy is set before anything loads torch, and
freed memory is kept for the next step (`utils.malloc`)."""

import sys

from .utils.malloc import keep_freed_memory
from .utils.omp import wait_politely

wait_politely()
keep_freed_memory()

from .cli.main import main  # noqa: E402  (after the wait policy: importing the CLI loads torch)

if __name__ == "__main__":
    sys.exit(main())
