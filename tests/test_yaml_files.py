"""Every YAML file of the bundle parses with unique keys.

Real programs: none (PyYAML). PyYAML keeps the last of two equal keys silently, while Compose, Prometheus
and Alertmanager refuse such a file, so a duplicate would pass every test that reads it through PyYAML.
"""
from __future__ import annotations

import subprocess

import pytest
import yaml

from harness import REPO


class UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value
                if k.tag != "tag:yaml.org,2002:merge"]   # `<<: *anchor` may repeat
        duplicates = {k for k in keys if isinstance(k, str) and keys.count(k) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key(s) {sorted(duplicates)}",
                                                    node.start_mark)
        return super().construct_mapping(node, deep)


# Compose's !reset / !override tags: take the value as it is.
UniqueKeyLoader.add_multi_constructor("!", lambda loader, suffix, node: None)

FILES = [REPO / p for p in subprocess.run(["git", "ls-files", "*.yml", "*.yaml"], cwd=REPO, capture_output=True,
                                          text=True, check=True).stdout.split()]


def test_there_are_yaml_files():
    assert len(FILES) > 20


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_yaml_keys_are_unique(path):
    list(yaml.load_all(path.read_text(), Loader=UniqueKeyLoader))
