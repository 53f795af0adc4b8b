"""Read a rendered PDF back as text, so tests check what a reader sees rather than PDF bytes."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_text(data: bytes) -> str:
    """The text of every page of the PDF `data`, each run of white space made one space, so that a
    phrase wrapped over two lines (or pages) still reads as one."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())
