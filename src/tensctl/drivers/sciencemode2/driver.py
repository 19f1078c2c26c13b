"""The driver for the Hasomed RehaStim2 over ScienceMode2, channel list mode.

The driver interface maps onto the device's few commands:

- connecting: the device's Init is answered, then StopChannelListMode and
  GetStimulationMode: a device not back in its start mode is an error (``DriverError``).
- configure: kept per channel; refused (``UNSUPPORTED``) if channel list mode cannot produce
  it (see :mod:`~tensctl.drivers.sciencemode2.plan`: the main interval is rounded up to its
  0.5 ms grid, so a channel may run up to 5 % slower, never faster; telemetry reports the
  frequency produced). A running channel's new width goes out as a list update; a new
  frequency needs a new list (stop, init, start at the same currents).
- start: InitChannelListMode with the active channels, then StartChannelListMode with the
  new channels at 0 mA (a running list is stopped first: the device initialises only from
  its start mode). set_amplitude: a StartChannelListMode update with every listed
  channel's current, in whole mA rounded down.
- stop: StopChannelListMode when no channel remains; otherwise an update with the stopped
  channels at 0 mA (they keep their slot until the list is next rebuilt). Stops and
  decreases never wait behind another operation (see
  :mod:`~tensctl.drivers.sciencemode2.listing`): a stop of every channel overtakes a list
  rebuild in flight, which then fails (``STOPPED``) without writing again.
- emergency_stop: StopChannelListMode at once (not behind other commands); every channel
  latches ``emergency_stop`` until reset_fault. A StimulationError from the device latches
  ``electrode``/``module``/``emergency_switch`` on every channel (the device stopped all);
  a new Init from the device mid-session (it restarted) is a ``boot`` event and latches
  ``reboot``.
- measure_impedance: NaN — the device has no such command; it tests the skin resistance
  before every pulse itself and reports an electrode error.

For integrators (not part of the ``Driver`` interface): :meth:`ScienceMode2Driver.single_pulse`
sends one SinglePulse — whole mA and µs rounded down, 0–130 mA, 20–500 µs; refused
(``WRONG_MODE``) while a channel list is set up (the device takes single pulses only in its
start mode: stop every channel first) and (``FAULT_LATCHED``) on a channel with a latched fault.

Event callbacks run on the reader thread. From there, stop, a decrease and emergency_stop
are sent without waiting for their Ack (a helper thread waits for it; no Ack after every
try is a lost link); everything else that takes an operation's turn (configure, start, an
increase, single_pulse, reset_fault) is refused (``IN_CALLBACK``), since the reader thread
cannot wait for its own reply. A callback that raises is logged; the reader goes on.
"""

from __future__ import annotations

from tensctl.drivers.base import ChannelSettings, DeviceEvent
from tensctl.drivers.sciencemode2 import plan, pulse
from tensctl.drivers.sciencemode2.core import DriverCore
from tensctl.drivers.sciencemode2.listing import STOPPED, refused
from tensctl.drivers.sciencemode2.state import ChannelState
from tensctl.wire.sciencemode2 import SinglePulse, Watchdog


