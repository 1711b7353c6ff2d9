"""The streaming video writer moved to `digan.data.io`, beside `write_video`; this path is kept for one release."""

from .data.io import FORMATS, VideoWriter, output_path  # noqa: F401
