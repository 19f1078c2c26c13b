from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tensctl.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[1]


def test_readme_exit_codes_match_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme, re.M))
    for code, meaning in EXIT_CODES.values():
        assert rows.get(str(code)) == meaning


def test_list_shows_every_library_protocol(cli) -> None:
    result = cli("protocols", "list", "--json")
    assert result.code == 0
    rows = json.loads(result.out)
    ids = {r["id"] for r in rows}
    assert ids == {p.stem for p in (ROOT / "protocols").glob("*.yaml")}
    assert all(r["source"] != "—" for r in rows)
    table = cli("protocols", "list")
    assert table.code == 0 and "conventional-hf" in table.out


def test_show_reports_dose_at_given_intensity(cli) -> None:
    result = cli("protocols", "show", "conventional-hf", "--intensity", "30", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    dose = data["doses"][0]
    # 30 mA, 200 µs, 100 Hz, symmetric biphasic: 30 * sqrt(2 * 200e-6 * 100) = 6 mA rms
    assert dose["rms_ma"] == pytest.approx(6.0)
    assert dose["charge_per_phase_uc"] == pytest.approx(6.0)
    assert dose["current_density_ma_per_cm2"] == pytest.approx(6.0 / 25)
    assert data["intensities"]["1"]["basis"] == "given"
    text = cli("protocols", "show", "conventional-hf")
    assert text.code == 0 and "worst case" in text.out


def test_show_unknown_id_suggests(cli) -> None:
    result = cli("protocols", "show", "conventional-h")
    assert result.code == EXIT_CODES["input"][0]
    assert "did you mean 'conventional-hf'" in result.err


def test_validate_library_passes(cli) -> None:
    paths = sorted(str(p) for p in (ROOT / "protocols").glob("*.yaml"))
    result = cli("protocols", "validate", *paths)
    assert result.code == 0, result.err


def test_validate_refuses_small_electrodes_with_exit_4(cli) -> None:
    proto = str(ROOT / "protocols" / "conventional-hf.yaml")
    result = cli("protocols", "validate", proto, "--electrode-area", "4", "--json")
    assert result.code == EXIT_CODES["safety"][0]
    findings = json.loads(result.out)["files"][0]["findings"]
    density = [f for f in findings if f["rule"] == "current_density"]
    assert density and density[0]["severity"] == "violation"
    assert density[0]["limit"] == 2.0 and "IEC 60601-2-10" in density[0]["source"]
    acked = cli(
        "protocols", "validate", proto, "--electrode-area", "4", "--acknowledge", "current_density"
    )
    assert acked.code == 0, acked.err
    assert "acknowledged" in acked.err


def test_validate_rejects_unknown_acknowledgement(cli) -> None:
    proto = str(ROOT / "protocols" / "conventional-hf.yaml")
    result = cli("protocols", "validate", proto, "--acknowledge", "everything")
    assert result.code == EXIT_CODES["usage"][0]
    assert "everything" in result.err


def test_validate_bad_intensity_argument(cli) -> None:
    proto = str(ROOT / "protocols" / "conventional-hf.yaml")
    for bad in ("lots", "1=x", "a=3", "-5", "nan", "9=10"):
        result = cli("protocols", "validate", proto, "--intensity", bad)
        assert result.code == EXIT_CODES["input"][0], bad
        assert "--intensity" in result.err


def test_validate_broken_file_exit_3(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format_version: 1\nid: x\nnmae: y\n")
    result = cli("protocols", "validate", str(bad))
    assert result.code == EXIT_CODES["input"][0]
    assert f"{bad}:3:" in result.err and "did you mean 'name'" in result.err
    assert "Traceback" not in result.err


def test_usage_error_is_exit_2(cli) -> None:
    assert cli("protocols", "validate").code == 2
    assert cli("protocols", "frobnicate").code == 2
    assert cli("--no-such-option").code == 2


def test_devices_profiles(cli) -> None:
    result = cli("devices", "profiles", "--json")
    assert result.code == 0
    rows = {r["id"]: r for r in json.loads(result.out)}
    assert "tenssim-2ch" in rows
    assert any(not r["simulated"] for r in rows.values()), "a real device profile ships"


@pytest.mark.parametrize("kind", ["protocol", "device"])
def test_schema_is_json_schema(cli, kind: str) -> None:
    result = cli("schema", kind)
    assert result.code == 0
    schema = json.loads(result.out)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert "$schema" in schema


def test_plot_png_and_svg(cli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "dd.png"
    assert cli("protocols", "plot", "dense-disperse", "-o", str(png)).code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "dd.svg"
    assert cli("protocols", "plot", "conventional-hf", "-o", str(svg)).code == 0
    assert b"<svg" in svg.read_bytes()[:500]
    wrong = cli("protocols", "plot", "burst", "-o", str(tmp_path / "x.jpg"))
    assert wrong.code == EXIT_CODES["input"][0] and ".png or .svg" in wrong.err


def test_plot_without_matplotlib_says_so(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from tensctl.cli.app import main\n"
        f"sys.exit(main(['protocols', 'plot', 'burst', '-o', r'{tmp_path / 'x.png'}']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == EXIT_CODES["missing_extra"][0]
    assert "tensctl[plot]" in proc.stderr and "Traceback" not in proc.stderr


def test_console_script_runs_as_a_process() -> None:
    exe = Path(sys.executable).with_name("tensctl")
    proc = subprocess.run([str(exe), "protocols", "list"], capture_output=True, text=True)
    assert proc.returncode == 0 and "conventional-hf" in proc.stdout
    bad = subprocess.run(
        [str(exe), "protocols", "show", "/nonexistent.yaml"], capture_output=True, text=True
    )
    assert bad.returncode == 3 and "no such file" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_stop_the_device_never_confirmed_is_not_reported_as_output_at_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A vanished device: the e-stop went out unacknowledged, so the CLI must not say every
    output was taken to 0 (issue 13)."""
    import tensctl
    from tensctl.cli.run import _finish
    from tensctl.drivers.errors import LinkLost
    from tensctl.errors import FaultError

    with tensctl.connect("sim://", virtual=True, journal=False) as dev:
        s = dev.session("brief-intense", intensity=15.0, screened=True)
        s.run_for(10)

        def gone() -> None:
            raise LinkLost("sim://: no reply")

        monkeypatch.setattr(s.driver, "emergency_stop", gone)
        s.fault("link_lost", "the device stopped answering")
        with pytest.raises(FaultError) as caught:
            _finish(s, s.state)
        monkeypatch.undo()
        s.close()
    message = str(caught.value)
    assert "did not confirm" in message and "taken to 0" not in message
