"""The forms people fill in and drop in their inbox folder: the order workbook
(``bestallning.xlsx``), the settings workbook (``installningar.xlsx``) and the student
office's confirmation workbook (``bekraftelse.xlsx``). Each is written from
``templates/forms.yaml`` and read back by its intake stage against ``schemas/forms/``.
"""
