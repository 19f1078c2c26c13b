"""Strategies and the harness of the adversarial suite: protocols of every mode (legal ones
through the file model, illegal ones through ``model_construct``), device profiles, and
operator sequences, run on the in-process simulator in virtual time with the firmware's
output log captured."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import yaml
from pydantic import TypeAdapter
from tenssim.scenario import ScenarioEvent

import tensctl
from tensctl.api import Device, RunningSession
from tensctl.engine.states import State
from tensctl.errors import TensctlError
from tensctl.model.device import AmplitudeSpec, DeviceProfile, SlewSpec
from tensctl.model.electrodes import ELECTRODE_CATALOGUE_CM2, Electrode
from tensctl.model.modes import (
    Alternating,
    AlternatingStep,
    AmplitudeDepth,
    Burst,
    Continuous,
    FrequencySweep,
    Modulated,
    PulseWidthSweep,
)
from tensctl.model.protocol import (
    Channel,
    IntensityTarget,
    Phase,
    Protocol,
    SecondaryPhase,
    SessionLimits,
)

ROOT = Path(__file__).resolve().parents[2]
BASE_PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "devices" / "tenssim-2ch.yaml").read_text())
EVENT: TypeAdapter[Any] = TypeAdapter(ScenarioEvent)

NAN, INF = math.nan, math.inf
EXTREMES = [NAN, INF, -INF, -0.0, 0.0, 5e-324, 1e-300, 1e-9, -1.0, 1e300, 1.7976931348623157e308]
SITES = ["forearm_left", "forearm_right", "upper_arm_left", "thigh_left", "lower_back_left"]


# amplitudes get every extreme, the subnormal 5e-324 included (it once crashed the power
# check, see test_known_holes.py)
AMPLITUDE_EXTREMES = list(EXTREMES)


def num(lo: float, hi: float, hostile: bool, amplitude: bool = False) -> st.SearchStrategy[float]:
    """Mostly a number in [lo, hi]; with ``hostile`` also extremes and non-finite ones."""
    inside = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    edges = st.sampled_from([lo, hi])
    if not hostile:
        return st.one_of(inside, inside, inside, edges)
    extremes = AMPLITUDE_EXTREMES if amplitude else EXTREMES
    return st.one_of(inside, inside, edges, st.sampled_from(extremes))


# ---- protocols as plain data (the YAML a user could write) ------------------------------


@st.composite
def phase_data(draw: st.DrawFn, hostile: bool, index: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["continuous", "burst", "alternating", "modulated"]))
    out: dict[str, Any] = {
        "name": f"p{index}",
        "duration_s": draw(num(1.0, 20.0, hostile)),
    }
    if draw(st.booleans()):
        width = draw(num(1.0, 20.0, hostile))
        balanced = 1 / width if width and math.isfinite(width) else 1.0
        amp = draw(st.one_of(st.just(balanced), num(0.05, 1.0, True))) if hostile else balanced
        out["waveform"] = "asymmetric_biphasic"
        out["secondary_phase"] = {"amplitude_ratio": amp, "width_ratio": width}
    freq = num(1.0, 220.0, hostile) if hostile else num(1.0, 200.0, False)
    width_us = num(40.0, 420.0, hostile) if hostile else num(50.0, 400.0, False)
    if kind == "continuous":
        out |= {"frequency_hz": draw(freq), "pulse_width_us": draw(width_us)}
    elif kind == "burst":
        f = draw(freq)
        out |= {"frequency_hz": f, "pulse_width_us": draw(width_us)}
        rate = draw(num(0.2, 20.0, hostile))
        if hostile:
            ppt = draw(st.integers(1, 101))
        else:  # mostly trains that end before the next one
            fit = int(f / rate) - 1 if rate > 0 else 2
            ppt = draw(st.integers(2, max(2, min(100, fit))))
        out["mode"] = {"type": "burst", "pulses_per_train": ppt, "train_rate_hz": rate}
    elif kind == "alternating":
        steps = []
        for _ in range(draw(st.integers(2, 4))):
            step: dict[str, Any] = {
                "frequency_hz": draw(freq),
                "dwell_s": draw(num(0.001 if hostile else 0.01, 3.0, hostile)),
            }
            if draw(st.booleans()):
                step["pulse_width_us"] = draw(width_us)
            steps.append(step)
        if any("pulse_width_us" not in s for s in steps) or draw(st.booleans()):
            out["pulse_width_us"] = draw(width_us)
        out["mode"] = {"type": "alternating", "steps": steps}
    else:
        params: list[dict[str, Any]] = []
        if draw(st.booleans()):
            lo, hi = sorted([draw(freq), draw(freq)])
            params.append({"parameter": "frequency_hz", "low": lo, "high": hi})
        else:
            out["frequency_hz"] = draw(freq)
        if draw(st.booleans()):
            lo, hi = sorted([draw(width_us), draw(width_us)])
            params.append({"parameter": "pulse_width_us", "low": lo, "high": hi})
        else:
            out["pulse_width_us"] = draw(width_us)
        if draw(st.booleans()) or not params:
            params.append({"parameter": "amplitude", "depth_percent": draw(num(1, 100, hostile))})
        for p in params:
            p["inverted"] = draw(st.booleans())
        out["mode"] = {
            "type": "modulated",
            "period_s": draw(num(0.05 if hostile else 0.2, 8.0, hostile)),
            "shape": draw(st.sampled_from(["sine", "triangle", "sawtooth", "square"])),
            "parameters": params,
        }
    ramp = num(0.0, 3.0, hostile)
    out["ramp_up_s"], out["ramp_down_s"] = draw(ramp), draw(ramp)
    return out


@st.composite
def electrode_data(draw: st.DrawFn, hostile: bool, site: str) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"site": site, "catalogue": draw(st.sampled_from(sorted(ELECTRODE_CATALOGUE_CM2)))}
    return {"site": site, "area_cm2": draw(num(2.0, 200.0, hostile))}


@st.composite
def protocol_data(draw: st.DrawFn, hostile: bool) -> dict[str, Any]:
    n_channels = draw(st.integers(1, 2))
    channels = []
    for cid in range(1, n_channels + 1):
        sites = [draw(st.sampled_from(SITES)), draw(st.sampled_from(SITES))]
        ch: dict[str, Any] = {
            "id": cid,
            "electrodes": [draw(electrode_data(hostile, s)) for s in sites],
        }
        if draw(st.booleans()):
            ch["ceiling_ma"] = draw(
                num(1.0 if hostile else 30.0, 140.0 if hostile else 100.0, hostile, True)
            )
        channels.append(ch)
    phases = [draw(phase_data(hostile, i)) for i in range(draw(st.integers(1, 3)))]
    total = sum(p["duration_s"] for p in phases)
    timer = total * draw(st.floats(1.0, 2.0)) if math.isfinite(total) else 60.0
    intensity: dict[str, Any]
    if draw(st.booleans()):
        intensity = {"target_ma": draw(num(0.5, 140.0 if hostile else 40.0, hostile, True))}
    else:
        intensity = {"relative_to": "SC2"}
        if draw(st.booleans()):
            intensity["scale"] = draw(num(0.5, 1.5, hostile, True))
    out: dict[str, Any] = {
        "format_version": 1,
        "id": "adversarial",
        "name": "Adversarial",
        "channels": channels,
        "intensity": intensity,
        "phases": phases,
        "session": {
            "max_duration_s": draw(st.one_of(st.just(timer), num(2.0, 60.0, True)))
            if hostile
            else timer,
            "daily_cap_s": draw(num(60.0, 7200.0, hostile)),
        },
    }
    if draw(st.booleans()):
        out["ceiling_ma"] = draw(
            num(1.0 if hostile else 30.0, 140.0 if hostile else 100.0, hostile, True)
        )
    return out


def as_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


# ---- the same data, bypassing validation --------------------------------------------------


def _mode(data: dict[str, Any] | None) -> Any:
    if data is None:
        return Continuous()
    m = dict(data)
    kind = m.pop("type")
    if kind == "burst":
        return Burst.model_construct(type="burst", **m)
    if kind == "alternating":
        steps = [AlternatingStep.model_construct(**s) for s in m["steps"]]
        return Alternating.model_construct(type="alternating", steps=steps)
    params = []
    for p in m.pop("parameters"):
        cls = {
            "frequency_hz": FrequencySweep,
            "pulse_width_us": PulseWidthSweep,
            "amplitude": AmplitudeDepth,
        }[p["parameter"]]
        params.append(cls.model_construct(**p))
    return Modulated.model_construct(type="modulated", parameters=params, **m)


def constructed(data: dict[str, Any]) -> Protocol:
    """The protocol of ``data`` built with ``model_construct`` all the way down."""
    phases = []
    for p in data["phases"]:
        q = dict(p)
        sec = q.pop("secondary_phase", None)
        q["mode"] = _mode(q.pop("mode", None))
        q["secondary_phase"] = SecondaryPhase.model_construct(**sec) if sec else None
        q.setdefault("waveform", "symmetric_biphasic")
        q.setdefault("frequency_hz", None)
        q.setdefault("pulse_width_us", None)
        q.setdefault("cycling", None)
        phases.append(Phase.model_construct(**q))
    channels = [
        Channel.model_construct(
            id=c["id"],
            label=None,
            electrodes=[
                Electrode.model_construct(
                    site=e["site"], catalogue=e.get("catalogue"), area_cm2=e.get("area_cm2")
                )
                for e in c["electrodes"]
            ],
            intensity=None,
            ceiling_ma=c.get("ceiling_ma"),
        )
        for c in data["channels"]
    ]
    i = data["intensity"]
    return Protocol.model_construct(
        format_version=1,
        id=data["id"],
        name=data["name"],
        description="",
        indications=[],
        references=[],
        notes=None,
        channels=channels,
        intensity=IntensityTarget.model_construct(
            target_ma=i.get("target_ma"),
            relative_to=i.get("relative_to"),
            scale=i.get("scale", 1.0),
        ),
        ceiling_ma=data.get("ceiling_ma"),
        phases=phases,
        session=SessionLimits.model_construct(retitrate_every_s=None, **data["session"]),
    )


# ---- device profiles ----------------------------------------------------------------------


@st.composite
def profile_data(draw: st.DrawFn, beyond_caps: bool) -> dict[str, Any]:
    """A copy of tenssim-2ch with changed numbers; ``beyond_caps``: past the absolute caps
    (still a valid file)."""
    p = yaml.safe_load(yaml.safe_dump(BASE_PROFILE))
    p["id"] = "adv-profile"
    top = 1000.0 if beyond_caps else 130.0
    p["amplitude"]["max_ma"] = draw(st.floats(5.0, top))
    p["watchdog_ms"] = draw(st.floats(50.0, 10_000.0 if beyond_caps else 500.0))
    p["compliance_voltage_v"] = draw(st.floats(20.0, 2000.0 if beyond_caps else 500.0))
    p["max_charge_per_phase_uc"] = draw(st.floats(1.0, 200.0 if beyond_caps else 40.0))
    p["slew"] = {
        "max_step_ma": draw(st.floats(0.1, 50.0 if beyond_caps else 1.0)),
        "max_rate_ma_per_s": draw(st.floats(0.5, 200.0 if beyond_caps else 4.0)),
    }
    fmax = draw(st.floats(20.0, 2000.0 if beyond_caps else 200.0))
    p["frequency_hz"] = {"min": draw(st.floats(0.1, 1.0)), "max": fmax}
    wmax = draw(st.floats(100.0, 5000.0 if beyond_caps else 400.0))
    p["pulse_width_us"] = {"min": draw(st.floats(10.0, 50.0)), "max": wmax}
    return p


def hostile_host_profile(numbers: dict[str, float]) -> DeviceProfile:
    """The tenssim-2ch profile with ``numbers`` (possibly nan, inf, negative) put in by
    ``model_copy`` and ``model_construct``: no validation."""
    base = DeviceProfile.model_validate(BASE_PROFILE)
    update: dict[str, Any] = {}
    if "max_ma" in numbers:
        update["amplitude"] = AmplitudeSpec.model_construct(
            max_ma=numbers["max_ma"], resolution_ua=1.0
        )
    if "slew_step" in numbers or "slew_rate" in numbers:
        update["slew"] = SlewSpec.model_construct(
            max_step_ma=numbers.get("slew_step", 1.0),
            max_rate_ma_per_s=numbers.get("slew_rate", 4.0),
        )
    for key in ("watchdog_ms", "compliance_voltage_v", "max_charge_per_phase_uc"):
        if key in numbers:
            update[key] = numbers[key]
    return base.model_copy(update=update)


# ---- operator sequences ---------------------------------------------------------------------

FAULTS: list[dict[str, Any]] = [
    {"kind": "electrode_off", "channel": 1},
    {"kind": "electrode_on", "channel": 1},
    {"kind": "over_current", "channel": 2},
    {"kind": "over_current", "channel": 2, "active": False},
    {"kind": "short", "channel": 1},
    {"kind": "peel", "channel": 2, "duration_s": 2, "area_fraction": 0.3},
    {"kind": "impedance_step", "channel": 1, "series_ohm": 3000, "parallel_ohm": 20000},
    {"kind": "link_silence", "duration_ms": 800},
    {"kind": "link_quality", "corruption_rate": 0.01, "drop_rate": 0.05},
    {"kind": "reboot", "offline_ms": 200},
    {"kind": "battery", "low": True},
    {"kind": "battery", "low": False},
]

Op = tuple[Any, ...]


def ops(with_faults: bool = True, max_size: int = 14) -> st.SearchStrategy[list[Op]]:
    choices: list[st.SearchStrategy[Op]] = [
        st.tuples(st.just("time"), st.floats(0.05, 8.0)),
        st.tuples(st.just("time"), st.floats(0.05, 8.0)),
        st.tuples(
            st.just("adjust"),
            st.sampled_from([1, 2]),
            st.one_of(st.floats(-8, 8), st.sampled_from([NAN, INF, -INF, 1e300, -0.0])),
        ),
        st.tuples(st.sampled_from(["pause", "resume", "stop", "estop", "start", "reset"])),
        st.tuples(st.just("silence"), st.floats(0.05, 3.0)),
    ]
    if with_faults:
        choices.append(st.tuples(st.just("fault"), st.sampled_from(FAULTS)))
    return st.lists(st.one_of(*choices), max_size=max_size)


# ---- the harness ----------------------------------------------------------------------------

_PROFILE_DIR = Path(tempfile.mkdtemp(prefix="tensctl-adversarial-"))


@contextlib.contextmanager
def profile_library(data: dict[str, Any] | None) -> Iterator[str]:
    """``sim://ID`` of a device running profile ``data`` (written where TENSCTL_DEVICES
    finds it), or of the default simulator."""
    if data is None:
        yield "sim://"
        return
    (_PROFILE_DIR / f"{data['id']}.yaml").write_text(yaml.safe_dump(data))
    old = os.environ.get("TENSCTL_DEVICES")
    os.environ["TENSCTL_DEVICES"] = str(_PROFILE_DIR)
    try:
        yield f"sim://{data['id']}"
    finally:
        if old is None:
            del os.environ["TENSCTL_DEVICES"]
        else:
            os.environ["TENSCTL_DEVICES"] = old


@dataclass
class Outcome:
    device: Device
    log: list[dict[str, Any]]
    session: RunningSession | None = None
    refused: TensctlError | None = None
    ceilings_ma: dict[int, float] = field(default_factory=dict)
    accepted: bool = False
    errors: list[TensctlError] = field(default_factory=list)

    @property
    def sim(self) -> Any:
        return self.device.driver.device  # type: ignore[attr-defined]

    def now(self) -> float:
        return self.device.clock.now()


def open_device(url: str, host_profile: DeviceProfile | None = None) -> Outcome:
    dev = tensctl.connect(url, virtual=True, journal=False)
    if host_profile is not None:
        dev.profile = host_profile  # the host believes this profile; the device is as it is
    log: list[dict[str, Any]] = []
    sim = dev.driver.device  # type: ignore[attr-defined]
    sim.firmware.log, sim.firmware.logging = log.append, True
    return Outcome(dev, log)


def start_session(out: Outcome, protocol: Protocol, **kwargs: Any) -> None:
    kwargs.setdefault("screened", True)
    try:
        out.session = out.device.session(protocol, **kwargs)
    except TensctlError as exc:
        out.refused = exc
        return
    out.accepted = out.session.checked
    out.ceilings_ma = dict(out.session.ceilings_ma)


def apply(out: Outcome, op: Op) -> None:
    s = out.session
    assert s is not None
    kind = op[0]
    try:
        if kind == "time":
            s.run_for(op[1])
        elif kind == "adjust":
            s.adjust(op[1] if op[1] in s.channels else s.channels[0], op[2])
        elif kind == "pause":
            s.pause()
        elif kind == "resume":
            s.resume()
        elif kind == "stop":
            s.stop()
        elif kind == "estop":
            s.emergency_stop()
        elif kind == "start":
            s.start()
        elif kind == "reset":
            out.device.clock.advance(3.5)  # type: ignore[attr-defined]
            for event in (
                {"kind": "electrode_on", "channel": 1},
                {"kind": "electrode_on", "channel": 2},
                {"kind": "over_current", "channel": 2, "active": False},
                {"kind": "battery", "low": False},
                {"kind": "link_quality"},
            ):
                out.sim.inject(EVENT.validate_python({"at_s": 0, **event}), out.now())
            s.reset()
        elif kind == "silence":  # the host says nothing; time passes on the device
            out.device.clock.advance(op[1])  # type: ignore[attr-defined]
            out.sim.status(out.now())
        elif kind == "fault":
            out.sim.inject(EVENT.validate_python({"at_s": 0, **op[1]}), out.now())
        else:  # pragma: no cover
            raise AssertionError(kind)
    except TensctlError as exc:
        out.errors.append(exc)


def run_ops(out: Outcome, sequence: list[Op], start: bool = True) -> None:
    if out.session is None:
        return
    if start and out.session.state is State.ready:
        apply(out, ("start",))
    for op in sequence:
        apply(out, op)


def finish(out: Outcome, abandon: bool) -> None:
    """End the run: close the session (outputs to 0) or ``abandon`` it — the host goes
    silent and the device's watchdog must end the output."""
    if abandon:
        out.device.clock.advance(12.0)  # type: ignore[attr-defined]
        out.sim.status(out.now())
        return
    if out.session is not None:
        out.session.close()
    out.device.close()
    out.device.clock.advance(1.0)  # type: ignore[attr-defined]
    out.sim.status(out.now())
