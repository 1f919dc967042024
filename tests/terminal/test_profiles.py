"""Device profiles: shipped ones validate; broken ones give one clear line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import main
from drivers import profiles
from mkp_core.errors import MkpError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "firmware-config").glob("*/*.toml"))

GOOD_PRINTER = """\
kind = "printer"
id = "{id}"
vendor = "Epson"
model = "TM-T88VI"
escpos_profile = "TM-T88V"
command_mode = "escpos"

[paper]
width_mm = 80
print_width_mm = 72.0
print_width_dots = 512
dpi = 180

[text]
kanji = true
code_page = "CP932"
"""


def run(*args: str):
    return CliRunner().invoke(main, ["config", *args])


def write(tmp_path: Path, text: str, name: str = "my-printer") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace("{id}", name), encoding="utf-8")
    return path


def test_shipped_profiles_cover_every_kind_and_the_required_models():
    ids = {p.stem for p in SHIPPED}
    assert {
        "epson-tm-t88vi",
        "epson-tm-t20ii",
        "seiko-rp-f10-58",
        "star-tsp650ii",
        "virtual-pcd",
        "usb-camera",
        "default",
    } <= ids
    assert {p.parent.name for p in SHIPPED} == {"printers", "readers", "scanners", "kiosk"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_profile_validates(path):
    result = run("validate", str(path))
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_validate_many_files_at_once():
    result = run("validate", *map(str, SHIPPED))
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == len(SHIPPED)


def test_printer_profiles_map_onto_python_escpos_and_paper_sizes():
    from escpos.capabilities import get_profile

    printers = {p.id: p for p in map(profiles.load_profile, SHIPPED) if p.kind == "printer"}
    assert {p.paper.width_mm for p in printers.values()} == {58, 80}
    assert printers["epson-tm-t88vi"].paper.print_width_dots == 512
    assert printers["epson-tm-t88vi"].text.kanji is True
    assert printers["star-tsp650ii"].command_mode == "star-escpos-emulation"
    for p in printers.values():
        assert (
            get_profile(p.escpos_profile).profile_data["media"]["width"]["pixels"] == p.paper.print_width_dots
        )


def test_virtual_reader_profile_matches_the_vpcd_reader_name():
    from fnmatch import fnmatchcase

    reader = profiles.load_profile(ROOT / "firmware-config/readers/virtual-pcd.toml")
    assert any(fnmatchcase("Virtual PCD 00 00", pat) for pat in reader.name_patterns)


def test_kiosk_defaults_point_at_shipped_profiles():
    kiosk = profiles.load_profile(ROOT / "firmware-config/kiosk/default.toml")
    ids = {p.stem for p in SHIPPED}
    assert {kiosk.printer, kiosk.reader, kiosk.scanner} <= ids


# --- broken files: one clear line each, exit 1 ---------------------------------------------------


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t.replace('vendor = "Epson"', 'vendor = "Epson'), "not valid TOML"),
        (lambda t: t.replace('model = "TM-T88VI"\n', ""), "model: required field is missing"),
        (lambda t: t + 'colour = "red"\n', "colour: unknown field"),
        (lambda t: t.replace("dpi = 180", 'dpi = "180"'), "paper.dpi: Input should be 180 or 203"),
        (
            lambda t: t.replace("print_width_dots = 512", 'print_width_dots = "512"'),
            "paper.print_width_dots: Input should be a valid integer",
        ),
        (
            lambda t: t.replace("width_mm = 80", "width_mm = 76"),
            "paper.width_mm: Input should be 58 or 80, not 76",
        ),
        (
            lambda t: t.replace('"TM-T88V"', '"TM-T88VI"'),
            "escpos_profile: 'TM-T88VI' is not a python-escpos profile",
        ),
        (
            lambda t: t.replace("print_width_dots = 512", "print_width_dots = 576"),
            "paper.print_width_dots: 576 does not fit 72.0 mm at 180 dpi",
        ),
        (
            lambda t: t.replace('code_page = "CP932"', 'code_page = "CP999"'),
            "text.code_page: 'CP999' is not a code page of python-escpos profile TM-T88V",
        ),
        (
            lambda t: t.replace('command_mode = "escpos"', 'command_mode = "star-escpos-emulation"'),
            "command_mode: 'star-escpos-emulation' does not fit python-escpos profile TM-T88V",
        ),
        (lambda t: t.replace('kind = "printer"', 'kind = "toaster"'), "kind: must be one of"),
        (lambda t: t.replace('kind = "printer"\n', ""), "kind: required field is missing"),
        (
            lambda t: (
                t + "[memory]\npaper_width_mm = 58\nprint_density_percent = 100\n"
                'kanji_mode_default = true\ncode_page = "CP932"\n'
            ),
            "memory.paper_width_mm: 58 differs from paper.width_mm 80",
        ),
        (
            lambda t: (
                t + "[memory]\npaper_width_mm = 80\nprint_density_percent = 101\n"
                'kanji_mode_default = true\ncode_page = "CP932"\n'
            ),
            "memory.print_density_percent: Input should be a multiple of 5",
        ),
    ],
    ids=[
        "bad-toml",
        "missing-field",
        "unknown-field",
        "wrong-type-literal",
        "wrong-type-int",
        "paper-width",
        "unknown-escpos-profile",
        "dots-vs-dpi",
        "unknown-code-page",
        "star-mode-on-epson",
        "unknown-kind",
        "missing-kind",
        "memory-width",
        "density-step",
    ],
)
def test_broken_printer_profile_gives_one_clear_line(tmp_path, edit, expected):
    path = write(tmp_path, edit(GOOD_PRINTER))
    result = run("validate", str(path))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"{path}: ")
    assert expected in lines[0]


def test_the_good_printer_fixture_itself_validates(tmp_path):
    assert run("validate", str(write(tmp_path, GOOD_PRINTER))).exit_code == 0


def test_several_problems_give_one_line_each(tmp_path):
    text = GOOD_PRINTER.replace('model = "TM-T88VI"\n', "").replace("dpi = 180", "dpi = 300") + "x = 1\n"
    result = run("validate", str(write(tmp_path, text)))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 3
    assert any("model:" in line for line in lines) and any("paper.dpi:" in line for line in lines)
    assert any("x: unknown field" in line for line in lines)


def test_id_must_match_the_file_name(tmp_path):
    path = tmp_path / "other-name.toml"
    path.write_text(GOOD_PRINTER.replace("{id}", "my-printer"), encoding="utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert "id: 'my-printer' must match the file name 'other-name'" in result.output


def test_one_bad_file_among_good_ones_fails_the_run(tmp_path):
    bad = write(tmp_path, GOOD_PRINTER.replace("width_mm = 80", "width_mm = 76"))
    result = run("validate", str(SHIPPED[0]), str(bad))
    assert result.exit_code == 1
    assert f"{SHIPPED[0]}: ok" in result.output and f"{bad}: paper.width_mm" in result.output


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            'kind = "reader"\nid = "r"\ndescription = "x"\nname_patterns = []\ninterface = "virtual"\n',
            "name_patterns: List should have at least 1 item",
        ),
        (
            'kind = "scanner"\nid = "s"\ndescription = "x"\ncamera_index = -1\nwidth = 640\nheight = 480\n'
            'symbologies = ["QRCODE"]\n',
            "camera_index: Input should be greater than or equal to 0",
        ),
        (
            'kind = "kiosk"\nid = "k"\ndescription = "x"\nlanguage = "fr"\ntimezone = "Asia/Tokyo"\n'
            'idle_timeout_s = 60\nprinter = "p"\nreader = "r"\noffline_queue_max = 10\nsync_interval_s = 60\n',
            "language: Input should be 'ja' or 'en', not 'fr'",
        ),
    ],
    ids=["reader-no-patterns", "scanner-negative-index", "kiosk-language"],
)
def test_broken_reader_scanner_kiosk_profiles(tmp_path, text, expected):
    name = text.split('id = "')[1].split('"')[0]
    result = run("validate", str(write(tmp_path, text, name)))
    assert result.exit_code == 1
    assert expected in result.output


def test_validate_usage_errors_exit_2(tmp_path):
    assert run("validate").exit_code == 2
    assert run("validate", str(tmp_path / "missing.toml")).exit_code == 2


# --- show-printer-settings --------------------------------------------------------------------


def test_show_printer_settings_previews_memory_writes():
    result = run("show-printer-settings", "epson-tm-t88vi")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Epson TM-T88VI" in out
    for fragment in (
        "paper width",
        "80 mm",
        "print density",
        "100 %",
        "Kanji mode at power-on",
        "on",
        "CP932",
        "Nothing has been written yet.",
    ):
        assert fragment in out


def test_show_printer_settings_for_a_model_without_memory_settings():
    result = run("show-printer-settings", "seiko-rp-f10-58")
    assert result.exit_code == 0
    assert "No settings are written" in result.output


def test_show_printer_settings_accepts_a_file_path(tmp_path):
    result = run("show-printer-settings", str(write(tmp_path, GOOD_PRINTER)))
    assert result.exit_code == 0
    assert "No settings are written" in result.output


def test_show_printer_settings_unknown_profile_or_not_a_printer():
    result = run("show-printer-settings", "no-such-printer")
    assert result.exit_code == 1
    assert "no such printer profile" in result.output and "epson-tm-t88vi" in result.output
    result = run("show-printer-settings", str(ROOT / "firmware-config/readers/virtual-pcd.toml"))
    assert result.exit_code == 1
    assert "a printer profile is needed" in result.output


# --- where the profiles are found ---------------------------------------------------------------


def test_profiles_dir_is_the_checkout_folder_by_default(monkeypatch):
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    assert profiles.profiles_dir() == ROOT / "firmware-config"


def test_profiles_dir_honours_the_env_var(monkeypatch, tmp_path):
    (tmp_path / "printers").mkdir()
    write(tmp_path / "printers", GOOD_PRINTER, "site-printer")
    monkeypatch.setenv(profiles.ENV_VAR, str(tmp_path))
    assert profiles.profiles_dir() == tmp_path
    assert profiles.load_printer_profile("site-printer").id == "site-printer"


def test_profiles_dir_env_var_pointing_nowhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(profiles.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(MkpError, match="not a folder") as e:
        profiles.profiles_dir()
    assert e.value.code == "invalid_profile"
