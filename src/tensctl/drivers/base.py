"""The driver interface: everything the engine may ask of a stimulator, in physical units.

A driver speaks one device's protocol; the engine sees only :class:`Driver`. Every call is
synchronous and bounded in time: it returns when the device has accepted the command, or
raises a :class:`~tensctl.drivers.errors.DriverError` (refused, link lost, timed out); an
argument no device could take (a channel out of range, a NaN amplitude) is an
:class:`~tensctl.errors.InputError` on every driver, before anything is sent. Every
command is absolute (set this amplitude, stop these channels), so repeating one after a
lost reply is harmless. :meth:`Driver.emergency_stop` is never queued behind other traffic.
Channels are numbered from 1.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tensctl.errors import InputError, Problem
from tensctl.model.device import DeviceProfile, SerialSettings
from tensctl.wire.simulator import is_simulator_serial


@dataclass(frozen=True)
class DeviceInfo:
    """Who the device is and the limits it enforces on its own."""

    model: str
    firmware: str
    serial: str
    channels: int
    max_amplitude_ma: float
    pulse_width_us: tuple[float, float]
    frequency_hz: tuple[float, float]
    max_charge_per_phase_uc: float
    compliance_voltage_v: float
    watchdog_ms: float
    slew_step_ma: float
    slew_rate_ma_per_s: float

    @property
    def simulated(self) -> bool:
        """The device says it is a simulator: its serial begins with ``SIM-``, which the
        tensctl simulator reports on every transport and protocol and no real device does."""
        return is_simulator_serial(self.serial)

    @classmethod
    def of_profile(cls, p: DeviceProfile, firmware: str, serial: str) -> DeviceInfo:
        """For a device that does not report its limits: its profile's."""
        return cls(
            model=p.model,
            firmware=firmware,
            serial=serial,
            channels=p.channels,
            max_amplitude_ma=p.amplitude.max_ma,
            pulse_width_us=(p.pulse_width_us.min, p.pulse_width_us.max),
            frequency_hz=(p.frequency_hz.min, p.frequency_hz.max),
            max_charge_per_phase_uc=p.max_charge_per_phase_uc,
            compliance_voltage_v=p.compliance_voltage_v,
            watchdog_ms=p.watchdog_ms,
            slew_step_ma=p.slew.max_step_ma,
            slew_rate_ma_per_s=p.slew.max_rate_ma_per_s,
        )


@dataclass(frozen=True)
class AlternationStep:
    frequency_hz: float
    pulse_width_us: float
    dwell_s: float


@dataclass(frozen=True)
class ChannelSettings:
    """A channel's pulse train (everything but the amplitude)."""

    frequency_hz: float
    pulse_width_us: float
    waveform: str = "symmetric_biphasic"  # or "asymmetric_biphasic"
    mode: str = "continuous"  # "burst", "alternating"
    secondary_amplitude_ratio: float = 1.0  # asymmetric: secondary phase / primary
    secondary_width_ratio: float = 1.0
    pulses_per_train: int = 1  # burst
    train_rate_hz: float = 0.0  # burst
    steps: tuple[AlternationStep, ...] = ()  # alternating


@dataclass(frozen=True)
class ChannelTelemetry:
    """One channel as the device last reported it."""

    time_s: float  # device time since its boot
    channel: int
    state: str  # "off", "on", "fault"
    commanded_ma: float
    delivered_peak_ma: float  # nan: the device does not measure its current
    pulse_width_us: float
    frequency_hz: float
    impedance_ohm: float  # inf: open circuit; nan: the device does not measure it
    pulses: int
    delivered_charge_uc: float
    net_charge_nc: float
    faults: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class DeviceEvent:
    """Something the device reported on its own: boot, fault, reset, low battery, or
    (from the driver) loss of the link."""

    kind: str  # "boot", "fault", "output_zeroed", "fault_reset", "low_battery", "link_lost"
    channel: int | None  # None: the whole device
    faults: frozenset[str] = field(default_factory=frozenset)
    time_s: float | None = None
    detail: int = 0


