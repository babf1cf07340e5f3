"""Regenerate the LibreOffice-saved fixtures in this folder.

Issues a T33 workbook from a deterministic test registry (tests.factories.seed, HMAC key
FIXTURE_KEY), fills it as a teacher would, then has LibreOffice Calc (headless) open it and
save it as xlsx and as ods. Run from the repository root:

    python tests/data/make_libreoffice_fixtures.py

Needs `soffice` (Debian: libreoffice-calc-nogui). The files are committed; tests don't need
LibreOffice.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

FIXTURE_KEY = "fixture-key-for-libreoffice-tests"
HERE = Path(__file__).resolve().parent


def main() -> None:
    os.environ["RESULTAT_HMAC_KEY"] = FIXTURE_KEY
    from pipeline.app import App
    from pipeline.settings import DATABASE_ENV, create_workspace
    from pipeline.xlsx import workbook
    from tests.factories import fill, new_exam_list, seed

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        create_workspace(root)
        os.environ[DATABASE_ENV] = f"sqlite:///{root}/var/fixture.db"
        app = App.open(root, actor="fixture")
        seeded = seed(app, students=6)
        listnr = new_exam_list(app)
        issued = workbook.issue(app, listnr)
        filled = Path(tmp) / "t33_filled_for_libreoffice.xlsx"
        fill(
            issued.path,
            {
                seeded.pnrs[0]: {"grade": "5", "grade_date": dt.date(2026, 11, 2), "points": 44},
                seeded.pnrs[1]: {"grade": "3", "grade_date": dt.date(2026, 11, 2), "points": 28.5},
                seeded.pnrs[2]: {"grade": "U", "grade_date": dt.date(2026, 11, 2), "points": 12},
                seeded.pnrs[3]: {
                    "grade": "4",
                    "grade_date": dt.date(2026, 11, 3),
                    "comment": "Omtentamen, rättad av Åsa Öberg",
                },
            },
            action="Skicka till examinator",
            target=filled,
        )
        app.close()
        for fmt, name in (("xlsx:Calc MS Excel 2007 XML", "xlsx"), ("ods", "ods")):
            out = Path(tmp) / name
            subprocess.run(
                [
                    "soffice",
                    "--headless",
                    "--calc",
                    "--convert-to",
                    fmt,
                    "--outdir",
                    str(out),
                    str(filled),
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "HOME": tmp},
                timeout=120,
            )
            produced = next(out.iterdir())
            target = HERE / f"t33_saved_by_libreoffice.{name}"
            shutil.copy(produced, target)
            print(f"wrote {target}")


if __name__ == "__main__":
    main()
