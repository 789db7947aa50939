"""The model manifest guards what runs: wrong files stop the start with an error naming them."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from realtime_scoring.engine import EngineConfig
from realtime_scoring.models.manifest import ModelError, load_manifest, sha256_of, verified_files
from realtime_scoring.models.prepare import prepare_all, run_check
from realtime_scoring.pipeline import ScoringEngine
from server.cli import main as cli_main
from tests.conftest import MODEL_DIR, prepared_model_files

SMALL = ("silero-vad", "face-detector", "face-emotion")


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private model directory with the small models, so tests can damage it."""
    prepared_model_files(*SMALL)
    target = tmp_path / "models"
    for name in SMALL:
        shutil.copytree(MODEL_DIR / name, target / name)
    return target


def test_every_manifest_entry_names_its_source_licence_and_hashes() -> None:
    for entry in load_manifest().values():
        assert entry.sources and entry.licence and entry.files and entry.members, entry.name
        assert all(len(h) == 64 for h in [*entry.files.values(), *entry.members.values()]), entry.name


def test_a_corrupt_model_file_stops_loading_with_its_path_and_both_hashes(model_copy: Path) -> None:
    path = model_copy / "face-emotion" / "emotion.onnx"
    expected = sha256_of(path)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError) as error:
        ScoringEngine.load(model_copy, EngineConfig(device="cpu"), transcribe=False)
    message = str(error.value)
    assert str(path) in message and expected in message and sha256_of(path) in message


def test_a_missing_model_file_says_how_to_prepare_it(model_copy: Path) -> None:
    (model_copy / "silero-vad" / "silero_vad.onnx").unlink()
    with pytest.raises(ModelError, match=r"silero_vad\.onnx is missing \(run `interview-server models prepare`\)"):
        verified_files(load_manifest(model_copy)["silero-vad"], model_copy)


def test_prepare_restores_a_damaged_file_without_touching_good_ones(model_copy: Path) -> None:
    damaged = model_copy / "silero-vad" / "silero_vad.onnx"
    good = model_copy / "face-detector" / "face_detector.onnx"
    good_mtime = good.stat().st_mtime_ns
    damaged.write_bytes(b"not a model")
    # The source wheel comes from the shared cache, so no network is needed here.
    prepare_all(model_copy, cache_dir=MODEL_DIR / ".cache", names=["silero-vad", "face-detector"])
    manifest = load_manifest(model_copy)
    assert "speech probability" in run_check(manifest["silero-vad"], verified_files(manifest["silero-vad"], model_copy))
    assert good.stat().st_mtime_ns == good_mtime


def test_the_face_detector_is_rebuilt_from_mediapipes_npm_tarball_to_the_same_bytes(model_copy: Path) -> None:
    detector = model_copy / "face-detector" / "face_detector.onnx"
    expected = sha256_of(detector)
    detector.unlink()
    prepare_all(model_copy, cache_dir=MODEL_DIR / ".cache", names=["face-detector"])  # the tarball from the shared cache
    assert sha256_of(detector) == expected
    entry = load_manifest(model_copy)["face-detector"]
    assert entry.sources[0].registry == "npm"
    assert "0 faces" in run_check(entry, verified_files(entry, model_copy))


def test_a_tarball_whose_model_differs_from_the_manifest_is_refused_naming_the_member(model_copy: Path, tmp_path: Path) -> None:
    (source,) = load_manifest(model_copy)["face-detector"].sources
    cache = tmp_path / "cache"
    cache.mkdir()
    forged = tmp_path / "face_detection_full_range.tflite"
    forged.write_bytes(b"TFL3 not the model the manifest names")
    with tarfile.open(cache / f"npm-{source.package.replace('/', '+')}-{source.version}.tgz", "w:gz") as tar:
        tar.add(forged, arcname="package/face_detection_full_range.tflite")
    (model_copy / "face-detector" / "face_detector.onnx").unlink()
    with pytest.raises(ModelError, match=r"package/face_detection_full_range\.tflite in npm-.*\.tgz has sha256 [0-9a-f]{64}, expected"):
        prepare_all(model_copy, cache_dir=cache, names=["face-detector"])


def test_an_override_manifest_points_a_slot_at_an_operators_files(model_copy: Path) -> None:
    custom = model_copy / "my-vad"
    custom.mkdir()
    shutil.copy(model_copy / "silero-vad" / "silero_vad.onnx", custom / "vad.onnx")
    (model_copy / "manifest.override.toml").write_text(
        '[[model]]\nname = "silero-vad"\nlicence = "MIT"\nconverter = "copy"\n'
        f'files = {{ "silero_vad.onnx" = "{sha256_of(custom / "vad.onnx")}" }}\n'
    )
    entry = load_manifest(model_copy)["silero-vad"]
    assert not entry.sources
    (custom / "vad.onnx").rename(model_copy / "silero-vad" / "silero_vad.onnx")
    assert verified_files(entry, model_copy)


def test_models_verify_reports_each_model_and_fails_on_a_bad_one(model_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_main(["models", "verify", "--model-dir", str(model_copy), *SMALL])
    assert capsys.readouterr().out.count("ok    ") == 3
    (model_copy / "face-detector" / "face_detector.onnx").write_bytes(b"junk")
    with pytest.raises(SystemExit) as exited:
        cli_main(["models", "verify", "--model-dir", str(model_copy), *SMALL])
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "FAIL  face-detector" in out and out.count("ok    ") == 2
