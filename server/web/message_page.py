"""A page that says one thing to a visitor whose language is unknown (a link that cannot be used, a choice made on
another site): Chinese and English side by side, each marked with its language."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse


def bilingual_page(status: int, zh: tuple[str, str], en: tuple[str, str]) -> HTMLResponse:
    """`zh` and `en`: each a title and a sentence or two."""
    (zh_title, zh_text), (en_title, en_text) = zh, en
    body = f"""<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="/favicon.ico" type="image/svg+xml">
  <link rel="stylesheet" href="/static/candidate/style.css">
  <title>{html.escape(zh_title)} · {html.escape(en_title)}</title>
</head>
<body>
  <main>
    <section><h1>{html.escape(zh_title)}</h1><p>{html.escape(zh_text)}</p></section>
    <section lang="en"><h1>{html.escape(en_title)}</h1><p>{html.escape(en_text)}</p></section>
  </main>
</body>
</html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
