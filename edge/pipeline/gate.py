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
        return "; ".join(self.reasons) or None


def view_problems(d: ViewDetections, settings: GateSettings = GateSettings()) -> list[str]:
    camera = f"{d.view} camera"
    if not d.goats:
        return [f"{camera}: no goat in view"]
    problems = []
    if len(d.goats) > 1 and d.goats[1].score >= settings.second_goat_score:
        problems.append(f"{camera}: more than one goat in view")
    w, h = d.image_size_px
    x0, y0, x1, y1 = d.goats[0].box_px
    m = settings.edge_margin_px
    # Pixel centres are at integers, so the frame runs from -0.5 to size - 0.5.
    if x0 <= -0.5 + m or y0 <= -0.5 + m or x1 >= w - 0.5 - m or y1 >= h - 0.5 - m:
        problems.append(f"{camera}: goat not fully in view")
    unsure = [name for name, kp in d.keypoints().items() if kp.confidence < settings.min_keypoint_confidence]
    if unsure:
        problems.append(
            f"{camera}: unsure where the {', '.join(n.replace('_', ' ') for n in unsure)} "
            f"{'is' if len(unsure) == 1 else 'are'}"
        )
    return problems


def gate(detections: dict[str, ViewDetections], settings: GateSettings = GateSettings()) -> GateResult:
    return GateResult(tuple(p for d in detections.values() for p in view_problems(d, settings)))
