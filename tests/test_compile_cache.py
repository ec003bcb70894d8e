"""The compile cache (extensions/tokmesh_jinja.py, CompiledOnce) changes nothing but time:
a tree rendered from the cache is the tree rendered without it, and a template file that
changed is compiled again, never served from the cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from template_versions import copy_template


def copy(template: Path, dst: Path, cache: Path, enabled: bool = True) -> dict[str, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "TOKMESH_DEPLOY_JINJA_CACHE": "on" if enabled else "off"}
    subprocess.run([sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet",
                    "--data", "server_glue=true", "--data", "tls_enabled=true", str(template), str(dst)],
                   env=env, check=True, capture_output=True)
    return {str(p.relative_to(dst)): p.read_text() for p in sorted(dst.rglob("*"))
            if p.is_file() and p.name != ".copier-answers.yml"}


def test_a_tree_from_the_cache_is_the_tree_without_it(tmp_path: Path) -> None:
    template, cache = copy_template(tmp_path / "template-src"), tmp_path / "cache"
    without = copy(template, tmp_path / "without", cache, enabled=False)
    assert not (cache / "tokmesh-deploy").exists()
    first = copy(template, tmp_path / "first", cache)  # fills the cache
    assert len(list((cache / "tokmesh-deploy/jinja").iterdir())) > 100
    second = copy(template, tmp_path / "second", cache)  # served from it
    assert first == without and second == without


def test_a_changed_template_file_is_compiled_again(tmp_path: Path) -> None:
    template, cache = copy_template(tmp_path / "template-src"), tmp_path / "cache"
    copy(template, tmp_path / "before", cache)
    readme = template / "template/README.md.jinja"
    readme.write_text(readme.read_text() + "\nChanged after the cache was filled: {{ tm.service_name }}.\n")
    after = copy(template, tmp_path / "after", cache)
    assert after["README.md"].endswith("Changed after the cache was filled: tokmesh-server.\n")
