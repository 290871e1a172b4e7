-- A batch of session events written in one round trip (store/event_log.ts): an edge's write
-- was five (begin, lock, insert, touch, commit), each waiting on the server, and what the
-- batch holds stayed in the edge's memory, and its sessions' rows locked, for all of them.
-- `rows_document` is a JSON array of rows (session_id, seq, micro_turn, media_time_ms,
-- wall_time, kind, payload); `session_ids` and `last_active` name each session of the batch
-- once, with its newest event's time.
create function append_session_events(
  rows_document text,
  session_ids uuid[],
  last_active timestamptz[]
) returns void language plpgsql as $$
begin
  -- The sessions' rows locked first, in id order, as every multi-row writer locks them (lease
  -- renewal too): the events' foreign keys would otherwise take shared locks in batch order
  -- that two writers then both wait to upgrade (a deadlock the soak found).
  perform 1 from sessions where id = any(session_ids) order by id for update;
  insert into session_events (session_id, seq, micro_turn, media_time_ms, wall_time, kind, payload)
    select r.session_id, r.seq, r.micro_turn, r.media_time_ms, r.wall_time, r.kind, r.payload
    from jsonb_to_recordset(rows_document::jsonb) as r(session_id uuid, seq int8,
      micro_turn int8, media_time_ms int8, wall_time timestamptz, kind text, payload jsonb);
  update sessions s set last_active_at = greatest(s.last_active_at, v.t)
    from unnest(session_ids, last_active) as v(id, t) where s.id = v.id;
end
$$;
