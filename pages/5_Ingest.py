"""Ingest: upload files, the drop folder, the ingest ledger and data management."""

from dmarc_analytics import ui
from dmarc_analytics.ui_ingest import (
    dropfolder_section,
    ledger_section,
    manage_section,
    upload_section,
)

page = ui.page_setup("ingest")
upload_section(page)
dropfolder_section(page)
ledger_section(page)
manage_section(page)
