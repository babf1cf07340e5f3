"""The workbook contract: layout and metadata, safe reading, writing, marked copies."""
