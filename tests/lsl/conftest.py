"""Lab Streaming Layer tests stay on this machine.

liblsl reads its configuration once, from the file ``LSLAPICFG`` names, when it is first
used. This conftest writes one with discovery on this machine only and IPv6 off, and sets
``LSLAPICFG`` at import time — before any test, fixture or tensctl module imports pylsl.
Processes the tests start inherit it (unless a test takes it away on purpose, to see
tensctl write its own machine-only configuration)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

LSL_CONFIG = Path(tempfile.mkdtemp(prefix="tensctl-lsl-tests-")) / "lsl_api.cfg"
LSL_CONFIG.write_text(
    "[multicast]\nResolveScope = machine\nListenAddress = 127.0.0.1\n"
    "[ports]\nIPv6 = disable\n"
    "[log]\nlevel = -3\n",  # the inlets' "transmission broke off" as an outlet closes
    encoding="utf-8",
)
os.environ["LSLAPICFG"] = str(LSL_CONFIG)


@pytest.fixture(autouse=True)
def _machine_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test (and every process it starts) sees this configuration."""
    monkeypatch.setenv("LSLAPICFG", str(LSL_CONFIG))


@pytest.fixture(scope="session")
def pylsl() -> ModuleType:
    assert os.environ["LSLAPICFG"] == str(LSL_CONFIG)
    return pytest.importorskip("pylsl")


Sample = tuple[float, list[Any]]


class Receiver:
    """Inlets on tensctl's two streams, found by name and type, pulled on a thread from the
    moment they connect until :meth:`stop`; ``markers`` and ``amplitude`` are (time stamp,
    sample) in the order received."""

    def __init__(self, lsl: ModuleType, timeout_s: float = 20.0) -> None:
        self.lsl, self.timeout_s = lsl, timeout_s
        self.markers: list[Sample] = []
        self.amplitude: list[Sample] = []
        self.infos: dict[str, Any] = {}
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _inlet(self, name: str, kind: str) -> Any:
        found = self.lsl.resolve_bypred(f"name='{name}' and type='{kind}'", 1, self.timeout_s)
        assert found, f"no LSL stream {name} of type {kind} on this machine"
        inlet = self.lsl.StreamInlet(found[0], max_buflen=3600)
        inlet.open_stream(self.timeout_s)
        self.infos[kind] = inlet.info(self.timeout_s)
        return inlet

    def _run(self) -> None:
        try:
            markers = self._inlet("tensctl-markers", "Markers")
            amplitude = self._inlet("tensctl-amplitude", "Stimulation")
            self.connected.set()
            while True:
                stopping, pulled = self._stop.is_set(), 0
                for inlet, into in ((markers, self.markers), (amplitude, self.amplitude)):
                    samples, stamps = inlet.pull_chunk(timeout=0.05)
                    into.extend(zip(stamps, samples, strict=True))
                    pulled += len(stamps)
                if stopping and not pulled:  # pulled to the end after the stop
                    return
        except BaseException as exc:  # for the test to raise
            self.error = exc
            self.connected.set()

    def stop(self) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise self.error


@pytest.fixture
def receiver(pylsl: ModuleType) -> Iterator[Receiver]:
    found = Receiver(pylsl)
    yield found
    found._stop.set()
