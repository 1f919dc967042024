"""Device profiles: the printers, readers, scanners and kiosk defaults a terminal may use.

Profiles are TOML files under ``firmware-config/{printers,readers,scanners,kiosk}/``. Each one
names its ``kind``; the pydantic models below are the schema. Loading a file checks it fully and
reports every problem as one line ``FILE: FIELD: what is wrong`` so a technician can fix it
without reading code. Printer profiles map onto a python-escpos capabilities profile, so the
printer driver gets the right code pages and features from python-escpos' database.

The profiles live here, next to the drivers that read them, so that drivers never import the
agent; the agent, provisioning and the drivers all read them from here.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from mkp_core.errors import FixedCodeError

ENV_VAR = "MKP_FIRMWARE_CONFIG"
KIND_DIRS = {"printer": "printers", "reader": "readers", "scanner": "scanners", "kiosk": "kiosk"}

ProfileId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ProfileError(FixedCodeError):
    """A profile file that cannot be used; ``errors`` holds one line per problem."""

    code = "invalid_profile"

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- python-escpos capabilities -----------------------------------------------------------------


@cache
def escpos_profiles() -> dict[str, dict[str, Any]]:
    """python-escpos' printer capabilities database, by profile name."""
    from escpos.capabilities import CAPABILITIES  # imported late: it reads and caches a JSON database

    profiles: dict[str, dict[str, Any]] = CAPABILITIES["profiles"]  # python-escpos ships no types
    return profiles


# --- printers -----------------------------------------------------------------------------------


class Paper(_Strict):
    width_mm: Literal[58, 80] = Field(description="roll paper width")
    print_width_mm: float = Field(gt=0, description="printable width")
    print_width_dots: int = Field(gt=0, description="dots across the printable width")
    dpi: Literal[180, 203] = Field(description="head resolution, dots per inch")

    @model_validator(mode="after")
    def _consistent(self) -> Paper:
        if self.print_width_mm >= self.width_mm:
            raise ValueError(
                f"print_width_mm: {self.print_width_mm} must be less than the paper width {self.width_mm}"
            )
        expected = self.print_width_mm * self.dpi / 25.4
        if abs(self.print_width_dots - expected) > 0.02 * expected:
            raise ValueError(
                f"print_width_dots: {self.print_width_dots} does not fit {self.print_width_mm} mm at {self.dpi} dpi "
                f"(about {round(expected)} dots)"
            )
        return self


class TextSettings(_Strict):
    kanji: bool = Field(description="the model has a Kanji font: Japanese is printed in Kanji mode (FS &)")
    code_page: str = Field(description="single-byte code table, a python-escpos encoding name, e.g. CP932")


class MemorySettings(_Strict):
    """What provisioning writes into the printer's own non-volatile memory (shown before applying)."""

    paper_width_mm: Literal[58, 80]
    print_density_percent: int = Field(ge=70, le=130, multiple_of=5)
    kanji_mode_default: bool
    code_page: str


