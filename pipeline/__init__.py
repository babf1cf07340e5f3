"""resultat: result reporting for a Swedish university as a spreadsheet-centric batch pipeline.

Teachers fill pre-filled workbooks per result list (``listnr``) and drop them in ``inbox/``;
the pipeline validates them, stores the results and answers every file with a receipt.
"""

from __future__ import annotations

__version__ = "0.1.0"
