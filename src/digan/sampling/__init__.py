"""What a model renders (`render`), how (`options`: one `RenderOptions` value), and the files it goes to (`files`)."""

from .files import InterpolationRequest, VideoRequest, Written, generate, interpolate, write_samples, write_videos
from .options import RenderOptions
from .render import (
    clip_renderer,
    interpolate_videos,
    morph_video,
    motion_variations,
    prepare_videos,
    render_code,
    render_video,
    render_videos,
)

__all__ = [
    "InterpolationRequest",
    "RenderOptions",
    "VideoRequest",
    "Written",
    "clip_renderer",
    "generate",
    "interpolate",
    "interpolate_videos",
    "morph_video",
    "motion_variations",
    "prepare_videos",
    "render_code",
    "render_video",
    "render_videos",
    "write_samples",
    "write_videos",
]
