-- A webhook's URL is sealed like its secret (README "Security at rest"):
-- AES-256-GCM under data key url_key_id, bound to its row (column "url"),
-- as it often carries a token of the receiver's in its path or query. Such
-- a row's url is ''. Rows stored before keep their URL in the clear, with
-- url_key_id '', until the next start of a server seals it
-- (core.Service.SealWebhookURLs).
ALTER TABLE webhooks ADD COLUMN url_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN sealed_url BLOB;
