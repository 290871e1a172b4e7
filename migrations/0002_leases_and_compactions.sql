-- Which edge runs a session now: a lease it renews while the session is live. A session can be
-- claimed by another edge (a resume from anywhere) once the lease has lapsed; a conditional
-- update makes two racing claims resolve to exactly one winner.
alter table sessions add column edge_id text;
alter table sessions add column lease_expires_at timestamptz;

-- Compactions of long sessions: the events up to covers_to_seq are replaced, for the model, by
-- a summary, pinned facts and the recent window kept verbatim (the events after it). Rows are
-- never updated; the newest compaction of a session is the one in force.
create table session_compactions (
  session_id uuid not null references sessions (id) on delete cascade,
  id bigint not null,
  covers_to_seq bigint not null,
  covers_to_micro_turn bigint not null,
  summary text not null,
  pinned_facts jsonb not null default '[]',
  summarizer text not null,
  state_digest text,
  created_at timestamptz not null default now(),
  primary key (session_id, id)
);
