"""Find the input files named on a command line: files, folders and glob patterns.

Nothing here opens a file or looks at its content; that is ``decode``'s job.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dmarc_analytics.errors import InputError

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file to ingest; ``display`` is its path as the user gave it or as it was found."""

    path: Path
    display: str


@dataclass(frozen=True, slots=True)
class Blob:
    """Content to ingest that is already in memory (an upload, an original being reparsed)."""

    name: str
    data: bytes


def expand_inputs(specs: Sequence[str]) -> list[InputFile]:
    """Expand files, folders (recursively, sorted, hidden entries skipped) and glob patterns.

    Raises ``InputError`` naming the first spec that matches nothing. An existing but empty
    folder is not an error.
    """
    found: list[InputFile] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found.extend(_walk_folder(spec))
        elif path.is_file():
            found.append(InputFile(path, spec))
        elif _GLOB_CHARS.isdisjoint(spec) or not (matches := _glob(spec)):
            raise InputError(f"no such file or folder: {spec}")
        else:
            found.extend(matches)
    return found


def _glob(pattern: str) -> list[InputFile]:
    matches: list[InputFile] = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        if os.path.isdir(match):
            matches.extend(_walk_folder(match))
        elif os.path.isfile(match):
            matches.append(InputFile(Path(match), match))
    return matches


def _walk_folder(folder: str) -> Iterator[InputFile]:
    """The files under ``folder``, sorted by path, skipping names that start with a dot.

    Symbolic links to files are followed, links to folders are not (as ``os.walk``).
    """
    found: list[str] = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    if not entry.is_symlink():
                        pending.append(entry.path)
                elif entry.is_file():  # not a broken link, a socket or a fifo
                    found.append(entry.path)
    # Path order, component by component: the separator sorts before every other character.
    for display in sorted(found, key=lambda name: name.replace(os.sep, "\0")):
        yield InputFile(Path(display), display)
