"""dmarc-analytics: local, private analytics for DMARC aggregate reports."""

__version__ = "0.1.0"