class ScienceMode2Driver(DriverCore):
    def _configure(self, channel: int, settings: ChannelSettings) -> None:
        what = f"configure of channel {channel}"
        with self._operation(what):
            ch = self._channel(channel, what)
            if ch.faults:
                raise refused(what, "FAULT_LATCHED", "a fault is latched; reset it first")
            try:
                width = plan.width_us(settings)
            except plan.Inexpressible as exc:
                raise refused(what, "UNSUPPORTED", str(exc)) from None
            old = (ch.settings, ch.width_us)
            ch.settings, ch.width_us = settings, width
            if not ch.active:
                return
            try:
                self._list.program(what)
            except BaseException:
                ch.settings, ch.width_us = old
                raise

    # ---- output ------------------------------------------------------------------------

    def _start(self, channels: list[int]) -> None:
        chosen = sorted(set(channels))
        what = f"start of channels {chosen}"
        with self._operation(what):
            for n in chosen:
                ch = self._channel(n, what)
                if ch.faults:
                    raise refused(what, "FAULT_LATCHED", f"channel {n}: a fault is latched")
                if ch.settings is None:
                    raise refused(what, "NOT_CONFIGURED", f"channel {n} is not configured")
            new = [self._channels[n] for n in chosen if not self._channels[n].active]
            with self._list.lock:
                for ch in new:
                    ch.account(self._list.now())
                    ch.active, ch.current_ma = True, 0
            try:
                self._list.program(what)
            except BaseException:
                with self._list.lock:
                    for ch in new:
                        ch.off(self._list.now())
                raise

    def _set_amplitude(self, channel: int, amplitude_ma: float) -> None:
        what = f"{amplitude_ma:g} mA on channel {channel}"
        current = pulse.whole_ma(self.profile, what, amplitude_ma)  # never rounded up
        ch = self._channel(channel, what)
        if self._lower(ch, current, what):
            return  # not behind any other operation
        with self._operation(what):
            if self._lower(ch, current, what):
                return
            with self._list.lock:
                if not ch.active:
                    code = "FAULT_LATCHED" if ch.faults else "NOT_STARTED"
                    raise refused(what, code, f"channel {channel} is not started")
                previous = ch.current_ma
                ch.account(self._list.now())
                ch.current_ma = current
            try:
                self._list.update(what, guarded=True)
            except BaseException:
                with self._list.lock:
                    ch.account(self._list.now())
                    ch.current_ma = min(ch.current_ma, previous)  # unknown: assume the lower
                raise

    def _stop(self, channels: list[int]) -> None:
        chosen = sorted(set(channels))
        what = f"stop of channels {chosen}"
        with self._list.lock:  # no wait for the operation in progress, if any
            for n in chosen:
                self._channels[n].off(self._list.now())
            everything = not any(ch.active for ch in self._channels.values())
            if everything:
                self._list.overtake(STOPPED)  # a rebuild in flight writes nothing more
        if everything:
            self._list.stop("StopChannelListMode")
        else:
            self._list.lower(what)

    def emergency_stop(self) -> None:
        fresh = self._stopped_by_device("emergency_stop")  # before the write: overtakes all
        try:
            self._list.stop("emergency StopChannelListMode", self.retries + 3)
        finally:
            if fresh:  # once per latch: a callback that stops on every fault stops once
                self._notify(DeviceEvent("fault", None, frozenset({"emergency_stop"})))

    def heartbeat(self) -> None:
        self._link.send(Watchdog)

    def single_pulse(self, channel: int, amplitude_ma: float, pulse_width_us: float) -> None:
        """One biphasic pulse now (SinglePulse). Not part of the ``Driver`` interface; see
        the module's description for what is refused."""
        what = f"single pulse of {amplitude_ma:g} mA, {pulse_width_us:g} µs on channel {channel}"
        ch = self._channel(channel, what)
        current, width = pulse.single_pulse(self.profile, what, amplitude_ma, pulse_width_us)
        with self._operation(what):
            with self._list.lock:
                if ch.faults:
                    raise refused(what, "FAULT_LATCHED", f"channel {channel}: a fault is latched")
                if self._list.listed:
                    raise refused(
                        what,
                        "WRONG_MODE",
                        "a channel list is set up: single pulses only in the device's start "
                        "mode (stop every channel first)",
                    )
                generation = self._list.generation
            self._list.request(
                lambda n: SinglePulse(n, channel - 1, width, current),
                what,
                lambda: self._list.generation == generation,
            )
            with self._list.lock:
                ch.pulses += 1
                ch.charge_uc += 2 * current * width / 1000

    def _lower(self, ch: ChannelState, current: int, what: str) -> bool:
        """A current no higher than the channel's goes out at once (True: done)."""
        with self._list.lock:
            if not ch.active:
                return current == 0  # already at 0
            if current >= ch.current_ma:
                return current == ch.current_ma
            ch.account(self._list.now())
            ch.current_ma = current
        self._list.lower(what)
        return True
