"""A job's recruiting poster: its QR code scans back to the registration page, its text is real and stays on the page."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image, ImageChops, ImageDraw, ImageFont

from server.domain import poster
from server.domain.poster import (
    PNG_HEIGHT,
    PNG_WIDTH,
    Poster,
    PosterContent,
    PosterFontMissing,
    find_cjk_font,
    render_poster,
    wrap,
)
from tests.helpers.qr_codes import qr_codes

URL = "https://jobs.example.cn/r/7f3a9c2e-1b4d-4c8e-9a6f-2d5e8b1c0a7f?src=poster&ch=wechat"
MM_PER_PT = 25.4 / 72
A4_PT = (595.28, 841.89)

CHINESE = PosterContent(
    job_title="高级后端开发工程师（Python / Go）",
    company_name="深圳星河智能科技有限公司",
    tagline="深圳·南山区 | 月薪 25k–40k · 14 薪 | 五险一金",
    registration_url=URL,
    deadline="报名截止：2025年7月31日",
)
ENGLISH = PosterContent(
    language="en",
    job_title="Senior Backend Engineer, Payments Infrastructure",
    company_name="Acme Robotics Ltd.",
    tagline="Berlin or remote · €80k–€100k",
    registration_url="https://jobs.example.com/apply/42",
    deadline="Apply by 31 July 2025",
)
HOSTILE = PosterContent(
    job_title="招聘" * 60 + "W" * 80,
    company_name="公司" * 100,
    tagline="很长的说明" * 40,
    registration_url="https://jobs.example.cn/r/" + "a" * 400,
    deadline="截止" * 50,
)


@pytest.fixture(scope="module")
def chinese() -> Poster:
    return render_poster(CHINESE)


@pytest.fixture(scope="module")
def english() -> Poster:
    return render_poster(ENGLISH)


@pytest.fixture(scope="module")
def hostile() -> Poster:
    return render_poster(HOSTILE)


def pdf_page(pdf: bytes) -> pdfium.PdfPage:
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1
    return document[0]


def pdf_text(pdf: bytes) -> str:
    return pdf_page(pdf).get_textpage().get_text_range()


def test_png_qr_code_scans_back_to_the_registration_url(chinese: Poster) -> None:
    image = Image.open(io.BytesIO(chinese.png))
    assert image.format == "PNG"
    assert image.size == (PNG_WIDTH, PNG_HEIGHT)
    assert qr_codes(image) == [URL]


def test_png_qr_code_still_scans_when_a_chat_app_shrinks_and_blurs_the_picture(chinese: Poster) -> None:
    image = Image.open(io.BytesIO(chinese.png)).convert("L").resize((360, 640), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=40)
    assert qr_codes(Image.open(buffer)) == [URL]


def test_printed_qr_code_scans_back_to_the_url_and_is_at_least_six_centimetres_wide(chinese: Poster) -> None:
    scale = 1.0  # 72 dpi: a coarse scan of the printed page
    codes = zxingcpp.read_barcodes(pdf_page(chinese.pdf).render(scale=scale).to_pil(), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [code.text for code in codes] == [URL]
    position = codes[0].position
    width_mm = (position.top_right.x - position.top_left.x) / scale * MM_PER_PT
    assert width_mm >= 60


def test_pdf_is_one_a4_portrait_page_with_a_link_to_the_registration_page(chinese: Poster) -> None:
    assert chinese.pdf.startswith(b"%PDF-")
    width, height = pdf_page(chinese.pdf).get_size()
    assert (round(width), round(height)) == (595, 842)
    assert f"/URI ({URL})".encode() in chinese.pdf


def test_chinese_poster_has_its_title_and_bilingual_call_to_action_in_the_pdf_text_layer(chinese: Poster) -> None:
    text = "".join(pdf_text(chinese.pdf).split())
    for line in ("高级后端开发工程师（Python/Go）", "深圳星河智能科技有限公司", "扫码报名/Scantoapply", "报名截止：2025年7月31日", URL):
        assert line in text


def test_english_poster_has_its_title_in_the_pdf_text_layer_wrapped_between_words(english: Poster) -> None:
    lines = pdf_text(english.pdf).splitlines()
    assert " ".join(line.strip() for line in lines if "Engineer" in line or "Payments" in line) == ENGLISH.job_title
    assert "Scan to apply / 扫码报名" in lines
    assert qr_codes(Image.open(io.BytesIO(english.png))) == ["https://jobs.example.com/apply/42"]


def test_chinese_text_is_drawn_with_real_glyphs_not_missing_glyph_boxes() -> None:
    font = find_cjk_font()
    face = ImageFont.truetype(str(font.path), size=48, index=font.index)

    def glyph(char: str) -> Image.Image:
        image = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(image).text((8, 8), char, font=face, fill=255)
        return image

    missing = glyph("\U0010fffd")  # a private-use code point no font draws: its .notdef box
    drawn = [glyph(char) for char in "扫码报名"]
    for image in drawn:
        assert ImageChops.difference(image, missing).getbbox() is not None
        assert image.getbbox() is not None
    assert len({image.tobytes() for image in drawn}) == 4


def test_a_200_character_title_stays_inside_the_pdf_page_and_ends_with_an_ellipsis(hostile: Poster) -> None:
    page = pdf_page(hostile.pdf)
    textpage = page.get_textpage()
    margin = 12 / MM_PER_PT  # the layout keeps 18 mm; 12 mm allows for the glyphs' side bearings
    for index in range(textpage.count_chars()):
        left, bottom, right, top = textpage.get_charbox(index)
        if right - left == 0:  # line breaks the extraction adds
            continue
        assert margin <= left and right <= A4_PT[0] - margin
        assert margin <= bottom and top <= A4_PT[1] - margin
    text = textpage.get_text_range()
    assert "招聘招聘" in text
    assert "…" in text
    assert qr_codes(page.render(scale=3).to_pil()) == [HOSTILE.registration_url]


def test_a_200_character_title_leaves_the_png_margins_in_background_colour(hostile: Poster) -> None:
    image = Image.open(io.BytesIO(hostile.png)).convert("RGB")
    margin = 60  # px of the 18 mm (93 px) side margins
    below_band = 40  # the accent band is 7 mm (36 px)
    for box in ((0, below_band, margin, PNG_HEIGHT), (PNG_WIDTH - margin, below_band, PNG_WIDTH, PNG_HEIGHT)):
        assert image.crop(box).getcolors() == [(margin * (PNG_HEIGHT - below_band), (255, 255, 255))]
    assert image.crop((0, PNG_HEIGHT - 40, PNG_WIDTH, PNG_HEIGHT)).getcolors() == [(40 * PNG_WIDTH, (255, 255, 255))]
    assert qr_codes(image) == [HOSTILE.registration_url]


def test_characters_the_font_cannot_draw_are_left_out_instead_of_printed_as_boxes() -> None:
    drawn = render_poster(PosterContent(job_title="🚀 Rocket\u200b Engineer 🚀", registration_url="https://e.example/1"))
    lines = pdf_text(drawn.pdf).splitlines()
    assert "Rocket Engineer" in lines


def test_chinese_wraps_between_characters_and_keeps_closing_marks_with_their_text() -> None:
    assert wrap("高级后端开发工程师", 4, len) == ["高级后端", "开发工程", "师"]
    assert wrap("开发工程师，深圳", 5, len) == ["开发工程", "师，深圳"]
    assert wrap("工程师（Python）", 8, len) == ["工程师", "（Python）"]


def test_english_wraps_between_words_and_breaks_only_a_word_too_long_for_a_line() -> None:
    assert wrap("Senior Backend Engineer", 15, len) == ["Senior Backend", "Engineer"]
    assert wrap("Go https://example.com/very/long", 10, len) == ["Go", "https://ex", "ample.com/", "very/long"]
    assert wrap("Python开发", 7, len) == ["Python开", "发"]


def test_qr_svg_is_the_code_alone_for_other_designs(chinese: Poster) -> None:
    assert chinese.qr_svg.startswith(b"<svg")
    assert b"<text" not in chinese.qr_svg


def test_without_the_font_package_or_fontconfig_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(poster, "_packaged_font", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))  # no fc-match
    find_cjk_font.cache_clear()
    try:
        with pytest.raises(PosterFontMissing, match=r"pylopdf-fonts-zh-cn.*fonts-noto-cjk"):
            find_cjk_font()
    finally:
        find_cjk_font.cache_clear()


def test_a_registration_link_that_is_not_a_web_address_is_refused() -> None:
    with pytest.raises(ValueError, match="registration_url"):
        PosterContent(job_title="工程师", registration_url="javascript:alert(1)")
