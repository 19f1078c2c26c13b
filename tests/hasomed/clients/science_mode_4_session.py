"""Drive a P24 with the third-party ``science-mode-4`` client, unmodified, through its
public API; print what it got back as one JSON line per step.

    python science_mode_4_session.py PORT FIRST_MA SECOND_MA PULSE_WIDTH_US PERIOD_MS

Steps: connect (``DeviceP24.initialize``: stim status, device id, extended version),
``LayerMidLevel.init``, ``update`` channel 1 (ramp 0) at FIRST_MA, ``update`` at SECOND_MA,
``get_current_data``, ``stop``. Any error of the client (it checks checksums, ack command,
packet number and result codes, and times out after 5 s) ends the script with exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import sys

from science_mode_4 import (
    ChannelPoint,
    DeviceP24,
    MidLevelChannelConfiguration,
    SerialPortConnection,
)


def say(step: str, **data: object) -> None:
    print(json.dumps({"step": step, **data}), flush=True)


def channel(amplitude_ma: float, width_us: int, period_ms: int) -> MidLevelChannelConfiguration:
    points = [ChannelPoint(width_us, amplitude_ma), ChannelPoint(width_us, -amplitude_ma)]
    return MidLevelChannelConfiguration(True, 0, period_ms, points)


async def session(
    port: str, first_ma: float, second_ma: float, width_us: int, period_ms: int
) -> None:
    connection = SerialPortConnection(port)
    connection.open()
    try:
        device = DeviceP24(connection)
        await device.initialize()
        general = device.get_layer_general()
        say(
            "connect",
            device_id=general.device_id,
            firmware=general.firmware_version,
            science_mode=general.science_mode_version,
        )
        mid = device.get_layer_mid_level()
        await mid.init(False)
        say("init")
        await mid.update([channel(first_ma, width_us, period_ms)])
        say("update", amplitude_ma=first_ma)
        await mid.update([channel(second_ma, width_us, period_ms)])
        say("update", amplitude_ma=second_ma)
        data = await mid.get_current_data()
        say(
            "current_data",
            result=data.result_error.name,
            active=data.is_stimulation_active_per_channel,
            errors=[e.name for e in data.channel_error],
        )
        await mid.stop()
        say("stop")
    finally:
        connection.close()


def main() -> int:
    port, first, second, width, period = sys.argv[1:6]
    try:
        asyncio.run(session(port, float(first), float(second), int(width), int(period)))
    except Exception as exc:  # the client's ProtocolError, a timeout, a serial error
        say("error", type=type(exc).__name__, message=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
