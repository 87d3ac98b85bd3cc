"""Native Python interpreters matching Karmada's default (native) interpreter."""

from .aggregate import AGGREGATE
from .health import HEALTH
from .reflect import REFLECT, reflect_whole_status

__all__ = ["AGGREGATE", "HEALTH", "REFLECT", "reflect_whole_status"]
