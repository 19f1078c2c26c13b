"""Log every event of a session to a CSV file: time, event, and its details as columns.
The session runs on the built-in simulator in virtual time and is recorded in the examples'
own store (``examples.sqlite3`` next to the default store; the path is printed) under a
demonstration id, never among a clinic's records.

python examples/events_to_csv.py session.csv
"""

from __future__ import annotations

import csv
import json
import sys

import tensctl
from tensctl.engine.events import SessionEvent
from tensctl.journal.store import default_path

PATIENT = "DEMO-002"  # a demonstration id: never a real patient's


def main(path: str) -> int:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["elapsed_s", "event", "channel", "amplitude_ma", "state", "details"])

        def record(event: SessionEvent) -> None:
            data = dict(event.data)
            writer.writerow(
                [
                    f"{event.elapsed_s:.3f}",
                    event.kind,
                    data.pop("channel", ""),
                    data.pop("amplitude_ma", ""),
                    data.pop("state", ""),
                    json.dumps(data, default=str) if data else "",
                ]
            )

        store = default_path().with_name("examples.sqlite3")  # the examples' own store
        with (
            tensctl.connect("sim://", virtual=True, journal=store) as device,
            device.session("burst", patient=PATIENT, intensity=18, screened=True) as session,
        ):
            session.subscribe(record)
            state = session.run()
    print(f"{state.value}: events written to {path}; session {session.record_id} in {store}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "session-events.csv"))
