"""Candidates HR upload in bulk, as a CSV file (what a spreadsheet or an older HR system exports) or as JSON: every
row turned into a candidate profile, or every bad row reported with its reason, so an upload is taken whole or not
at all.

CSV: a header row, then one candidate per row. Columns by their English names or the Chinese ones spreadsheets use
(`id`/`编号`, `name`/`姓名`, `email`/`邮箱`, `phone`/`手机`, `location`/`城市`, `years_experience`/`工作年限`,
`education`/`学历`, `education_field`/`专业`, `skills`/`技能`, `languages`/`语言`, `tags`/`标签`, `summary`/`简历`);
lists separated by `;`, `,`, `、` or `|`; degrees in words of either language (本科, master's). UTF-8 (with or
without the BOM Excel writes) or GB18030 (what Excel writes on a Chinese system). Rows are numbered as the
spreadsheet numbers them: the header is row 1.

JSON: `{"candidates": [{"id": ..., <a candidate profile>}, ...]}`; rows are numbered from 1.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realtime_scoring.profiles import CandidateProfile, EducationLevel
from server.domain.applications import Applicant

MAX_ROWS = 1000
MAX_ERRORS = 100  # reported; the count says how many more there were
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

COLUMNS = {
    "id": "id",
    "编号": "id",
    "name": "name",
    "姓名": "name",
    "email": "email",
    "邮箱": "email",
    "电子邮箱": "email",
    "phone": "phone",
    "手机": "phone",
    "手机号": "phone",
    "电话": "phone",
    "location": "location",
    "城市": "location",
    "所在地": "location",
    "years_experience": "years_experience",
    "工作年限": "years_experience",
    "education": "education",
    "degree": "education",
    "学历": "education",
    "education_field": "education_field",
    "专业": "education_field",
    "skills": "skills",
    "技能": "skills",
    "languages": "languages",
    "语言": "languages",
    "tags": "tags",
    "标签": "tags",
    "summary": "summary",
    "resume": "summary",
    "resume_text": "summary",
    "简历": "summary",
    "简介": "summary",
}
DEGREES = {
    **{level.value: level for level in EducationLevel},
    "高中": EducationLevel.HIGH_SCHOOL,
    "中专": EducationLevel.HIGH_SCHOOL,
    "high school": EducationLevel.HIGH_SCHOOL,
    "大专": EducationLevel.ASSOCIATE,
    "专科": EducationLevel.ASSOCIATE,
    "associate's": EducationLevel.ASSOCIATE,
    "本科": EducationLevel.BACHELOR,
    "学士": EducationLevel.BACHELOR,
    "bachelor's": EducationLevel.BACHELOR,
    "bsc": EducationLevel.BACHELOR,
    "ba": EducationLevel.BACHELOR,
    "硕士": EducationLevel.MASTER,
    "研究生": EducationLevel.MASTER,
    "master's": EducationLevel.MASTER,
    "msc": EducationLevel.MASTER,
    "mba": EducationLevel.MASTER,
    "博士": EducationLevel.DOCTORATE,
    "phd": EducationLevel.DOCTORATE,
    "ph.d.": EducationLevel.DOCTORATE,
    "无": EducationLevel.NONE,
}
_LIST = re.compile(r"[;,|，、；]")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    reason: str


class ImportRejected(Exception):
    """The upload as a whole: nothing of it is to be stored. `errors` are the first `MAX_ERRORS` of `count`."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} rows are not valid")
        self.count = len(errors)
        self.errors = errors[:MAX_ERRORS]


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ImportRejected([RowError(1, None, "the file is neither UTF-8 nor GB18030 text: save it as CSV (UTF-8)")]) from exc


def _items(cell: str) -> list[str]:
    return [item.strip() for item in _LIST.split(cell) if item.strip()]


