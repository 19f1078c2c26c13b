"""ScienceMode4 as the Hasomed P24 speaks it (P24 IFU pp. 16-26), general and mid-level
commands, on the simulator's output stage.

- Every request gets exactly one acknowledge, ``command + 1`` with the request's packet
  number; an unknown command gets ``Unknown_cmd`` (67, result 11). A frame whose checksum or
  length is wrong gets ``General_error`` (66) with result 1, transfer error (the IFU defines
  that result as exactly this case; which packet carries it is our reading).
- ``Ml_init`` switches the high voltage on and initialises mid level; ``Ml_update`` starts or
  updates the channels in its mask and disables the others; ``Ml_stop`` stops everything,
  switches the high voltage off and leaves mid level; outside mid level, ``Ml_update``,
  ``Ml_stop`` and ``Ml_get_current_data`` answer 7 (not initialised). A refused command
  changes nothing.
- A parameter that is out of range answers 2 (parameter error), all or nothing.
- An unbalanced pulse shape is *accepted*: the IFU documents no such check for mid level
  (only the DC component of low-level pulses), so the log's ``warning`` field says so.
- Keep-alive (IFU "Mid-Level Update"): stimulation stops 2 s after the last accepted
  ``Ml_update`` or ``Ml_get_current_data``; mid level stays initialised and ``Ml_update``
  starts it again. ``--lenient-watchdog`` doubles the period.
- Errors from the load model (open circuit, peel, short → electrode error; compliance →
  low-current error; an injected over-current, which the P24 has no word for, → electrode
  error) stop the channel (or every channel, if ``Ml_init`` said "stop on all errors") and
  show in ``Ml_get_current_data`` until the channel is enabled again or mid level restarts.
- Not simulated: low level and ``Reset`` (answered as unknown commands), pulse timeouts at
  run time (a pulse longer than its period is a parameter error instead).
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

from tensctl.wire.codes import EventCode, Fault
from tensctl.wire.messages import Event
from tensctl.wire.sciencemode4 import (
    ChannelError,
    Command,
    Deframer,
    FrameError,
    FrameErrorKind,
    GeneralError,
    GetDeviceId,
    GetDeviceIdAck,
    GetExtendedVersion,
    GetExtendedVersionAck,
    GetStimStatus,
    GetStimStatusAck,
    Message,
    MessageError,
    MlChannel,
    MlGetCurrentData,
    MlGetCurrentDataAck,
    MlInit,
    MlInitAck,
    MlStop,
    MlStopAck,
    MlUpdate,
    MlUpdateAck,
    Packet,
    Result,
    StimStatus,
    UnknownCommand,
    decode_message,
    result_name,
)
from tensctl.wire.sciencemode4.codes import HIGH_VOLTAGE_150V, HIGH_VOLTAGE_OFF
from tensctl.wire.sciencemode4.midlevel import ALL_ERRORS, CHANNELS
from tenssim.firmware import Firmware
from tenssim.personality import BadFrame, Personality, PersonalityOptions
from tenssim.sciencemode4 import pulse
from tenssim.sciencemode4.pulse import Run

KEEP_ALIVE_S = 2.0
FIRMWARE_VERSION = (0, 1, 0)  # the simulator's own
SCIENCE_MODE_VERSION = (4, 0, 0)
ELECTRODE_FAULTS = Fault.OPEN_CIRCUIT | Fault.PEEL | Fault.SHORT | Fault.OVER_CURRENT
TRANSFER_ERRORS = (FrameErrorKind.crc, FrameErrorKind.length)
REQUESTS = frozenset(
    {
        Command.GET_DEVICE_ID,
        Command.GET_STIM_STATUS,
        Command.GET_EXTENDED_VERSION,
        Command.ML_INIT,
        Command.ML_UPDATE,
        Command.ML_STOP,
        Command.ML_GET_CURRENT_DATA,
    }
)


class ScienceMode4(Personality[Packet]):
    def __init__(self, firmware: Firmware, options: PersonalityOptions) -> None:
        super().__init__(firmware, options)
        keep_alive_s = KEEP_ALIVE_S * (2 if options.lenient_watchdog else 1)
        firmware.limits = replace(firmware.limits, watchdog_s=keep_alive_s)
        self._reset_state()

    def _reset_state(self) -> None:
        self._deframer = Deframer()
        self.initialised = False
        self.stop_on_all_errors = False
        self.runs: dict[int, Run] = {}
        self.errors = [ChannelError.NONE] * CHANNELS

    # ---- the Personality interface ------------------------------------------------------

    def boot(self, now_s: float) -> list[bytes]:
        self._reset_state()  # the P24 sends nothing on its own at power-up
        return []

    def feed(self, data: bytes, now_s: float) -> list[Packet | BadFrame]:
        return [
            BadFrame(item.kind.value) if isinstance(item, FrameError) else item
            for item in self._deframer.feed(data)
        ]

    def bad_frame(self, bad: BadFrame, now_s: float) -> list[bytes]:
        self.log({"t": now_s, "event": "bad_frame", "kind": bad.kind})
        if bad.kind in TRANSFER_ERRORS:
            return [GeneralError(Result.TRANSFER_ERROR).encode(0)]
        return []

    def tick(self, now_s: float) -> list[bytes]:
        for message in self.firmware.tick(now_s):
            if isinstance(message, Event) and message.code == EventCode.FAULT:
                self._tripped(message.channel, Fault(message.fault_flags), now_s)
        before = self.firmware.outputs()
        for number, run in self.runs.items():
            ch = self.firmware.channel(number)
            if ch.running and ch.amplitude_ua != run.amplitude_ua(now_s):
                ch.amplitude_ua = run.amplitude_ua(now_s)
        self.firmware.log_changes(before, now_s, cause="ramp")
        return []  # mid level sends nothing unasked

    def handle(self, packet: Packet, now_s: float) -> list[bytes]:
        self.tick(now_s)
        message = decode_message(packet)
        fields: dict[str, Any] = {}
        if packet.command not in REQUESTS:  # unknown, or a device→host command
            reply: Message = UnknownCommand(Result.INVALID_COMMAND)
        elif isinstance(message, MessageError):  # too few (or too many) parameters
            reply, fields = (
                _ack(packet.command, Result.PARAMETER_ERROR),
                {"problem": message.detail},
            )
        else:
            before = self.firmware.outputs()
            reply, fields = self._dispatch(message, now_s)
            self.firmware.log_changes(before, now_s, cause=_name(packet.command).lower())
        result = getattr(reply, "result", Result.OK)
        outcome = "ack" if result == Result.OK else result_name(result)
        self.firmware.log_command(
            now_s, _name(packet.command), fields, outcome, number=packet.number
        )
        return [reply.encode(packet.number)]

    # ---- commands -----------------------------------------------------------------------

    def _dispatch(self, m: Message, now_s: float) -> tuple[Message, dict[str, Any]]:
        fw = self.firmware
        match m:
            case GetDeviceId():
                return GetDeviceIdAck(Result.OK, self.firmware.serial), {}
            case GetExtendedVersion():
                digest = zlib.crc32(f"tenssim {fw.profile.model}".encode())
                version = (FIRMWARE_VERSION, SCIENCE_MODE_VERSION, digest, 1, False)
                return GetExtendedVersionAck(Result.OK, *version), {}
            case GetStimStatus():
                return GetStimStatusAck(Result.OK, self._status(), self._high_voltage()), {}
            case MlInit(stop_on_all_errors=stop_all):
                self._stop_all()
                self.initialised, self.stop_on_all_errors = True, stop_all
                self.log({"t": now_s, "event": "high_voltage", "on": True})
                return MlInitAck(Result.OK), {"stop_on_all_errors": stop_all}
            case MlUpdate():
                return self._update(m, now_s)
            case MlStop():
                if not self.initialised:
                    return MlStopAck(Result.NOT_INITIALIZED), {}
                self._stop_all()
                self.initialised = False
                self.log({"t": now_s, "event": "high_voltage", "on": False})
                return MlStopAck(Result.OK), {}
            case MlGetCurrentData(selection=selection):
                return self._current_data(selection, now_s), {"selection": selection}
        return UnknownCommand(Result.INVALID_COMMAND), {}

    def _update(self, m: MlUpdate, now_s: float) -> tuple[Message, dict[str, Any]]:
        fw = self.firmware
        fields: dict[str, Any] = {"channels": {}}
        if not self.initialised:
            return MlUpdateAck(Result.NOT_INITIALIZED), fields
        chosen = {i + 1: s for i, s in enumerate(m.channels) if s is not None}
        for number, setting in chosen.items():
            fields["channels"][str(number)] = pulse.describe(setting)
        problems = [
            f"channel {n}: {why}"
            for n, s in chosen.items()
            if (why := "no such channel" if n > fw.limits.channels else pulse.problem(s))
        ]
        if problems:
            fields["problem"] = "; ".join(problems)
            return MlUpdateAck(Result.PARAMETER_ERROR), fields
        for number in list(self.runs):
            if number not in chosen:
                fw.channel(number).zero()
                del self.runs[number]
        for number, setting in chosen.items():
            self._enable(number, setting, now_s)
        fw.last_valid_s = now_s  # keep-alive
        return MlUpdateAck(Result.OK), fields

    def _enable(self, number: int, setting: MlChannel, now_s: float) -> None:
        fw, ch = self.firmware, self.firmware.channel(number)
        shape = pulse.analyse(setting)
        old = self.runs.get(number)
        fresh = old is None or not ch.running
        run = Run(setting, shape, now_s if fresh or old is None else old.enabled_s)
        self.runs[number] = run
        ch.faults, self.errors[number - 1] = Fault.NONE, ChannelError.NONE
        ch.config = pulse.configure(number, setting, shape)
        if fresh:
            ch.running, ch.started_s = True, now_s
            z = fw.impedance(ch, now_s)
            ch.baseline_ohm = z if z != float("inf") else None
            ch.baseline_width_us = shape.pulse_width_us or ch.baseline_width_us
        ch.amplitude_ua = run.amplitude_ua(now_s)

    def _current_data(self, selection: int, now_s: float) -> Message:
        if not self.initialised:
            return MlGetCurrentDataAck(Result.NOT_INITIALIZED)
        if selection != ALL_ERRORS:
            return MlGetCurrentDataAck(Result.PARAMETER_ERROR)
        self.firmware.last_valid_s = now_s  # keep-alive
        active = tuple(
            n <= len(self.firmware.channels) and self.firmware.channel(n).running
            for n in range(1, CHANNELS + 1)
        )
        return MlGetCurrentDataAck(Result.OK, ALL_ERRORS, active, tuple(self.errors))

    # ---- state --------------------------------------------------------------------------

    def _status(self) -> int:
        if not self.initialised:
            return StimStatus.NO_LEVEL
        running = any(ch.running for ch in self.firmware.channels)
        return StimStatus.MID_LEVEL_RUNNING if running else StimStatus.MID_LEVEL_INITIALIZED

    def _high_voltage(self) -> int:
        return HIGH_VOLTAGE_150V if self.initialised else HIGH_VOLTAGE_OFF

    def _stop_all(self) -> None:
        for ch in self.firmware.channels:
            ch.zero()
            ch.faults = Fault.NONE
        self.runs.clear()
        self.errors = [ChannelError.NONE] * CHANNELS

    def _tripped(self, number: int, flags: Fault, now_s: float) -> None:
        """The output stage stopped a channel (the firmware already zeroed and logged it)."""
        self.runs.pop(number, None)
        if flags & Fault.WATCHDOG:
            self.log({"t": now_s, "event": "keep_alive_timeout", "channel": number})
            return
        if flags & ELECTRODE_FAULTS:
            error = ChannelError.ELECTRODE
        elif flags & Fault.COMPLIANCE:
            error = ChannelError.LOW_CURRENT
        else:
            return  # low battery, reboot: nothing the P24 reports per channel
        if number <= CHANNELS:
            self.errors[number - 1] = error
        self.log({"t": now_s, "event": "channel_error", "channel": number, "error": error.name})
        if self.stop_on_all_errors:
            before = self.firmware.outputs()
            for other in list(self.runs):
                self.firmware.channel(other).zero()
                del self.runs[other]
            self.firmware.log_changes(before, now_s, cause="stop_on_all_errors")


def _ack(command: int, result: Result) -> Message:
    """The acknowledge of ``command`` carrying an error ``result``."""
    match command:
        case Command.GET_DEVICE_ID:
            return GetDeviceIdAck(result, "")
        case Command.GET_STIM_STATUS:
            return GetStimStatusAck(result, StimStatus.NO_LEVEL, HIGH_VOLTAGE_OFF)
        case Command.GET_EXTENDED_VERSION:
            return GetExtendedVersionAck(result, (0, 0, 0), (0, 0, 0), 0, 0, False)
        case Command.ML_GET_CURRENT_DATA:
            return MlGetCurrentDataAck(result)
        case Command.ML_INIT:
            return MlInitAck(result)
        case Command.ML_UPDATE:
            return MlUpdateAck(result)
    return MlStopAck(result)


def _name(command: int) -> str:
    known = Command._value2member_map_.get(command)
    return known.name if isinstance(known, Command) else f"COMMAND_{command}"