EventCallback = Callable[[DeviceEvent], None]
log = logging.getLogger(__name__)


class Driver(ABC):
    """The public methods validate their arguments once, for every driver (a bad argument
    is :class:`~tensctl.errors.InputError`, exit code 3, before anything is sent), then
    call a protected hook (``_configure``, ``_set_amplitude``, …) that talks to the
    device, as python-can's ``BusABC.recv`` wraps ``_recv_internal``. Events and the
    update count are kept here too: a driver reports with :meth:`_notify` and
    :meth:`_touch`. A subclass calls ``super().__init__()``."""

    url: str

    def __init__(self) -> None:
        self._feed_lock = threading.Lock()  # a leaf: held for a few lines, never in a callback
        self._events: deque[DeviceEvent] = deque(maxlen=10_000)
        self._callbacks: list[EventCallback] = []
        self._updates = 0

    @abstractmethod
    def identify(self) -> DeviceInfo:
        """Ask the device who it is; starts a new session with it."""

    def configure(self, channel: int, settings: ChannelSettings) -> None:
        """Set a channel's pulse train. The device refuses a waveform or mode change while
        the channel's output is above 0."""
        self._configure(self._checked_channel(channel), settings)

    def set_amplitude(self, channel: int, amplitude_ma: float) -> None:
        """Set a started channel's peak amplitude. Increases are slew-limited by the device.
        A non-finite or negative amplitude is an :class:`~tensctl.errors.InputError`."""
        if type(channel) is int and 1 <= channel <= self._channel_count():
            problems: list[Problem] = []
        else:
            problems = self._channel_problems([channel], "channel")
        if isinstance(amplitude_ma, bool) or not isinstance(amplitude_ma, int | float):
            finite = False
        else:
            try:
                finite = math.isfinite(amplitude_ma) and amplitude_ma >= 0
            except OverflowError:  # an int too large for a float
                finite = False
        if not finite:
            problems.append(
                Problem(
                    f"{amplitude_ma!r} is not an amplitude (a finite number of mA, 0 or more)",
                    "<api>",
                    path="amplitude_ma",
                )
            )
        if problems:
            raise InputError(problems)
        self._set_amplitude(channel, amplitude_ma)

    def start(self, channels: Iterable[int]) -> None:
        """Enable channels at 0 mA (the device refuses if any is above 0 or faulted)."""
        self._start(self._checked_channels(channels))

    def stop(self, channels: Iterable[int]) -> None:
        """Take channels to 0 mA and disable them."""
        self._stop(self._checked_channels(channels))

    @abstractmethod
    def emergency_stop(self) -> None:
        """Every output to 0 at once; latches a fault on every channel. Never waits behind
        other traffic."""

    @abstractmethod
    def heartbeat(self) -> None:
        """Keep the device's watchdog from stopping the output."""

    @abstractmethod
    def telemetry(self) -> dict[int, ChannelTelemetry]:
        """The latest telemetry of each channel."""

    def events(self) -> list[DeviceEvent]:
        """Events received since the last call (oldest first)."""
        self._refresh()
        with self._feed_lock:
            out = list(self._events)
            self._events.clear()
            return out

    def subscribe(self, callback: EventCallback) -> None:
        """Call ``callback`` for every event, from the thread that received it (the driver's
        reader thread, mostly). A callback that raises is logged; the others still run and
        the driver goes on."""
        with self._feed_lock:
            self._callbacks.append(callback)

    def update_count(self) -> int:
        """A number that changes whenever telemetry or an event arrives, so a caller can
        skip :meth:`telemetry` and :meth:`events` when nothing is new."""
        self._refresh()
        with self._feed_lock:
            return self._updates

    def measure_impedance(self, channel: int) -> float:
        """Load impedance in Ω (``inf`` for an open circuit)."""
        return self._measure_impedance(self._checked_channel(channel))

    def reset_fault(self, channels: Iterable[int]) -> None:
        """Clear latched faults; refused until each fault's cause has been gone long enough."""
        self._reset_fault(self._checked_channels(channels))

    @abstractmethod
    def close(self) -> None:
        """Stop every channel (best effort: the device's own watchdog stands behind it) and
        release the port. Safe to call twice."""

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- what a driver implements (arguments already checked) -------------------------

    @abstractmethod
    def _channel_count(self) -> int:
        """How many channels the driver can address (1 to this)."""

    @abstractmethod
    def _configure(self, channel: int, settings: ChannelSettings) -> None: ...

    @abstractmethod
    def _set_amplitude(self, channel: int, amplitude_ma: float) -> None: ...

    @abstractmethod
    def _start(self, channels: list[int]) -> None: ...

    @abstractmethod
    def _stop(self, channels: list[int]) -> None: ...

    @abstractmethod
    def _measure_impedance(self, channel: int) -> float: ...

    @abstractmethod
    def _reset_fault(self, channels: list[int]) -> None: ...

    def _refresh(self) -> None:
        """Before events and the update count are read: take in what the device has sent
        (a driver without a reader thread), or tell the count of news of its own."""
        return  # a reader thread takes everything in as it comes

    # ---- what a driver reports ---------------------------------------------------------

    def _notify(self, event: DeviceEvent) -> None:
        """Queue ``event`` and call every subscriber; one that raises is logged and does not
        keep the others (or the thread that called this) from going on."""
        with self._feed_lock:
            self._events.append(event)
            self._updates += 1
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("%s: an event callback failed on %s", self.url, event)

    def _touch(self) -> None:
        """Telemetry arrived: the update count changes."""
        with self._feed_lock:
            self._updates += 1

    # ---- argument checks ---------------------------------------------------------------

    def _checked_channel(self, channel: int) -> int:
        if type(channel) is int and 1 <= channel <= self._channel_count():
            return channel  # the usual case, once per command: no list built
        raise InputError(self._channel_problems([channel], "channel"))

    def _checked_channels(self, channels: Iterable[int]) -> list[int]:
        try:
            chosen = list(channels)
        except TypeError:
            raise InputError(
                [Problem(f"{channels!r} is not a list of channels", "<api>", path="channels")]
            ) from None
        problems = self._channel_problems(chosen, "channels")
        if not chosen:
            problems.append(Problem("no channel given", "<api>", path="channels"))
        if problems:
            raise InputError(problems)
        return chosen

    def _channel_problems(self, channels: Sequence[object], path: str) -> list[Problem]:
        top = self._channel_count()
        return [
            Problem(f"{ch!r} is not a channel of this device (1–{top})", "<api>", path=path)
            for ch in channels
            if isinstance(ch, bool) or not isinstance(ch, int) or not 1 <= ch <= top
        ]


@dataclass(frozen=True)
class DriverOptions:
    clock: Callable[[], float] = time.monotonic
    """The in-process simulator's clock (a virtual clock makes it run in virtual time)."""
    speed: float = 1.0
    """How many times real time ``clock`` runs (``--speed``): the in-process simulator's
    watchdog, which catches a silent host, waits as long in real time at every speed."""
    realtime: bool = True
    """The in-process simulator runs on its own (a thread advances it, so its watchdog
    fires while the host is silent). False with a virtual clock: it advances only when
    the host talks to it."""
    # a reply is due in about a millisecond (USB-serial adapters add up to ~16 ms each way);
    # 3 tries of 60 ms stay inside the host watchdog's margin, so one lost frame is retried
    # without tripping the session
    timeout_s: float = 0.06
    retries: int = 2
    line: SerialSettings | None = None
    """A serial port's line settings (a named profile's ``serial``); 115200 8N1 if none."""
    extra: dict[str, str] = field(default_factory=dict)


Opener = Callable[[str, DriverOptions], Driver]
