"""Import rules: only the storage side talks to DuckDB, only the UI layer to Streamlit,
and pages hold no SQL. Checked by reading the syntax trees."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dmarc_analytics"
STORAGE = {
    "schema", "store", "writer", "inserts", "digests", "queries", "export", "maintenance",
    "archive", "rollups",
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def modules() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


def test_only_the_storage_side_imports_duckdb():
    offenders = [
        p.stem
        for p in modules()
        if imported_roots(p) & {"duckdb", "_duckdb"}
        and p.stem not in STORAGE
        and not p.stem.startswith("insights")
    ]
    assert offenders == []


def test_only_the_ui_layer_imports_streamlit():
    offenders = [
        p.stem
        for p in modules()
        if "streamlit" in imported_roots(p) and not p.stem.startswith("ui")
    ]
    assert offenders == []


def test_pages_have_no_sql_and_no_duckdb():
    scripts = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    for script in scripts:
        if not script.exists():
            continue
        assert "duckdb" not in imported_roots(script), script.name
        assert not re.search(r"\b(SELECT|INSERT INTO|DELETE FROM)\b", script.read_text()), (
            script.name
        )


def test_parsing_never_imports_network_modules():
    for name in ("decode", "decode_base", "decode_mail", "decode_zip", "parse", "parse_fields",
                 "parse_records", "parse_xml", "flatten", "alignment"):  # fmt: skip
        path = PACKAGE / f"{name}.py"
        if path.exists():
            assert not imported_roots(path) & {"urllib", "http", "requests", "ftplib", "smtplib"}, (
                name
            )


def test_the_command_line_and_the_ingest_pipeline_load_duckdb_only_to_open_a_database():
    # An ingest into a new database forks its parse workers before any database is opened
    # (pipeline.Ingestor._context): duckdb, 45 ms to import, is loaded after the fork.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import dmarc_analytics.cli, dmarc_analytics.ingest_cli, dmarc_analytics.pipeline\n"
        "import dmarc_analytics.worker\n"
        "print(sorted(m for m in ('duckdb', '_duckdb') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_folder_ingested_again_needs_duckdbs_engine_alone(tmp_path):
    # store.engine: the duckdb package's Python layer (45 ms to import) is loaded only to
    # register Arrow tables, which files known before never need; new files still go in.
    import json
    import subprocess
    import sys

    from tests.builders import CANONICAL_XML

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(CANONICAL_XML)
    code = (
        "import json, sys\n"
        "from dmarc_analytics.cli import main\n"
        "main(['ingest', sys.argv[1], '--db', sys.argv[2], '--json'], standalone_mode=False)\n"
        "print(json.dumps(sorted(m for m in ('duckdb', '_duckdb') if m in sys.modules)))\n"
    )

    def ingest() -> tuple[list[str], list[str]]:  # outcomes; which duckdb modules loaded
        out = subprocess.run(
            [sys.executable, "-c", code, str(folder), str(tmp_path / "db.duckdb")],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        *lines, loaded = out.stdout.splitlines()
        return [json.loads(line)["outcome"] for line in lines], json.loads(loaded)

    assert ingest() == (["inserted"], ["_duckdb", "duckdb"])
    assert ingest() == (["duplicate"], ["_duckdb"])
    second = CANONICAL_XML.replace(b"17000064001234567890", b"second")
    (folder / "b.xml").write_bytes(second)  # a new report beside a known one
    assert ingest() == (["duplicate", "inserted"], ["_duckdb", "duckdb"])


def test_the_parse_side_loads_the_email_package_only_for_a_mail(tmp_path):
    # Most runs bring no mail: the email package (7 ms) stays out of the start-up that
    # every ingest waits for, and is loaded by the first mail met (decode._mail_side).
    import subprocess
    import sys

    from tests.builders import CANONICAL_XML, WRAPPERS

    mail = tmp_path / "report.eml"
    mail.write_bytes(WRAPPERS["mail_gzip"](CANONICAL_XML))
    code = (
        "import sys\n"
        "import dmarc_analytics.cli, dmarc_analytics.pipeline, dmarc_analytics.worker\n"
        "from dmarc_analytics.config import Limits\n"
        "from dmarc_analytics.decode import decode_file\n"
        "print('email' in sys.modules)\n"
        f"items = list(decode_file({str(mail)!r}, Limits()))\n"
        "print('email' in sys.modules, [type(item).__name__ for item in items])\n"
        "sys.stdout.buffer.write(items[0].data)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, check=True)
    first, second, payload = out.stdout.split(b"\n", 2)
    assert (first, second) == (b"False", b"True ['Payload']")
    assert payload == CANONICAL_XML
