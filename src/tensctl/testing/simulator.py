"""``tensctl sim`` as a real process for tests: a pseudo-terminal or a TCP socket on
127.0.0.1, any personality, device profile and fault scenario, and its log to assert on."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tenssim.process import SimProcess

from tensctl.testing.simlog import SimLog

Transport = Literal["pty", "tcp"]
PERSONALITIES = ("native", "sciencemode2", "sciencemode4")


class SimulatorFailed(RuntimeError):
    """The simulator did not start (its own message says why)."""


class Simulator:
    """One running ``tensctl sim``. :attr:`url` is what a host opens (``tensctl.connect``,
    ``tensctl run --device``): the bare port for the native protocol (``/dev/pts/5`` or
    ``socket://127.0.0.1:PORT``), with the personality's scheme in front otherwise
    (``sciencemode4:///dev/pts/5``). :attr:`address` is the port alone. :attr:`log` reads
    what the simulated device did. Stopping is idempotent; use it as a context manager or
    through the ``tenssim_factory`` fixture, which stops it whatever the test's outcome."""

    def __init__(
        self,
        log_path: Path,
        *,
        personality: str = "native",
        transport: Transport = "pty",
        profile: str | None = None,
        scenario: str | Path | None = None,
        control: Path | None = None,
        serial: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.personality, self.transport, self.control = personality, transport, control
        self.url = self.address = ""  # until it has announced where it listens
        if transport not in ("pty", "tcp"):
            raise ValueError(f"transport must be 'pty' or 'tcp', not {transport!r}")
        args = ["--personality", personality]
        if profile is not None:
            args += ["--profile", profile]
        if scenario is not None:
            args += ["--scenario", str(scenario)]
        if control is not None:
            args += ["--control", str(control)]
        if serial is not None:
            args += ["--serial", serial]
        self.log = SimLog(log_path)
        try:  # SimProcess serves TCP on 127.0.0.1 only (port 0: a free one)
            self.process = SimProcess(transport, log_path, *args, *extra)
        except RuntimeError as exc:
            raise SimulatorFailed(str(exc).strip()) from None
        self.address = self.process.address
        self.url = self.address if personality == "native" else f"{personality}://{self.address}"
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def inject(self, **event: Any) -> dict[str, Any]:
        """A fault event now, through the control socket (``control=`` must have been
        given): ``sim.inject(kind="electrode_off", channel=1)``; returns the reply."""
        if self.control is None:
            raise RuntimeError("this simulator was started without a control socket")
        from tenssim.control import send  # imported on use: the plugin loads in every pytest run

        reply: dict[str, Any] = send(self.control, event)
        return reply

    def running(self) -> bool:
        return self.process.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL, as a device that is unplugged: no goodbye on the line."""
        if self.returncode is None:
            self.process.proc.kill()
            self.process.proc.wait()
        return self.stop()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 10 s; the exit code (0 is a clean stop)."""
        if self.returncode is None:
            self.returncode = self.process.stop()
            for stream in (self.process.proc.stdout, self.process.proc.stderr):
                if stream is not None:
                    stream.close()
        return self.returncode

    def __enter__(self) -> Simulator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Simulator {self.personality} at {self.url}>"
