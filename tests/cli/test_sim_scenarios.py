"""``tensctl sim scenarios``: the fault scenarios the simulator can play, one line each."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scenarios_lists_every_shipped_scenario_on_one_line_each(cli) -> None:  # type: ignore[no-untyped-def]
    shipped = sorted(p.stem for p in (ROOT / "simulator" / "scenarios").glob("*.yaml"))
    result = cli("sim", "scenarios")
    lines = result.out.splitlines()
    assert result.code == 0 and len(shipped) >= 10
    assert [line.split()[0] for line in lines] == shipped
    by_id = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    assert by_id["electrode-off"] == (
        "Channel 1 electrode comes off at 5 s (open circuit), back on at 15 s."
    )
    assert by_id["drop-frames"] == "5 % of frames dropped from power-up."
    assert "tensctl sim --scenario ID" in result.err  # how to use one: a diagnostic, not data


def test_scenarios_as_json_says_each_clock(cli) -> None:  # type: ignore[no-untyped-def]
    rows = {r["id"]: r for r in json.loads(cli("sim", "scenarios", "--json").out)}
    assert rows["corrupt-1e-3"]["clock"] == "boot" and rows["peel"]["clock"] == "start"
    assert rows["low-battery"]["events"] == 2
    assert Path(rows["reboot"]["path"]).name == "reboot.yaml"


def test_every_listed_scenario_is_one_sim_takes(cli) -> None:  # type: ignore[no-untyped-def]
    from tenssim.scenario import load_scenario

    for row in json.loads(cli("sim", "scenarios", "--json").out):
        assert load_scenario(row["id"]).id == row["id"]


def test_sim_help_names_the_scenarios_command(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("sim", "--help")
    assert result.code == 0 and "tensctl sim scenarios" in result.out and "--scenario" in result.out
