-- Plausibility (telediag.plausibility) for rows stored before it existed, with its default bounds:
-- an impossible fix time or position leaves its column for attributes, as new records do.
CREATE INDEX records_time_unknown ON records (imei, server_time) WHERE fix_time IS NULL;
UPDATE records SET
    attributes = json_set(CASE WHEN json_valid(attributes) THEN attributes ELSE '{}' END,
                          '$.raw_fix_time', fix_time,
                          '$.invalid_reason', 'fix_time ' || fix_time || ' is not a plausible time'),
    fix_time = NULL, valid = 0
WHERE fix_time IS NOT NULL
  AND NOT (fix_time BETWEEN 946684800 AND server_time + 86400);
UPDATE records SET
    attributes = json_set(CASE WHEN json_valid(attributes) THEN attributes ELSE '{}' END,
                          '$.raw_lat', lat, '$.raw_lon', lon,
                          '$.invalid_reason', 'position ' || lat || ', ' || lon || ' is not on Earth'),
    lat = NULL, lon = NULL, valid = 0
WHERE NOT (coalesce(lat, 0) BETWEEN -90 AND 90) OR NOT (coalesce(lon, 0) BETWEEN -180 AND 180);
UPDATE device_state SET last_fix_time = NULL, last_lat = NULL, last_lon = NULL
WHERE NOT (coalesce(last_fix_time, 946684800) BETWEEN 946684800 AND coalesce(last_seen, 0) + 86400)
   OR NOT (coalesce(last_lat, 0) BETWEEN -90 AND 90) OR NOT (coalesce(last_lon, 0) BETWEEN -180 AND 180);
