"""The forms people fill in and drop in their inbox folder: the order workbook
(``bestallning.xlsx``), the settings workbook (``installningar.xlsx``) and the student
office's confirmation workbook (``bekraftelse.xlsx``), plus a signed archive list's scan
(``<listnr>_signerad.pdf``). Each is written from ``templates/forms.yaml`` and read back by
its intake stage against ``schemas/forms/``.

- :mod:`~pipeline.forms.book`: what every form shares (writing, its signed person, its receipt);
- :mod:`~pipeline.forms.order`, :mod:`~pipeline.forms.settings_form`,
  :mod:`~pipeline.forms.confirmation`, :mod:`~pipeline.forms.signed_scan`: one form each, with
  its stage (listed in :data:`pipeline.intake.stages.STAGES`);
- :mod:`~pipeline.forms.stock`: which forms each outbox holds.
"""
