-- Background tasks a session delegated: what was asked, with what context, how it went, and
-- whether its result has been woven back into the session (delivered_at, set exactly once).
create table background_tasks (
  id uuid primary key,
  session_id uuid not null references sessions (id) on delete cascade,
  status text not null
    check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
  request text not null,
  context jsonb not null default '{}',
  urgent boolean not null default false,
  result text,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  delivered_at timestamptz
);

create index background_tasks_session_idx on background_tasks (session_id, created_at);

-- What a task streamed as it worked: text, tool calls, tool results, generated UI.
create table background_task_updates (
  task_id uuid not null references background_tasks (id) on delete cascade,
  seq int not null,
  kind text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  primary key (task_id, seq)
);
