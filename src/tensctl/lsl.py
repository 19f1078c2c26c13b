"""Lab Streaming Layer: a session published as two LSL streams, so that a recording of EEG,
EMG or quantitative sensory testing lines up with the stimulation to within a millisecond.

- ``tensctl-markers`` (type ``Markers``, text, irregular): one marker per session event —
  every state change, phase boundary, set-point, adjustment, titration mark, warning,
  refusal, fault and the end — as the JSON text the record keeps (``{"event": "setpoint",
  "elapsed_s": 12.3, "channel": 1, "amplitude_ma": 20.0}``; ``elapsed_s`` is the session
  time). The telemetry summary goes to the other stream instead.
- ``tensctl-amplitude`` (type ``Stimulation``, numbers, irregular): a sample at each
  telemetry summary (about once a second while output may be on): per channel the
  amplitude tensctl has set and the one the device says it delivered, in mA (``nan``: the
  device does not measure it).

Both carry their metadata in the stream description: the protocol, the patient's
pseudonym, the device, the channel labels with their units, and the time base.

Time stamps are on LSL's clock (:func:`pylsl.local_clock`). In real time an event is
stamped when it happens (the listener runs synchronously in the engine's emit). In virtual
time (the simulator at ``--speed N`` or ``max``) the session's clock is laid onto LSL's from
the moment the streams opened: *stamp = LSL time at open + (session clock now − session
clock at open)*, so the stamps are spaced as the session's own time is, pauses included.

Outlets only: tensctl opens no inlet, and nothing received over LSL reaches the session.

The network: liblsl reads its configuration once, from the file ``LSLAPICFG`` names. When
that is unset, tensctl writes its own (:data:`MACHINE_CONFIG`: discovery on this machine
only, IPv4 only) and points ``LSLAPICFG`` at it before it imports pylsl. A lab that wants
its streams on the network sets ``LSLAPICFG`` to its own file (docs/lsl.md).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import platformdirs

from tensctl.engine.clock import Clock
from tensctl.engine.events import SessionEvent
from tensctl.errors import InputError, MissingExtra, Problem
from tensctl.journal.chain import canonical

CONFIG_ENV = "LSLAPICFG"
MACHINE_CONFIG = """\
; written by tensctl: Lab Streaming Layer on this machine only (docs/lsl.md)
[multicast]
ResolveScope = machine
ListenAddress = 127.0.0.1
[ports]
IPv6 = disable
[log]
level = -2
"""
"""liblsl's configuration when ``LSLAPICFG`` is unset: streams are found from this machine
only (discovery over loopback multicast, its responder bound to 127.0.0.1), no IPv6."""

MARKER_NAME, MARKER_TYPE = "tensctl-markers", "Markers"
AMPLITUDE_NAME, AMPLITUDE_TYPE = "tensctl-amplitude", "Stimulation"
NUMERIC_KINDS = frozenset({"telemetry"})
"""Session events that go to the amplitude stream rather than the marker stream."""
LINGER_S = 0.5
"""How long closed streams stay open for a connected recorder to receive the last samples
(liblsl drops what it has not sent when an outlet goes)."""
WAIT_SLICE_S = 0.1
"""Waiting for a recorder in slices this long (liblsl's own wait holds off Ctrl-C)."""
INSTALL_HINT = "install the lsl extra, e.g. pip install 'tensctl[lsl]'"


@dataclass(frozen=True)
class LslOptions:
    """How a session publishes to LSL (``device.session(…, lsl=LslOptions(wait_s=10))``;
    ``lsl=True`` is ``LslOptions()``)."""

    wait_s: float = 0.0
    """Before the session's first event, wait up to this long for a recorder to connect to
    both streams (LSL delivers only what is published after an inlet connects)."""

    def __post_init__(self) -> None:
        wait = self.wait_s
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait < 3600:
            raise InputError(
                [
                    Problem(
                        f"expected seconds from 0 to 3600, found {wait!r}", "<api>", path="wait_s"
                    )
                ]
            )


def lsl_options(value: object) -> LslOptions | None:
    """What ``device.session(lsl=…)`` was given: ``False`` (no streams), ``True`` or an
    :class:`LslOptions`; anything else is refused (a string "no" is not a no)."""
    if value is False:
        return None
    if value is True:
        return LslOptions()
    if isinstance(value, LslOptions):
        return value
    raise InputError(
        [Problem(f"expected True, False or LslOptions(...), found {value!r}", "<api>", path="lsl")]
    )


def describe_config() -> str:
    """Where the streams can be seen from, in words, for the person who runs a session."""
    given = os.environ.get(CONFIG_ENV)
    if not given or Path(given) == _written:
        return "on this machine only (set LSLAPICFG to a liblsl configuration to reach a network)"
    return f"as {given} configures it ({CONFIG_ENV})"


_written: Path | None = None
"""tensctl's own configuration, once written (in the user cache directory, or a temporary
file when that cannot be written)."""


def config_path() -> Path:
    """The liblsl configuration in force: ``LSLAPICFG``, or tensctl's own machine-only one,
    written (and ``LSLAPICFG`` set to it) when that is unset. A ``LSLAPICFG`` that names no
    file is refused: liblsl would fall back to its default, network-wide scope."""
    global _written
    given = os.environ.get(CONFIG_ENV)
    if given:
        if not Path(given).is_file():
            problem = f"{given} is not a file (liblsl would then use its default "
            problem += "configuration, which reaches the network); fix it or unset it"
            raise InputError([Problem(problem, CONFIG_ENV)])
        return Path(given)
    path = platformdirs.user_cache_path("tensctl", appauthor=False) / "lsl-machine.cfg"
    try:
        if not path.is_file() or path.read_text(encoding="utf-8") != MACHINE_CONFIG:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            partial.write_text(MACHINE_CONFIG, encoding="utf-8")
            partial.replace(path)
    except OSError:  # no cache directory to write to: a file of this process's own
        handle, name = tempfile.mkstemp(prefix="tensctl-lsl-", suffix=".cfg")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(MACHINE_CONFIG)
        path = Path(name)
    os.environ[CONFIG_ENV] = str(path)
    _written = path
    return path


def load_pylsl() -> ModuleType:
    """pylsl, imported once ``LSLAPICFG`` names a configuration (:func:`config_path`)."""
    config_path()
    try:
        return importlib.import_module("pylsl")
    except ImportError:
        raise MissingExtra(f"Lab Streaming Layer needs pylsl: {INSTALL_HINT}") from None
    except (OSError, RuntimeError) as exc:  # pylsl without its liblsl library
        raise MissingExtra(
            f"Lab Streaming Layer: pylsl cannot load liblsl ({exc}); {INSTALL_HINT}"
        ) from None


@dataclass(frozen=True)
class StreamSource:
    """What the streams describe: the protocol, the patient, the device."""

    protocol_id: str
    protocol_name: str
    patient: str | None
    channels: Sequence[tuple[int, str | None]]  # (id, the protocol's label)
    device: Mapping[str, Any]  # url, model, serial, firmware, simulated


class SessionStreams:
    """The two outlets of one session; subscribe it to the session's events."""

    def __init__(self, source: StreamSource, clock: Clock, pylsl: ModuleType | None = None) -> None:
        self.lsl = pylsl if pylsl is not None else load_pylsl()
        self.clock, self.source = clock, source
        self.channels = [ch for ch, _ in source.channels]
        self.set_ma = {ch: 0.0 for ch in self.channels}
        self.virtual = bool(getattr(clock, "virtual", False))
        self.problem: str | None = None
        self.recorder_connected: bool | None = None
        """Whether a recorder connected to both streams within the wait (``None``: none
        waited for)."""
        self.warn: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._closed = False
        serial = str(source.device.get("serial", ""))
        self.markers = self._outlet(MARKER_NAME, MARKER_TYPE, 1, "string", serial)
        self.amplitude = self._outlet(
            AMPLITUDE_NAME, AMPLITUDE_TYPE, 2 * len(self.channels), "double64", serial
        )
        self.lsl_origin_s = float(self.lsl.local_clock())
        self.clock_origin_s = clock.now()

    # ---- the streams ---------------------------------------------------------------------

    def _outlet(self, name: str, kind: str, count: int, fmt: str, serial: str) -> Any:
        lsl = self.lsl
        info = lsl.StreamInfo(
            name,
            kind,
            count,
            lsl.IRREGULAR_RATE,
            getattr(lsl, f"cf_{fmt}"),
            f"tensctl:{serial}:{name}",
        )
        desc = info.desc()
        src = self.source
        session = desc.append_child("session")
        session.append_child_value("protocol_id", src.protocol_id)
        session.append_child_value("protocol_name", src.protocol_name)
        session.append_child_value("patient", src.patient or "")
        device = desc.append_child("device")
        for key in ("url", "model", "serial", "firmware", "simulated"):
            device.append_child_value(key, _text(src.device.get(key, "")))
        timing = desc.append_child("time_base")
        timing.append_child_value("clock", "virtual" if self.virtual else "real")
        timing.append_child_value(
            "stamps",
            "LSL time at open + (session clock - session clock at open)"
            if self.virtual
            else "local_clock() when the event happened",
        )
        channels = desc.append_child("channels")
        if kind == MARKER_TYPE:
            channel = channels.append_child("channel")
            channel.append_child_value("label", "event")
            channel.append_child_value("type", "Marker")
            channel.append_child_value("unit", "JSON")
        else:
            for ch, label in src.channels:
                for what in ("set", "delivered"):
                    channel = channels.append_child("channel")
                    channel.append_child_value("label", f"ch{ch} {what}")
                    channel.append_child_value("unit", "mA")
                    channel.append_child_value("type", f"amplitude_{what}")
                    channel.append_child_value("stimulator_channel", str(ch))
                    channel.append_child_value("site", label or "")
        acquisition = desc.append_child("acquisition")
        acquisition.append_child_value("manufacturer", "tensctl")
        acquisition.append_child_value("version", _version())
        return lsl.StreamOutlet(info)

    def stamp(self) -> float:
        """Now on LSL's clock (virtual time: the session's clock laid onto it)."""
        if self.virtual:
            return self.lsl_origin_s + (self.clock.now() - self.clock_origin_s)
        return float(self.lsl.local_clock())

    def wait_for_recorder(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` (real seconds) for an inlet on both streams."""
        end = time.monotonic() + timeout_s
        outlets = (self.markers, self.amplitude)
        while waiting := [outlet for outlet in outlets if not outlet.have_consumers()]:
            left = end - time.monotonic()
            if left <= 0:
                self.recorder_connected = False
                return False
            # in short waits: liblsl's own wait would hold off Ctrl-C until it ends
            waiting[0].wait_for_consumers(min(WAIT_SLICE_S, left))
        self.recorder_connected = True
        return True

    # ---- the listener ----------------------------------------------------------------------

    def __call__(self, event: SessionEvent) -> None:
        """One session event: a marker, or an amplitude sample. Never raises into the
        session: a failure is remembered (:attr:`problem`) and said once as a warning."""
        stamp = self.stamp()  # first: the moment of the event
        try:
            with self._lock:
                if self._closed:
                    return
                if event.kind == "setpoint":
                    self.set_ma[int(event.data["channel"])] = float(event.data["amplitude_ma"])
                if event.kind in NUMERIC_KINDS:
                    self.amplitude.push_sample(self._sample(event.data), stamp)
                else:
                    self.markers.push_sample([canonical(event.as_dict())], stamp)
        except Exception as exc:  # LSL is for the lab's recording: it never stops a session
            self._failed(f"{type(exc).__name__}: {exc}")

    def _sample(self, data: Mapping[str, Any]) -> list[float]:
        readings = data.get("channels", {})
        sample: list[float] = []
        for ch in self.channels:
            delivered = (readings.get(ch) or readings.get(str(ch)) or {}).get("delivered_ma")
            sample += [self.set_ma[ch], math.nan if delivered is None else float(delivered)]
        return sample

    def _failed(self, problem: str) -> None:
        if self.problem is not None:
            return
        self.problem = problem
        if self.warn is not None:
            self.warn(f"Lab Streaming Layer: the streams are not being published ({problem})")

    def close(self) -> None:
        """The outlets closed, after a moment for a connected recorder to take the rest."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self.markers.have_consumers() or self.amplitude.have_consumers():
                time.sleep(LINGER_S)
        finally:
            self.markers = self.amplitude = None


def _version() -> str:
    try:
        return importlib.metadata.version("tensctl")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
