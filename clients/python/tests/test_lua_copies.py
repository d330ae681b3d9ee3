"""The package carries exact copies of ``Sources/BatonStore/Lua/`` (one source of truth for the
transitions): same file set, byte for byte, and the bodies are assembled as Swift assembles them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from baton import scripts

REPOSITORY = Path(__file__).resolve().parents[3]
SWIFT_LUA = REPOSITORY / "Sources" / "BatonStore" / "Lua"
PACKAGE_LUA = Path(__file__).resolve().parents[1] / "baton" / "lua"


def swift_files() -> dict[str, bytes]:
    if not SWIFT_LUA.is_dir():
        pytest.fail(f"{SWIFT_LUA} is missing: run the suite from a checkout of the repository")
    return {path.name: path.read_bytes() for path in SWIFT_LUA.iterdir() if path.is_file()}


def test_source_tree_copies_are_identical() -> None:
    """clients/python/baton/lua/ holds exactly the files of Sources/BatonStore/Lua/."""
    swift = swift_files()
    ours = {path.name: path.read_bytes() for path in PACKAGE_LUA.iterdir() if path.is_file()}
    assert sorted(ours) == sorted(swift), "the file sets differ: copy Sources/BatonStore/Lua/*.lua to clients/python/baton/lua/"
    different = [name for name in swift if swift[name] != ours[name]]
    assert not different, f"these copies differ from Sources/BatonStore/Lua/: {different} (copy them again)"


def test_installed_package_carries_the_same_scripts() -> None:
    """What the installed package loads at runtime is the same set of bytes."""
    swift = swift_files()
    installed = scripts.lua_files()
    assert sorted(installed) == sorted(swift)
    assert all(installed[name] == swift[name] for name in swift)


def test_every_script_is_known_and_tree_scripts_get_include_lua() -> None:
    """Every file but include.lua and queue.lua is a script of TreeScript, TreeRecordScript, QueueScript
    or IndexScript; tree scripts are include.lua + "\\n" + the file, queue scripts queue.lua + "\\n" +
    the file, the others the file alone (Scripts.swift)."""
    names = {name[:-4] for name in swift_files() if name not in ("include.lua", "queue.lua")}
    known = set(scripts.TREE_SCRIPTS + scripts.TREE_RECORD_SCRIPTS + scripts.QUEUE_SCRIPTS + scripts.INDEX_SCRIPTS
                + scripts.SCHEDULE_SCRIPTS)
    assert names == known
    include = (SWIFT_LUA / "include.lua").read_bytes().decode()
    queue = (SWIFT_LUA / "queue.lua").read_bytes().decode()
    for name in known:
        body = (SWIFT_LUA / f"{name}.lua").read_bytes().decode()
        if name in scripts.TREE_SCRIPTS:
            expected = include + "\n" + body
        elif name in scripts.QUEUE_SCRIPTS:
            expected = queue + "\n" + body
        else:
            expected = body
        assert scripts.script(name).source == expected, name
        assert scripts.script(name).sha == hashlib.sha1(expected.encode()).hexdigest()
