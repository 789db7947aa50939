"""Whisper transcription over the exported ONNX encoder and decoder step: greedy or beam search, timestamped, batched."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort
from opencc import OpenCC
from tokenizers import Tokenizer

from realtime_scoring import sound_alikes
from realtime_scoring.text_forms import written_for_reading
from realtime_scoring.whisper.features import (
    log_mel,
    pad_window,
    window_frames,
)

SECONDS_PER_TIMESTAMP = 0.02
MAX_INITIAL_TIMESTAMP_S = 1.0  # the first segment must start within 1 s, as in openai-whisper
MAX_PROMPT_TOKENS = 223  # half the text context minus one, as in openai-whisper
MAX_SAMPLE_TOKENS = 224
# Tokens allowed per second of audio: fast Mandarin is ~6 characters a second, some of them two
# tokens each, plus two timestamps per segment. A loop runs into this cap instead of to 224.
TOKENS_PER_SECOND = 12
MIN_SAMPLE_TOKENS = 16
# A segment closed less than this before the end of the audio is the last one. Without this
# rule the model, seeing only padding ahead, starts repeating the clip's last sentences.
MIN_NEW_SEGMENT_S = 0.5
# A tail of the same 1-4 tokens four times, or of 5-32 tokens three times, is a decoding loop:
# stop there and keep one copy (openai-whisper re-decodes with sampling instead, at several times
# the cost: here only with time to spare, `_fall_back`).
LOOP_UNITS = range(1, 33)
MAX_BEAM_SIZE = 8
# openai-whisper's rule for a window with nothing said: likely no speech and an unsure transcript.
NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -1.0
COMPRESSION_RATIO_THRESHOLD = 2.4  # text that compresses more than this repeats itself (openai-whisper's)
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)  # openai-whisper's, tried in turn on a doubtful transcript


class Segment(NamedTuple):
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    segments: list[Segment] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # sampled text and timestamp tokens, without EOT
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class WhisperConfig:
    """The parts of the exported config.json that decoding needs."""

    n_text_ctx: int
    n_vocab: int
    n_layers: int
    n_heads: int
    head_dim: int
    special: dict[str, int]
    languages: dict[str, int]
    suppress_ids: tuple[int, ...]
    suppress_ids_begin: tuple[int, ...]

    @classmethod
    def load(cls, path: Path) -> WhisperConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            n_text_ctx=int(raw["n_text_ctx"]),
            n_vocab=int(raw["n_vocab"]),
            n_layers=int(raw["n_decoder_layers"]),
            n_heads=int(raw["n_decoder_heads"]),
            head_dim=int(raw["d_model"]) // int(raw["n_decoder_heads"]),
            special={k: int(v) for k, v in raw["special_tokens"].items()},
            languages={k: int(v) for k, v in raw["languages"].items()},
            suppress_ids=tuple(raw["suppress_ids"]),
            suppress_ids_begin=tuple(raw["suppress_ids_begin"]),
        )


@dataclass
class _Stream:
    """Decoding state of one clip in a batch."""

    language: str
    max_tokens: int
    last_timestamp: int  # highest timestamp token allowed: the end of the clip's audio
    no_speech_prob: float
    tokens: list[int] = field(default_factory=list)
    sum_logprob: float = 0.0
    done: bool = False
    temperature: float = 0.0  # 0: the likeliest token each step; above 0: sampled, the distribution flattened by it
    rng: np.random.Generator | None = None  # set with a temperature above 0


def _compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def _doubtful(result: Transcript) -> bool:
    """openai-whisper's tests for a transcript worth decoding again: repetitive (its text compresses more than
    COMPRESSION_RATIO_THRESHOLD to one) or unlikely (average log-probability under LOGPROB_THRESHOLD), unless the window
    is most likely silence."""
    if result.no_speech_prob > NO_SPEECH_THRESHOLD and result.avg_logprob < LOGPROB_THRESHOLD:
        return False  # silence: the empty transcript stands
    return _compression_ratio(result.text) > COMPRESSION_RATIO_THRESHOLD or result.avg_logprob < LOGPROB_THRESHOLD


@dataclass(frozen=True)
class _Hypothesis:
    """One beam of a beam search: the tokens sampled so far and their summed log-probability."""

    tokens: list[int]
    sum_logprob: float


def _looping_tail(tokens: list[int]) -> int:
    """How many trailing tokens are repeats of a loop (0: no loop)."""
    for unit in LOOP_UNITS:
        copies = 4 if unit <= 4 else 3
        if len(tokens) < unit * copies:
            break
        tail = tokens[-unit:]
        if all(tokens[-unit * (k + 1) : len(tokens) - unit * k] == tail for k in range(1, copies)):
            return unit * (copies - 1)
    return 0


def _byte_symbols() -> dict[str, int]:
    """GPT-2's byte-level alphabet, which Whisper's tokenizer uses: the printable character that stands for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {chr(b): b for b in printable}, 0
    for byte in range(256):
        if byte not in printable:
            symbols[chr(256 + extra)] = byte
            extra += 1
    return symbols


