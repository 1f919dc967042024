"""Scanners: codes read from camera frames or image files (OpenCV, pyzbar, zxing-cpp)."""

from drivers.scanner.decode import Decoded, Decoder, decode_frame, scan
from drivers.scanner.errors import ScannerError
from drivers.scanner.frames import Camera, CaptureSource, FrameSource, ImageFiles, VideoFile, read_image

__all__ = [
    "Camera",
    "CaptureSource",
    "Decoded",
    "Decoder",
    "FrameSource",
    "ImageFiles",
    "ScannerError",
    "VideoFile",
    "decode_frame",
    "read_image",
    "scan",
]
