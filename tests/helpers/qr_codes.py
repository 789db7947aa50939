"""QR codes read back from an image as a phone's camera reads them: QR codes only (a reader that tries every format can
also find a spurious linear barcode in a poster's text or artwork)."""

from __future__ import annotations

import zxingcpp
from PIL import Image


def qr_codes(image: Image.Image) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
