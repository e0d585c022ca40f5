"""Training data: YOLO-pose sets from the simulator, close-up crops, crops cut from a
farm's labelled photos, and the camera jitter that makes a set cover real mountings.
Used by scripts/make_dataset.py and the training scripts, never by the daemon."""
