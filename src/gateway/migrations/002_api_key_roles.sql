-- What each key may do; keys made before roles existed are callers.
ALTER TABLE gateway_api_keys ADD COLUMN IF NOT EXISTS roles TEXT[] NOT NULL DEFAULT '{caller}';
