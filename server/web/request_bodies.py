"""Reading what callers send: a JSON body into its model, an id from the path; each refusal a 422 problem."""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from server.web.problems import Problem

PROFILE_ID = r"^[A-Za-z0-9._:-]{1,128}$"

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError, *prefix: str | int) -> list[dict[str, object]]:
    """A validation error's fields as a problem document lists them (`loc` under `prefix`, and what is wrong)."""
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"]} for e in exc.errors(include_url=False)]


def parse(model: type[M], body: bytes, code: str) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise Problem(422, code, f"the {model.__name__} is not valid", errors=field_errors(exc)) from exc


def path_id(request: Request, key: str) -> str:
    """A job's or candidate's id from the path (the HRMS's own ids: letters, digits and . _ : -)."""
    value: str = request.path_params[key]
    if not re.fullmatch(PROFILE_ID, value):
        raise Problem(422, "invalid_id", f"ids are 1-128 characters of letters, digits and . _ : -; got {value!r}")
    return value
