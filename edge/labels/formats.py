"""Label files that standard tools open: COCO keypoints, and a Label Studio project.

Coordinates: the store keeps keypoints in calibration pixels, whose pixel centres sit at
integers (docs/keypoints.md). COCO and Label Studio measure from the image's outer edge,
so a stored x becomes x + 0.5 in COCO and 100 (x + 0.5) / width % in Label Studio.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from edge.keypoints import SKELETON, VIEW_KEYPOINTS

# COCO visibility: 0 not labelled, 1 labelled but hidden, 2 labelled and visible.
COCO_NOT_LABELLED, COCO_VISIBLE = 0, 2
LABEL_STUDIO_FROM = "keypoints"
LABEL_STUDIO_TO = "image"
PALETTE = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe")


def coco_category(view: str) -> dict:
    names = list(VIEW_KEYPOINTS[view])
    return {
        "id": 1,
        "name": "goat",
        "supercategory": "animal",
        "keypoints": names,
        "skeleton": [[names.index(a) + 1, names.index(b) + 1] for a, b in SKELETON[view]],
    }


def coco_keypoints(view: str, found: dict[str, list[float]]) -> tuple[list[float], int]:
    """COCO's flat [x, y, v, ...] in the view's keypoint order, and how many are labelled."""
    flat: list[float] = []
    for name in VIEW_KEYPOINTS[view]:
        point = found.get(name)
        if point is None:
            flat += [0.0, 0.0, COCO_NOT_LABELLED]
        else:
            flat += [round(point[0] + 0.5, 2), round(point[1] + 0.5, 2), COCO_VISIBLE]
    return flat, sum(1 for name in VIEW_KEYPOINTS[view] if name in found)


def coco_bbox(found: dict[str, list[float]], width: int, height: int, margin: float = 0.1) -> list[float]:
    """A box around the keypoints, grown by margin of its size and kept inside the image."""
    if not found:
        return [0.0, 0.0, 0.0, 0.0]
    xs = [p[0] + 0.5 for p in found.values()]
    ys = [p[1] + 0.5 for p in found.values()]
    grow_x, grow_y = margin * (max(xs) - min(xs)), margin * (max(ys) - min(ys))
    x0, y0 = max(min(xs) - grow_x, 0.0), max(min(ys) - grow_y, 0.0)
    x1, y1 = min(max(xs) + grow_x, float(width)), min(max(ys) + grow_y, float(height))
    return [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]


def label_studio_config(view: str) -> str:
    """The labelling interface: the photo, and one keypoint label per landmark of the view."""
    labels = "\n".join(
        f"    <Label value={quoteattr(name)} background={quoteattr(PALETTE[i % len(PALETTE)])}/>"
        for i, name in enumerate(VIEW_KEYPOINTS[view])
    )
    return (
        "<View>\n"
        f'  <Header value="{view} camera: drag each point onto its landmark (docs/keypoints.md)"/>\n'
        f'  <KeyPointLabels name="{LABEL_STUDIO_FROM}" toName="{LABEL_STUDIO_TO}" strokeWidth="2">\n'
        f"{labels}\n"
        "  </KeyPointLabels>\n"
        f'  <Image name="{LABEL_STUDIO_TO}" value="$image" zoom="true" zoomControl="true"/>\n'
        "</View>\n"
    )


def label_studio_task(
    image_url: str, data: dict, found: dict[str, list[float]], width: int, height: int, model_version: str
) -> dict:
    """One photo with the models' keypoints as a prediction to correct."""
    result = [
        {
            "id": f"{name}",
            "from_name": LABEL_STUDIO_FROM,
            "to_name": LABEL_STUDIO_TO,
            "type": "keypointlabels",
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": {
                "x": round(100 * (point[0] + 0.5) / width, 4),
                "y": round(100 * (point[1] + 0.5) / height, 4),
                "width": 0.5,
                "keypointlabels": [name],
            },
            "score": round(point[2], 4),
        }
        for name, point in found.items()
    ]
    return {
        "data": {"image": image_url, **data},
        "predictions": [{"model_version": model_version, "result": result}],
    }
