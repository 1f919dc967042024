"""Where frames come from: a camera, a video file, or image files, behind one interface.

A :class:`FrameSource` yields frames (``numpy`` arrays as OpenCV makes them: BGR or grey) until
it has no more; the decoder does not care which kind it is. A camera is opened through OpenCV's
V4L2 backend (the kernel's own camera interface: no GStreamer or FFmpeg in between) with a
buffer of one frame, so each read is what the camera sees now, not a frame queued while the
previous one was being decoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from drivers.profiles import ScannerProfile
from drivers.scanner.errors import ScannerError


class FrameSource:
    """Frames, one after the other; use as a context manager so a camera is released."""

    name = "frames"

    def frames(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device (nothing to do for files)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ImageFiles(FrameSource):
    """Each image file is one frame (PNG, JPEG, ...: whatever OpenCV reads)."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self.paths = [Path(p) for p in paths]
        self.name = ", ".join(map(str, self.paths)) or "no files"

    def frames(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield read_image(path)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """One image file as an OpenCV array; ``unreadable_image`` naming the file if it is not one."""
    p = Path(path)
    try:
        data = np.fromfile(p, dtype=np.uint8)  # any file name, unlike cv2.imread
    except OSError as exc:
        raise ScannerError("unreadable_image", f"{p}: cannot read: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ScannerError("unreadable_image", f"{p}: not an image OpenCV can read (PNG, JPEG, ...)")
    return image


class CaptureSource(FrameSource):
    """Frames from an opened ``cv2.VideoCapture``: a camera (``live``) or a video file.

    A camera that stops giving frames is ``camera_lost``; a video file simply ends.
    """

    def __init__(self, capture: cv2.VideoCapture, name: str, *, live: bool) -> None:
        self.capture = capture
        self.name = name
        self.live = live

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self.capture.read()
            if not ok or frame is None:
                if self.live:
                    raise ScannerError(
                        "camera_lost", f"camera {self.name} stopped giving frames (unplugged?)"
                    )
                return
            yield frame

    def close(self) -> None:
        self.capture.release()


class Camera(CaptureSource):
    """A UVC camera at ``/dev/video<index>``, through V4L2, one frame buffered."""

    def __init__(self, index: int = 0, *, width: int = 1280, height: int = 720, fps: int = 30) -> None:
        capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise ScannerError(
                "camera_unavailable",
                f"no camera at /dev/video{index} (plugged in? is the terminal's user in group 'video'?)",
            )
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, fps)
        super().__init__(capture, f"/dev/video{index}", live=True)

    @classmethod
    def from_profile(cls, profile: ScannerProfile) -> Camera:
        """The camera a scanner profile (``firmware-config/scanners``) describes."""
        return cls(profile.camera_index, width=profile.width, height=profile.height, fps=profile.fps)


class VideoFile(CaptureSource):
    """A recorded video, frame by frame (OpenCV's own file backends)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not Path(path).is_file():
            raise ScannerError("unreadable_image", f"{path}: no such video file")
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            raise ScannerError("unreadable_image", f"{path}: not a video OpenCV can read")
        super().__init__(capture, str(path), live=False)
