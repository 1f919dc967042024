"""Thermal paper and a phone camera, in software: what a printed voucher looks like to a scanner.

:func:`thermal` is the paper: about 10 % of the dots the head should burn are lost, a dead
heating element leaves a white streak down the paper, black is a faded grey and white a warm
off-white. :func:`photograph` is the camera: the receipt at some distance (the QR code 200 to
460 pixels across), turned, seen at a slant (perspective), unevenly lit, at low contrast,
slightly out of focus, with sensor noise, saved as a JPEG, in a 1280 x 720 frame.

Everything is drawn from a seeded ``numpy`` generator, so each image of a set can be made again.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FRAME = (1280, 720)  # width, height


@dataclass(frozen=True)
class Look:
    """The draws that made one degraded image (for a failing image's message)."""

    dot_loss: float
    angle: float
    qr_pixels: int
    blur: float
    contrast: tuple[int, int]
    jpeg: int

    def __str__(self) -> str:
        return (
            f"dot loss {self.dot_loss:.0%}, {self.angle:+.0f} deg, QR {self.qr_pixels} px, blur {self.blur:.1f}, "
            f"levels {self.contrast}, JPEG q{self.jpeg}"
        )


def thermal(paper: np.ndarray, rng: np.random.Generator, dot_loss: float = 0.10) -> np.ndarray:
    """The printed paper: ``paper`` is 0 (burn) / 255 (blank) at the printer's dots."""
    ink = paper < 128
    ink &= rng.random(ink.shape, dtype=np.float32) >= dot_loss  # lost dots
    for column in rng.integers(0, ink.shape[1], size=rng.integers(0, 3)):
        ink[:, column] = False  # a dead heating element
    black, white = int(rng.integers(20, 90)), int(rng.integers(225, 250))
    out = np.where(ink, np.float32(black), np.float32(white))
    out += 4 * rng.standard_normal(out.shape, dtype=np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _corners(width: int, height: int, scale: float, angle: float, slant: float, rng) -> np.ndarray:
    """Where the corners of the cropped paper land in the frame: scaled, turned, slanted."""
    w, h = width * scale, height * scale
    square = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32)
    square += rng.uniform(-slant, slant, square.shape).astype(np.float32) * np.array([w, h], np.float32)
    turn = np.deg2rad(angle)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], np.float32)
    centre = np.array(FRAME, np.float32) / 2 + rng.uniform(-60, 60, 2).astype(np.float32)
    return (square @ rotation.T + centre).astype(np.float32)


def _into_frame(warp: np.ndarray, box: tuple[int, int, int, int], margin: float = 12) -> np.ndarray:
    """The shift that brings the whole QR code (and a little paper round it) into the frame:
    whoever scans a code aims the camera at it."""
    left, top, width, height = box
    corners = np.array(
        [[[left, top], [left + width, top], [left + width, top + height], [left, top + height]]], np.float32
    )
    seen = cv2.perspectiveTransform(corners, warp)[0]
    low, high = seen.min(axis=0), seen.max(axis=0)
    frame = np.array(FRAME, np.float32)
    shift = np.maximum(margin - low, 0) - np.maximum(high - (frame - margin), 0)
    return shift.astype(np.float32)


def around_qr(
    paper: np.ndarray, qr_box: tuple[int, int, int, int], rng: np.random.Generator
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The part of the paper a camera aimed at the QR code sees, and where the code is in it."""
    left, top, qr_w, qr_h = qr_box
    margin = int(rng.integers(qr_w // 8, qr_w // 2))
    y0, y1 = max(0, top - margin), min(paper.shape[0], top + qr_h + margin)
    x0, x1 = max(0, left - margin), min(paper.shape[1], left + qr_w + margin)
    return paper[y0:y1, x0:x1], (left - x0, top - y0, qr_w, qr_h)


def photograph(
    crop: np.ndarray, qr_box: tuple[int, int, int, int], rng: np.random.Generator
) -> tuple[np.ndarray, Look]:
    """A JPEG-decoded 1280 x 720 grey frame of printed paper, the QR code at ``qr_box`` in it
    (left, top, width, height, in dots) kept whole in the frame."""
    qr_w = qr_box[2]
    qr_pixels = int(rng.integers(200, 460))
    angle = float(rng.uniform(-180, 180) if rng.random() < 0.3 else rng.uniform(-25, 25))
    scale = qr_pixels / qr_w
    source = np.array(
        [[0, 0], [crop.shape[1], 0], [crop.shape[1], crop.shape[0]], [0, crop.shape[0]]], np.float32
    )
    target = _corners(crop.shape[1], crop.shape[0], scale, angle, 0.06, rng)
    target += _into_frame(cv2.getPerspectiveTransform(source, target), qr_box)
    warp = cv2.getPerspectiveTransform(source, target)
    background = int(rng.integers(30, 110))
    frame = cv2.warpPerspective(
        crop, warp, FRAME, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=background
    ).astype(np.float32)
    # Uneven light (a gradient across the frame) and the contrast squeezed into [low, high], in one pass.
    low, high = int(rng.integers(30, 90)), int(rng.integers(150, 220))
    light = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0), FRAME[0], dtype=np.float32)
    frame *= light * np.float32((high - low) / 255)
    frame += np.float32(low)
    blur = float(rng.uniform(0.3, 1.4))
    frame = cv2.GaussianBlur(frame, (0, 0), blur)
    grain = rng.standard_normal((FRAME[1] // 2, FRAME[0] // 2), dtype=np.float32)  # sensor noise, 2 px grain
    frame += cv2.resize(grain, FRAME, interpolation=cv2.INTER_LINEAR) * np.float32(rng.uniform(1, 5))
    frame = np.clip(frame, 0, 255, out=frame).astype(np.uint8)
    jpeg = int(rng.integers(30, 80))
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
    assert ok
    look = Look(dot_loss=0.10, angle=angle, qr_pixels=qr_pixels, blur=blur, contrast=(low, high), jpeg=jpeg)
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), look


def degraded(paper: np.ndarray, qr_box: tuple[int, int, int, int], seed: int) -> tuple[np.ndarray, Look]:
    """One degraded frame of a printed receipt, made again the same from ``seed``."""
    rng = np.random.default_rng(seed)
    crop, box = around_qr(paper, qr_box, rng)
    return photograph(thermal(crop, rng), box, rng)
