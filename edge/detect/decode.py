"""Decoding the YOLO pose head exported by Ultralytics, and non-maximum suppression.

The exported model's single output `out0` has shape (4 + 1 + 3K, anchors): for each anchor
the box centre x, y, width and height in input pixels, the goat score (already a
probability), then K keypoints as x, y (input pixels) and a visibility probability.
"""

from __future__ import annotations

import numpy as np

from edge.detect.types import PoseDetection


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one xyxy box with each of others (N, 4)."""
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept, best first: each drops the later ones it overlaps too much."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        best, order = order[0], order[1:]
        keep.append(best)
        if len(order):
            order = order[box_iou(boxes[best], boxes[order]) <= iou_threshold]
    return np.array(keep, dtype=int)


def decode_pose(
    out0: np.ndarray,
    num_keypoints: int,
    *,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.7,
    max_detections: int = 10,
    fuse_iou: float | None = None,
) -> list[PoseDetection]:
    """Detections in input-tensor pixels, best first.

    fuse_iou: None keeps each detection's keypoints as its best anchor placed them, as
    Ultralytics does. A number averages them, weighted by score, over every anchor above
    the threshold whose box overlaps the kept one at least that much: the neighbouring
    anchors that found the same goat miss partly independently (benchmarks/RESULTS.md)."""
    rows = 5 + 3 * num_keypoints
    if out0.ndim != 2 or out0.shape[0] != rows:
        raise ValueError(
            f"pose output has shape {out0.shape}; expected ({rows}, anchors) for {num_keypoints} keypoints"
        )
    scores = out0[4]
    candidates = np.nonzero(scores > conf_threshold)[0]
    if len(candidates) == 0:
        return []
    cx, cy, w, h = out0[:4, candidates]
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    keep = nms(boxes, scores[candidates], iou_threshold)[:max_detections]
    keypoints = out0[5:, candidates].T.reshape(len(candidates), num_keypoints, 3).astype(np.float64)
    found = []
    for i in keep:
        kpts = keypoints[i].copy()
        if fuse_iou is not None:
            kpts[:, :2] = fused_keypoints(boxes[i], boxes, scores[candidates], keypoints, fuse_iou)
        found.append(PoseDetection(boxes[i], float(scores[candidates[i]]), kpts))
    return found


def fused_keypoints(
    box: np.ndarray, boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, min_iou: float
) -> np.ndarray:
    """The score-weighted mean (K, 2) of the keypoints of the anchors whose boxes overlap box."""
    same = box_iou(box, boxes) >= min_iou
    weights = scores[same] / scores[same].sum()
    return np.tensordot(weights, keypoints[same, :, :2], axes=1)
