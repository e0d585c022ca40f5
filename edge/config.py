"""The daemon's one typed configuration, read from a TOML file at start-up.

Every key has a default, so no file at all runs anywhere: simulated cameras, the shipped
models, data under ./goat-data, the API on localhost. Unknown keys and bad values are
refused with the key named (docs/configuration.md lists them all). Secrets need not sit
in the file: the environment variables in SECRET_ENV override them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.errors import GoatEdgeError
from edge.jsonfile import read_text

DEFAULT_CONFIG_PATH = Path("/etc/goatdev/edge.toml")
ROOT = Path(__file__).resolve().parents[1]


class ConfigError(GoatEdgeError):
    pass


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# No underscore: it ends the device id in object keys (docs/sync.md), so the IAM prefix of
# a Pi called "barn" would also match the keys of one called "barn_east".
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.-]*$"


class DeviceConfig(_Section):
    id: str = Field(
        "goat-edge-1",
        min_length=1,
        max_length=64,
        pattern=DEVICE_ID_PATTERN,
        description="this Pi's name in the cloud: letters, digits, '.' and '-'; part of every object key",
    )


class StorageConfig(_Section):
    data_dir: Path = Field(Path("goat-data"), description="SQLite database and images")
    min_free_disk_mb: float = Field(500.0, ge=0, description="refuse a capture below this much free space")
    keep_synced_captures: int = Field(5000, ge=0, description="raw images of older synced captures are pruned")
    keep_annotated_days: float | None = Field(
        365.0, gt=0, description="annotated images of older captures are pruned once in the cloud; none: kept"
    )
    keep_synced_captures_days: float | None = Field(
        None,
        gt=0,
        description="older captures are deleted from the Pi (rows and photos) once the cloud has them whole, "
        "except labelled ones; none: kept",
    )


class CameraConfig(_Section):
    backend: Literal["simulated", "picamera2", "opencv", "replay"] = Field(
        "simulated",
        description="picamera2: a Pi camera module; opencv: a USB camera; "
        "simulated: the rendered chute; replay: saved photos",
    )
    camera_num: int = Field(0, ge=0, description="picamera2: the camera's number")
    camera_id: str | None = Field(None, description="picamera2: the camera's stable Id, preferred to camera_num")
    device: str = Field("0", description="opencv: a V4L2 device path or index")
    folder: Path | None = Field(None, description="replay: folder of captures, each with side/top/front JPEGs")
    seed: int | None = Field(
        None, ge=0, description="simulated: the same goat every capture; none: a new one each time"
    )
    jpeg_quality: int = Field(92, ge=50, le=100, description="of the stored raw photos")

    @model_validator(mode="after")
    def _replay_needs_folder(self):
        if self.backend == "replay" and self.folder is None:
            raise ValueError("the replay backend needs a folder")
        return self


class CamerasConfig(_Section):
    timeout_s: float = Field(5.0, gt=0, le=60, description="a camera slower than this is 'not responding'")
    side: CameraConfig = CameraConfig()
    top: CameraConfig = CameraConfig()
    front: CameraConfig = CameraConfig()

    def __getitem__(self, view: str) -> CameraConfig:
        return getattr(self, view)


class ModelsConfig(_Section):
    dir: Path = Field(
        ROOT / "models", description="one folder per model (side, top, front, closeup) with the NCNN files"
    )
    threads: int = Field(2, ge=1, le=16, description="CPU threads per model inference")
    winograd: bool = Field(False, description="faster inference, about 50 MB more memory")
    mirror_average: bool = Field(
        False,
        description="top and front: also read the mirror image and average (widths 2 % better, capture 70 % slower)",
    )
    snap_to_outline: bool = Field(
        True,
        description="withers, sternum and the top view's shoulders move onto "
        "the photo's outline (chest depth, width and girth)",
    )
    fuse_anchors: bool = Field(
        True,
        description="average each goat's keypoints over the model's anchors "
        "that found it (keypoints about 10 % closer)",
    )
    closeups: bool = Field(
        True,
        description="read the top photo's rump and chest and the side photo's chest "
        "again at full resolution with models/closeup (hip width, "
        "chest width, chest depth)",
    )
    conf_threshold: float = Field(0.25, gt=0, lt=1, description="a weaker detection is not a goat")
    reload_check_s: float = Field(
        10.0, ge=1, le=3600, description="how often the daemon looks for a promoted model set, loaded between captures"
    )


class MeasureConfig(_Section):
    calibration: Path | None = Field(None, description="calibration.json; none: the simulated chute's")
    weight_formula: Path | None = Field(None, description="the farm's fitted weight formula (goat-edge fit-weight)")
    min_keypoint_confidence: float = Field(0.5, gt=0, lt=1, description="a less sure keypoint means a retake")
    girth_shape_factor: float = Field(
        1.0, gt=0.5, lt=1.5, description="heart girth = this × the chest ellipse's perimeter"
    )
    uncertainty: Path | None = Field(
        None,
        description="the models' fitted uncertainty (scripts/fit_uncertainty.py); none: <models.dir>/uncertainty.yaml",
    )
    max_uncertainty_pct: float = Field(
        15.0, gt=0, le=100, description="a length or girth whose 90 % ± is wider than this share of it is left out"
    )
    max_weight_uncertainty_pct: float = Field(
        20.0, gt=0, le=100, description="a weight whose 90 % ± is wider than this share of it is left out"
    )


class ButtonConfig(_Section):
    enabled: bool = Field(False, description="a hardware capture button on the Pi's GPIO")
    pin: int = Field(17, ge=0, le=53, description="BCM pin of the capture button")
    bounce_time_s: float = Field(0.05, ge=0, le=1, description="contact bounce shorter than this is one press")
    hold_time_s: float = Field(0.0, ge=0, le=10, description="press this long to capture; 0: any press")
    led_pin: int | None = Field(27, ge=0, le=53, description="status LED; none: no LED")
    buzzer_pin: int | None = Field(None, ge=0, le=53, description="beeps on a result; none: no buzzer")
    pin_factory: Literal["default", "mock"] = Field("default", description="mock: gpiozero's MockFactory")


class ApiConfig(_Section):
    host: str = Field("127.0.0.1", description="0.0.0.0 lets the tablet reach it over the farm's Wi-Fi")
    port: int = Field(8080, ge=1, le=65535)
    allowed_hosts: tuple[str, ...] = Field(
        (),
        description="names the tablet may use for the Pi (e.g. goatpi.local) besides its IP addresses and localhost",
    )
    token: str | None = Field(
        None,
        description="if set, changes need it (a bearer token, or the tablet's session after it is entered once); "
        "so do reads when the API listens beyond this computer",
    )
    request_timeout_s: float = Field(
        10.0, gt=0, le=300, description="a connection that has not sent a whole request by then is closed"
    )
    max_connections: int = Field(
        256, ge=8, le=4096, description="open connections in all; more are closed at once (keep below LimitNOFILE)"
    )
    max_connections_per_client: int = Field(
        32, ge=2, le=4096, description="open connections from one address, so one machine cannot crowd out the tablets"
    )


class SyncConfig(_Section):
    database_url: str | None = Field(None, description="PostgreSQL (RDS) for the records; none: sync is off")
    s3_endpoint_url: str | None = Field(None, description="none: AWS S3 itself; set for S3-compatible stores")
    s3_region: str = Field("us-east-1", description="the buckets' AWS region")
    captures_bucket: str = Field("goatdev-captures", min_length=3, max_length=63, description="raw photos")
    processed_bucket: str = Field(
        "goatdev-processed", min_length=3, max_length=63, description="annotated photos and measurements.json"
    )
    batch_rows: int = Field(200, ge=1, le=10000, description="rows written per PostgreSQL transaction")
    batch_objects: int = Field(48, ge=1, le=1000, description="files uploaded per pass step")
    upload_concurrency: int = Field(4, ge=1, le=32, description="uploads in flight at once")
    bandwidth_limit_kbps: float | None = Field(None, gt=0, description="cap on upload speed; none: no cap")
    interval_s: float = Field(15.0, gt=0, le=3600, description="pause between passes when nothing is pending")
    max_backoff_s: float = Field(300.0, gt=0, le=86400, description="longest wait between tries while offline")
    timeout_s: float = Field(30.0, gt=0, le=600, description="per request to S3 or PostgreSQL")
    cloudwatch_metrics: bool = Field(
        True,
        description="send the Pi's health metrics to CloudWatch (namespace Goatdev/Edge) when the buckets are "
        "on AWS; false: never",
    )


class HerdConfig(_Section):
    trend_flag_pct: float = Field(
        10.0, gt=0, le=100, description="flag an estimated weight this many % off the goat's own trend"
    )


class HealthConfig(_Section):
    max_pending_age_h: float = Field(
        24.0, gt=0, description="/api/health says sync is down (503) when, with sync set up, an entry waits longer"
    )
    camera_recheck_s: float = Field(
        60.0, ge=5, le=3600, description="while idle, a camera that failed is tried again this often"
    )


class EdgeConfig(_Section):
    device: DeviceConfig = DeviceConfig()
    storage: StorageConfig = StorageConfig()
    cameras: CamerasConfig = CamerasConfig()
    models: ModelsConfig = ModelsConfig()
    measure: MeasureConfig = MeasureConfig()
    button: ButtonConfig = ButtonConfig()
    api: ApiConfig = ApiConfig()
    sync: SyncConfig = SyncConfig()
    herd: HerdConfig = HerdConfig()
    health: HealthConfig = HealthConfig()


# (section, key) -> environment variable that overrides it, for values best kept out of files.
SECRET_ENV = {("api", "token"): "GOATDEV_API_TOKEN", ("sync", "database_url"): "GOATDEV_DATABASE_URL"}


def _key_path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _message(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    key = _key_path(first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    detail = first["msg"].removeprefix("Value error, ")
    return f"{source}: '{key}': {detail}" if key else f"{source}: {detail}"


def config_from_dict(data: dict, source: str = "config", env: dict[str, str] | None = None) -> EdgeConfig:
    environ = os.environ if env is None else env
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for (section, key), var in SECRET_ENV.items():
        if environ.get(var):
            data.setdefault(section, {})
            if isinstance(data[section], dict):
                data[section][key] = environ[var]
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_message(exc, source)) from None


def load_config(path: str | Path | None, env: dict[str, str] | None = None) -> EdgeConfig:
    """The config in `path`; with no path, /etc/goatdev/edge.toml if it exists, else defaults."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return config_from_dict({}, "defaults", env)
        path = DEFAULT_CONFIG_PATH
    text = read_text(path, "config", ConfigError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return config_from_dict(data, str(path), env)
