"""Log every event of a session to a CSV file: time, event, and its details as columns.

python examples/events_to_csv.py session.csv
"""

from __future__ import annotations

import csv
import json
import sys

import tensctl
from tensctl.engine.events import SessionEvent


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

        with (
            tensctl.connect("sim://", virtual=True) as device,
            device.session("burst", patient="P-0042", intensity=18, screened=True) as session,
        ):
            session.subscribe(record)
            state = session.run()
    print(f"{state.value}: events written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "session-events.csv"))
