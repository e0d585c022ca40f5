-- The keypoints the models found, per view ({view: {landmark: [x_px, y_px, confidence]}},
-- in the photo's pixels), so that labelling can start from the cloud's copy too.
ALTER TABLE measurements ADD COLUMN keypoints jsonb NOT NULL DEFAULT '{}'::jsonb;
