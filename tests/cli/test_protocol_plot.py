"""``tensctl protocols plot``: a frequency that alternates faster than the plot resolves is a
band, not a block of strokes; the amplitude says what intensity it is drawn at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tensctl.cli.plot import MIN_PX_PER_CHANGE, intensity_of, protocol_figure
from tensctl.journal.store import Store
from tensctl.model.device import DeviceProfile
from tensctl.model.intensity import resolve_intensities
from tensctl.model.library import DEFAULT_DEVICE, find_device, find_protocol
from tensctl.model.loader import load_protocol
from tensctl.model.protocol import Protocol, Threshold

pytest.importorskip("matplotlib")
from matplotlib.collections import PolyCollection

ROOT = Path(__file__).resolve().parents[2]


def _device() -> DeviceProfile:
    return find_device(DEFAULT_DEVICE)[0]


def _figure(protocol: Protocol, **resolve: Any) -> Any:
    resolved = resolve_intensities(protocol, _device(), **resolve)
    amps = {ch: r.amplitude_ma for ch, r in resolved.items()}
    return protocol_figure(protocol, amps, intensity_of(resolved))


def _line_points(ax: Any) -> int:
    return sum(len(line.get_xdata()) for line in ax.get_lines())


def _bands(ax: Any) -> list[PolyCollection]:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_dense_disperse_frequency_is_a_band_with_its_edges_and_words() -> None:
    fig = _figure(find_protocol("dense-disperse")[0])
    amplitude, frequency, width = fig.axes
    assert len(_bands(frequency)) == 1
    assert _line_points(frequency) < 20  # two edges, not 600 alternations
    lows, highs = ({min(line.get_ydata()), max(line.get_ydata())} for line in frequency.get_lines())
    assert lows == {2.0} and highs == {100.0}
    words = [t.get_text() for t in frequency.texts]
    assert "alternates 2 ↔ 100 Hz, 3 s each" in words
    assert _bands(width) == [] and _line_points(width) < 10  # a constant 200 µs: a line
    assert _bands(amplitude) == []  # the ramps are seen as lines
    assert "worst case" in amplitude.get_ylabel()
    assert "the worst case, the device's maximum: 100 mA" in amplitude.get_title(loc="left")


def test_an_alternation_the_plot_resolves_stays_a_line(tmp_path: Path) -> None:
    """300 s steps over 30 min are 150 px apart: drawn as steps, not as a band."""
    text = (ROOT / "protocols" / "dense-disperse.yaml").read_text(encoding="utf-8")
    path = tmp_path / "slow.yaml"
    path.write_text(text.replace("dwell_s: 3}", "dwell_s: 300}"), encoding="utf-8")
    frequency = _figure(load_protocol(path)).axes[1]
    assert _bands(frequency) == []
    ys = [y for line in frequency.get_lines() for y in line.get_ydata()]
    assert {2.0, 100.0} <= set(ys) and len(ys) < 40


def test_a_sweep_faster_than_the_plot_is_a_band_for_each_swept_parameter() -> None:
    fig = _figure(find_protocol("modulated")[0])
    frequency, width = fig.axes[1], fig.axes[2]
    assert len(_bands(frequency)) == len(_bands(width)) == 1
    assert "triangle sweep 2–120 Hz, every 12 s" in [t.get_text() for t in frequency.texts]
    assert "triangle sweep 100–200 µs, every 12 s" in [t.get_text() for t in width.texts]
    assert MIN_PX_PER_CHANGE > 6 * 860 / 1800  # a 6 s half-period is under it at 30 min


def test_the_amplitude_says_a_given_intensity() -> None:
    protocol = find_protocol("dense-disperse")[0]
    amplitude = _figure(protocol, given_ma={1: 22.5}).axes[0]
    assert "given" in amplitude.get_ylabel()
    assert "22.5 mA, as given" in amplitude.get_title(loc="left")
    assert max(max(line.get_ydata()) for line in amplitude.get_lines()) == pytest.approx(22.5)
    titrated = _figure(protocol, thresholds_ma={Threshold.SC2: 14.0}).axes[0]
    assert "SC2 = 14 mA" in titrated.get_title(loc="left")


def _titrated(db: Path, patient: str, sc2_ma: float, simulated: bool = False) -> None:
    protocol = find_protocol("dense-disperse")[0]
    header = {
        "patient_id": patient,
        "protocol_id": protocol.id,
        "protocol_name": protocol.name,
        "device_url": "/dev/ttyUSB0",
        "device_model": "model",
        "device_serial": "TENS-0042",
        "firmware": "1",
        "simulated": simulated,
        "operator": "test-operator",
    }
    with Store(db) as store:
        writer = store.open_session(header, protocol.model_dump_json())
        for name, value in (("ST", 4.0), ("SC1", 10.0), ("N", 19.0), ("SC2", sc2_ma)):
            writer.append(
                "titration", 0.0, {"channel": 1, "threshold": name, "amplitude_ma": value}
            )
        writer.close("completed", 0.0)


def test_a_patients_last_titration_through_the_command_line(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    _titrated(db, "P-1", 12.0)
    _titrated(db, "P-1", 16.0)  # the last one counts
    out = tmp_path / "dd.png"
    made = cli(
        "protocols", "plot", "dense-disperse", "-o", str(out), "--patient", "P-1", "--db", str(db)
    )
    assert made.code == 0, made.err
    said = " ".join(made.err.split())
    assert "SC2 = 16 mA, from patient P-1's last titration (session 2," in said
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    given = cli("protocols", "plot", "dense-disperse", "-o", str(out), "-i", "20")
    assert given.code == 0 and "20 mA, as given" in given.err


def test_a_patient_without_a_titration_is_a_clear_error(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    _titrated(db, "P-1", 12.0)
    out = str(tmp_path / "x.png")
    missing = cli(
        "protocols", "plot", "dense-disperse", "-o", out, "--patient", "P-2", "--db", str(db)
    )
    assert missing.code == 3 and "no titration recorded for patient 'P-2'" in missing.err
    bad = cli("protocols", "plot", "dense-disperse", "-o", out, "--patient", "a b", "--db", str(db))
    assert bad.code == 3 and "pseudonym" in bad.err
    nowhere = str(tmp_path / "none.sqlite3")
    no_store = cli("protocols", "plot", "burst", "-o", out, "--patient", "P-1", "--db", nowhere)
    assert no_store.code == 9 and "no session store there" in no_store.err
    for result in (missing, bad, no_store):
        assert "Traceback" not in result.err
    assert not Path(out).exists()


def test_only_a_simulated_titration_is_used_and_said(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    _titrated(db, "P-3", 11.0, simulated=True)
    made = cli(
        "protocols",
        "plot",
        "dense-disperse",
        "-o",
        str(tmp_path / "x.svg"),
        "--patient",
        "P-3",
        "--db",
        str(db),
    )
    assert made.code == 0, made.err
    assert "on the simulator" in made.err and "= 11 mA" in made.err


def test_on_off_cycling_is_an_amplitude_band_and_a_slow_phase_stays_a_line(
    tmp_path: Path,
) -> None:
    """5 s on / 5 s off over 30 min is a band from 0 to the level; a 5-min warm-up before
    it, with no cycling, is a line."""
    text = (ROOT / "protocols" / "conventional-hf.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    ramp_up_s: 10\n    ramp_down_s: 5\n",
        "    ramp_up_s: 1\n    ramp_down_s: 1\n    cycling: {on_s: 5, off_s: 5}\n",
    ).replace(
        "  - name: stimulation\n",
        "  - name: warm-up\n    duration_s: 300\n    frequency_hz: 4\n    pulse_width_us: 250\n"
        "    ramp_up_s: 10\n    ramp_down_s: 5\n  - name: stimulation\n",
    )
    path = tmp_path / "cycled.yaml"
    path.write_text(text.replace("max_duration_s: 1800", "max_duration_s: 2100"), "utf-8")
    amplitude = _figure(load_protocol(path), given_ma={1: 30.0}).axes[0]
    assert len(_bands(amplitude)) == 1
    vertices: Any = _bands(amplitude)[0].get_paths()[0].vertices
    xs = [float(v[0]) for v in vertices.tolist()]
    assert min(xs) == pytest.approx(5.0, abs=0.01)  # from the second phase on (minutes)
    assert "on 5 s / off 5 s" in [t.get_text() for t in amplitude.texts]
    warm_up = [y for line in amplitude.get_lines() for x, y in line.get_xydata() if x < 4.9]
    assert max(warm_up) == pytest.approx(30.0) and len(warm_up) < 300
