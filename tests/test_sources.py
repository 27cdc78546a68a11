"""sources: files, folders and glob patterns become a sorted list of input files."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from dmarc_analytics.errors import InputError
from dmarc_analytics.sources import InputFile, expand_inputs


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An inbox folder with reports in subfolders and hidden litter to skip."""
    for name in [
        "b.xml",
        "a.xml.gz",
        "sub/z.zip",
        "sub/deeper/c.eml",
        "sub-x/d.xml",
        ".hidden.xml",
        "sub/.DS_Store",
        ".git/objects/x.xml",
    ]:
        path = tmp_path / "inbox" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"<feedback/>")
    return tmp_path / "inbox"


def displays(files: list[InputFile]) -> list[str]:
    return [file.display for file in files]


def test_a_folder_is_walked_recursively_sorted_without_hidden_entries(inbox: Path) -> None:
    files = expand_inputs([str(inbox)])
    assert displays(files) == [
        os.path.join(str(inbox), name)
        for name in ["a.xml.gz", "b.xml", "sub/deeper/c.eml", "sub/z.zip", "sub-x/d.xml"]
    ]
    assert all(file.path == file.display for file in files)
    # made once per folder, as os.path.abspath makes it per file
    assert all(file.absolute == os.fsencode(os.path.abspath(file.display)) for file in files)


def test_a_folder_given_relatively_knows_each_files_absolute_path(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file signatures (store.file_stats) are keyed by absolute path: a folder given
    # as "../inbox/./" must name its files as "/.../inbox/b.xml" does.
    (inbox / "sub" / "deeper").mkdir(exist_ok=True)
    monkeypatch.chdir(inbox / "sub" / "deeper")
    files = expand_inputs(["../../../inbox/./"])
    assert [file.display for file in files][:2] == ["../../../inbox/./a.xml.gz",
                                                    "../../../inbox/./b.xml"]  # fmt: skip
    assert [file.absolute for file in files] == [
        os.fsencode(os.path.abspath(file.display)) for file in files
    ]
    assert files[1].absolute == os.fsencode(str(inbox / "b.xml"))


def test_a_folder_given_with_a_trailing_slash_keeps_it_in_display(inbox: Path) -> None:
    files = expand_inputs([f"{inbox}/"])
    assert displays(files)[0] == f"{inbox}/a.xml.gz"


def test_a_file_is_taken_as_given(inbox: Path) -> None:
    spec = str(inbox / "sub" / ".." / "b.xml")
    assert expand_inputs([spec]) == [InputFile(spec, spec)]


def test_a_glob_pattern_matches_recursively_in_sorted_order(inbox: Path) -> None:
    assert displays(expand_inputs([f"{inbox}/**/*.xml"])) == [
        f"{inbox}/b.xml",
        f"{inbox}/sub-x/d.xml",
    ]


def test_a_glob_matching_a_folder_walks_it(inbox: Path) -> None:
    assert displays(expand_inputs([f"{inbox}/sub-*"])) == [f"{inbox}/sub-x/d.xml"]


def test_specs_keep_their_order(inbox: Path) -> None:
    specs = [str(inbox / "b.xml"), str(inbox / "a.xml.gz")]
    assert displays(expand_inputs(specs)) == specs


def test_an_empty_folder_gives_no_inputs(tmp_path: Path) -> None:
    assert expand_inputs([str(tmp_path)]) == []


@pytest.mark.parametrize("name", ["missing.xml", "missing/*.xml", "[ab].gz"])
def test_a_spec_that_matches_nothing_is_an_input_error(tmp_path: Path, name: str) -> None:
    spec = str(tmp_path / name)
    with pytest.raises(InputError) as error:
        expand_inputs([str(tmp_path), spec])
    assert str(error.value) == f"no such file or folder: {spec}"


def test_input_files_are_frozen_values() -> None:
    file = InputFile(Path("a.xml"), "a.xml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        file.display = "b.xml"  # type: ignore[misc]
    assert file == InputFile(Path("a.xml"), "a.xml")
    assert not hasattr(file, "__dict__")


def test_links_to_files_are_followed_links_to_folders_and_broken_links_are_accounted_for(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "report.xml").write_bytes(b"<feedback/>")
    (outside / "folder" / "inner.xml").write_bytes(b"<feedback/>")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "own.xml").write_bytes(b"<feedback/>")
    (inbox / "linked.xml").symlink_to(outside / "report.xml")
    (inbox / "linked-folder").symlink_to(outside / "folder", target_is_directory=True)
    (inbox / "broken.xml").symlink_to(tmp_path / "gone.xml")
    found = expand_inputs([str(inbox)])
    assert displays(found) == [
        os.path.join(str(inbox), name)
        for name in ["broken.xml", "linked-folder", "linked.xml", "own.xml"]
    ]
    # Not followed, but in the ledger as rejected inputs, never silently left out.
    assert [f.error for f in found] == [
        "broken link: what it points to does not exist",
        "link to a folder: not followed (give the folder itself)",
        None,
        None,
    ]


def test_a_folder_that_cannot_be_listed_is_an_input_with_its_error(inbox, monkeypatch) -> None:
    # The operating system refusing one subfolder (chmod 000; root is never refused, so
    # the refusal is injected): the rest of the folder is still found.
    real = os.scandir
    locked = os.path.join(str(inbox), "sub")

    def scandir(path):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files = expand_inputs([str(inbox)])
    assert [(f.display, f.error) for f in files] == [
        (os.path.join(str(inbox), "a.xml.gz"), None),
        (os.path.join(str(inbox), "b.xml"), None),
        (locked, "cannot read folder: Permission denied"),
        (os.path.join(str(inbox), "sub-x/d.xml"), None),
    ]


def test_a_link_loop_in_a_folder_costs_that_entry_only(tmp_path: Path) -> None:
    for name in ("a.xml", "z.xml"):
        (tmp_path / name).write_bytes(b"<feedback/>")
    (tmp_path / "loop-1").symlink_to(tmp_path / "loop-2")
    (tmp_path / "loop-2").symlink_to(tmp_path / "loop-1")
    files = expand_inputs([str(tmp_path)])
    assert [(Path(f.display).name, f.error) for f in files] == [
        ("a.xml", None),
        ("loop-1", "link loop: the link leads back to itself"),
        ("loop-2", "link loop: the link leads back to itself"),
        ("z.xml", None),
    ]
    (named,) = expand_inputs([str(tmp_path / "loop-1")])
    assert named.error == "link loop: the link leads back to itself"
