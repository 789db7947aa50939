"""A job's recruiting poster: an A4 PDF to print and a 1080×1920 PNG to post in chats, each with a QR code to the job's
self-registration page.

One layout, in millimetres of an A4-wide page, is drawn twice: on the PDF page (297 mm tall) and on the PNG (the same
210 mm at 1080 px, so 373 mm tall). The PDF's text is real text in an embedded subset of a font with Chinese glyphs, so
it prints sharp and can be searched; its QR code is one vector path of squares, so no printer or viewer smooths its
edges. Text is wrapped per character in Chinese and per word in English, shrunk to fit, and cut with an ellipsis when
even the smallest size does not fit, so no title overflows the page.

The font is Noto Sans SC from the `pylopdf-fonts-zh-cn` package (SIL OFL 1.1), else the font that fontconfig finds for
Chinese (`fonts-noto-cjk`, `fonts-wqy-zenhei`); `render_poster` is synchronous CPU work for a worker thread.
"""

from __future__ import annotations

import io
import math
import subprocess
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import segno
from fpdf import FPDF
from fpdf.enums import TextMode
from fpdf.fonts import TTFFont
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

PNG_WIDTH, PNG_HEIGHT = 1080, 1920
PAGE_WIDTH = 210.0  # mm; the PNG is this wide too, at PNG_WIDTH / PAGE_WIDTH px per mm
A4_HEIGHT = 297.0
QUIET_ZONE = 4  # modules of white around the code, as ISO/IEC 18004 asks
QR_ERROR = "q"  # 25% of the code can be lost to a fold, a smudge or glare; segno raises it further when that is free
CALL_TO_ACTION = {"zh": "扫码报名 / Scan to apply", "en": "Scan to apply / 扫码报名"}
ELLIPSIS = "…"
GLYPH_PROBE = "扫码报名招聘岗位"  # a font without these is no font for a Chinese poster

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
INK: RGB = (31, 35, 40)
MUTED: RGB = (87, 96, 106)
ACCENT: RGB = (9, 105, 218)

# Never at the start of a line (the mark moves down with the character before it) and never at the end of one.
_CLOSING = frozenset("，。、；：！？）》」』】〕〉,.;:!?)]}%…")
_OPENING = frozenset("（《「『【〔〈([{")


class PosterContent(BaseModel):
    """What a job's poster says. Text is printed as given; characters the font cannot draw (emoji) are left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_title: str = Field(min_length=1, max_length=200)
    registration_url: str = Field(min_length=1, max_length=512, pattern=r"^https?://\S+$")
    language: Literal["zh", "en"] = "zh"
    company_name: str | None = Field(None, max_length=200)
    tagline: str | None = Field(None, max_length=200, description="One short line under the title: location, salary")
    deadline: str | None = Field(None, max_length=100, description="Printed as given, e.g. '报名截止：7月31日'")


@dataclass(frozen=True)
class Poster:
    png: bytes  # 1080×1920, for chats
    pdf: bytes  # one A4 portrait page, for print
    qr_svg: bytes  # the QR code alone, quiet zone included, for HR's own designs


@dataclass(frozen=True)
class FontFile:
    path: Path
    index: int = 0  # the face in a .ttc/.otc collection


class PosterFontMissing(RuntimeError):
    """No font with Chinese glyphs is installed."""


def render_poster(content: PosterContent, *, font: FontFile | None = None) -> Poster:
    """The poster as PNG and PDF bytes. Pure and synchronous: about 0.3 s of CPU, so the web layer calls it in a thread."""
    font = font or find_cjk_font()
    qr = segno.make_qr(content.registration_url, error=QR_ERROR)
    pdf = _PdfCanvas(font)
    text = _PosterText.of(content, pdf.glyphs)
    _lay_out(pdf, _A4, text, qr)
    pdf.link_qr(content.registration_url)
    pdf.pdf.set_title(content.job_title)
    pdf.pdf.set_lang("zh-CN" if content.language == "zh" else "en")
    png = _PngCanvas(font)
    _lay_out(png, _PHONE, text, qr)
    svg = io.BytesIO()
    qr.save(svg, kind="svg", border=QUIET_ZONE, scale=10, xmldecl=False, svgns=True)
    return Poster(png=png.to_bytes(), pdf=bytes(pdf.pdf.output()), qr_svg=svg.getvalue())


@lru_cache(maxsize=1)
def find_cjk_font() -> FontFile:
    """The packaged Noto Sans SC, else fontconfig's font for Chinese; checked to have Chinese glyphs."""
    for find in (_packaged_font, _fontconfig_font):
        candidate = find()
        if candidate is not None and _has_glyphs(candidate, GLYPH_PROBE):
            return candidate
    raise PosterFontMissing(
        "No font with Chinese glyphs for job posters: install the Python package pylopdf-fonts-zh-cn "
        "(a dependency of interview-server: `pip install -e .`), or the Debian package fonts-noto-cjk or fonts-wqy-zenhei"
    )


