-- Sessions and their append-only event log.
create table sessions (
  id uuid primary key,
  owner text,
  region text not null,
  model text not null,
  status text not null default 'active' check (status in ('active', 'closed')),
  created_at timestamptz not null default now(),
  last_active_at timestamptz not null default now(),
  closed_at timestamptz
);

create index sessions_last_active_idx on sessions (last_active_at);

-- One row per event; (session_id, seq) orders a session's history. Rows are never updated.
create table session_events (
  session_id uuid not null references sessions (id) on delete cascade,
  seq bigint not null,
  micro_turn bigint,
  media_time_ms bigint,
  wall_time timestamptz not null,
  kind text not null,
  payload jsonb not null default '{}',
  primary key (session_id, seq)
);
