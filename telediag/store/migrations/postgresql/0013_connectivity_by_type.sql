-- Outage correlation reads the rejects of every device since a moment (attach_reject, pdp_reject) at
-- every ticket run, within seconds of the events: by type and time, not by a scan of the whole feed.
CREATE INDEX connectivity_by_type ON connectivity_events (type, at);
