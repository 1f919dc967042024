"""Scanning: codes read from image files, video and cameras behind one interface."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from voucher_helpers import RING, print_voucher_on

from drivers.profiles import load_profile, profiles_dir
from drivers.scanner import (
    Camera,
    CaptureSource,
    Decoder,
    ImageFiles,
    ScannerError,
    VideoFile,
    decode_frame,
    read_image,
    scan,
)
from mkp_core.voucher import decode_voucher


@pytest.fixture(scope="module")
def printed():
    return print_voucher_on("epson-tm-t20ii")


@pytest.fixture(scope="module")
def paper(printed) -> np.ndarray:
    return np.asarray(printed.paper.image)


def test_a_printed_voucher_scanned_from_a_png_file(tmp_path, printed, paper):
    path = tmp_path / "領収書.png"  # any file name
    assert cv2.imencode(".png", paper)[1].tofile(str(path)) is None
    found = scan(ImageFiles([path]))
    assert [d.text for d in found] == [printed.text]
    assert decode_voucher(found[0].text, RING, now=printed.voucher.issued) == printed.voucher


def test_a_colour_jpeg_reads_too(tmp_path, printed, paper):
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(paper, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert [d.text for d in scan(ImageFiles([path]))] == [printed.text]


def test_a_big_phone_photo_is_brought_down_and_read(printed, paper):
    photo = cv2.resize(paper, None, fx=4.5, fy=4.5, interpolation=cv2.INTER_NEAREST)  # about 2900 x 4600
    photo = cv2.cvtColor(photo, cv2.COLOR_GRAY2BGRA)
    assert [d.text for d in decode_frame(photo)] == [printed.text]


def test_scanning_stops_at_the_first_frame_with_a_code(tmp_path, printed, paper):
    blank, other = tmp_path / "blank.png", tmp_path / "other.png"
    cv2.imwrite(str(blank), np.full((720, 1280), 200, np.uint8))
    cv2.imwrite(str(other), paper)
    assert [d.text for d in scan(ImageFiles([blank, other, tmp_path / "never-read.png"]))] == [printed.text]


def test_no_code_in_any_frame_is_no_code_found(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((720, 1280, 3), 255, np.uint8))
    assert decode_frame(cv2.imread(str(blank))) == []
    with pytest.raises(ScannerError) as info:
        scan(ImageFiles([blank, blank]))
    assert info.value.code == "no_code_found" and "2 frame(s)" in info.value.message


@pytest.mark.parametrize("content", [None, b"", b"not an image at all"])
def test_a_file_that_is_not_an_image_is_unreadable(tmp_path, content):
    path = tmp_path / "voucher.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScannerError) as info:
        read_image(path)
    assert info.value.code == "unreadable_image" and "voucher.png" in info.value.message


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((720, 1280), np.float32),
        np.zeros((4, 4), np.uint8),
        np.zeros((720, 1280, 5), np.uint8),
        np.zeros((2, 720, 1280, 3), np.uint8),
        "a frame",
    ],
    ids=["float", "tiny", "five-channels", "four-dimensions", "not-an-array"],
)
def test_a_frame_that_is_not_an_image_is_bad_frame(frame):
    with pytest.raises(ScannerError) as info:
        decode_frame(frame)
    assert info.value.code == "bad_frame"


def _video(path, frames) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1280, 720), False)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def _framed(paper: np.ndarray) -> np.ndarray:
    frame = np.full((720, 1280), 90, np.uint8)
    crop = paper[250:970, :]
    frame[: crop.shape[0], 300 : 300 + crop.shape[1]] = crop
    return frame


def test_a_video_is_read_frame_by_frame_until_a_code_shows(tmp_path, printed, paper):
    path = tmp_path / "counter.avi"
    _video(path, [np.full((720, 1280), 128, np.uint8)] * 3 + [_framed(paper)])
    with VideoFile(path) as source:
        assert [d.text for d in scan(source)] == [printed.text]


def test_a_video_without_a_code_ends(tmp_path):
    path = tmp_path / "empty.avi"
    _video(path, [np.full((720, 1280), 128, np.uint8)] * 2)
    with pytest.raises(ScannerError) as info, VideoFile(path) as source:
        scan(source)
    assert info.value.code == "no_code_found"


def test_a_camera_that_stops_giving_frames_is_lost(tmp_path):
    path = tmp_path / "unplugged.avi"
    _video(path, [np.full((720, 1280), 128, np.uint8)] * 2)
    with pytest.raises(ScannerError) as info:
        scan(CaptureSource(cv2.VideoCapture(str(path)), "/dev/video9", live=True))
    assert info.value.code == "camera_lost" and "/dev/video9" in info.value.message


def test_a_camera_that_is_not_there_is_unavailable():
    with pytest.raises(ScannerError) as info:
        Camera(63)
    assert info.value.code == "camera_unavailable" and "/dev/video63" in info.value.message


def test_the_scanner_profile_opens_its_camera_and_names_what_to_read():
    profile = load_profile(profiles_dir() / "scanners" / "usb-camera.toml")
    assert Decoder(profile.symbologies).symbologies == ("QRCODE",)
    with pytest.raises(ScannerError) as info:
        Camera.from_profile(profile.model_copy(update={"camera_index": 63}))
    assert info.value.code == "camera_unavailable"


def test_a_video_file_that_is_not_there_is_unreadable(tmp_path):
    with pytest.raises(ScannerError) as info:
        VideoFile(tmp_path / "none.avi")
    assert info.value.code == "unreadable_image"


@pytest.mark.parametrize("names", [[], ["AZTEC"]])
def test_an_unknown_symbology_is_refused(names):
    with pytest.raises(ScannerError) as info:
        Decoder(names)
    assert info.value.code == "unknown_symbology"
