"""`python -m digan` and the `digan` command: OpenMP's wait policy is set before anything loads torch."""

import sys

from .utils.omp import wait_politely

wait_politely()

from .cli.main import main  # noqa: E402  (after the wait policy: importing the CLI loads torch)

if __name__ == "__main__":
    sys.exit(main())
