"""The Hasomed RehaStim2 speaking ScienceMode2 (channel list mode) on the output stage.

Connection (sections 2.3, 4.1, 5.2): at power-up, and whenever the watchdog has fired, the
device sends ``Init`` (its own packet counter) every 500 ms until the host answers
``InitAck``; any InitAck is taken whatever packet number it echoes (a public client echoes
numbers wrongly). No valid packet for 1.2 s after the last one — connected or not (the
device takes commands before an InitAck too) — stops stimulation, resets the modes and
restarts the Init cycle; ``lenient_watchdog`` makes that 3 s, for hosts (such as the
``pysciencemode`` client) whose keep-alive can leave gaps of up to 1.6 s.

Every command is answered once, within the same tick: the command's Ack with a result, or
``UnknownCommand``; ``Watchdog`` and ``InitAck`` are never answered. A frame with a bad
checksum or length is answered with its Ack and the transfer error (section 5.2) and does
not feed the watchdog. MOTOmed commands are answered "MOTOmed connection error" (none is
attached).

Identity: ScienceMode2 has no identification command. The simulator answers one of its own,
``SimIdentify`` (0xE0, not in the protocol), with ``SimIdentifyAck``: its serial, ``SIM-…``;
a real RehaStim2 answers that number with ``UnknownCommand``. That is how the host knows it
is talking to the simulator.

Device faults (from the load model, ``fw.tick``) stop all stimulation, reset the mode to
start mode and push ``StimulationError``: open circuit, short, compliance and peel are an
electrode error (−2, the skin resistance test fails), over-current and low battery a
stimulation module error (−3). Latched faults clear on the next InitChannelListMode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tensctl.wire.codes import EventCode, Fault
from tensctl.wire.messages import Event
from tensctl.wire.messages import Message as NativeMessage
from tensctl.wire.sciencemode2 import (
    ACKS,
    Command,
    DecodeError,
    Deframer,
    FrameError,
    GetStimulationMode,
    GetStimulationModeAck,
    Init,
    InitAck,
    InitChannelListMode,
    Message,
    OtherCommand,
    Packet,
    Result,
    SimIdentify,
    SimIdentifyAck,
    SinglePulse,
    StartChannelListMode,
    StimulationError,
    StimulationErrorCode,
    StimulationMode,
    StopChannelListMode,
    UnknownCommand,
    Watchdog,
    decode,
)
from tensctl.wire.sciencemode2.framing import TRANSFER_ERRORS
from tenssim.firmware import Firmware
from tenssim.personality import BadFrame, Personality, PersonalityOptions
from tenssim.sciencemode2 import channel_list, replies

INIT_REPEAT_S = 0.5
WATCHDOG_S = 1.2
LENIENT_WATCHDOG_S = 3.0
ELECTRODE_FAULTS = Fault.OPEN_CIRCUIT | Fault.SHORT | Fault.COMPLIANCE | Fault.PEEL
MODULE_FAULTS = Fault.OVER_CURRENT | Fault.LOW_BATTERY


@dataclass(frozen=True)
class TransferError(BadFrame):
    """A frame that failed its checksum or length, with what it seems to have carried."""

    packet_number: int | None = None
    command: int | None = None


class ScienceMode2(Personality[Packet]):
    def __init__(self, firmware: Firmware, options: PersonalityOptions) -> None:
        super().__init__(firmware, options)
        self.watchdog_s = LENIENT_WATCHDOG_S if options.lenient_watchdog else WATCHDOG_S
        firmware.limits = replace(firmware.limits, watchdog_s=self.watchdog_s)
        self._deframer = Deframer()
        self.tx_number = 0
        self.connected = False
        self.next_init_s = 0.0
        self.last_valid_s = 0.0
        self.watchdog_armed = False  # a valid packet since power-up or the last expiry
        self.mode = StimulationMode.START
        self.init: InitChannelListMode | None = None
        self._push: list[bytes] = []  # what a command makes the device send after its reply

    # ---- the personality interface -----------------------------------------------------

    def boot(self, now_s: float) -> list[bytes]:
        self._deframer = Deframer()
        self.connected, self.mode, self.init = False, StimulationMode.START, None
        self.watchdog_armed = False
        self.next_init_s = now_s + INIT_REPEAT_S
        return [self._send_init()]

    def feed(self, data: bytes, now_s: float) -> list[Packet | BadFrame]:
        out: list[Packet | BadFrame] = []
        for item in self._deframer.feed(data):
            if isinstance(item, FrameError):
                out.append(TransferError(item.kind.value, item.packet_number, item.command))
            else:
                out.append(item)
        return out

    def tick(self, now_s: float) -> list[bytes]:
        out = self._faults(self.firmware.tick(now_s), now_s)
        if self.watchdog_armed and now_s - self.last_valid_s >= self.watchdog_s:
            self.log({"t": now_s, "event": "sm2_watchdog", "last_valid_s": self.last_valid_s})
            self._reset_modes(now_s, "watchdog")
            self.connected, self.watchdog_armed = False, False
            self.next_init_s = now_s
        if not self.connected and now_s >= self.next_init_s:
            out.append(self._send_init())
            while self.next_init_s <= now_s:
                self.next_init_s += INIT_REPEAT_S
        return out

    def pushed(self, messages: list[NativeMessage], now_s: float) -> list[bytes]:
        return self._faults(messages, now_s)

    def bad_frame(self, bad: BadFrame, now_s: float) -> list[bytes]:
        super().bad_frame(bad, now_s)
        if not isinstance(bad, TransferError) or bad.packet_number is None:
            return []
        if bad.kind not in {k.value for k in TRANSFER_ERRORS}:
            return []
        number, command = bad.packet_number, bad.command
        if command in ACKS:
            return [ACKS[command](number, Result.TRANSFER_ERROR).encode()]
        if command == Command.GET_STIMULATION_MODE:
            return [GetStimulationModeAck(number, Result.TRANSFER_ERROR, None).encode()]
        return []  # Watchdog and InitAck have no answer; the Init cycle covers the latter

    def handle(self, packet: Packet, now_s: float) -> list[bytes]:
        out = self.tick(now_s)  # account the output up to now before anything changes
        self.last_valid_s = self.firmware.last_valid_s = now_s
        self.watchdog_armed = True
        before = self.firmware.outputs()
        message = decode(packet)
        reply, result, fields = self._dispatch(message, now_s)
        name = _name(packet.command)
        self.firmware.log_command(now_s, name, fields, result, packet_number=packet.packet_number)
        if reply is not None:
            out.append(reply)
        self.firmware.log_changes(before, now_s, cause=name)
        out += self._push
        self._push = []
        return out

    # ---- commands ----------------------------------------------------------------------

    def _dispatch(
        self, message: Message | OtherCommand | DecodeError, now_s: float
    ) -> tuple[bytes | None, str, dict[str, Any]]:
        if isinstance(message, OtherCommand):
            return replies.other(message)
        if isinstance(message, DecodeError):
            return replies.malformed(message)
        fields = {k: v for k, v in vars(message).items() if k != "packet_number"}
        number = message.packet_number
        match message:
            case Watchdog():
                return None, "ack", fields
            case InitAck(result=result):
                if not self.connected and result == Result.OK:
                    self.connected = True
                    return None, "ack", fields
                return None, "ignored", fields
            case GetStimulationMode():
                return GetStimulationModeAck(number, 0, self.mode).encode(), "ack", fields
            case SimIdentify():
                return SimIdentifyAck(number, self.firmware.serial).encode(), "ack", fields
            case InitChannelListMode():
                return self._result(message, self._init(message, now_s), fields)
            case StartChannelListMode():
                fields = {"entries": channel_list.entries_by_channel(self.init, message)}
                return self._result(message, self._start(message, now_s), fields)
            case StopChannelListMode():
                self._reset_modes(now_s, None)
                return self._result(message, Result.OK, fields)
            case SinglePulse():
                return self._result(message, self._single(message, now_s), fields)
        # a device → host command sent to the device
        return UnknownCommand(number, message.COMMAND).encode(), "unknown", fields

    def _result(
        self, message: Message, result: Result, fields: dict[str, Any]
    ) -> tuple[bytes, str, dict[str, Any]]:
        reply = ACKS[message.COMMAND](message.packet_number, result).encode()
        return reply, "ack" if result == Result.OK else f"nack:{result.name}", fields

    def _init(self, message: InitChannelListMode, now_s: float) -> Result:
        if self.mode == StimulationMode.STARTED:
            return Result.WRONG_MODE
        if message.problems():
            return Result.PARAMETER_ERROR
        for ch in self.firmware.channels:
            if ch.faults:
                ch.faults = Fault.NONE
                self.log({"t": now_s, "event": "fault_reset", "channel": ch.number})
        self.init, self.mode = message, StimulationMode.INITIALISED
        return Result.OK

    def _start(self, message: StartChannelListMode, now_s: float) -> Result:
        if self.init is None or self.mode == StimulationMode.START:
            return Result.WRONG_MODE
        if channel_list.start_problems(self.init, message):
            return Result.PARAMETER_ERROR
        self.mode = StimulationMode.STARTED
        if self.firmware.battery_low:  # the module cannot stimulate
            self._push += self._error(StimulationErrorCode.MODULE, now_s)
        elif self.init.main_interval_ms is not None:
            channel_list.run(self.firmware, self.init, message, now_s)
        else:
            error = channel_list.one_shot(self.firmware, self.init, message, now_s)
            if error is not None:
                self._push += self._error(error, now_s)
        return Result.OK

    def _single(self, message: SinglePulse, now_s: float) -> Result:
        if self.mode != StimulationMode.START:
            return Result.WRONG_MODE
        if message.problems():
            return Result.PARAMETER_ERROR
        error = channel_list.pulses(
            self.firmware,
            message.channel + 1,
            message.current_ma,
            message.pulse_width_us,
            1,
            now_s,
            "single_pulse",
        )
        if error is not None:
            self._push += self._error(error, now_s)
        return Result.OK

    # ---- faults and resets -------------------------------------------------------------

    def _faults(self, messages: list[NativeMessage], now_s: float) -> list[bytes]:
        """Trips the output stage raised → stop everything, push StimulationError."""
        codes: list[StimulationErrorCode] = []
        for m in messages:
            if isinstance(m, Event) and m.code == EventCode.FAULT:
                flags = Fault(m.fault_flags)
                if flags & ELECTRODE_FAULTS:
                    codes.append(StimulationErrorCode.ELECTRODE)
                elif flags & MODULE_FAULTS:
                    codes.append(StimulationErrorCode.MODULE)
        out: list[bytes] = []
        for code in dict.fromkeys(codes):
            out += self._error(code, now_s)
        return out

    def _error(self, code: StimulationErrorCode, now_s: float) -> list[bytes]:
        self._reset_modes(now_s, "stimulation_error")
        self.log({"t": now_s, "event": "stimulation_error", "error": code.name})
        frame = StimulationError(self.tx_number, code).encode()
        self.tx_number = (self.tx_number + 1) & 0xFF
        return [frame]

    def _reset_modes(self, now_s: float, cause: str | None) -> None:
        """Stimulation stops; back to start mode (``cause`` None: logged by the caller)."""
        before = self.firmware.outputs()
        channel_list.stop_all(self.firmware)
        self.mode, self.init = StimulationMode.START, None
        if cause is not None:
            self.firmware.log_changes(before, now_s, cause=cause)

    def _send_init(self) -> bytes:
        frame = Init(self.tx_number).encode()
        self.tx_number = (self.tx_number + 1) & 0xFF
        return frame


def _name(command: int) -> str:
    try:
        return "".join(word.capitalize() for word in Command(command).name.split("_"))
    except ValueError:
        return f"Command{command}"
