"""Adversarial, property-based tests of what the device DELIVERS (issue 13, item 8).

Hypothesis generates protocols of every mode (legal ones through the YAML reader, illegal
ones through ``model_construct`` with nan, inf, -0.0, huge and tiny numbers), device
profiles (legal and past the absolute caps) and random operator sequences with injected
faults and host silences. Each run happens on the in-process simulator in virtual time.

The oracle is not the safety check's formulas: it is the simulated firmware's own log of
what it delivered, turned into a pulse train (``adv_oracle``) and judged against the
reference limits. A refusal (any :class:`TensctlError`) is a fine outcome; the failures
are an exception that is not a TensctlError (a crash) and a delivered output beyond a
limit.
"""

from __future__ import annotations

import math
import os
from typing import Any

import hypothesis.strategies as st
from adv_build import (
    Outcome,
    as_yaml,
    constructed,
    finish,
    hostile_host_profile,
    num,
    open_device,
    ops,
    profile_data,
    profile_library,
    protocol_data,
    run_ops,
    start_session,
)
from adv_oracle import (
    ABS_PEAK_MA,
    CHARGE_MAX_UC,
    CLINIC_FREQ_MAX_HZ,
    DEVICE_WATCHDOG_ABS_MS,
    Limits,
    finite_min,
    on_at_end,
    pulses_from_log,
    violations,
    watchdog_violations,
)
from hypothesis import HealthCheck, Phase, given, settings

from tensctl.errors import InputError, TensctlError
from tensctl.model.electrodes import ELECTRODE_CATALOGUE_CM2
from tensctl.model.loader import parse_protocol
from tensctl.model.protocol import Protocol

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # ADVERSARIAL_NO_SHRINK=1: report the first failing example as found (fast to read)
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("ADVERSARIAL_NO_SHRINK")
    else list(Phase),
)


# ---- the judgement of one run -------------------------------------------------------------


def _areas(protocol: Protocol) -> dict[int, dict[str, float]] | None:
    """channel → site → smallest pad area there, or None if any pad's area is unknown."""
    out: dict[int, dict[str, float]] = {}
    for ch in protocol.channels:
        for pad in ch.electrodes:
            area = pad.area_cm2
            if area is None and pad.catalogue in ELECTRODE_CATALOGUE_CM2:
                area = ELECTRODE_CATALOGUE_CM2[pad.catalogue]
            if area is None or not (math.isfinite(area) and area > 0):
                return None
            site = str(getattr(pad.site, "value", pad.site))
            by_site = out.setdefault(ch.id, {})
            by_site[site] = min(area, by_site.get(site, math.inf))
    return out


def judge(out: Outcome, protocol: Protocol | None) -> None:
    log = list(out.log)
    fw = out.sim.firmware
    device, host = fw.profile, out.device.profile
    lim = Limits(
        peak_ma=finite_min(
            ABS_PEAK_MA, device.amplitude.max_ma, getattr(host.amplitude, "max_ma", None)
        ),
        charge_uc=finite_min(
            CHARGE_MAX_UC, device.max_charge_per_phase_uc, host.max_charge_per_phase_uc
        ),
        freq_max_hz=finite_min(CLINIC_FREQ_MAX_HZ, device.frequency_hz.max),
        watchdog_s=finite_min(DEVICE_WATCHDOG_ABS_MS, device.watchdog_ms) / 1000,
    )
    end = out.now()
    if out.accepted and protocol is not None:
        lim.areas = _areas(protocol)
        lim.impedance_ohm = {
            ch.number: (lambda w, ch=ch: ch.load.impedance_ohm(w, end)) for ch in fw.channels
        }
    pulses = pulses_from_log(log, end)
    problems = violations(pulses, lim)
    problems += watchdog_violations(log, lim.watchdog_s)
    delivered = any(train for train in pulses.values())
    if delivered and out.session is None:
        problems.append("output delivered by a session the host refused")
    for e in log:
        if e["event"] == "output" and e["running"] and e["amplitude_ua"] > 0:
            ceiling = out.ceilings_ma.get(e["channel"])
            if ceiling is None:
                problems.append(f"ch{e['channel']} on at t={e['t']:.3f} with no ceiling")
            elif e["amplitude_ua"] > ceiling * 1000 + 1e-6:
                problems.append(
                    f"ch{e['channel']} at {e['amplitude_ua']} µA above the host's "
                    f"ceiling {ceiling:g} mA at t={e['t']:.3f}"
                )
    assert not problems, problems


def settled(out: Outcome) -> None:
    """After the run: every output is 0 on the device."""
    status = out.sim.status(out.now())
    assert all(ch["amplitude_ua"] == 0 or not ch["running"] for ch in status), status
    assert all(v == 0 for v in on_at_end(out.log).values())


