"""`goat-edge calibrate`: each camera's lens and pose in the chute frame, from ChArUco photos.

board.py      the printed board and finding its corners
positions.py  where the board stands for each camera's reference photos
solve.py      lens (cv2.calibrateCamera) and pose (solvePnP) from a camera's photo folder
cli.py        the command, which writes calibration.json
(simulated photos of the board, for tests and dry runs, are edge/sim/board.py and
calibration_photos.py)
"""
