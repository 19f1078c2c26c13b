"""The plot's labels, measured as drawn: sessions with 30 adjustments (spread over the
session, in a burst, on two channels) rendered to PNG; no two label boxes overlap, every
adjustment label is inside its panel, and together they account for all 30."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

import tensctl
from tensctl.journal.store import Store

pytest.importorskip("matplotlib")
from matplotlib.image import imread

from tensctl.journal.session_plot import ADJUST_LANE_Y, session_figure

Record = tuple[dict[str, Any], list[dict[str, Any]]]


def record(db: Path, protocol: str, every_s: float, channels: tuple[int, ...]) -> Record:
    """A session with 30 adjustments, ``every_s`` apart, over ``channels`` in turn."""
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session(protocol, patient="P-1", intensity=12, screened=True) as s,
    ):
        s.run_for(30)
        for i in range(30):
            s.adjust(channels[i % len(channels)], -1 if (i // len(channels)) % 2 == 0 else 1)
            s.run_for(every_s)
        s.emergency_stop("end of test")
        sid = s.record_id
    assert sid is not None
    with Store(db) as store:
        return store.session(sid), store.events(sid)


def counted(label: str) -> int:
    """How many adjustments one label stands for."""
    found = re.search(r"×(\d+)", label)
    return int(found.group(1)) if found else 1


@pytest.mark.parametrize(
    ("protocol", "every_s", "channels"),
    [
        ("conventional-hf", 50.0, (1,)),  # spread over 25 minutes
        ("conventional-hf", 4.0, (1,)),  # a burst of two minutes in half an hour
        ("fast-fibromyalgia", 20.0, (1, 2)),  # two panels
    ],
)
def test_thirty_adjustments_have_labels_that_never_overlap(
    tmp_path: Path, protocol: str, every_s: float, channels: tuple[int, ...]
) -> None:
    header, events = record(tmp_path / "s.sqlite3", protocol, every_s, channels)
    assert sum(e["kind"] == "adjust" for e in events) == 30
    fig = session_figure(header, events)
    path = tmp_path / "plot.png"
    fig.savefig(path, dpi=fig.dpi)
    height, width = imread(path).shape[:2]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    assert (width, height) == (round(fig.bbox.width), round(fig.bbox.height))  # as measured
    panels = [ax for ax in fig.axes if ax.get_ylabel().startswith("channel")]
    assert len(panels) == len(channels)
    represented = 0
    for ax in panels:
        frame = ax.get_window_extent(renderer)
        texts = [t for t in ax.texts if t.get_text() and t.get_visible()]
        labels = [t for t in texts if t.get_position()[1] == ADJUST_LANE_Y]
        assert labels, "no adjustment labels drawn"
        for t in labels:
            box = t.get_window_extent(renderer)
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, t.get_text()  # inside the panel
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, t.get_text()
        for a, b in itertools.combinations(texts, 2):  # no label over another, of any lane
            first, second = a.get_window_extent(renderer), b.get_window_extent(renderer)
            assert not first.overlaps(second), (a.get_text(), b.get_text())
        represented += sum(counted(t.get_text()) for t in labels)
    assert represented == 30


def test_labels_one_by_one_would_overlap_there(tmp_path: Path) -> None:
    """The spread case is one where a label for each adjustment cannot fit: the layout,
    not the data, keeps them apart."""
    header, events = record(tmp_path / "s.sqlite3", "conventional-hf", 50.0, (1,))
    fig = session_figure(header, events)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = fig.axes
    probe = ax.text(0, 0, "12→11 mA", fontsize=7)
    width_px = probe.get_window_extent(renderer).width
    xs = [
        ax.transData.transform((x, 0))[0]
        for x in sorted({line.get_xdata()[0] for line in ax.lines if line.get_marker() in "^v"})
    ]
    assert min(b - a for a, b in itertools.pairwise(xs)) < width_px
    labels = [t for t in ax.texts if t.get_position()[1] == ADJUST_LANE_Y]
    assert 1 < len(labels) < 30  # summarised, not dropped and not one each
