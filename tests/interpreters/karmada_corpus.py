"""Where the Karmada third-party customizations corpus lives for these tests."""

from __future__ import annotations

import os
from pathlib import Path


def corpus_root() -> Path:
    """$STATUSAGG_KARMADA_CORPUS, else <repo>/../shared/testdata/karmada-customizations."""
    override = os.environ.get("STATUSAGG_KARMADA_CORPUS")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[2]
    return repo / ".." / "shared" / "testdata" / "karmada-customizations"