def _token_bytes(tokenizer: Tokenizer, count: int) -> list[bytes]:
    """The bytes of text tokens 0 … count-1."""
    symbols = _byte_symbols()
    return [bytes(symbols[ch] for ch in (tokenizer.id_to_token(i) or "") if ch in symbols) for i in range(count)]


def _open_character(data: bytes) -> bool:
    """Whether `data` ends within a UTF-8 character: its lead byte is there and some of its continuation bytes are not."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:  # ASCII: complete (and a stray continuation byte after it is not a character to finish)
            return False
        if byte >= 0xC0:  # a lead byte: 110xxxxx, 1110xxxx or 11110xxx starts 2, 3 or 4 bytes
            return (2 if byte < 0xE0 else 3 if byte < 0xF0 else 4) > back
    return False


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result


class WhisperTranscriber:
    """Transcribes clips of up to 30 s. Holds no per-call state: one instance serves every interview."""

    def __init__(
        self,
        encoder: ort.InferenceSession,
        decoder: ort.InferenceSession,
        tokenizer_path: Path,
        config_path: Path,
        languages: Sequence[str] = ("zh", "en"),
        timestamps: bool = True,
        encode_one_by_one: bool = False,
    ) -> None:
        self._encoder = encoder
        # An int8 encoder quantises activations with one scale per call: clips go one at a time, so that a
        # clip's encoding never depends on the others in its batch.
        self._encode_one_by_one = encode_one_by_one
        self._decoder = decoder
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._config = config = WhisperConfig.load(config_path)
        unknown = [code for code in languages if code not in config.languages]
        if unknown:
            raise ValueError(f"languages {unknown} are not among Whisper's {sorted(config.languages)}")
        # Detection picks among these only: an interview is held in one of them, and a short or
        # accented answer is otherwise sometimes taken for a third language.
        self._candidates = tuple(languages)
        self._to_simplified = OpenCC("t2s")
        if "zh" in languages:
            sound_alikes.load()
        # With timestamps off the decoder writes text only (a few tokens fewer) and a transcript
        # is one segment spanning the clip.
        self._timestamps = timestamps
        special = config.special
        self._eot = special["eot"]
        self._timestamp_begin = special["timestamp_begin"]
        self._cross_names = [f"cross_{kv}_{i}" for i in range(config.n_layers) for kv in "kv"]
        self._present_names = [f"present_{kv}_{i}" for i in range(config.n_layers) for kv in "kv"]
        # Never sampled: config's list, every special token but EOT, and every language.
        suppress = np.zeros(config.n_vocab, dtype=bool)
        suppress[list(config.suppress_ids)] = True
        suppress[[v for k, v in special.items() if k not in ("eot", "timestamp_begin")]] = True
        suppress[list(config.languages.values())] = True
        self._suppress = suppress
        self._suppress_begin = list(config.suppress_ids_begin)
        self._token_bytes = _token_bytes(self._tokenizer, self._eot)

    # -- public API ------------------------------------------------------------------------------

    def transcribe(self, samples: np.ndarray, language: str | None = None, prompt: str | None = None, beam_size: int = 1) -> Transcript:
        """Text of 16 kHz mono float32 `samples` (at most 30 s are used). `language` None: detect."""
        return self.transcribe_batch([samples], language, prompt, beam_size)[0]

    def transcribe_batch(
        self, clips: Sequence[np.ndarray], language: str | None = None, prompt: str | None = None, beam_size: int = 1
    ) -> list[Transcript]:
        """Several clips in one encoder run and one decoding loop; all share `language` and `prompt`.

        A clip's transcript is the one it gets alone: clips decode together only with clips of the same
        window (a 5 s step), the int8 decoder quantises each row's activations apart (`row_quantization`),
        and an int8 encoder encodes a clip at a time. `beam_size` 1 decodes greedily; more keeps that many
        hypotheses per clip (the decoder then runs on clips × beam_size rows), and a doubtful result is decoded
        again at rising temperatures (`_fall_back`): both are for when the recogniser has time to spare.
        """
        if not clips:
            return []
        if language is not None and language not in self._config.languages:
            raise ValueError(f"unknown language {language!r}")
        if not 1 <= beam_size <= MAX_BEAM_SIZE:
            raise ValueError(f"beam_size must be 1 to {MAX_BEAM_SIZE}, not {beam_size}")
        for clip in clips:
            if clip.ndim != 1 or clip.dtype.kind != "f":
                raise ValueError(f"expected mono float samples at 16 kHz, got {clip.dtype} of shape {clip.shape}")
        mels = [log_mel(clip) for clip in clips]
        # Clips of one window size go together: a clip padded to a longer window than its own would be encoded (and
        # then decoded) differently from alone, and costs the encoder the longer window besides.
        windows: dict[int, list[int]] = {}
        for i, mel in enumerate(mels):
            windows.setdefault(window_frames(mel.shape[1]), []).append(i)
        results: dict[int, Transcript] = {}
        for frames, members in windows.items():
            group = self._transcribe_window([clips[i] for i in members], [mels[i] for i in members], frames, language, prompt, beam_size)
            results.update(zip(members, group, strict=True))
        return [results[i] for i in range(len(clips))]

    def _transcribe_window(
        self,
        clips: Sequence[np.ndarray],
        mels: Sequence[np.ndarray],
        frames: int,
        language: str | None,
        prompt: str | None,
        beam_size: int,
    ) -> list[Transcript]:
        features = [pad_window(mel, frames) for mel in mels]
        cross = self._encode(np.stack([f.mel for f in features]))
        durations = [f.duration_s for f in features]
        results = self._decode(cross, durations, language, prompt, beam_size)
        if beam_size > 1:  # with room for a beam, there is room to decode a doubtful clip again
            for i, (clip, result) in enumerate(zip(clips, results, strict=True)):
                if _doubtful(result):
                    alone = {name: value[i : i + 1] for name, value in cross.items()}
                    results[i] = self._fall_back(clip, alone, durations[i], result, language, prompt)
        return results

    def _decode(
        self,
        cross: dict[str, np.ndarray],
        durations: Sequence[float],
        language: str | None,
        prompt: str | None,
        beam_size: int,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> list[Transcript]:
        """Decode the encoded clips: a beam search, greedily, or (at a temperature above 0) sampling, seeded."""
        prefix = self._prefix(prompt)
        positions = len(prefix)
        logits, cache = self._step(np.array([prefix] * len(durations), dtype=np.int64), 0, cross, None)
        streams = [self._start_stream(row, language, duration, len(prefix)) for row, duration in zip(logits, durations)]
        if temperature > 0:
            for stream in streams:
                stream.temperature, stream.rng = temperature, np.random.default_rng(seed)

        special = self._config.special
        mode = [] if self._timestamps else [special["notimestamps"]]
        task = np.array([[self._config.languages[s.language], special["transcribe"], *mode] for s in streams], dtype=np.int64)
        logits, cache = self._step(task, positions, cross, cache)
        positions += task.shape[1]
        if beam_size > 1:
            self._beam_search(streams, beam_size, logits, cache, cross, positions)
        else:
            while True:
                next_tokens = [self._sample(s, row) for s, row in zip(streams, logits)]
                if all(s.done for s in streams):
                    break
                logits, cache = self._step(np.array(next_tokens, dtype=np.int64)[:, None], positions, cross, cache)
                positions += 1
        return [self._finish(s, duration) for s, duration in zip(streams, durations)]

    def _fall_back(
        self, clip: np.ndarray, cross: dict[str, np.ndarray], duration_s: float, first: Transcript, language: str | None, prompt: str | None
    ) -> Transcript:
        """Whisper's temperature fallback: a doubtful transcript (looping, or unlikely token by token) is decoded again
        by sampling at rising temperatures until one is not doubtful; else the likeliest of all. Seeded by the clip's
        samples, so that a replay of the same audio gives the same transcript."""
        seed = zlib.crc32(clip.tobytes())
        tried = [first]
        for temperature in FALLBACK_TEMPERATURES:
            [again] = self._decode(cross, [duration_s], language or first.language, prompt, 1, temperature, seed)
            if not _doubtful(again):
                return again
            tried.append(again)
        return max(tried, key=lambda t: t.avg_logprob)

    # -- model calls -----------------------------------------------------------------------------

    def _encode(self, mel: np.ndarray) -> dict[str, np.ndarray]:
        # Only the cross-attention keys/values: the states themselves are not needed to decode.
        if self._encode_one_by_one and mel.shape[0] > 1:
            parts = [self._encoder.run(self._cross_names, {"mel": mel[i : i + 1]}) for i in range(mel.shape[0])]
            return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(self._cross_names)}
        return dict(zip(self._cross_names, self._encoder.run(self._cross_names, {"mel": mel})))

    def _step(
        self, tokens: np.ndarray, offset: int, cross: dict[str, np.ndarray], cache: list[np.ndarray] | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One decoder call on new `tokens` [B, S] at positions offset..offset+S-1, `cross` holding C clips' keys and
        values (B a multiple of C: rows c·B/C … belong to clip c); returns the last token's logits [B, V] and the grown
        self-attention cache."""
        batch, count = tokens.shape
        clips = next(iter(cross.values())).shape[0]
        if batch % clips:
            raise ValueError(f"{batch} decoder rows cannot be shared out evenly among {clips} clips")
        config = self._config
        if cache is None:
            empty_k = np.zeros((batch, config.n_heads, config.head_dim, 0), dtype=np.float32)
            empty_v = np.zeros((batch, config.n_heads, 0, config.head_dim), dtype=np.float32)
            cache = [empty_k, empty_v] * config.n_layers
        feeds: dict[str, np.ndarray] = {
            "tokens": tokens,
            "positions": np.broadcast_to(np.arange(offset, offset + count, dtype=np.int64), (batch, count)).copy(),
            **cross,
        }
        for i in range(config.n_layers):
            feeds[f"past_k_{i}"] = cache[2 * i]
            feeds[f"past_v_{i}"] = cache[2 * i + 1]
        outputs = self._decoder.run(["logits", *self._present_names], feeds)
        return outputs[0], outputs[1:]

    # -- decoding rules --------------------------------------------------------------------------

    def _prefix(self, prompt: str | None) -> list[int]:
        special = self._config.special
        if not prompt or not prompt.strip():
            return [special["sot"]]
        # A leading space makes the prompt's first word tokenise as it would mid-sentence.
        ids = self._tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids
        return [special["startofprev"], *ids[-MAX_PROMPT_TOKENS:], special["sot"]]

    def _start_stream(self, sot_logits: np.ndarray, language: str | None, duration_s: float, prefix_len: int) -> _Stream:
        """Language and no-speech probability come from the prediction that follows <|startoftranscript|>."""
        no_speech_prob = float(np.exp(_log_softmax(sot_logits.astype(np.float64))[self._config.special["no_speech"]]))
        if language is None:
            scores = [sot_logits[self._config.languages[code]] for code in self._candidates]
            language = self._candidates[int(np.argmax(scores))]
        room = self._config.n_text_ctx - prefix_len - 3
        budget = max(MIN_SAMPLE_TOKENS, math.ceil(TOKENS_PER_SECOND * duration_s))
        return _Stream(
            language=language,
            max_tokens=min(MAX_SAMPLE_TOKENS, budget, room),
            last_timestamp=self._timestamp_begin + math.ceil(duration_s / SECONDS_PER_TIMESTAMP)
            if self._timestamps
            else self._timestamp_begin - 1,
            no_speech_prob=no_speech_prob,
        )

    def _logprobs(self, rows: Sequence[tuple[list[int], int]], logits: np.ndarray) -> np.ndarray:
        """Log-probabilities [R, V] of the token after each row's sampled tokens, given its highest allowed timestamp
        (`rows`: (sampled, last_timestamp) per row of `logits`), under Whisper's rules: a forbidden token's is -inf.
        One array operation for all rows where the rules agree, a slice per row where they differ."""
        masked = logits.astype(np.float64)  # a fresh copy, masked in place below
        masked[:, self._suppress] = -np.inf
        for row, (sampled, last_timestamp) in zip(masked, rows, strict=True):
            row[last_timestamp + 1 :] = -np.inf
            if not sampled:
                row[self._suppress_begin] = -np.inf
            if self._timestamps:
                self._apply_timestamp_rules(sampled, row, last_timestamp)
            if self._inside_character(sampled) and np.isfinite(row[: self._eot]).any():
                # The text so far ends within a character's bytes: the character is finished before anything else. An
                # end or a timestamp there would cut a word in half (Whisper base ended "我认为良好的沟…" so, at 沟's first
                # byte, with any beam and at every temperature, and lost the rest of the sentence).
                row[self._eot :] = -np.inf
        with np.errstate(invalid="ignore"):  # a row's own -inf stay -inf
            logprobs: np.ndarray = masked - masked.max(axis=1, keepdims=True)
            logprobs -= np.log(np.exp(logprobs).sum(axis=1, keepdims=True))
        if self._timestamps:
            begin = self._timestamp_begin
            with np.errstate(divide="ignore", invalid="ignore"):
                timestamp_mass = np.logaddexp.reduce(logprobs[:, begin:], axis=1)
            # Time is more likely than any one text token: a timestamp comes next.
            logprobs[timestamp_mass > logprobs[:, :begin].max(axis=1), :begin] = -np.inf
        return logprobs

    def _sample(self, stream: _Stream, logits: np.ndarray) -> int:
        """Pick the stream's next token greedily under Whisper's rules; EOT for a finished stream."""
        if stream.done:
            return self._eot
        sampled = stream.tokens
        logprobs = self._logprobs([(sampled, stream.last_timestamp)], logits[None])[0]
        if stream.temperature > 0 and stream.rng is not None:
            weights = np.exp((logprobs - logprobs.max()) / stream.temperature)
            token = int(stream.rng.choice(len(weights), p=weights / weights.sum()))
        else:
            token = int(np.argmax(logprobs))
        if token == self._eot or len(sampled) + 1 >= stream.max_tokens:
            stream.done = True
        stream.sum_logprob += float(logprobs[token])
        if token != self._eot:
            sampled.append(token)
            if (repeated := _looping_tail(sampled)) > 0:
                del sampled[-repeated:]
                stream.done = True
        return token

    def _beam_search(
        self,
        streams: list[_Stream],
        beam_size: int,
        logits: np.ndarray,
        cache: list[np.ndarray],
        cross: dict[str, np.ndarray],
        positions: int,
    ) -> None:
        """Each stream's tokens and log-probability from a beam search (openai-whisper's: each live hypothesis offers
        its beam_size + 1 likeliest next tokens, the best beam_size go on, a hypothesis that ends is kept until
        beam_size have ended, and the one with the best log-probability per token wins).

        Clip c owns rows c·k … c·k+k-1 throughout: the decoder attends from those rows to the clip's cross-attention
        keys and values as one block (they are never repeated per hypothesis); only the self-attention cache follows
        each hypothesis to its parent's row.
        """
        k, eot = beam_size, self._eot
        rows = len(streams) * k
        cache = [np.repeat(layer, k, axis=0) for layer in cache]
        logits = np.repeat(logits, k, axis=0)
        # All k rows of a clip start alike: only the first is live, or the first step would fill the beam with copies.
        beams = [[_Hypothesis([], 0.0 if b == 0 else -math.inf) for b in range(k)] for _ in streams]
        ended: list[list[_Hypothesis]] = [[] for _ in streams]
        done = [False] * len(streams)
        while True:
            next_tokens = np.full(rows, eot, dtype=np.int64)
            parents = np.arange(rows)
            for c, stream in enumerate(streams):
                if done[c]:
                    continue
                candidates: list[tuple[float, int, int]] = []  # (log-probability, parent beam, token)
                live = [b for b, hypothesis in enumerate(beams[c]) if hypothesis.sum_logprob > -math.inf]
                scored = self._logprobs([(beams[c][b].tokens, stream.last_timestamp) for b in live], logits[[c * k + b for b in live]])
                for b, logprobs in zip(live, scored, strict=True):
                    hypothesis = beams[c][b]
                    likeliest = np.argpartition(-logprobs, k)[: k + 1]
                    candidates.extend(
                        (hypothesis.sum_logprob + float(logprobs[t]), b, int(t)) for t in likeliest if logprobs[t] > -math.inf
                    )
                candidates.sort(reverse=True)
                going: list[tuple[_Hypothesis, int]] = []
                for score, b, token in candidates:  # likeliest first, until k go on: an ending ranked below them is dropped
                    tokens = [*beams[c][b].tokens, token] if token != eot else beams[c][b].tokens
                    repeated = _looping_tail(tokens) if token != eot else 0
                    if token == eot or repeated or len(tokens) >= stream.max_tokens:
                        ended[c].append(_Hypothesis(tokens[: len(tokens) - repeated], score))
                        continue
                    going.append((_Hypothesis(tokens, score), b))
                    if len(going) == k:
                        break
                if len(ended[c]) >= k or not going:
                    done[c] = True
                    continue
                while len(going) < k:  # fewer live candidates than rows: the spare rows idle
                    going.append((_Hypothesis(going[0][0].tokens, -math.inf), going[0][1]))
                beams[c] = [hypothesis for hypothesis, _ in going]
                for b, (hypothesis, parent) in enumerate(going):
                    next_tokens[c * k + b] = hypothesis.tokens[-1]
                    parents[c * k + b] = c * k + parent
            if all(done):
                break
            cache = [layer[parents] for layer in cache]
            logits, cache = self._step(next_tokens[:, None], positions, cross, cache)
            positions += 1
        for c, stream in enumerate(streams):
            pool = ended[c] or [h for h in beams[c] if h.sum_logprob > -math.inf]
            best = max(pool, key=lambda h: h.sum_logprob / (len(h.tokens) + 1))
            stream.tokens, stream.sum_logprob, stream.done = list(best.tokens), best.sum_logprob, True

    def _apply_timestamp_rules(self, sampled: list[int], logits: np.ndarray, last_timestamp: int) -> None:
        """openai-whisper's timestamp grammar, applied to `logits` in place, plus an end rule."""
        begin = self._timestamp_begin
        if not sampled:
            # The first token is a timestamp, and the first segment starts within 1 s.
            logits[:begin] = -np.inf
            logits[begin + round(MAX_INITIAL_TIMESTAMP_S / SECONDS_PER_TIMESTAMP) + 1 :] = -np.inf
        else:
            last_was_timestamp = sampled[-1] >= begin
            penultimate_was_timestamp = len(sampled) < 2 or sampled[-2] >= begin
            if last_was_timestamp:
                if penultimate_was_timestamp:
                    logits[begin:] = -np.inf  # a segment just closed: text (or EOT) comes next
                    if len(sampled) >= 2 and sampled[-1] > last_timestamp - MIN_NEW_SEGMENT_S / SECONDS_PER_TIMESTAMP:
                        logits[: self._eot] = -np.inf  # too close to the end for more speech
                else:
                    logits[: self._eot] = -np.inf  # a segment's end: its pair or EOT comes next
            timestamps = [t for t in sampled if t >= begin]
            if timestamps:
                # Time never goes back, and a segment has a non-zero length (else it can loop).
                lowest = timestamps[-1] if last_was_timestamp and not penultimate_was_timestamp else timestamps[-1] + 1
                logits[begin:lowest] = -np.inf

    def _inside_character(self, sampled: list[int]) -> bool:
        """Whether the text tokens at the end of `sampled` stop inside a UTF-8 character."""
        tail = b""
        for token in reversed(sampled):
            if token >= self._eot or len(tail) >= 4:  # a timestamp, or enough bytes to hold a whole character
                break
            tail = self._token_bytes[token] + tail
        return _open_character(tail)

    def _finish(self, stream: _Stream, duration_s: float) -> Transcript:
        # Every sampled token counts, plus EOT where it came (openai-whisper divides the same way).
        avg_logprob = stream.sum_logprob / (len(stream.tokens) + 1)
        if stream.no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOGPROB_THRESHOLD:
            return Transcript("", stream.language, [], [], avg_logprob, stream.no_speech_prob)
        text = self._text([t for t in stream.tokens if t < self._eot], stream.language)
        if self._timestamps:
            segments = self._segments(stream.tokens, duration_s, stream.language)
        else:
            segments = [Segment(0.0, duration_s, text)] if text else []
        return Transcript(text, stream.language, segments, list(stream.tokens), avg_logprob, stream.no_speech_prob)

    def _text(self, tokens: list[int], language: str) -> str:
        # A decode that stops inside a character's bytes (its token cap, an end token) shows no half character.
        text = self._tokenizer.decode(tokens).strip().rstrip("\ufffd")
        # Whisper base writes much Mandarin in traditional characters, and many a word in characters that only sound
        # like it (签移 for 迁移): the product shows the simplified words, with Chinese punctuation where it wrote ASCII.
        if language == "zh":
            text = sound_alikes.corrected(self._to_simplified.convert(text))
        return written_for_reading(text, language)

    def _segments(self, tokens: list[int], duration_s: float, language: str) -> list[Segment]:
        """Split at timestamp tokens: <|t0|> text <|t1|><|t1|> text <|t2|>. A segment left open
        by the token cap ends with the audio."""
        segments: list[Segment] = []
        start = 0.0
        pending: list[int] = []
        for token in tokens:
            if token < self._timestamp_begin:
                pending.append(token)
                continue
            time = min((token - self._timestamp_begin) * SECONDS_PER_TIMESTAMP, duration_s)
            if pending:
                segments.append(Segment(start, time, self._text(pending, language)))
                pending = []
            start = time
        if pending:
            segments.append(Segment(start, duration_s, self._text(pending, language)))
        return [s for s in segments if s.text]


def check_model(files: dict[str, Path]) -> str:
    """Smoke test for `models verify`: one second of silence through encoder and decoder."""
    import time

    from realtime_scoring.engine import EngineConfig, create_session

    config = EngineConfig(device="cpu")
    transcriber = WhisperTranscriber(
        create_session(files["encoder.onnx"], config),
        create_session(files["decoder.onnx"], config),
        files["tokenizer.json"],
        files["config.json"],
    )
    started = time.perf_counter()
    result = transcriber.transcribe(np.zeros(16_000, dtype=np.float32))
    elapsed_ms = 1000 * (time.perf_counter() - started)
    return f"1 s of silence -> {result.text!r}, no-speech probability {result.no_speech_prob:.2f}, {elapsed_ms:.0f} ms"