def _packaged_font() -> FontFile | None:
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    return FontFile(path) if path.is_file() else None


def _fontconfig_font() -> FontFile | None:
    # fc-match always answers, with DejaVu when nothing covers Chinese: _has_glyphs tells the two apart.
    try:
        found = subprocess.run(
            ["fc-match", "--format=%{file}\n%{index}", ":lang=zh-cn"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    file, _, index = found.stdout.partition("\n")
    path = Path(file.strip())
    if found.returncode != 0 or not path.is_file() or path.suffix.lower() not in {".ttf", ".otf", ".ttc", ".otc"}:
        return None
    return FontFile(path, int(index) if index.strip().isdigit() else 0)


def _has_glyphs(font: FontFile, text: str) -> bool:
    try:
        glyphs = _PdfCanvas.load_glyphs(font)
    except Exception:  # noqa: BLE001 - a broken font file is as good as none
        return False
    return all(ord(char) in glyphs for char in text)


@dataclass(frozen=True)
class _PosterText:
    """The content's text, cleaned for printing: one line each, without what the font cannot draw."""

    company: str
    title: str
    tagline: str
    call_to_action: str
    url: str
    deadline: str

    @classmethod
    def of(cls, content: PosterContent, glyphs: frozenset[int]) -> _PosterText:
        def clean(text: str | None) -> str:
            text = " ".join(unicodedata.normalize("NFC", text or "").split())
            kept = (c for c in text if c == " " or (ord(c) in glyphs and not unicodedata.category(c).startswith("C")))
            return " ".join("".join(kept).split())

        return cls(
            company=clean(content.company_name),
            title=clean(content.job_title),
            tagline=clean(content.tagline),
            call_to_action=clean(CALL_TO_ACTION[content.language]),
            url=clean(content.registration_url),
            deadline=clean(content.deadline),
        )


class _Canvas(Protocol):
    """A page to draw on, in millimetres from its top left corner; text is placed by its baseline."""

    height: float

    def measure(self, text: str, size: float) -> float: ...
    def text(self, x: float, baseline: float, text: str, size: float, color: RGB, *, bold: bool = False) -> None: ...
    def rect(self, x: float, y: float, w: float, h: float, color: RGB) -> None: ...
    def snap_qr(self, size: float, modules: int) -> float: ...
    def qr(self, x: float, y: float, size: float, qr: segno.QRCode) -> None: ...


@dataclass(frozen=True)
class _Page:
    """What differs between the printed page and the phone image."""

    qr_size: float  # quiet zone included
    title_lines: int
    tagline_lines: int


_A4 = _Page(qr_size=95.0, title_lines=3, tagline_lines=3)  # the code alone is at least 95 × 21/29 = 69 mm wide
_PHONE = _Page(qr_size=140.0, title_lines=4, tagline_lines=4)

_MARGIN = 18.0
_BAND = 7.0  # the accent band across the top
_TITLE_SIZES = (14.0, 12.5, 11.0, 9.5, 8.0)  # em heights in mm; 14 mm is 40 pt
_TAGLINE_SIZES = (6.0, 5.25, 4.5)
_COMPANY_SIZE = 6.0
_CTA_SIZES = (8.0, 7.0, 6.0)
_URL_SIZE = 3.2
_DEADLINE_SIZE = 5.0
_LEADING = 1.3


def _lay_out(canvas: _Canvas, page: _Page, text: _PosterText, qr: segno.QRCode) -> None:
    """Header (company, title, tagline) centred in the space above the footer (QR, call to action, URL, deadline)."""
    width = PAGE_WIDTH - 2 * _MARGIN
    canvas.rect(0, 0, PAGE_WIDTH, _BAND, ACCENT)

    # The footer is laid out bottom up from the page's bottom margin.
    deadline = _fit(text.deadline, width, canvas.measure, (_DEADLINE_SIZE,), 2)
    url = _fit(text.url, width, canvas.measure, (_URL_SIZE,), 3)
    cta = _fit(text.call_to_action, width, canvas.measure, _CTA_SIZES, 1)
    qr_size = canvas.snap_qr(page.qr_size, int(qr.symbol_size(scale=1, border=QUIET_ZONE)[0]))
    footer = qr_size + cta.height + url.height + deadline.height + (4.0 if deadline.lines else 0.0)
    y = canvas.height - _MARGIN + 4.0 - footer  # the quiet zone's white is margin enough above the bottom margin
    canvas.qr((PAGE_WIDTH - qr_size) / 2, y, qr_size, qr)
    y = _draw(canvas, cta, y + qr_size, INK, bold=True)
    y = _draw(canvas, url, y, MUTED)
    _draw(canvas, deadline, y + 4.0, ACCENT)

    top, bottom = _BAND + _MARGIN - 4.0, canvas.height - _MARGIN + 4.0 - footer - 2.0
    room = bottom - top
    company = _fit(text.company, width, canvas.measure, (_COMPANY_SIZE,), 1)
    room -= company.height + 2.0
    title_lines = min(page.title_lines, max(0, int(room // (_TITLE_SIZES[-1] * _LEADING))))
    title = _fit(text.title, width, canvas.measure, _TITLE_SIZES, title_lines)
    room -= title.height + 3.0
    tagline_lines = min(page.tagline_lines, max(0, int(room // (_TAGLINE_SIZES[-1] * _LEADING))))
    tagline = _fit(text.tagline, width, canvas.measure, _TAGLINE_SIZES, tagline_lines)
    room -= tagline.height

    y = top + max(0.0, room) / 2
    y = _draw(canvas, company, y, ACCENT) + 2.0
    y = _draw(canvas, title, y, INK, bold=True) + 3.0
    _draw(canvas, tagline, y, MUTED)


@dataclass(frozen=True)
class _Block:
    lines: list[str]
    size: float

    @property
    def height(self) -> float:
        return len(self.lines) * self.size * _LEADING


def _draw(canvas: _Canvas, block: _Block, y: float, color: RGB, *, bold: bool = False) -> float:
    """Draws the lines centred, from `y` down; returns the y below them."""
    for line in block.lines:
        # The baseline sits at about 0.88 em under the line's top for Noto and WenQuanYi alike.
        baseline = y + block.size * (_LEADING - 1) / 2 + block.size * 0.88
        canvas.text((PAGE_WIDTH - canvas.measure(line, block.size)) / 2, baseline, line, block.size, color, bold=bold)
        y += block.size * _LEADING
    return y


def _fit(text: str, width: float, measure: Callable[[str, float], float], sizes: Sequence[float], max_lines: int) -> _Block:
    """The largest size at which `text` wraps into `max_lines`; at the smallest, the lines that fit and an ellipsis."""
    if not text or max_lines <= 0:
        return _Block([], sizes[-1])
    for size in sizes:
        lines = wrap(text, width, _at_size(measure, size))
        if len(lines) <= max_lines:
            return _Block(lines, size)
    kept = lines[:max_lines]
    last = kept[-1]
    while last and measure(last.rstrip() + ELLIPSIS, size) > width:
        last = last[:-1]
    kept[-1] = last.rstrip() + ELLIPSIS
    return _Block(kept, size)


def _at_size(measure: Callable[[str, float], float], size: float) -> Callable[[str], float]:
    return lambda text: measure(text, size)


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Lines no wider than `width`: breaks between Chinese characters and between words; a word too long for a line
    (a URL, a hostile run of letters) breaks between its characters. Brackets and closing marks stay with their text."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        if token == " ":
            line = line + " " if line else line
            continue
        if measure(line + token) <= width:
            line += token
            continue
        line, carried = line.rstrip(), ""
        if token in _CLOSING and len(line) > 1:
            line, carried = line[:-1].rstrip(), line[-1]
        while len(line) > 1 and line[-1] in _OPENING:
            line, carried = line[:-1].rstrip(), line[-1] + carried
        if line:
            lines.append(line)
        line = carried
        if measure(line + token) <= width:
            line += token
            continue
        for char in token:
            if line and measure(line + char) > width:
                lines.append(line)
                line = ""
            line += char
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> list[str]:
    """Spaces, single wide (CJK) characters, and runs of anything else (words, with their punctuation)."""
    tokens: list[str] = []
    for char in text:
        wide = unicodedata.east_asian_width(char) in ("W", "F")
        if char == " " or wide or not tokens or tokens[-1] == " " or _is_wide(tokens[-1]):
            tokens.append(char)
        else:
            tokens[-1] += char
    return tokens


def _is_wide(token: str) -> bool:
    return len(token) == 1 and unicodedata.east_asian_width(token) in ("W", "F")


class _PdfCanvas:
    """One A4 page; text in the embedded font, made bolder by stroking its outline for the title."""

    height = A4_HEIGHT
    family = "poster"

    def __init__(self, font: FontFile) -> None:
        pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_creator("interview-server")
        pdf.add_font(self.family, fname=font.path, collection_font_number=font.index)
        pdf.set_font(self.family, size=12)
        pdf.add_page()
        self.pdf = pdf
        self.glyphs = _cmap(pdf, self.family)
        self._qr_box = (0.0, 0.0, 0.0)

    @staticmethod
    def load_glyphs(font: FontFile) -> frozenset[int]:
        pdf = FPDF()
        pdf.add_font("probe", fname=font.path, collection_font_number=font.index)
        return _cmap(pdf, "probe")

    def measure(self, text: str, size: float) -> float:
        # Widths scale with the size; measuring at the current size keeps set_font's operators out of the page.
        return self.pdf.get_string_width(text) * size / self.pdf.font_size

    def text(self, x: float, baseline: float, text: str, size: float, color: RGB, *, bold: bool = False) -> None:
        pdf = self.pdf
        pdf.set_font(self.family, size=size * 72 / 25.4)
        pdf.set_text_color(*color)
        pdf.set_draw_color(*color)
        pdf.set_line_width(size * 0.035)
        pdf.text_mode = TextMode.FILL_STROKE if bold else TextMode.FILL
        pdf.text(x, baseline, text)

    def rect(self, x: float, y: float, w: float, h: float, color: RGB) -> None:
        self.pdf.set_fill_color(*color)
        self.pdf.rect(x, y, w, h, style="F")

    def snap_qr(self, size: float, modules: int) -> float:
        return size

    def qr(self, x: float, y: float, size: float, qr: segno.QRCode) -> None:
        self.rect(x, y, size, size, WHITE)
        rows = [list(row) for row in qr.matrix_iter(scale=1, border=QUIET_ZONE)]
        module = size / len(rows)
        # One path of rectangles (a run of dark modules each) fills as one shape: no hairline seams between squares.
        with self.pdf.new_path() as path:
            path.style.fill_color = "#000000"
            path.style.stroke_color = None
            for r, row in enumerate(rows):
                for start, length in _dark_runs(row):
                    path.rectangle(x + start * module, y + r * module, length * module, module)
        self._qr_box = (x, y, size)

    def link_qr(self, url: str) -> None:
        x, y, size = self._qr_box
        self.pdf.link(x, y, size, size, url)


class _PngCanvas:
    """The same page at PNG_WIDTH / PAGE_WIDTH px per mm, PNG_HEIGHT px tall."""

    scale = PNG_WIDTH / PAGE_WIDTH
    height = PNG_HEIGHT / scale

    def __init__(self, font: FontFile) -> None:
        self.font = font
        self.image = Image.new("RGB", (PNG_WIDTH, PNG_HEIGHT), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self._fonts: dict[float, ImageFont.FreeTypeFont] = {}

    def _font(self, size: float) -> ImageFont.FreeTypeFont:
        px = round(size * self.scale, 1)
        if px not in self._fonts:
            self._fonts[px] = ImageFont.truetype(str(self.font.path), size=px, index=self.font.index)
        return self._fonts[px]

    def measure(self, text: str, size: float) -> float:
        return self._font(size).getlength(text) / self.scale

    def text(self, x: float, baseline: float, text: str, size: float, color: RGB, *, bold: bool = False) -> None:
        stroke = size * self.scale * 0.0175 if bold else 0  # half the PDF's line width: a stroke there is centred
        self.draw.text(
            (x * self.scale, baseline * self.scale),
            text,
            font=self._font(size),
            fill=color,
            anchor="ls",
            stroke_width=stroke,
            stroke_fill=color,
        )

    def rect(self, x: float, y: float, w: float, h: float, color: RGB) -> None:
        s = self.scale
        self.draw.rectangle((round(x * s), round(y * s), round((x + w) * s) - 1, round((y + h) * s) - 1), fill=color)

    def snap_qr(self, size: float, modules: int) -> float:
        # A whole number of pixels per module keeps every module square and sharp.
        return max(1, math.floor(size * self.scale / modules)) * modules / self.scale

    def qr(self, x: float, y: float, size: float, qr: segno.QRCode) -> None:
        rows = [list(row) for row in qr.matrix_iter(scale=1, border=QUIET_ZONE)]
        code = Image.new("L", (len(rows), len(rows)), 255)
        code.putdata([0 if dark else 255 for row in rows for dark in row])
        px = round(size * self.scale)
        self.image.paste(code.resize((px, px), Image.Resampling.NEAREST).convert("RGB"), (round(x * self.scale), round(y * self.scale)))

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        self.image.save(out, format="PNG")
        return out.getvalue()


def _cmap(pdf: FPDF, family: str) -> frozenset[int]:
    font = pdf.fonts[family]
    if not isinstance(font, TTFFont):
        raise PosterFontMissing(f"{family} is not a TrueType/OpenType font")
    return frozenset(font.cmap)


def _dark_runs(row: Sequence[int | bool]) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, dark in enumerate([*row, False]):
        if dark and start is None:
            start = i
        elif not dark and start is not None:
            runs.append((start, i - start))
            start = None
    return runs
