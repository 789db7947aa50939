"""The HTTP edge: pages, the HR and HRMS API, WHIP's HTTP resource, problem documents and the shared request context.

Handlers are plain Starlette endpoints listed in `server/composition.py`; each reads what it needs from the
`Services` the composition module built (`context.services_of`), checks the caller (`auth`), and answers
errors as RFC 9457 problem documents (`problems`). Nothing here holds state of its own.
"""
