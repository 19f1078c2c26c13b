"""Drive the RehaStim2 at PORT with the unmodified ``pysciencemode`` client (run by
``tests/hasomed/test_pysciencemode.py`` in a subprocess; its output is a JSON summary).

    python pysciencemode_session.py /dev/pts/N
"""

from __future__ import annotations

import json
import sys
import time

from pysciencemode import Channel, Device, Modes, Rehastim2


def main(port: str) -> None:
    stim = Rehastim2(port)  # waits for the device's Init, answers InitAck
    ch1 = Channel(
        mode=Modes.SINGLE, no_channel=1, amplitude=12, pulse_width=250, device_type=Device.Rehastim2
    )
    ch3 = Channel(
        mode=Modes.DOUBLET, no_channel=3, amplitude=7, pulse_width=400, device_type=Device.Rehastim2
    )
    ch5 = Channel(
        mode=Modes.SINGLE,
        no_channel=5,
        amplitude=0,
        pulse_width=100,
        enable_low_frequency=True,
        device_type=Device.Rehastim2,
    )
    channels = [ch1, ch3, ch5]
    # Stop, then InitChannelListMode: 40 ms main interval, 10 ms inter pulse, ch5 skipped once
    stim.init_channel(
        stimulation_interval=40,
        list_channels=channels,
        inter_pulse_interval=10,
        low_frequency_factor=1,
    )
    stim.start_stimulation(upd_list_channels=channels)  # StartChannelListMode
    time.sleep(0.5)
    ch1.set_amplitude(20)
    ch5.set_amplitude(3)
    ch3.set_pulse_width(150)
    stim.start_stimulation(upd_list_channels=channels)  # the update
    time.sleep(0.5)
    stim.end_stimulation()  # StopChannelListMode
    stim.disconnect()
    stim.close_port()
    print(json.dumps({"done": True, "sent": len(stim.packet_send_history)}))


if __name__ == "__main__":
    main(sys.argv[1])
