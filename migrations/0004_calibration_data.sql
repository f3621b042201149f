-- 0004_calibration_data: representative inputs a task's int8 inference artifacts are calibrated
-- on (AdminService.AttachCalibrationData). One row per task, replaced on each attach; the
-- examples are opaque bytes (little-endian float32, [n, input size]), never device data.
CREATE TABLE calibration_data (
  task_id     text        PRIMARY KEY REFERENCES tasks (task_id) ON DELETE CASCADE,
  examples    bytea       NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Float data does not compress; EXTERNAL stores it out of line without trying to.
ALTER TABLE calibration_data ALTER COLUMN examples SET STORAGE EXTERNAL;
