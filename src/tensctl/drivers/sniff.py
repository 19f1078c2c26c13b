"""Which protocol a port speaks, when it did not answer the one its URL asked for.

A device that does not answer IDENTIFY may be a device of another protocol on the right
port — a P24 probed as ``/dev/ttyACM0`` rather than ``sciencemode4:///dev/ttyACM0``. After
no answer, :func:`other_protocol` asks the port in each other protocol the way that
protocol's devices are known — read-only requests, nothing that configures or starts an
output — and says which answered, with the URL to use:

- native (``/dev/…``, ``serial://``, ``socket://``): an answer to IDENTIFY;
- ScienceMode4 (``sciencemode4://``): an answer to its status request;
- ScienceMode2 (``sciencemode2://``): the device's own ``Init``, which it sends every 500 ms
  while no host is connected — only listened for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tensctl.drivers.base import DriverOptions
from tensctl.drivers.port import open_serial_port
from tensctl.errors import TensctlError
from tensctl.model.library import find_device

SNIFF_TIMEOUT_S = 0.1
"""Each request's wait for an answer: a device of that protocol answers in milliseconds."""
SNIFF_RETRIES = 1
"""One more try: the first request may be lost in the other protocol's bytes still in the
device's receiver."""
INIT_LISTEN_S = 0.7
"""How long to listen for a RehaStim2's Init (it sends one every 500 ms)."""

WHAT: dict[str, str] = {
    "native": "a device of tensctl's own protocol",
    "sciencemode4": "a ScienceMode4 device (Hasomed P24)",
    "sciencemode2": "a ScienceMode2 device (Hasomed RehaStim2)",
}
PREFIXES: dict[str, str] = {
    "serial://": "native",
    "sciencemode4://": "sciencemode4",
    "sciencemode2://": "sciencemode2",
}


@dataclass(frozen=True)
class Found:
    protocol: str
    url: str

    def hint(self) -> str:
        return f"this looks like {WHAT[self.protocol]}: use {self.url}"


def split_url(url: str) -> tuple[str, str] | None:
    """``url`` → (its protocol, the port it names); None for URLs that name no port
    (``sim://``, a driver plugin's scheme)."""
    for prefix, protocol in PREFIXES.items():
        if url.startswith(prefix):
            port = url.removeprefix(prefix)
            return (protocol, port) if port else None
    if url.startswith("socket://") or "://" not in url:
        return "native", url
    return None


def url_for(protocol: str, port: str) -> str:
    return port if protocol == "native" else f"{protocol}://{port}"


def other_protocol(url: str) -> Found | None:
    """The other protocol the port of ``url`` answers in (None: none, or no port). Only
    after the URL's own protocol got no answer: each try opens the port again."""
    split = split_url(url)
    if split is None:
        return None
    asked, port = split
    for protocol in ("sciencemode4", "native", "sciencemode2"):
        if protocol != asked and _answers(protocol, port):
            return Found(protocol, url_for(protocol, port))
    return None


def _answers(protocol: str, port: str) -> bool:
    try:
        if protocol == "sciencemode2":
            return _sends_init(port)
        from tensctl.drivers.registry import open_driver

        options = DriverOptions(timeout_s=SNIFF_TIMEOUT_S, retries=SNIFF_RETRIES)
        with open_driver(url_for(protocol, port), options) as driver:
            driver.identify()
        return True
    except TensctlError:
        return False


def _sends_init(port: str) -> bool:
    from tensctl.wire.sciencemode2 import Deframer, Init, decode
    from tensctl.wire.sciencemode2.framing import Packet

    line = find_device("hasomed-rehastim2")[0].serial
    opened = open_serial_port(port, line)
    deframer = Deframer()
    try:
        end = time.monotonic() + INIT_LISTEN_S
        while time.monotonic() < end:
            for item in deframer.feed(opened.read(64)):
                if isinstance(item, Packet) and isinstance(decode(item), Init):
                    return True
    finally:
        opened.close()
    return False