class PrinterProfile(_Strict):
    kind: Literal["printer"]
    id: ProfileId
    vendor: Text
    model: Text
    escpos_profile: str = Field(description="python-escpos capabilities profile this model maps onto")
    command_mode: Literal["escpos", "star-escpos-emulation"] = Field(
        description="'star-escpos-emulation': a Star printer switched from Star Line Mode to ESC/POS emulation"
    )
    notes: str = ""
    paper: Paper
    text: TextSettings
    memory: MemorySettings | None = None
    qr: Literal["native", "image"] | None = Field(
        default=None,
        description="QR codes: 'native' (GS ( k, drawn by the printer) or 'image' (drawn here, sent as a "
        "raster image); default: native where the python-escpos profile has qrCode",
    )
    image_command: Literal["raster", "graphics"] = Field(
        default="raster", description="images: 'raster' (GS v 0, every model) or 'graphics' (GS ( L)"
    )

    @property
    def native_qr(self) -> bool:
        """Whether QR codes are sent as GS ( k for the printer to draw."""
        if self.qr is not None:
            return self.qr == "native"
        return bool(escpos_profiles()[self.escpos_profile].get("features", {}).get("qrCode"))

    @model_validator(mode="after")
    def _graphics_supported(self) -> PrinterProfile:
        known = escpos_profiles()
        if self.escpos_profile not in known:
            return self  # _matches_escpos names the unknown profile
        features = known[self.escpos_profile].get("features", {})
        if self.qr == "native" and not features.get("qrCode"):
            raise ValueError(
                f"qr: 'native', but python-escpos profile {self.escpos_profile} has no QR command"
            )
        needed = {"raster": "bitImageRaster", "graphics": "graphics"}[self.image_command]
        if not features.get(needed):
            raise ValueError(
                f"image_command: {self.image_command!r} needs {needed}, which python-escpos profile "
                f"{self.escpos_profile} does not have"
            )
        return self

    @model_validator(mode="after")
    def _matches_escpos(self) -> PrinterProfile:
        known = escpos_profiles()
        if self.escpos_profile not in known:
            raise ValueError(
                f"escpos_profile: {self.escpos_profile!r} is not a python-escpos profile "
                f"(known: {', '.join(sorted(known))})"
            )
        cap = known[self.escpos_profile]
        pixels = cap.get("media", {}).get("width", {}).get("pixels")
        if isinstance(pixels, int) and pixels != self.paper.print_width_dots:
            raise ValueError(
                f"paper.print_width_dots: {self.paper.print_width_dots} disagrees with python-escpos profile "
                f"{self.escpos_profile} ({pixels} dots)"
            )
        pages = set(cap.get("codePages", {}).values())
        for where, page in (
            ("text.code_page", self.text.code_page),
            ("memory.code_page", self.memory.code_page if self.memory else None),
        ):
            if page is not None and page not in pages:
                raise ValueError(
                    f"{where}: {page!r} is not a code page of python-escpos profile {self.escpos_profile}"
                )
        star = bool(cap.get("features", {}).get("starCommands"))
        if (self.command_mode == "star-escpos-emulation") != star:
            raise ValueError(
                f"command_mode: {self.command_mode!r} does not fit python-escpos profile {self.escpos_profile} "
                f"({'a Star' if star else 'not a Star'} profile)"
            )
        if self.memory is not None:
            if self.memory.paper_width_mm != self.paper.width_mm:
                raise ValueError(
                    f"memory.paper_width_mm: {self.memory.paper_width_mm} differs from paper.width_mm {self.paper.width_mm}"
                )
            if self.memory.kanji_mode_default and not self.text.kanji:
                raise ValueError(
                    "memory.kanji_mode_default: on, but text.kanji says the model has no Kanji font"
                )
        return self


# --- readers, scanners, kiosk -------------------------------------------------------------------


class ReaderProfile(_Strict):
    kind: Literal["reader"]
    id: ProfileId
    description: Text
    name_patterns: list[Text] = Field(min_length=1, description="fnmatch patterns on the PC/SC reader name")
    interface: Literal["contact", "contactless", "dual", "virtual"]
    notes: str = ""


class ScannerProfile(_Strict):
    kind: Literal["scanner"]
    id: ProfileId
    description: Text
    camera_index: int = Field(ge=0, le=63)
    width: int = Field(ge=160, le=7680)
    height: int = Field(ge=120, le=4320)
    fps: int = Field(default=30, ge=1, le=240)
    symbologies: list[Literal["QRCODE", "EAN13", "CODE128"]] = Field(min_length=1)


class KioskProfile(_Strict):
    kind: Literal["kiosk"]
    id: ProfileId
    description: Text
    language: Literal["ja", "en"]
    timezone: Text
    idle_timeout_s: int = Field(ge=10, le=3600)
    printer: ProfileId
    reader: ProfileId
    scanner: ProfileId | None = None
    receipt_copies: int = Field(default=1, ge=1, le=3)
    offline_queue_max: int = Field(ge=1, le=1_000_000)
    sync_interval_s: int = Field(ge=5, le=86_400)


Profile = PrinterProfile | ReaderProfile | ScannerProfile | KioskProfile
_MODELS: dict[str, type[PrinterProfile] | type[ReaderProfile] | type[ScannerProfile] | type[KioskProfile]] = {
    "printer": PrinterProfile,
    "reader": ReaderProfile,
    "scanner": ScannerProfile,
    "kiosk": KioskProfile,
}


