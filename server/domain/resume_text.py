"""The text of a résumé a candidate uploads as PDF, read by PDFium (pypdfium2: the PDF engine of Chrome, fuzzed and
hardened against hostile files), so the company sees it beside the application. Only the first pages are read, and
only so much text is kept: a résumé is a page or two, and a file built to be expensive gets no further than that."""

from __future__ import annotations

import pypdfium2 as pdfium

MAX_PAGES = 8
MAX_CHARS = 20_000


class UnreadableResume(Exception):
    """Not a PDF this reads (damaged, encrypted, or not a PDF at all); the reason is safe to show."""


def pdf_text(data: bytes) -> str:
    if not data.startswith(b"%PDF-"):
        raise UnreadableResume("the file is not a PDF")
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise UnreadableResume("the PDF cannot be opened (damaged, or protected by a password)") from exc
    try:
        parts: list[str] = []
        length = 0
        for index in range(min(len(document), MAX_PAGES)):
            page = document[index]
            text_page = page.get_textpage()
            try:
                text = text_page.get_text_range()
            finally:
                text_page.close()
                page.close()
            parts.append(text)
            length += len(text)
            if length >= MAX_CHARS:
                break
    finally:
        document.close()
    text = "\n".join(" ".join(line.split()) for line in "\n".join(parts).splitlines() if line.strip())
    if not text:
        raise UnreadableResume("the PDF has no text to read (a scanned image): paste the text instead")
    return text[:MAX_CHARS]