def _profile_fields(row: dict[str, str], number: int, errors: list[RowError]) -> dict[str, Any] | None:
    """A CSV row's cells as a candidate profile's fields (None with `errors` added when a cell cannot be one)."""
    fields: dict[str, Any] = {}
    bad = False
    for column, cell in row.items():
        if not cell:
            continue
        match column:
            case "skills" | "languages" | "tags":
                fields[column] = _items(cell)
            case "years_experience":
                try:
                    fields[column] = float(cell.removesuffix("年").strip())
                except ValueError:
                    errors.append(RowError(number, column, f"{cell!r} is not a number of years"))
                    bad = True
            case "education":
                level = DEGREES.get(cell.casefold())
                if level is None:
                    errors.append(RowError(number, column, f"{cell!r} is not a degree this import knows (e.g. 本科, bachelor, master)"))
                    bad = True
                else:
                    fields["education"] = [{"level": level.value, "field": row.get("education_field") or None}]
            case "phone":
                fields[column] = re.sub(r"[\s()-]", "", cell)
            case "education_field" | "id":
                pass
            case _:
                fields[column] = cell
    return None if bad else fields


def _validated(number: int, candidate_id: object, fields: dict[str, Any], seen: set[str], errors: list[RowError]) -> Applicant | None:
    if not isinstance(candidate_id, str) or not ID_PATTERN.fullmatch(candidate_id):
        errors.append(RowError(number, "id", "each candidate needs an id: 1-128 letters, digits and . _ : -"))
        return None
    if candidate_id in seen:
        errors.append(RowError(number, "id", f"the id {candidate_id!r} appears on an earlier row too"))
        return None
    seen.add(candidate_id)
    try:
        return Applicant(number, candidate_id, CandidateProfile.model_validate(fields))
    except ValidationError as exc:
        for error in exc.errors():
            column = ".".join(str(part) for part in error["loc"]) or None
            errors.append(RowError(number, column, str(error["msg"])))
        return None


def parse_csv(data: bytes) -> list[Applicant]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRejected([RowError(1, None, "the file is empty: the first row names the columns")])
        columns = [COLUMNS.get(name.strip().casefold(), COLUMNS.get(name.strip())) for name in header]
        unknown = [
            RowError(1, name, "not a column this import knows") for name, column in zip(header, columns, strict=True) if column is None
        ]
        missing = [RowError(1, need, "this column is needed") for need in ("id", "name") if need not in columns]
        if unknown or missing:
            raise ImportRejected(unknown + missing)
        errors: list[RowError] = []
        found: list[Applicant] = []
        seen: set[str] = set()
        for cells in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines spreadsheets leave at the end
            if len(found) + len(errors) >= MAX_ROWS:
                raise ImportRejected([RowError(number, None, f"an upload holds at most {MAX_ROWS} candidates: split the file")])
            if len(cells) != len(columns):
                errors.append(RowError(number, None, f"{len(cells)} cells where the header names {len(columns)} columns"))
                continue
            row = {column: cell.strip() for column, cell in zip(columns, cells, strict=True) if column is not None}
            fields = _profile_fields(row, number, errors)
            if fields is not None and (candidate := _validated(number, row.get("id"), fields, seen, errors)) is not None:
                found.append(candidate)
    except csv.Error as exc:
        raise ImportRejected([RowError(reader.line_num, None, f"not valid CSV: {exc}")]) from exc
    if errors:
        raise ImportRejected(errors)
    if not found:
        raise ImportRejected([RowError(2, None, "the file has no candidates below its header")])
    return found


class _JsonUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)


def parse_json(data: bytes) -> list[Applicant]:
    try:
        upload = _JsonUpload.model_validate_json(data)
    except ValidationError as exc:
        reasons = [RowError(0, ".".join(str(p) for p in e["loc"]) or None, str(e["msg"])) for e in exc.errors()]
        raise ImportRejected(reasons) from exc
    errors: list[RowError] = []
    found: list[Applicant] = []
    seen: set[str] = set()
    for number, item in enumerate(upload.candidates, start=1):
        fields = dict(item)
        candidate = _validated(number, fields.pop("id", None), fields, seen, errors)
        if candidate is not None:
            found.append(candidate)
    if errors:
        raise ImportRejected(errors)
    return found
