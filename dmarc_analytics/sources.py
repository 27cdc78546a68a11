"""Find the input files named on a command line: files, folders and glob patterns.

Nothing here opens a file or looks at its content; that is ``decode``'s job.
"""

from __future__ import annotations

import errno
import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dmarc_analytics.errors import InputError

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file to ingest; ``display`` is its path as the user gave it or as it was found.

    ``path`` is what the operating system is given (a string, or any ``os.PathLike``);
    ``absolute`` its absolute path as bytes when already known (see ``absolute_path``).
    """

    path: str | os.PathLike[str]
    display: str
    error: str | None = None  # a folder that could not be listed: an outcome, not a crash
    absolute: bytes | None = None


def absolute_path(item: InputFile) -> bytes:
    """The input's absolute path, as the file signatures remember it (``store.file_stats``)."""
    if item.absolute is not None:
        return item.absolute
    return os.fsencode(os.path.abspath(item.path))


@dataclass(frozen=True, slots=True)
class Blob:
    """Content to ingest that is already in memory (an upload, an original being reparsed)."""

    name: str
    data: bytes


def shown_name(raw: str) -> str:
    """A file name as text that can be shown and stored: Python hands names that are not
    valid UTF-8 (old archives, old mail clients) over as lone surrogates, which no UTF-8
    writer accepts; their bytes become U+FFFD instead."""
    if raw.isascii():  # most names: nothing to replace
        return raw
    try:
        return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that does not stand for a byte
        return raw.encode("utf-8", "replace").decode("utf-8")


def _input(raw: str) -> InputFile:
    return InputFile(raw, shown_name(raw))


def expand_inputs(specs: Sequence[str]) -> list[InputFile]:
    """Expand files, folders (recursively, sorted, hidden entries skipped) and glob patterns.

    Raises ``InputError`` naming the first spec that matches nothing. An existing but empty
    folder is not an error.
    """
    found, missing = find_inputs(specs)
    if missing:
        raise InputError(f"no such file or folder: {missing[0]}")
    return found


def find_inputs(specs: Sequence[str]) -> tuple[list[InputFile], list[str]]:
    """The inputs the specs name, and the specs that name nothing (a mistyped path, a
    pattern without a match), so that a caller can take the rest and still say so.

    A name that exists but is not a regular file (a broken link, a fifo) is an input with
    its ``error``, as it is inside a folder: a rejected input, not a missing one.
    """
    found: list[InputFile] = []
    missing: list[str] = []
    for spec in specs:
        if os.path.isdir(spec):
            found.extend(_walk_folder(spec))
        elif os.path.isfile(spec):
            found.append(_input(spec))
        elif os.path.lexists(spec):
            found.append(_unusable(spec))
        elif _GLOB_CHARS.isdisjoint(spec) or not (matches := _glob(spec)):
            missing.append(spec)
        else:
            found.extend(matches)
    return found, missing


def _unusable(name: str) -> InputFile:
    """An entry that is there but cannot be read as a file, with the reason."""
    try:
        os.stat(name)
        problem = None
    except OSError as exc:
        problem = exc
    return InputFile(name, shown_name(name), _unusable_reason(name, problem))


def _unusable_reason(name: str, problem: OSError | None) -> str:
    if problem is not None and problem.errno == errno.ELOOP:
        return "link loop: the link leads back to itself"
    if os.path.islink(name) and not os.path.exists(name):
        return "broken link: what it points to does not exist"
    if problem is not None:
        return f"cannot read it: {problem.strerror or problem}"
    return "not a regular file"


def _glob(pattern: str) -> list[InputFile]:
    matches: list[InputFile] = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        if os.path.isdir(match):
            matches.extend(_walk_folder(match))
        elif os.path.isfile(match):
            matches.append(_input(match))
        else:  # a broken link the pattern matched: accounted for, as in a folder
            matches.append(_unusable(match))
    return matches


def _walk_folder(folder: str) -> Iterator[InputFile]:
    """The files under ``folder``, sorted by path, skipping names that start with a dot.

    Symbolic links to files are followed, links to folders are not (as ``os.walk``).
    Each file's absolute path is its folder's (made once per folder) and its name: a
    folder given again is recognised from these paths alone, and ``os.path.abspath`` per
    file was a tenth of that.
    """
    found: dict[str, bytes] = {}  # as found -> absolute
    unreadable: dict[str, str] = {}
    pending = [folder]
    while pending:
        current = pending.pop()
        prefix = os.path.join(os.fsencode(os.path.abspath(current)), b"")
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    absolute = prefix + os.fsencode(name)
                    try:
                        is_dir = entry.is_dir()
                    except OSError as exc:  # a link loop: that entry, not the whole folder
                        found[entry.path] = absolute
                        unreadable[entry.path] = _unusable_reason(entry.path, exc)
                        continue
                    if is_dir:
                        if not entry.is_symlink():
                            pending.append(entry.path)
                        else:  # not followed (a loop would never end), but accounted for
                            found[entry.path] = absolute
                            unreadable[entry.path] = (
                                "link to a folder: not followed (give the folder itself)"
                            )
                    elif entry.is_file():
                        found[entry.path] = absolute
                    else:  # accounted for, as every input is: a broken link, a fifo, ...
                        found[entry.path] = absolute
                        unreadable[entry.path] = (
                            "broken link: what it points to does not exist"
                            if entry.is_symlink()
                            else "not a regular file"
                        )
        except OSError as exc:
            found[current] = os.fsencode(os.path.abspath(current))
            unreadable[current] = f"cannot read folder: {exc.strerror or exc}"
    # Path order, component by component: the separator sorts before every other character.
    for display in sorted(found, key=lambda name: name.replace(os.sep, "\0")):
        yield InputFile(display, shown_name(display), unreadable.get(display), found[display])
