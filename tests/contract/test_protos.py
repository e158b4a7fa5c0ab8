"""The committed stubs are what `make proto` generates from proto/ now, and every proto is versioned."""

from __future__ import annotations

import re

from codegram_devstack import protogen


def test_generated_stubs_are_fresh() -> None:
    assert protogen.check() == 0, "run `make proto` and commit the result"


def test_every_proto_declares_a_versioned_package_matching_its_path() -> None:
    protos = sorted(protogen.PROTO_DIR.rglob("*.proto"))
    assert protos
    for path in protos:
        relative = path.relative_to(protogen.PROTO_DIR).parent
        declared = re.search(r"^package\s+([\w.]+);", path.read_text(), re.MULTILINE)
        assert declared, f"{path} declares no package"
        assert declared.group(1) == ".".join(relative.parts), path
        assert re.fullmatch(r"v\d+", relative.parts[-1]), f"{path} is not under a version folder"