# --- loading ------------------------------------------------------------------------------------


def profiles_dir() -> Path:
    """The firmware-config folder: ``$MKP_FIRMWARE_CONFIG``, else the source checkout, else installed data.

    Candidates, first existing wins: the env var (an explicit choice, so an error if missing),
    ``<repo root>/firmware-config`` next to the ``drivers`` package, ``<sys.prefix>/share/mkp/firmware-config``
    (setuptools data_files), and ``drivers/firmware-config`` inside the installed package.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not path.is_dir():
            raise ProfileError([f"{ENV_VAR}={override}: not a folder"])
        return path
    here = Path(__file__).resolve().parent
    candidates = [
        here.parent / "firmware-config",
        Path(sys.prefix) / "share" / "mkp" / "firmware-config",
        here / "firmware-config",
    ]
    for path in candidates:
        if path.is_dir():
            return path
    raise ProfileError(
        [f"no firmware-config folder found (looked in {', '.join(map(str, candidates))}); set {ENV_VAR}"]
    )


def _field(loc: Iterable[object]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    return ".".join(parts) if parts else "(file)"


def _pydantic_lines(path: Path, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "literal_error" and "input" in err:
            msg = f"{msg}, not {err['input']!r}"
        where = _field(err["loc"])
        if err["type"] == "value_error":  # our validators name the field themselves: "field: text"
            lines.append(f"{path}: {where + '.' if err['loc'] else ''}{msg}")
        else:
            lines.append(f"{path}: {where}: {msg}")
    return lines


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and check one profile file; raise :class:`ProfileError` with one line per problem."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError([f"{p}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ProfileError([f"{p}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError([f"{p}: not valid TOML: {exc}"]) from None
    kind = data.get("kind")
    if kind not in _MODELS:
        what = (
            "required field is missing"
            if kind is None
            else f"must be one of {', '.join(_MODELS)}, not {kind!r}"
        )
        raise ProfileError([f"{p}: kind: {what}"])
    try:
        profile = _MODELS[kind].model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_pydantic_lines(p, exc)) from None
    if profile.id != p.stem:
        raise ProfileError([f"{p}: id: {profile.id!r} must match the file name {p.stem!r}"])
    return profile


def load_printer_profile(name_or_path: str) -> PrinterProfile:
    """A printer profile by id (``epson-tm-t88vi``) from the firmware-config folder, or by file path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        path = candidate
    else:
        path = profiles_dir() / KIND_DIRS["printer"] / f"{name_or_path}.toml"
        if not path.is_file():
            known = sorted(f.stem for f in (profiles_dir() / KIND_DIRS["printer"]).glob("*.toml"))
            raise ProfileError([f"{name_or_path}: no such printer profile (known: {', '.join(known)})"])
    profile = load_profile(path)
    if not isinstance(profile, PrinterProfile):
        raise ProfileError([f"{path}: kind: is {profile.kind!r}, a printer profile is needed"])
    return profile


def printer_memory_plan(profile: PrinterProfile) -> list[tuple[str, str, str]]:
    """What provisioning would write into the printer's memory: (setting, value, how) rows.

    Empty when the profile has no ``[memory]`` table. Epson writes these in user-setting mode:
    GS ( E fn 1 to enter, fn 5 customized values, fn 2 to leave (the printer restarts).
    """
    m = profile.memory
    if m is None:
        return []
    if profile.command_mode == "star-escpos-emulation":
        how = "Star memory switch (configuration utility)"
        return [
            ("paper width", f"{m.paper_width_mm} mm", how),
            ("print density", f"{m.print_density_percent} %", how),
            ("Kanji mode at power-on", "on" if m.kanji_mode_default else "off", how),
            ("code page", m.code_page, how),
        ]
    return [
        ("paper width", f"{m.paper_width_mm} mm", "GS ( E fn 5, a=3"),
        ("print density", f"{m.print_density_percent} %", "GS ( E fn 5, a=5"),
        ("Kanji mode at power-on", "on" if m.kanji_mode_default else "off", "memory switch (GS ( E fn 3)"),
        ("code page", m.code_page, "GS ( E fn 5, a=8"),
    ]
