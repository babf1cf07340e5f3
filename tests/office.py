"""LibreOffice for tests: files opened and saved by headless Calc, as a teacher would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def soffice_save(sources: list[Path], fmt: str, out: Path) -> list[Path]:
    """``sources`` opened and saved by LibreOffice Calc (headless) in ``fmt`` into ``out``
    (its own user profile there); the saved files, in the order of ``sources``."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{out}/lo",
            "--headless",
            "--calc",
            "--convert-to",
            fmt,
            "--outdir",
            str(out),
            *map(str, sources),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(out)},
        timeout=180,
    )
    suffix = fmt.split(":", 1)[0]
    return [out / f"{source.stem}.{suffix}" for source in sources]
