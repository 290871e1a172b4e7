-- The worker pool: every worker announces itself and renews the announcement with each
-- heartbeat; a worker whose announcement has expired is gone. Edges place new sessions from
-- the live rows (their region first, least loaded by free slots, never a draining worker, only
-- workers serving the edge's model contract).
create table workers (
  id text primary key,
  region text not null,
  link_url text not null,
  model text not null,
  contract text not null,
  capacity integer not null check (capacity >= 0),
  free_slots integer not null check (free_slots >= 0),
  step_p99_ms real not null default 0,
  draining boolean not null default false,
  heartbeat_at timestamptz not null,
  expires_at timestamptz not null
);

create index workers_live_idx on workers (region, expires_at);
