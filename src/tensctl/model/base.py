"""Shared building blocks of the file models: strict base class and unit-named number types.

Every model forbids unknown keys, rejects NaN and infinities, and is immutable once loaded.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        validate_default=True,
        use_attribute_docstrings=True,
    )


def _finite_positive_duration(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        raise PydanticCustomError("duration_finite", "a duration must be a finite number")
    if value <= 0:
        raise PydanticCustomError(
            "duration_positive",
            "a duration must be greater than 0 s, found {value}",
            {"value": value},
        )
    return value


def _non_negative_duration(value: float) -> float:
    if value < 0:
        raise PydanticCustomError(
            "duration_non_negative",
            "this duration cannot be negative, found {value}",
            {"value": value},
        )
    return value


DurationS = Annotated[float, Field(allow_inf_nan=False), AfterValidator(_finite_positive_duration)]
"""A length of time in seconds, finite and > 0."""

OptionalDelayS = Annotated[
    float, Field(allow_inf_nan=False), AfterValidator(_non_negative_duration)
]
"""A length of time in seconds that may be 0 (ramps)."""

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


class Reference(StrictModel):
    """A citation for a protocol or a device data sheet."""

    citation: str = Field(min_length=1, max_length=1000)
    """Authors, title, journal/publisher, year."""
    short: str | None = Field(default=None, max_length=60)
    """A short label for tables, e.g. 'Sluka 2003' (default: first author and year)."""
    doi: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500)
    note: str | None = Field(default=None, max_length=1000)


class Range(StrictModel):
    """A closed interval [min, max] in the unit its field name carries."""

    min: float = Field(ge=0, allow_inf_nan=False)
    max: float = Field(gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max
