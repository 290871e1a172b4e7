-- Operator API keys: who may create sessions. A key is `isk_<id>_<secret>`; only the SHA-256 of
-- the secret is stored (keys are 256-bit random, so a fast hash is enough). Sessions created
-- with a key belong to its owner; a revoked key authenticates nothing.
create table api_keys (
  id text primary key,
  secret_sha256 text not null,
  name text not null,
  owner text not null,
  scopes text not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
