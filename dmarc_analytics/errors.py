"""The one exception family of dmarc_analytics, and the ``Issue`` value type.

Stages raise their own kind; ``pipeline`` turns an error on one input into a rejected
outcome for that input, and only ``cli`` and ``ui`` turn errors into exit codes or messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Self

from dmarc_analytics.i18n_en import ENGLISH


class DmarcAnalyticsError(Exception):
    """Base class of every error this library raises on purpose.

    An error made with ``worded(key, **values)`` has its text in the catalogue: ``str()`` is
    the English text (the CLI's), and the app words it in the user's language from ``key``
    and ``values``. Other errors carry their English message only (``key`` is None).
    """

    key: str | None = None
    values: Mapping[str, object] = MappingProxyType({})

    @classmethod
    def worded(cls, key: str, **values: object) -> Self:
        error = cls(ENGLISH[key].format(**values))
        error.key, error.values = key, values
        return error


class ConfigError(DmarcAnalyticsError):
    """Raised when a setting (option, environment variable or config file) is invalid."""


class InputError(DmarcAnalyticsError):
    """Raised when an input path cannot be found or read."""


class OutputError(DmarcAnalyticsError):
    """Raised when a file the user asked for (an export) cannot be written."""


class DecodeError(DmarcAnalyticsError):
    """Raised when a container (gzip, zip, e-mail, mbox) is corrupt or cannot be unwrapped."""


class LimitExceeded(DecodeError):
    """Raised when an input exceeds a configured safety limit (size, members, depth, records)."""


class NotAggregateReport(DmarcAnalyticsError):
    """Raised when a payload is readable but is not a DMARC aggregate report.

    The message says what it is instead (a TLS report, a failure report, other XML, ...).
    """


class ParseError(DmarcAnalyticsError):
    """Raised when a payload looks like an aggregate report but cannot be read as one."""


class UnsafeXmlError(ParseError):
    """Raised when XML carries a DOCTYPE or entity declarations, which reports never need."""


class StoreError(DmarcAnalyticsError):
    """Raised when the DuckDB store cannot be opened, read or written."""


class StoreBusyError(StoreError):
    """Raised when another process holds the database lock past the retry deadline."""


class StoreMissingError(StoreError):
    """There is no database where one must be."""


class SchemaError(StoreError):
    """Raised when the database schema is newer than this version or a migration fails."""


class FilterError(DmarcAnalyticsError):
    """Raised when a filter parameter is unknown or its value is invalid."""


@dataclass(frozen=True, slots=True)
class Issue:
    """Something noticed while reading a report: a repaired quirk, a recovery, a doubt.

    ``code`` is a short stable identifier such as ``token-case`` or ``recovered-xml``;
    ``path`` names the element concerned (for example ``record[3]/row/source_ip``).
    """

    code: str
    message: str
    severity: str = "warning"  # "info", "warning" or "error"
    path: str | None = None
