"""The one typed settings object, read from INTERVIEW_* environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from media.frame_limits import MediaLimits
from media.ingest import MediaConfig
from realtime_scoring.closing_phrases import DEFAULT_CLOSING_PHRASES, ClosingPhrases
from realtime_scoring.profiles import Language
from realtime_scoring.transcription import TranscriptionConfig
from realtime_scoring.utterances import UtteranceConfig
from server.domain.interview import DEFAULT_TENANT

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MIN_API_KEY_LENGTH = 16


class IceServer(BaseModel):
    """A STUN or TURN server, in the shape of the browser's RTCIceServer."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None

    @field_validator("urls", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _default_closing_phrases() -> dict[Language, list[str]]:
    return {language: list(phrases) for language, phrases in DEFAULT_CLOSING_PHRASES.items()}


class CompanyPolicy(BaseModel):
    """What a company tells its candidates on the consent step: who it is, its privacy policy, how long it keeps
    interview data. Per tenant in `tenant_policies`; the top-level settings are the default."""

    model_config = {"extra": "forbid"}

    company_name: str | None = Field(None, max_length=120)
    privacy_policy_url: str | None = Field(None, max_length=500, pattern=r"^https?://")
    retention_days: int = Field(180, ge=1, le=3650)
    ask_self_identification: bool = Field(
        False, description="Invite candidates to say their sex and race/ethnicity, voluntarily, for the adverse-impact report"
    )


WECHAT_TEMPLATE_KEYS: dict[Literal["name", "job", "time"], str] = {"name": "thing1", "job": "thing2", "time": "time3"}


class Settings(BaseSettings):
    """Everything an operator can set. Lists accept comma-separated values, ICE servers JSON."""

    model_config = SettingsConfigDict(env_prefix="INTERVIEW_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(None, description="Base URL in invite links; defaults to http://host:port")
    data_dir: Path = Path("data")
    model_dir: Path | None = Field(None, description="Prepared models; defaults to DATA_DIR/models")
    asset_dir: Path | None = Field(None, description="Browser libraries from the npm registry; defaults to DATA_DIR/assets")
    scoring: bool = Field(True, description="Run the models on live media; false = receive and meter only")
    recording: bool = Field(
        True, description="Keep the candidate's audio (Opus, ~11 MB an hour) for HR to play back; erased with the candidate"
    )
    answer_recordings: bool = Field(
        True,
        description="Keep each answer's video and audio as received (remuxed, not re-encoded) for HR and business owners "
        "to review; erased with the candidate and by the retention policy",
    )
    answer_recordings_max_mb: int = Field(
        800, ge=1, le=100_000, description="The most one media session's answer recordings may take on disk; past it no more is kept"
    )
    emotion_analysis: bool = Field(True, description="Facial emotion inference; off = the model is not even loaded")
    company_name: str | None = Field(None, max_length=120, description="Shown to candidates (welcome and consent)")
    privacy_policy_url: str | None = Field(
        None, max_length=500, pattern=r"^https?://", description="The company's privacy policy, linked from the consent step"
    )
    retention_days: int = Field(180, ge=1, le=3650, description="How long interview data is kept, as the consent step says")
    ask_self_identification: bool = Field(
        False, description="Invite candidates to say their sex and race/ethnicity, voluntarily, for the adverse-impact report"
    )
    tenant_policies: dict[str, CompanyPolicy] = Field(
        default_factory=dict, description='JSON {"tenant": {"company_name", "privacy_policy_url", "retention_days"}}: per company'
    )
    device: Literal["auto", "cuda", "cpu"] = "auto"
    inference_threads: int = Field(0, ge=0, description="onnxruntime threads per model; 0 = one per core, at most 4")
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object a line, with interview_id and node")
    partial_interval_s: float = Field(
        1.0, ge=0.25, le=10, description="Seconds between partial-caption decodes of an utterance (each re-decodes it whole)"
    )
    whisper_encoder: Literal["auto", "float32", "int8"] = Field(
        "auto",
        description="int8: a quarter less recogniser time a clip, twice the interviews a 2-core node carries, a little less "
        "accurate; auto = int8 on a CPU, float32 on CUDA (where int8 MatMuls fall back to the CPU)",
    )
    final_beam_size: int = Field(
        5,
        ge=1,
        le=8,
        description="Hypotheses kept while decoding a final transcript (beam search; partials stay greedy): 1 = greedy, "
        "the cheapest; 5 errs least",
    )
    partial_interval_growth: float = Field(
        0.5, ge=0, le=2, description="The partial interval grows by this share of the utterance so far (0: fixed interval)"
    )
    early_final_after_s: float = Field(
        0.15,
        ge=0,
        le=1,
        description="A pause this long starts decoding the utterance in case it ends there, so its final comes "
        "sooner (a pause that does not end it gives a partial instead); 0 = off",
    )
    join_pauses_below_s: float = Field(
        2.0,
        ge=0.5,
        le=5,
        description="Speech segments with shorter pauses between them are one utterance, transcribed whole for scoring",
    )
    closing_phrases: dict[Language, Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=40)]] = Field(
        default_factory=_default_closing_phrases,
        description='JSON {"en": [...], "zh": [...]}: spoken phrases that end an answer when a stretch of speech ends with one',
    )

    secret_key: SecretStr | None = Field(None, description="Signs invite tokens; generated into data_dir when unset")
    secrets_key_file: Path | None = Field(
        None,
        description="Keys that encrypt webhook secrets and ATS credentials at rest; data_dir/secrets.key when unset (made on first start)",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Keys of the 'default' tenant; generated into data_dir when neither this nor tenants is set"
    )
    operator_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Keys for cluster operations (list and drain nodes); unset = the 'default' tenant's keys"
    )
    tenants: dict[str, list[SecretStr]] = Field(
        default_factory=dict, description='JSON {"tenant": ["api key", ...]}: each HR system sees only its own interviews'
    )
    invite_ttl_hours: float = 72.0
    demo_interview: bool = Field(
        False,
        description="Make a demo interview on start and print its link (`serve --demo`): it is an interview of the "
        "default tenant, so its events reach that tenant's webhooks like any other",
    )
    abandon_after_s: float = Field(
        3600,
        ge=1,
        le=30 * 86400,
        description="An interview started and then left this long (no new question, nobody in it) becomes abandoned",
    )

    ice_servers: list[IceServer] = Field(default_factory=list, description="JSON list of STUN/TURN servers with static credentials")
    turn_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="TURN servers (turn:host:3478?transport=udp, turns:host:5349?transport=tcp) given to candidates with "
        "time-limited credentials signed by turn_secret_file",
    )
    turn_secret_file: Path | None = Field(
        None, description="File holding the secret shared with the TURN servers (coturn's static-auth-secret); readable by the service only"
    )
    turn_credential_ttl_s: float = Field(
        4 * 3600, ge=60, le=48 * 3600, description="How long a candidate's TURN credential is valid (it must outlast the interview)"
    )
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Local addresses offered as host candidates; empty = all non-loopback"
    )
    ice_allowed_networks: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list, description="Remote candidate networks accepted; empty = public addresses only"
    )
    ice_connect_timeout_s: float = 20.0
    media_silence_timeout_s: float = Field(
        30.0, ge=1, le=600, description="A connected session whose media never starts, or stops, this long is closed (its slot freed)"
    )

    audio_chunk_ms: int = Field(32, ge=10, le=1000)
    video_sample_fps: float = Field(
        2.0,
        gt=0,
        le=30,
        description="Frames a second the faces and emotion models see (each second's summary holds their result; the answer "
        "recordings keep every frame)",
    )
    video_max_side: int = Field(640, ge=64, le=1920)
    media_queue_seconds: float = Field(4.0, gt=0, le=60)

    # Connections (server/ops/connection_limits.py): a node that faces the internet, directly or behind a proxy.
    http_header_timeout_s: float = Field(10.0, gt=0, le=120, description="A request's headers must arrive within this")
    http_keep_alive_s: float = Field(5.0, ge=1, le=300, description="An idle keep-alive connection is closed after this")
    max_connections: int = Field(4096, ge=16, description="Open connections a node holds (HTTP and WebSocket)")
    max_connections_per_client: int = Field(
        256, ge=4, description="Open connections from one address that is not a trusted proxy (a whole NAT can share one)"
    )
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")],
        description="Proxies whose X-Forwarded-For names the client; exempt from the per-address cap",
    )
    max_request_body_bytes: int = Field(1024 * 1024, ge=64 * 1024, description="Any HTTP request body larger is refused (413)")
    max_sdp_bytes: int = 64 * 1024
    ws_max_message_bytes: int = 16 * 1024
    workers: int = Field(
        1,
        ge=1,
        le=256,
        description="Server processes on this node (about one core each): above 1, a supervisor owns the port and hands "
        "each connection to the worker running its interview; sessions and connection caps are shared out among them",
    )
    shared_recogniser: Literal["auto", "on", "off"] = Field(
        "auto",
        description="With workers above 1, one recogniser process decodes for all of them (one copy of Whisper, their "
        "decodes batched together): auto = when Whisper runs on a GPU (on a CPU node each worker's own recogniser "
        "scales with the cores, where one shared process is held to about six by Python); off: each worker loads its own",
    )
    recogniser_socket: Path | None = Field(
        None,
        description="Unix socket of the node's shared recogniser; the supervisor sets it for its workers (when unset, it "
        "makes one in a private temporary directory)",
    )
    max_live_sessions: int = Field(64, ge=1, description="Media sessions a node carries at most, whatever its load")
    # Admission and shedding (server/ops/node_load.py): a node refuses new interviews (503) before it falls behind.
    admission_control: bool = Field(
        True, description="Refuse new interviews and shed partial captions while the node is strained (off: only measured)"
    )
    overload_loop_lag_s: float = Field(
        0.1, gt=0, le=5, description="Event-loop lag (p90 over the window) at which the node is strained; twice it, behind"
    )
    overload_final_wait_s: float = Field(
        0.5, gt=0, le=30, description="A final transcript waiting this long for the recogniser strains the node; twice it, behind"
    )
    overload_recogniser_busy: float = Field(
        0.7, gt=0, le=1, description="Share of the recogniser's final-decoding threads busy (last 10 s) at which the node is strained"
    )
    overload_window_s: float = Field(5.0, ge=0.5, le=120, description="The node is strained until it has kept up this long")
    overload_recover_s: float = Field(
        60.0, ge=1, le=3600, description="Each this long without strain, the session limit learned at a strain rises by one"
    )
    admission_cpu_share: float | None = Field(
        0.75,
        gt=0,
        le=1,
        description="Share of the cores this node may use (its CPU affinity, or its cgroup's quota) that its sessions may "
        "fill: a new interview is admitted only while it fits at what one of its sessions costs; unset, CPU is not counted",
    )
    session_cpu_cores: float = Field(
        0.25,
        gt=0,
        le=16,
        description="What one media session is expected to use, in cores, until the node has measured its own sessions",
    )
    overload_retry_after_s: int = Field(15, ge=1, le=600, description="Retry-After of a refusal for load")
    video_start_bitrate_kbps: int = 1500
    video_send_kbps: int = Field(
        600, ge=100, le=50_000, description="The video rate asked of the candidate's browser: the evidence video's size"
    )
    # What one candidate's media may be, checked on the compressed frames before decoding (server/rtc/encoded_frames.py).
    media_max_width: int = Field(1280, ge=160, le=4096)
    media_max_height: int = Field(720, ge=120, le=4096)
    media_max_fps: float = Field(30.0, ge=5, le=120)
    media_max_video_kbps: int = Field(2500, ge=200, le=50_000, description="Also asked of the browser in the SDP answer")
    media_over_limit_grace_s: float = Field(3.0, ge=0, le=60, description="A stream over a limit this long is ended")

    # E-mail (business owners' review links and reminders): off until smtp_host is set.
    smtp_host: str | None = Field(None, max_length=255, description="The company's SMTP server; unset, no e-mail is sent")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field("starttls", description="none only for a server on loopback")
    smtp_username: str | None = Field(None, max_length=320)
    smtp_password_file: Path | None = Field(None, description="A file only the service user can read, holding the password")
    mail_from: str = Field("Interviews <interviews@localhost>", max_length=320)

    # Self-booked slots and their reminders (server/web/booking_api.py, server/integrations/reminder_scheduler.py).
    booking_max_concurrent: int = Field(
        50, ge=1, le=100_000, description="Booked interviews at once across the cluster: slots never offer more than this"
    )
    reminder_claim_s: float = Field(
        120.0, ge=2, le=3600, description="How long a node holds a reminder it is sending before another may send it again"
    )
    reminder_concurrency: int = Field(8, ge=1, le=100, description="Reminders one node sends at once")
    # ATS connectors beyond Greenhouse's (which needs no setting): hrms_bridge/connectors/.
    feishu_hire_apps_file: Path | None = Field(
        None,
        description="Feishu Hire as an assessment provider: a JSON list of each company's self-built Feishu app"
        " ({tenant, app_id, app_secret, encrypt_key, verification_token[, api_base_url]}), in a file only the service user can read",
    )
    moka_accounts_file: Path | None = Field(
        None,
        description="Moka's interview pushes: a JSON list of accounts ({account, tenant, signing_key[, data_key, data_iv,"
        " default_test]}), in a file only the service user can read; Moka's CSM is given /adapters/moka/{account}/webhooks",
    )
    # SMS reminders through Tencent Cloud SMS (server/integrations/tencent_sms.py): on when the id and key file are set.
    tencent_sms_secret_id: str | None = Field(None, max_length=128, description="Tencent Cloud API SecretId allowed to send SMS")
    tencent_sms_secret_key_file: Path | None = Field(None, description="A file only the service user can read, holding the SecretKey")
    tencent_sms_sdk_app_id: str = Field("", max_length=32, description="SmsSdkAppId of the SMS application, e.g. 1400006666")
    tencent_sms_sign_name: str = Field("", max_length=64, description="The approved signature text, without 【】")
    tencent_sms_template_ids: dict[Literal["en", "zh"], str] = Field(
        default_factory=dict,
        description='Approved reminder template per language (parameters: name, job, time, link code), e.g. {"zh": "2101"}',
    )
    tencent_sms_region: str = Field("ap-guangzhou", max_length=32)
    tencent_sms_base_url: str = Field("https://sms.tencentcloudapi.com", max_length=255)
    tencent_sms_timeout_s: float = Field(10.0, gt=0, le=60)

    hr_rate_limit_per_s: float = Field(20.0, gt=0, description="HR API requests a second per tenant, sustained")
    hr_rate_limit_burst: int = Field(100, ge=1)
    failed_key_rate_per_s: float = Field(
        0.2, gt=0, description="Requests with a key that opens nothing, a second per address after the burst (then 429)"
    )
    failed_key_burst: int = Field(10, ge=1)

    webhook_allow_http: bool = Field(False, description="Accept http:// webhook endpoints (development and tests only)")
    webhook_allow_private_addresses: bool = Field(
        False, description="Deliver webhooks to loopback, private or link-local addresses (off: the sender cannot reach internal networks)"
    )
    # Standard Webhooks' schedule after the immediate attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    webhook_retry_schedule_s: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    webhook_timeout_s: float = Field(15.0, gt=0, le=120)
    webhook_max_inline_bytes: int = Field(256 * 1024, ge=1024, description="Larger reports are sent as a link")

    wechat_app_id: str | None = Field(
        None, description="Official Account AppID: with the secret, candidates in WeChat may share nickname and avatar"
    )
    wechat_app_secret: SecretStr | None = Field(None, description="Official Account AppSecret, for WeChat web authorisation")
    wechat_open_base_url: str = "https://open.weixin.qq.com"
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_confirm_base_url: str = "https://mp.weixin.qq.com"
    wechat_reminders: Literal["off", "template", "subscription"] = Field(
        "off",
        description="Reminders from the Official Account: template messages (the candidate follows the account and "
        "shared their WeChat profile) or one-time subscription messages (the candidate allows one on WeChat's page)",
    )
    wechat_reminder_template_id: str | None = Field(None, max_length=128, description="the template (or subscription template) id")
    wechat_reminder_template_keys: dict[Literal["name", "job", "time"], str] = Field(
        default_factory=lambda: dict(WECHAT_TEMPLATE_KEYS),
        description="a template message's keywords for the candidate's name, the job and the time",
    )
    wechat_message_timeout_s: float = Field(10.0, gt=0, le=60)

    redis_url: str | None = Field(
        None, description="redis://host:port/db shared by the nodes of a cluster; unset = one node, everything embedded"
    )
    store: Literal["auto", "sqlite", "redis"] = Field(
        "auto",
        description="Where interviews, profiles and webhook deliveries live: auto = Redis when redis_url is set (nodes "
        "on separate hosts share them), else SQLite in data_dir; sqlite with redis_url = nodes share one data_dir (a volume)",
    )
    sqlite_synchronous: Literal["full", "normal"] = Field(
        "full",
        description="SQLite store: full = every commit synced to disk (survives a power loss); normal = synced at "
        "checkpoints (survives kill -9, the last commits before a power loss may roll back; several times the write rate)",
    )
    redis_prefix: str = Field("interview-server:", description="Prefix of every Redis key and channel, so clusters can share a Redis")
    redis_timeout_s: float = Field(2.0, gt=0, le=30, description="Connect and read timeout of Redis calls")
    node_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}", pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    node_heartbeat_s: float = Field(5.0, gt=0, le=300, description="How often a node tells Redis it is alive; it expires after 3 beats")
    event_bus_queue: int = Field(10_000, ge=1, description="Live events waiting for Redis; beyond this they are dropped and counted")
    drain_timeout_s: float = Field(
        1800.0, ge=0, description="On SIGTERM, how long a node waits for its live interviews to finish before it exits"
    )
    webhook_retention_days: float = Field(
        30.0,
        gt=0,
        description="Webhook events whose deliveries are all final (delivered or dead) are removed, with their "
        "deliveries and attempts, this long after they were written; pending ones stay",
    )
    webhook_stream_lease_s: float = Field(
        60.0, gt=0, description="A webhook event held by a node that stops renewing it this long is taken over by another node"
    )

    @field_validator(
        "api_keys",
        "operator_keys",
        "ice_host_addresses",
        "ice_allowed_networks",
        "turn_urls",
        "trusted_proxies",
        "webhook_retry_schedule_s",
        mode="before",
    )
    @classmethod
    def _comma_lists(cls, value: Any) -> Any:
        return _split_commas(value)

    @model_validator(mode="after")
    def _keys_are_long_enough(self) -> Settings:
        """A key is the whole of a tenant's access: one of a few characters is guessed by anyone who tries."""
        named = [("INTERVIEW_API_KEYS", self.api_keys), ("INTERVIEW_OPERATOR_KEYS", self.operator_keys)]
        named += [(f"INTERVIEW_TENANTS[{tenant!r}]", keys) for tenant, keys in self.tenants.items()]
        for source, keys in named:
            short = sum(1 for key in keys if len(key.get_secret_value()) < MIN_API_KEY_LENGTH)
            if short:
                raise ValueError(
                    f"{source}: {short} key(s) shorter than {MIN_API_KEY_LENGTH} characters; use random ones "
                    "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
        if any(not tenant.strip() for tenant in self.tenants):
            raise ValueError("INTERVIEW_TENANTS: a tenant needs a name")
        return self

    @model_validator(mode="after")
    def _wechat_reminders_need_an_account(self) -> Settings:
        if self.wechat_reminders != "off" and not (self.wechat_app_id and self.wechat_app_secret and self.wechat_reminder_template_id):
            raise ValueError(
                "INTERVIEW_WECHAT_REMINDERS needs INTERVIEW_WECHAT_APP_ID, INTERVIEW_WECHAT_APP_SECRET and "
                "INTERVIEW_WECHAT_REMINDER_TEMPLATE_ID"
            )
        return self

    @model_validator(mode="after")
    def _redis_store_needs_redis(self) -> Settings:
        if self.store == "redis" and not self.redis_url:
            raise ValueError("INTERVIEW_STORE=redis needs INTERVIEW_REDIS_URL (the Redis that holds the store)")
        return self

    @property
    def store_backend(self) -> Literal["sqlite", "redis"]:
        if self.store == "auto":
            return "redis" if self.redis_url else "sqlite"
        return self.store

    @property
    def database_path(self) -> Path:
        """The SQLite store (and, with it, the webhook outbox and deliveries)."""
        return self.data_dir / "interviews.sqlite3"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def models_path(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    @property
    def assets_path(self) -> Path:
        """Browser libraries fetched from the npm registry (frontend/vendor.py), served under /vendor/."""
        return self.asset_dir or self.data_dir / "assets"

    @property
    def secrets_key_path(self) -> Path:
        """Every node of a cluster needs the same file (they read each other's sealed secrets through Redis)."""
        return self.secrets_key_file or self.data_dir / "secrets.key"

    @property
    def media(self) -> MediaConfig:
        return MediaConfig(
            audio_chunk_ms=self.audio_chunk_ms,
            video_sample_fps=self.video_sample_fps,
            video_max_side=self.video_max_side,
            queue_seconds=self.media_queue_seconds,
        )

    @property
    def media_limits(self) -> MediaLimits:
        return MediaLimits(
            max_width=self.media_max_width,
            max_height=self.media_max_height,
            max_fps=self.media_max_fps,
            max_video_kbps=self.media_max_video_kbps,
            grace_s=self.media_over_limit_grace_s,
        )

    def transcription_config(self) -> TranscriptionConfig:
        """How live sessions transcribe (each in its own interview's language)."""
        return TranscriptionConfig(
            partial_interval_s=self.partial_interval_s,
            partial_interval_growth=self.partial_interval_growth,
            early_final_after_s=self.early_final_after_s or None,
            utterances=UtteranceConfig(join_pauses_below_s=self.join_pauses_below_s),
        )

    def closing_phrase_matcher(self) -> ClosingPhrases:
        return ClosingPhrases(self.closing_phrases)

    def company_policy(self, tenant: str) -> CompanyPolicy:
        """What the consent step shows for `tenant`'s candidates."""
        default = CompanyPolicy(
            company_name=self.company_name,
            privacy_policy_url=self.privacy_policy_url,
            retention_days=self.retention_days,
            ask_self_identification=self.ask_self_identification,
        )
        return self.tenant_policies.get(tenant, default)

    def turn_secret(self) -> bytes | None:
        """The TURN shared secret, read from its file (None without TURN)."""
        if self.turn_secret_file is None or not self.turn_urls:
            return None
        secret = self.turn_secret_file.read_bytes().strip()
        if not secret:
            raise ValueError(f"{self.turn_secret_file} is empty: it must hold the TURN servers' shared secret")
        return secret

    def smtp_password(self) -> str | None:
        if self.smtp_password_file is None:
            return None
        return self.smtp_password_file.read_text(encoding="utf-8").strip()

    def signing_key(self) -> str:
        """The invite-signing secret: from settings, else a random one kept in data_dir across restarts."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _persistent_secret(self.data_dir / "secret_key")

    def operator_api_keys(self) -> list[str]:
        """Who may list and drain nodes: INTERVIEW_OPERATOR_KEYS, else the 'default' tenant's keys (a one-company install)."""
        if self.operator_keys:
            return [key.get_secret_value() for key in self.operator_keys]
        return [key for key, tenant in self.hr_api_keys().items() if tenant == DEFAULT_TENANT]

    def hr_api_keys(self) -> dict[str, str]:
        """API key -> tenant for HR endpoints: from settings, else one key of the 'default' tenant generated into data_dir."""
        keys = {key.get_secret_value(): tenant for tenant, tenant_keys in self.tenants.items() for key in tenant_keys}
        keys.update({key.get_secret_value(): DEFAULT_TENANT for key in self.api_keys})
        if not keys:
            keys[_persistent_secret(self.data_dir / "api_key")] = DEFAULT_TENANT
        return keys


def _persistent_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value
