"""The Python API: ``tensctl.connect(url)`` and ``device.session(protocol, …)``.

Both are context managers that leave every output at 0 on the way out — on success, on an
exception, and on KeyboardInterrupt::

    import tensctl

    with tensctl.connect("sim://") as device:
        with device.session("conventional-hf", patient="P-0042", intensity=20,
                            screened=True) as session:
            session.subscribe(print)
            session.run()                    # until the protocol completes

Pass ``speed="max"`` to ``connect("sim://…")`` to run the simulator on a virtual clock as
fast as it can (a 30-minute protocol in about a second; ``virtual=True`` says the same), or
``speed=N`` to run it N times faster than real time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

from tensctl.api_args import (
    MAX,
    Speed,
    check_patient,
    check_speed,
    per_channel,
    thresholds_of,
)
from tensctl.drivers.base import DeviceInfo, Driver, DriverOptions
from tensctl.drivers.errors import CommandRefused, LinkLost
from tensctl.drivers.registry import open_driver
from tensctl.engine.clock import Clock, PacedClock, RealClock, VirtualClock
from tensctl.engine.runner import run, run_realtime
from tensctl.engine.session import TERMINAL, Session
from tensctl.engine.states import State
from tensctl.errors import DeviceError, SafetyRefused
from tensctl.journal.recorder import Recorder, protocol_text
from tensctl.journal.store import Store
from tensctl.journal.summary import local_day_utc, stimulated_on_day_s
from tensctl.lsl import LslOptions, SessionStreams, StreamSource, lsl_options
from tensctl.model.device import DeviceProfile
from tensctl.model.library import (
    DEFAULT_DEVICE,
    device_dirs,
    find_device,
    find_protocol,
    library_files,
)
from tensctl.model.loader import load_device
from tensctl.model.outcomes import Outcomes, parse_outcomes
from tensctl.model.protocol import Protocol
from tensctl.safety.daily_cap import MIN_SESSION_S, Verdict, decide


def _profile_for(url: str, info: DeviceInfo) -> DeviceProfile:
    if url.startswith("sim://"):
        return find_device(url[len("sim://") :].split("?")[0] or DEFAULT_DEVICE)[0]
    for path in library_files(device_dirs()).values():
        candidate = load_device(path)
        if candidate.model == info.model:
            return candidate
    raise DeviceError(f"no device profile matches model '{info.model}'; name one with profile=")


class Device:
    """A connected stimulator: its driver, its profile, the clock sessions run on, and the
    store sessions are recorded in (``None``: not recorded)."""

    def __init__(
        self,
        driver: Driver,
        profile: DeviceProfile,
        clock: Clock,
        virtual: bool,
        *,
        url: str = "",
        store: Store | None = None,
        operator: str | None = None,
        info: DeviceInfo | None = None,
    ) -> None:
        self.driver, self.profile, self.clock, self.virtual = driver, profile, clock, virtual
        self.url, self.store, self.operator = url, store, operator
        self.info = info if info is not None else driver.identify()

    @property
    def simulated(self) -> bool:
        """The device says it is a simulator (its serial, ``SIM-…``: the simulator reports one
        on every transport and personality), or the simulator's profile, or the in-process
        simulator (sim://hasomed-p24 delivers no current either). Its sessions are recorded
        as simulated, and count against the daily cap only with other simulated ones."""
        return self.info.simulated or self.profile.simulated or self.url.startswith("sim://")

    def session(
        self,
        protocol: str | Path | Protocol,
        *,
        patient: str | None = None,
        intensity: float | Mapping[int, float] | None = None,
        ceiling: float | Mapping[int, float] | None = None,
        thresholds: Mapping[int, Mapping[str, float]] | None = None,
        screened: bool = False,
        acknowledged: Collection[str] = (),
        outcomes_before: Mapping[str, Any] | Outcomes | None = None,
        screening: str = "api argument",
        until_cap: bool = False,
        today: date | None = None,
        lsl: bool | LslOptions = False,
    ) -> RunningSession:
        """A session of ``protocol`` (an id, a path or a model), checked and ready to start.
        It is recorded from here on; ``outcomes_before`` (pain, fatigue, …) go in first.

        A patient's stimulated time today plus this session's is held against the protocol's
        daily cap: over it, the session is refused, or — ``until_cap=True`` — planned to end
        at the cap. ``today`` is the local calendar day counted (default: this computer's).

        ``lsl=True`` publishes the session as Lab Streaming Layer streams, its markers and
        amplitudes, from its first event on (:mod:`tensctl.lsl`; the ``lsl`` extra);
        ``lsl=LslOptions(wait_s=…)`` waits that long for a recorder first."""
        chosen = protocol if isinstance(protocol, Protocol) else find_protocol(str(protocol))[0]
        check_patient(patient)
        publish = lsl_options(lsl)
        before = parse_outcomes(outcomes_before, "outcomes_before") if outcomes_before else None
        ids = [c.id for c in chosen.channels]
        try:
            info = self._identity()
        except LinkLost as exc:  # nothing was delivered yet: a device error
            raise DeviceError(f"cannot talk to the device: {exc}") from None
        session = RunningSession(
            self.driver,
            chosen,
            self.profile,
            self.clock,
            patient=patient,
            intensity_ma=per_channel(intensity, ids, "intensity"),
            ceiling_ma=per_channel(ceiling, ids, "ceiling"),
            thresholds=thresholds_of(thresholds, ids),
            screened=screened,
            acknowledged=acknowledged,
            virtual=self.virtual,
        )
        if publish is not None:
            session.publish(self._streams(chosen, patient), publish)
        if self.store is not None:
            session.record(self._recorder(chosen, patient), screening, before)
        try:
            session.connect(info)
            session.hold_to_cap = lambda: self._hold_to_daily_cap(
                session, patient, until_cap, today
            )
            session.hold_to_cap()
            session.check()
        except BaseException as exc:
            session.end_reason = f"refused: {exc}"
            session.close()
            if isinstance(exc, LinkLost):  # nothing was delivered yet: a device error
                raise DeviceError(f"cannot talk to the device: {exc}") from None
            raise
        return session

    def _hold_to_daily_cap(
        self, session: RunningSession, patient: str | None, until_cap: bool, day: date | None
    ) -> None:
        """The daily cap across sessions: the patient's sessions today on this kind of device
        (simulator or real) from the store, plus this one. No patient: nothing to count."""
        limits = session.protocol.session
        if patient is None or limits.daily_cap_s is None:
            return
        if self.store is None:
            session.emit(
                "warning",
                rule="daily_cap",
                message="the daily cap across sessions is not checked: sessions are not recorded",
            )
            return
        since, until = local_day_utc(day if day is not None else date.today())
        records = self.store.stimulation_between(patient, since, until)
        used_s = stimulated_on_day_s(records, simulated=self.simulated)
        planned_s = min(session.protocol.total_duration_s, limits.max_duration_s)
        verdict = decide(used_s, planned_s, limits.daily_cap_s, until_cap=until_cap)
        who = f"patient {patient}" + (" on the simulator" if self.simulated else "")
        if verdict.verdict is Verdict.refuse:
            hint = ""
            if not until_cap and (verdict.left_s or 0.0) >= MIN_SESSION_S:
                hint = "; to end this session at the cap instead, run it with --until-cap"
            raise SafetyRefused(f"{who}: {verdict.reason}{hint}")
        if verdict.verdict is Verdict.shorten and verdict.end_s is not None:
            session.end_early(verdict.end_s, f"{who}: {verdict.reason}")

    def _identity(self) -> DeviceInfo:
        """Who the device is, for a new session: as it identified itself when it was
        connected (once per connection), or again if it has begun another host session since
        (it restarted, or another controller identified it): a heartbeat tells."""
        try:
            self.driver.heartbeat()
        except CommandRefused as exc:
            if exc.code != "STALE_SESSION":
                raise
            self.info = self.driver.identify()
        return self.info

    def _facts(self) -> dict[str, Any]:
        """The device, as the record and the LSL streams describe it."""
        return {
            "url": self.url,
            "model": self.info.model,
            "serial": self.info.serial,
            "firmware": self.info.firmware,
            "simulated": self.simulated,
        }

    def _streams(self, protocol: Protocol, patient: str | None) -> SessionStreams:
        channels = [(c.id, c.label) for c in protocol.channels]
        facts = self._facts()
        source = StreamSource(protocol.id, protocol.name, patient, channels, facts)
        return SessionStreams(source, self.clock)

    def _recorder(self, protocol: Protocol, patient: str | None) -> Recorder:
        assert self.store is not None
        return Recorder.open(
            self.store,
            protocol_json=protocol_text(protocol.model_dump_json()),
            protocol_id=protocol.id,
            protocol_name=protocol.name,
            patient=patient,
            device=self._facts(),
            operator=self.operator,
            # on virtual time (--speed N or max: the simulator) the record keeps up with no
            # wall-clock deadline that the host's jitter could miss (BatchedWriter)
            realtime=not self.clock.virtual,
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not fail; the device's watchdog
            self.driver.stop(range(1, self.info.channels + 1))  # is the backstop
        self.driver.close()
        if self.store is not None and self._owns_store:
            self.store.close()

    _owns_store = False

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunningSession(Session):
    """A :class:`Session` with a way to run it, usable as a context manager."""

    _thread: threading.Thread | None = None

    hold_to_cap: Callable[[], None] | None = None
    """Holds the patient's time today against the daily cap (set by :meth:`Device.session`):
    before the first start, and again before a start after :meth:`reset` — the run before
    the reset is in today's time by then."""
    _held = True

    def reset(self) -> None:
        super().reset()
        self._held = False

    def start(self) -> None:
        if not self._held and self.hold_to_cap is not None:
            self.hold_to_cap()  # a refusal leaves the session ready, at 0, and not started
            self._held = True
        super().start()

    def run(self, background: bool = False) -> State:
        """Start (if ready) and tick until the session ends; ``background=True`` returns at
        once and runs it on a thread (then :meth:`wait`)."""
        if self.state is State.ready:
            self.start()  # here, so a refusal raises in the caller's thread
        runner = run if getattr(self.clock, "virtual", False) else run_realtime
        if background:
            self._thread = threading.Thread(target=runner, args=(self,), daemon=True)
            self._thread.start()
            return self.state
        return runner(self)

    def run_for(self, seconds: float) -> State:
        """Tick for ``seconds`` of the session's clock (virtual clocks: at once)."""
        if self.state is State.ready:
            self.start()
        end = self.clock.now() + seconds
        while self.state not in TERMINAL and self.clock.now() < end:
            due = self.control.tick_due_s
            self.clock.sleep_until(min(end, due if due is not None else self.clock.now()))
            self.tick()
        return self.state

    streams: SessionStreams | None = None
    """The session's Lab Streaming Layer outlets (``lsl=True``), closed after the session."""

    def publish(self, streams: SessionStreams, options: bool | LslOptions = True) -> None:
        """Publish every event from now on to ``streams`` (outlets only: nothing comes back
        from them); with ``options.wait_s``, first wait that long for a recorder."""
        self.streams = streams
        streams.warn = lambda message: self.emit("warning", rule="lsl", message=message)
        if isinstance(options, LslOptions) and options.wait_s > 0:
            streams.wait_for_recorder(options.wait_s)
        self.subscribe(streams)

    recorder: Recorder | None = None

    def record(self, recorder: Recorder, screening: str, before: Outcomes | None) -> None:
        """Record this session from now on: every event, as it happens."""
        self.recorder = recorder
        self.subscribe(lambda e: recorder.write(e.kind, e.elapsed_s, e.data))
        self.health.append(recorder.health)
        self.emit("record", session_id=recorder.session_id, store=str(recorder.store_path))
        recorder.screening(self.screened, screening)
        if before is not None:
            recorder.outcomes("before", before)

    @property
    def record_id(self) -> int | None:
        """The session's id in the store (``tensctl sessions show ID``)."""
        return self.recorder.session_id if self.recorder is not None else None

    def record_outcomes(
        self, after: Mapping[str, Any] | Outcomes, *, reason: str | None = None
    ) -> None:
        """Outcomes after the session (pain, fatigue, adverse events), validated and written
        at once — during the session or after it ended (after the ``with`` block too). Given
        a second time they amend the first: a ``reason`` is required, and both stay on
        record."""
        values = parse_outcomes(after, "outcomes_after")
        if self.recorder is not None:
            self.recorder.outcomes("after", values, reason, source="outcomes_after")

    def close(self) -> None:
        """Every output to 0, then the record's end; the record still takes the outcomes
        after the session (:meth:`record_outcomes`). Closing twice does nothing more."""
        super().close()
        if self.recorder is not None and not self.recorder.closed:
            self.recorder.close(self.end_reason or f"ended in state {self.state.value}")
        if self.streams is not None:
            self.streams.close()

    def wait(self, timeout_s: float | None = None) -> State:
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.state

    def __enter__(self) -> RunningSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    url: str = "sim://",
    *,
    profile: str | None = None,
    virtual: bool = False,
    speed: float | str | None = None,
    journal: Store | str | Path | bool = True,
    operator: str | None = None,
    **options: Any,
) -> Device:
    """Open the device at ``url`` and identify it. ``speed`` applies to the in-process
    simulator only: ``N`` (above 0, at most 100) runs the session and the simulator on one
    virtual clock paced at N times real time, ``"max"`` as fast as it can (a 30-minute
    protocol in about a second); ``virtual=True`` is ``speed="max"``. Sessions are recorded
    in ``journal``: ``True`` the default store (``$TENSCTL_DB`` or the user data directory),
    a path, a :class:`Store`, or ``False`` for no record. ``operator`` defaults to
    ``$TENSCTL_OPERATOR`` or the login."""
    pace = check_speed(url, speed, virtual)
    clock = _clock(pace)
    unpaced = pace == MAX  # virtual time, as fast as it goes: no real-time duty anywhere
    named = find_device(profile)[0] if profile is not None else None
    line = named.serial if named is not None else None
    try:
        driver = open_driver(
            url,
            DriverOptions(
                clock=clock, speed=clock.speed, realtime=not unpaced, line=line, **options
            ),
        )
    except LinkLost as exc:  # no answer while opening (ScienceMode's handshake): exit 5
        raise _unidentified(url, exc) from None
    try:
        info = driver.identify()
        chosen = named or _profile_for(url, info)
        store = _store(journal)
    except LinkLost as exc:  # before any output: the device cannot be reached (exit 5)
        driver.close()
        raise _unidentified(url, exc) from None
    except BaseException:
        driver.close()
        raise
    device = Device(
        driver, chosen, clock, unpaced, url=url, store=store, operator=operator, info=info
    )
    device._owns_store = store is not None and not isinstance(journal, Store)
    return device


def _unidentified(url: str, exc: LinkLost) -> DeviceError:
    """No answer: and the protocol the port does answer in, with the URL to use, if any."""
    from tensctl.drivers.sniff import other_protocol

    found = other_protocol(url)
    hint = f"; {found.hint()}" if found is not None else ""
    return DeviceError(f"cannot identify the device: {exc}{hint}")


def _clock(pace: Speed | None) -> Clock:
    """Real time; one virtual clock paced at N times real time, shared by the session and
    the in-process simulator (``--speed N``), so that neither can fall behind the other on a
    busy host; or virtual time unpaced (``--speed max``)."""
    if pace is None:
        return RealClock()
    if pace == MAX:
        return VirtualClock()
    return PacedClock(pace)


def _store(journal: Store | str | Path | bool) -> Store | None:
    if isinstance(journal, Store):
        return journal
    if journal is False:
        return None
    return Store(None if journal is True else journal)