# ---- session arguments ----------------------------------------------------------------------


@st.composite
def session_args(draw: st.DrawFn, protocol: Any, hostile: bool) -> dict[str, Any]:
    ids = [c["id"] for c in protocol["channels"]]
    amount = num(0.5, 60.0, hostile, True) if hostile else num(1.0, 30.0, False)
    out: dict[str, Any] = {}
    which = draw(st.sampled_from(["none", "one", "each"]))
    if which == "one":
        out["intensity"] = draw(amount)
    elif which == "each":
        out["intensity"] = {ch: draw(amount) for ch in ids}
    if draw(st.booleans()):
        top = num(0.5, 140.0, hostile, True) if hostile else num(30.0, 100.0, False)
        out["ceiling"] = draw(top) if draw(st.booleans()) else {ch: draw(top) for ch in ids}
    if draw(st.booleans()) or protocol["intensity"].get("relative_to"):
        out["thresholds"] = {ch: {"SC2": draw(amount)} for ch in ids}
    return out


def _run(
    out: Outcome, protocol: Protocol, args: dict[str, Any], sequence: list[Any], abandon: bool
) -> None:
    start_session(out, protocol, **args)
    run_ops(out, [("time", 3.0), *sequence])
    finish(out, abandon)
    judge(out, protocol)
    if not abandon:
        settled(out)


# ---- legal protocols, read from YAML text, on the stock device -----------------------------


@SETTINGS
@given(data=st.data(), abandon=st.booleans())
def test_yaml_protocols_deliver_within_the_limits(data: st.DataObject, abandon: bool) -> None:
    doc = data.draw(protocol_data(hostile=False))
    try:
        protocol = parse_protocol(as_yaml(doc), "<adversarial>")
    except InputError:
        return  # refused by the file model: fine
    args = data.draw(session_args(doc, hostile=False))
    sequence = data.draw(ops())
    out = open_device("sim://")
    _run(out, protocol, args, sequence, abandon)


# ---- hostile numbers through the YAML reader: refused cleanly or within limits --------------


@SETTINGS
@given(data=st.data())
def test_yaml_with_extreme_numbers_is_refused_or_safe(data: st.DataObject) -> None:
    doc = data.draw(protocol_data(hostile=True))
    try:
        protocol = parse_protocol(as_yaml(doc), "<adversarial>")
    except InputError:
        return
    out = open_device("sim://")
    _run(out, protocol, data.draw(session_args(doc, hostile=True)), data.draw(ops()), False)


# ---- illegal protocols built with model_construct: the host must refuse or stay safe -------


@SETTINGS
@given(data=st.data(), abandon=st.booleans())
def test_constructed_protocols_are_refused_or_safe(data: st.DataObject, abandon: bool) -> None:
    doc = data.draw(protocol_data(hostile=True))
    protocol = constructed(doc)
    out = open_device("sim://")
    _run(out, protocol, data.draw(session_args(doc, hostile=True)), data.draw(ops()), abandon)


# ---- device profiles: legal, and past the absolute caps (device and host agree) ------------


@SETTINGS
@given(data=st.data(), beyond=st.booleans(), abandon=st.booleans())
def test_changed_device_profiles_deliver_within_the_limits(
    data: st.DataObject, beyond: bool, abandon: bool
) -> None:
    profile = data.draw(profile_data(beyond))
    doc = data.draw(protocol_data(hostile=False))
    try:
        protocol = parse_protocol(as_yaml(doc), "<adversarial>")
    except InputError:
        return
    with profile_library(profile) as url:
        try:
            out = open_device(url)
        except TensctlError:
            return
        _run(out, protocol, data.draw(session_args(doc, hostile=False)), data.draw(ops()), abandon)


# ---- a host that believes a broken profile (nan, inf, huge) on the stock device ------------

HOSTILE_PROFILE_NUMBERS = st.dictionaries(
    st.sampled_from(
        [
            "max_ma",
            "slew_step",
            "slew_rate",
            "watchdog_ms",
            "compliance_voltage_v",
            "max_charge_per_phase_uc",
        ]
    ),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -5.0, 1e300, 131.0, 5e3]),
    min_size=1,
    max_size=3,
)


@SETTINGS
@given(data=st.data(), numbers=HOSTILE_PROFILE_NUMBERS)
def test_a_host_with_a_broken_profile_is_refused_or_safe(
    data: st.DataObject, numbers: dict[str, float]
) -> None:
    doc = data.draw(protocol_data(hostile=False))
    try:
        protocol = parse_protocol(as_yaml(doc), "<adversarial>")
    except InputError:
        return
    out = open_device("sim://", hostile_host_profile(numbers))
    _run(out, protocol, data.draw(session_args(doc, hostile=False)), data.draw(ops()), False)
