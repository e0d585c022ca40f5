"""The quality gate: a capture the models cannot measure well is a retake, with a reason
the associate can act on, never a set of wrong numbers."""

from __future__ import annotations

from dataclasses import dataclass

from edge.detect.types import ViewDetections


@dataclass(frozen=True)
class GateSettings:
    min_keypoint_confidence: float = 0.5
    second_goat_score: float = 0.5  # a second animal found at least this surely
    edge_margin_px: float = 3.0  # a box this close to the frame edge is cut off by it


@dataclass(frozen=True)
class GateResult:
    reasons: tuple[str, ...]

    @property
    def status(self) -> str:
        return "retake" if self.reasons else "ok"

    @property
    def reason(self) -> str | None:
        """The problems, each said once: the same one seen by several cameras names them all
        ("side, top and front cameras: no goat in view: ..."), so the instruction stays short."""
        cameras: dict[str, list[str]] = {}
        for problem in self.reasons:
            camera, _, what = problem.partition(" camera: ")
            cameras.setdefault(what, []).append(camera)
        return "; ".join(f"{_cameras(names)}: {what}" for what, names in cameras.items()) or None


def _cameras(views: list[str]) -> str:
    if len(views) == 1:
        return f"{views[0]} camera"
    return f"{', '.join(views[:-1])} and {views[-1]} cameras"


# Each problem is said with what the associate can do about it at the chute.
NO_GOAT = "no goat in view: bring the goat into the chute, or check that nothing covers the camera"
SECOND_GOAT = "more than one goat in view: let one goat into the chute at a time"
CUT_OFF = "goat not fully in view: wait until the whole goat stands inside the chute"
# Landmarks that go unseen for a reason the associate can name.
HEAD = frozenset({"nose", "poll"})
LEGS = frozenset({"fore_hoof_left", "fore_hoof_right", "hind_hoof_left"})


def _unsure(camera: str, names: list[str]) -> str:
    listed = ", ".join(n.replace("_", " ") for n in names)
    where = f"unsure where the {listed} {'is' if len(names) == 1 else 'are'}"
    if HEAD.issuperset(names):
        return f"{camera}: {where} (the goat's head is turned away or down): wait for it to face forward"
    if LEGS.issuperset(names):
        return f"{camera}: {where} (its legs are hidden): check that nothing stands in front of them"
    return f"{camera}: {where}: check that nothing hides the goat from this camera (a person, a gate, dirt on the lens)"


def view_problems(d: ViewDetections, settings: GateSettings = GateSettings()) -> list[str]:
    camera = f"{d.view} camera"
    if not d.goats:
        return [f"{camera}: {NO_GOAT}"]
    problems = []
    if len(d.goats) > 1 and d.goats[1].score >= settings.second_goat_score:
        problems.append(f"{camera}: {SECOND_GOAT}")
    w, h = d.image_size_px
    x0, y0, x1, y1 = d.goats[0].box_px
    m = settings.edge_margin_px
    # Pixel centres are at integers, so the frame runs from -0.5 to size - 0.5.
    if x0 <= -0.5 + m or y0 <= -0.5 + m or x1 >= w - 0.5 - m or y1 >= h - 0.5 - m:
        problems.append(f"{camera}: {CUT_OFF}")
    unsure = [name for name, kp in d.keypoints().items() if kp.confidence < settings.min_keypoint_confidence]
    if unsure:
        problems.append(_unsure(camera, unsure))
    return problems


def gate(detections: dict[str, ViewDetections], settings: GateSettings = GateSettings()) -> GateResult:
    return GateResult(tuple(p for d in detections.values() for p in view_problems(d, settings)))
