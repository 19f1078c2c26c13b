"""Electrodes: size (area or catalogue id) and placement site.

The catalogue holds common self-adhesive TENS electrode sizes; a protocol can name one
(``catalogue: square-50x50``) or give the area directly (``area_cm2: 25``).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from tensctl.model.base import StrictModel

ELECTRODE_CATALOGUE_CM2: dict[str, float] = {
    "round-32mm": 8.04,
    "round-50mm": 19.63,
    "square-40x40": 16.0,
    "square-50x50": 25.0,
    "rect-40x90": 36.0,
    "rect-50x90": 45.0,
    "rect-50x100": 50.0,
    "rect-100x150": 150.0,
}
"""Active area in cm² of common electrode sizes (rounded; round pads are π r²)."""


class Site(StrEnum):
    """Where an electrode sits. Left/right are the patient's."""

    head = "head"
    eye = "eye"
    mouth = "mouth"
    anterior_neck = "anterior_neck"
    posterior_neck = "posterior_neck"
    trapezius_left = "trapezius_left"
    trapezius_right = "trapezius_right"
    shoulder_left = "shoulder_left"
    shoulder_right = "shoulder_right"
    chest_left = "chest_left"
    chest_right = "chest_right"
    upper_back_left = "upper_back_left"
    upper_back_right = "upper_back_right"
    upper_arm_left = "upper_arm_left"
    upper_arm_right = "upper_arm_right"
    elbow_left = "elbow_left"
    elbow_right = "elbow_right"
    forearm_left = "forearm_left"
    forearm_right = "forearm_right"
    hand_left = "hand_left"
    hand_right = "hand_right"
    abdomen = "abdomen"
    lower_back_left = "lower_back_left"
    lower_back_right = "lower_back_right"
    hip_left = "hip_left"
    hip_right = "hip_right"
    buttock_left = "buttock_left"
    buttock_right = "buttock_right"
    thigh_left = "thigh_left"
    thigh_right = "thigh_right"
    knee_left = "knee_left"
    knee_right = "knee_right"
    calf_left = "calf_left"
    calf_right = "calf_right"
    ankle_left = "ankle_left"
    ankle_right = "ankle_right"
    foot_left = "foot_left"
    foot_right = "foot_right"


FRONT_CHEST = frozenset({Site.chest_left, Site.chest_right})
UPPER_BACK = frozenset({Site.upper_back_left, Site.upper_back_right})
CONTRAINDICATED_SITES = frozenset({Site.head, Site.eye, Site.mouth, Site.anterior_neck})
"""Placements that are a hard stop whatever the patient (safety.md item 14)."""


class Electrode(StrictModel):
    """One electrode of a channel: its size and where it is placed."""

    site: Site
    catalogue: str | None = Field(default=None, max_length=64)
    """An id from the electrode catalogue (see docs/protocol-format.md)."""
    area_cm2: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    """Active area in cm² when the electrode is not in the catalogue."""

    @model_validator(mode="after")
    def _one_size(self) -> Electrode:
        if (self.catalogue is None) == (self.area_cm2 is None):
            raise ValueError("give exactly one of 'catalogue' or 'area_cm2' for an electrode")
        if self.catalogue is not None and self.catalogue not in ELECTRODE_CATALOGUE_CM2:
            from difflib import get_close_matches

            near = get_close_matches(self.catalogue, list(ELECTRODE_CATALOGUE_CM2), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            known = ", ".join(ELECTRODE_CATALOGUE_CM2)
            raise ValueError(f"unknown electrode '{self.catalogue}'{hint} (known: {known})")
        return self

    @property
    def effective_area_cm2(self) -> float:
        if self.area_cm2 is not None:
            return self.area_cm2
        assert self.catalogue is not None
        return ELECTRODE_CATALOGUE_CM2[self.catalogue]
